import { BackendUnreachableError } from '../backends/backend';
import { newRecordId, type LedgerRecord, type TeamLedger } from '../backends/teamLedger';
import { sameIdentity } from '../registry/actor';
import { AuditRepository } from '../store/audit';
import type { Store } from '../store/store';
import {
  type AnyApprovalRequest,
  type ApprovalDecision,
  ApprovalError,
  type ApprovalPolicy,
  decisionProblem,
  describeRequest,
  type RequestKind,
  type RequestStatus,
} from './approvals';
import { publishAuditTrail } from './teamTrail';

/**
 * Approval requests shared through a team's MLflow server. A request is one immutable record; each reviewer's vote
 * is one record; the decision that closes a request (a rejection, or the approval that reaches `required`) is a
 * claim: an experiment created under the name `mloop-governance/outcome/<request>`. The server refuses a second
 * experiment of that name, so of two reviewers deciding at once exactly one wins, and everyone reads the winner's
 * decision from the claim. The loser's decision is not written.
 */

export interface TeamApprovalRequest extends AnyApprovalRequest {
  readonly requestId: string;
  /** Who closed it (the claim's winner), when closed. */
  readonly decidedBy: string | null;
  /** Whether the server authenticated the requester (its basic-auth user) or only took the client's word. */
  readonly identityProven: boolean;
  /** Made while the server was unreachable: kept in the workspace's store, sent when the server answers. */
  readonly queued?: { readonly server: string; readonly reason: string };
}

/** A request waiting in the workspace's store for the server (made while it was unreachable). */
export interface QueuedTeamRequest {
  readonly requestId: string;
  readonly server: string;
  readonly description: string;
  readonly requestedAt: number;
}

const queuedRows = (store: Store): { entity_id: string; details_json: string }[] =>
  store.db
    .prepare("SELECT entity_id, details_json FROM audit WHERE action = 'approval.request' AND details_json LIKE '%\"queued\":true%' ORDER BY audit_id")
    .all() as { entity_id: string; details_json: string }[];

/** The requests this workspace made while `server` was unreachable, as kept in its store (sent or not). */
export function queuedTeamRequests(store: Store, server?: string): QueuedTeamRequest[] {
  return queuedRows(store).flatMap((row) => {
    const details = JSON.parse(row.details_json) as { server?: string; queued?: boolean; request?: RequestPayload };
    if (!details.queued || !details.request || (server !== undefined && details.server !== server)) return [];
    return [
      { requestId: row.entity_id, server: details.server ?? '', description: describeRequest(details.request), requestedAt: details.request.requestedAt },
    ];
  });
}

/** A request kept in the store while the server was unreachable, as the requester was told of it (undefined: none). */
export function queuedRequestOf(store: Store, requestId: string): TeamApprovalRequest | undefined {
  const row = queuedRows(store).find((r) => r.entity_id === requestId);
  if (!row) return undefined;
  const details = JSON.parse(row.details_json) as { server?: string; why?: string; request?: RequestPayload };
  if (!details.request) return undefined;
  return {
    ...toRequest(requestId, details.request, [], undefined, details.request.requestedAt),
    queued: { server: details.server ?? '', reason: details.why ?? 'unreachable' },
  };
}

/**
 * Sends the requests made while the server was unreachable (kept in the store's audit entries) that the server does
 * not hold yet, with their original time and requester; returns how many. Safe to repeat: a request is keyed by its id.
 */
export async function sendQueuedRequests(store: Store, ledger: TeamLedger): Promise<number> {
  const rows = queuedRows(store);
  if (rows.length === 0) return 0;
  const held = new Set((await ledger.read('approval.request')).map((r) => r.key));
  let sent = 0;
  for (const row of rows) {
    const details = JSON.parse(row.details_json) as { server?: string; queued?: boolean; request?: RequestPayload };
    if (!details.queued || !details.request || details.server !== ledger.location || held.has(row.entity_id)) continue;
    const payload = details.request;
    await ledger.write({
      kind: 'approval.request',
      key: row.entity_id,
      writer: payload.requestedBy,
      at: payload.requestedAt,
      payload,
      runName: `request ${describeRequest(payload)}`,
    });
    sent++;
  }
  return sent;
}

interface RequestPayload {
  readonly kind: RequestKind;
  readonly modelName: string;
  readonly version: number;
  readonly subject: string;
  readonly action: Record<string, unknown>;
  readonly requestedBy: string;
  readonly requestedAt: number;
  readonly required: number;
  readonly reviewers: readonly string[];
  readonly expiresAt: number;
  readonly identityProven: boolean;
}

interface VotePayload {
  readonly requestId: string;
  readonly reviewer: string;
  readonly decision: 'approve' | 'reject';
  readonly comment: string;
  readonly decidedAt: number;
}

const OUTCOME_TAG = 'mloop.outcome';

const outcomeClaim = (requestId: string): string => `outcome/${requestId}`;

/** Who acts on the team server: its authenticated user when it checks users, else the workspace's identity. */
export async function teamIdentity(
  ledger: TeamLedger,
  fallback: string,
  options: { offline?: boolean } = {},
): Promise<{ actor: string; proven: boolean; unreachable?: boolean }> {
  try {
    const user = await ledger.backend.authenticatedUser();
    return user ? { actor: user, proven: true } : { actor: fallback, proven: false };
  } catch (error) {
    // `offline`: the server is down, and what is asked of it waits in the store (a queued request): the user mloop
    // would log in as, else the workspace's identity, unproven until the server takes it
    if (!options.offline || !(error instanceof BackendUnreachableError)) throw error;
    return { actor: ledger.backend.username ?? fallback, proven: false, unreachable: true };
  }
}

export interface TeamContext {
  readonly ledger: TeamLedger;
  /** The workspace's store: its audit chain records what this user did, and is published to the server. */
  readonly store: Store;
  readonly actor: string;
  readonly identityProven?: boolean;
  /** The server did not answer when the context was made (a deploy then queues its approval request). */
  readonly unreachable?: boolean;
}

/** Creates a pending request on the server, audited in the workspace's chain and published. */
export async function requestTeamApproval(
  ctx: TeamContext,
  input: { kind: RequestKind; modelName: string; version: number; subject: string; action: Record<string, unknown>; policy: ApprovalPolicy; now?: number },
): Promise<TeamApprovalRequest> {
  const now = input.now ?? Date.now();
  const requestId = newRecordId();
  const payload: RequestPayload = {
    kind: input.kind,
    modelName: input.modelName,
    version: input.version,
    subject: input.subject,
    action: input.action,
    requestedBy: ctx.actor,
    requestedAt: now,
    required: input.policy.required,
    reviewers: input.policy.reviewers,
    expiresAt: now + input.policy.expiresAfterMs,
    identityProven: ctx.identityProven ?? false,
  };
  try {
    await ctx.ledger.write({ kind: 'approval.request', key: requestId, writer: ctx.actor, at: now, payload, runName: `request ${describeRequest(payload)}` });
  } catch (error) {
    if (!(error instanceof BackendUnreachableError)) throw error;
    // the server is down: the request waits in the workspace's store (its audit entry holds it) and is sent when the
    // server answers again (sendQueuedRequests, run by every publish); nothing it guards happens meanwhile
    recordRequestAudit(ctx, requestId, payload, now, { why: error.message });
    return { ...toRequest(requestId, payload, [], undefined, now), queued: { server: ctx.ledger.location, reason: error.message } };
  }
  recordRequestAudit(ctx, requestId, payload, now);
  await publishAuditTrail(ctx.store, ctx.ledger, { actor: ctx.actor });
  return toRequest(requestId, payload, [], undefined, now);
}

/**
 * The workspace's audit entry of a request. A queued one (the server was down) also holds the whole request, which
 * sendQueuedRequests reads back to send it when the server answers again.
 */
function recordRequestAudit(ctx: TeamContext, requestId: string, payload: RequestPayload, now: number, queued?: { why: string }): void {
  const details: Record<string, unknown> = {
    server: ctx.ledger.location,
    required: payload.required,
    reviewers: payload.reviewers,
    expiresAt: payload.expiresAt,
  };
  if (queued) Object.assign(details, { queued: true, why: queued.why, request: payload });
  new AuditRepository(ctx.store).record({
    actor: ctx.actor,
    action: 'approval.request',
    entityType: 'approval_request',
    entityId: requestId,
    toValue: describeRequest(payload),
    details,
    at: now,
  });
}

function toRequest(requestId: string, p: RequestPayload, votes: readonly VotePayload[], outcome: VotePayload | undefined, now: number): TeamApprovalRequest {
  // one vote per reviewer (their first); the closing decision is the claim's, whatever votes say
  const decisions: ApprovalDecision[] = [];
  for (const v of [...votes].sort((a, b) => a.decidedAt - b.decidedAt)) {
    if (!decisions.some((d) => sameIdentity(d.reviewer, v.reviewer)) && !(outcome && sameIdentity(outcome.reviewer, v.reviewer)))
      decisions.push({ reviewer: v.reviewer, decision: v.decision, comment: v.comment, decidedAt: v.decidedAt });
  }
  if (outcome) decisions.push({ reviewer: outcome.reviewer, decision: outcome.decision, comment: outcome.comment, decidedAt: outcome.decidedAt });
  const status: RequestStatus = outcome ? (outcome.decision === 'approve' ? 'approved' : 'rejected') : now > p.expiresAt ? 'expired' : 'pending';
  return {
    requestId,
    kind: p.kind,
    modelName: p.modelName,
    version: p.version,
    subject: p.subject,
    action: p.action,
    requestedBy: p.requestedBy,
    requestedAt: p.requestedAt,
    required: p.required,
    reviewers: p.reviewers,
    expiresAt: p.expiresAt,
    status,
    closedAt: outcome?.decidedAt ?? null,
    executedAt: null,
    decisions,
    decidedBy: outcome?.reviewer ?? null,
    identityProven: p.identityProven,
  };
}

const intact = <T>(records: readonly LedgerRecord<T>[]): LedgerRecord<T>[] => records.filter((r) => r.intact && !r.deleted);

async function outcomeOf(ledger: TeamLedger, requestId: string): Promise<VotePayload | undefined> {
  const tags = await ledger.claimed(outcomeClaim(requestId));
  return tags?.[OUTCOME_TAG] ? (JSON.parse(tags[OUTCOME_TAG]) as VotePayload) : undefined;
}

/** Every request on the server, newest first; `status` narrows. */
export async function listTeamRequests(ledger: TeamLedger, options: { status?: RequestStatus; now?: number } = {}): Promise<TeamApprovalRequest[]> {
  const now = options.now ?? Date.now();
  const [requests, votes] = await Promise.all([ledger.read<RequestPayload>('approval.request'), ledger.read<VotePayload>('approval.vote')]);
  // the claim decides, not the votes (the winner writes its vote after claiming): ask for every request's claim
  const out = await Promise.all(
    intact(requests).map(async (r) =>
      toRequest(
        r.key,
        r.payload,
        intact(votes)
          .filter((v) => v.payload.requestId === r.key)
          .map((v) => v.payload),
        await outcomeOf(ledger, r.key),
        now,
      ),
    ),
  );
  return out
    .sort((a, b) => b.requestedAt - a.requestedAt || a.requestId.localeCompare(b.requestId))
    .filter((r) => !options.status || r.status === options.status);
}

/** One request by its id or a unique prefix of at least 4 characters. */
export async function getTeamRequest(ledger: TeamLedger, idOrPrefix: string, now: number = Date.now()): Promise<TeamApprovalRequest> {
  const wanted = idOrPrefix.replace(/^#/, '').toLowerCase();
  if (!/^[0-9a-f]{4,16}$/.test(wanted))
    throw new ApprovalError(`"${idOrPrefix}" is not a team request id (hex, at least 4 characters, as "mloop requests" shows it)`);
  const matches = (await listTeamRequests(ledger, { now })).filter((r) => r.requestId.startsWith(wanted));
  if (matches.length === 0) throw new ApprovalError(`no approval request ${wanted} on ${ledger.location} (see "mloop requests --backend mlflow")`);
  if (matches.length > 1) throw new ApprovalError(`"${wanted}" matches ${matches.length} requests on ${ledger.location}: give more of the id`);
  return matches[0]!;
}

export interface TeamDecisionOutcome {
  readonly request: TeamApprovalRequest;
  /** This decision closed the request (and, for a promotion, made the change through `execute`). */
  readonly decided: boolean;
  readonly executed: boolean;
}

/**
 * One reviewer's decision. A decision that closes the request claims its outcome first; losing the claim means
 * another reviewer decided at the same moment: nothing of ours is written and the error names their decision.
 * `execute` makes an approved promotion (the claim's winner runs it once).
 */
export async function decideTeamRequest(
  ctx: TeamContext,
  input: { requestId: string; decision: 'approve' | 'reject'; comment: string; now?: number; execute?: (request: TeamApprovalRequest) => Promise<void> },
): Promise<TeamDecisionOutcome> {
  const comment = input.comment.trim();
  if (!comment) throw new ApprovalError(`a decision needs a comment: say why (--comment "<text>")`);
  const now = input.now ?? Date.now();
  const request = await getTeamRequest(ctx.ledger, input.requestId, now);
  const problem = decisionProblem(request, ctx.actor, now);
  if (problem) throw new ApprovalError(problem);
  const vote: VotePayload = { requestId: request.requestId, reviewer: ctx.actor, decision: input.decision, comment, decidedAt: now };
  const approvals = request.decisions.filter((d) => d.decision === 'approve').length;
  const closes = input.decision === 'reject' || approvals + 1 >= request.required;
  let claimIt = closes;
  const writeVote = (): Promise<string> =>
    ctx.ledger.write({
      kind: 'approval.vote',
      key: request.requestId,
      writer: ctx.actor,
      at: now,
      payload: vote,
      runName: `vote ${input.decision} ${request.requestId}`,
    });
  if (!closes) {
    await writeVote();
    // another reviewer may have voted meanwhile: when the votes now reach `required`, ours may close it
    const after = await getTeamRequest(ctx.ledger, request.requestId, now);
    claimIt = after.status === 'pending' && after.decisions.filter((d) => d.decision === 'approve').length >= after.required;
  }
  let decided = false;
  if (claimIt) {
    const claim = await ctx.ledger.claim(outcomeClaim(request.requestId), { [OUTCOME_TAG]: JSON.stringify(vote) });
    decided = claim.won;
    if (!claim.won && closes) {
      const winner = JSON.parse(claim.tags[OUTCOME_TAG] ?? '{}') as Partial<VotePayload>;
      throw new ApprovalError(
        `request ${request.requestId} (${describeRequest(request)}) was already ${winner.decision === 'reject' ? 'rejected' : 'approved'} by ${winner.reviewer ?? 'another reviewer'}${winner.comment ? `: "${winner.comment}"` : ''}`,
      );
    }
    if (claim.won && closes) await writeVote();
  }
  const closed = await getTeamRequest(ctx.ledger, request.requestId, now);
  new AuditRepository(ctx.store).record({
    actor: ctx.actor,
    action: input.decision === 'approve' ? 'approval.approve' : 'approval.reject',
    entityType: 'approval_request',
    entityId: request.requestId,
    toValue: describeRequest(request),
    reason: comment,
    details: { server: ctx.ledger.location, closed: decided },
    at: now,
  });
  let executed = false;
  if (decided && closed.status === 'approved' && input.execute) {
    await input.execute(closed);
    executed = true;
  }
  await publishAuditTrail(ctx.store, ctx.ledger, { actor: ctx.actor });
  return { request: closed, decided, executed };
}

const usedClaim = (requestId: string): string => `used/${requestId}`;

/**
 * A deployment to a protected target carries out an approved team request, once: the request must approve exactly
 * this deployment, and the first deployment claims `mloop-governance/used/<request>` on the server (a second
 * deployment with the same approval, from any workspace, loses the claim and is refused). Audited in the workspace.
 */
export async function consumeTeamDeployApproval(
  ctx: TeamContext,
  input: { requestId: string; modelName: string; version: number; target: string; now?: number },
): Promise<TeamApprovalRequest> {
  const now = input.now ?? Date.now();
  const request = await getTeamRequest(ctx.ledger, input.requestId, now);
  const wanted = describeRequest({ kind: 'deploy', modelName: input.modelName, version: input.version, subject: input.target });
  if (request.kind !== 'deploy' || request.modelName !== input.modelName || request.version !== input.version || request.subject !== input.target)
    throw new ApprovalError(`request ${request.requestId} is for ${describeRequest(request)}, not ${wanted}`);
  if (request.status !== 'approved') throw new ApprovalError(`request ${request.requestId} (${wanted}) is ${request.status}, not approved`);
  const use = { by: ctx.actor, at: now, server: ctx.ledger.location };
  const claim = await ctx.ledger.claim(usedClaim(request.requestId), { 'mloop.used': JSON.stringify(use) });
  if (!claim.won) {
    const earlier = JSON.parse(claim.tags['mloop.used'] ?? '{}') as Partial<typeof use>;
    throw new ApprovalError(
      `request ${request.requestId} was used by a deployment${earlier.by ? ` by ${earlier.by}` : ''}${earlier.at ? ` on ${new Date(earlier.at).toISOString()}` : ''}: ask for a new approval`,
    );
  }
  new AuditRepository(ctx.store).record({
    actor: ctx.actor,
    action: 'approval.execute',
    entityType: 'approval_request',
    entityId: request.requestId,
    toValue: wanted,
    reason: `approved by ${request.decisions
      .filter((d) => d.decision === 'approve')
      .map((d) => d.reviewer)
      .join(', ')}`,
    details: { server: ctx.ledger.location },
    at: now,
  });
  return { ...request, executedAt: now };
}
