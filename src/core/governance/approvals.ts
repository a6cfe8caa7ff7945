import type { z } from 'zod';
import type { approvalsSchema, Config } from '../config/schema';
import { isListedIdentity, sameIdentity } from '../registry/actor';
import { AuditRepository } from '../store/audit';
import type { Store } from '../store/store';

/** An approval policy of mloop.yaml, ready to apply. */
export interface ApprovalPolicy {
  readonly required: number;
  /** Empty: anyone but the requester. */
  readonly reviewers: readonly string[];
  readonly expiresAfterMs: number;
}

export type RequestKind = 'promote' | 'deploy';
export type RequestStatus = 'pending' | 'approved' | 'rejected' | 'expired';

export interface ApprovalDecision {
  readonly reviewer: string;
  readonly decision: 'approve' | 'reject';
  readonly comment: string;
  readonly decidedAt: number;
}

export interface ApprovalRequest {
  readonly requestId: number;
  readonly kind: RequestKind;
  readonly modelName: string;
  readonly version: number;
  /** The alias to move (promote) or the target to deploy to (deploy). */
  readonly subject: string;
  /** What the change carries besides model, version and subject (a reason, an override, deploy options). */
  readonly action: Readonly<Record<string, unknown>>;
  readonly requestedBy: string;
  readonly requestedAt: number;
  readonly required: number;
  readonly reviewers: readonly string[];
  readonly expiresAt: number;
  /** `expired` is derived: a pending request past its expiry. */
  readonly status: RequestStatus;
  readonly closedAt: number | null;
  /** When the approved change was made (a promotion: at approval; a deployment: when it started). */
  readonly executedAt: number | null;
  readonly decisions: readonly ApprovalDecision[];
}

/** A refused approval or rejection (self-approval, not a reviewer, expired, already decided); nothing was written. */
export class ApprovalError extends Error {
  override readonly name = 'ApprovalError';
}

/** This approval now completes the request, but the caller prepared no change: prepare it and decide again. */
export class ApprovalRaceError extends Error {
  override readonly name = 'ApprovalRaceError';
}

/** The change was not made: it needs approval, and a request now exists (its id is in the message). */
/** A request of the store (numbered) or of a team's MLflow server (a hex id): what messages and checks need of it. */
export type AnyApprovalRequest = Omit<ApprovalRequest, 'requestId'> & { readonly requestId: number | string };

export class ApprovalRequiredError extends Error {
  override readonly name = 'ApprovalRequiredError';
  constructor(readonly request: AnyApprovalRequest & { readonly queued?: { readonly server: string; readonly reason: string } }) {
    super(
      `${describeRequest(request)} needs ${request.required} approval${request.required === 1 ? '' : 's'}` +
        `${request.reviewers.length ? ` from ${request.reviewers.join(', ')}` : ' from someone other than you'}: ` +
        (request.queued
          ? `request #${request.requestId} is kept in this workspace's store and sent to ${request.queued.server} as soon as it answers (${request.queued.reason}); ` +
            `nothing is deployed meanwhile; once it is on the server, a reviewer runs "mloop approve ${request.requestId} --comment <text>"`
          : `request #${request.requestId} created (expires ${new Date(request.expiresAt).toISOString()}); a reviewer runs "mloop approve ${request.requestId} --comment <text>"`),
    );
  }
}

const UNIT_MS: Readonly<Record<string, number>> = { m: 60_000, h: 3_600_000, d: 86_400_000, w: 7 * 86_400_000 };

/** "30m", "12h", "7d", "2w" in milliseconds (the schema already checked the form). */
export function durationMs(text: string): number {
  const m = /^([1-9][0-9]*)([mhdw])$/.exec(text);
  if (!m) throw new ApprovalError(`"${text}" is not a duration such as 30m, 12h, 7d or 2w`);
  return Number(m[1]) * UNIT_MS[m[2]!]!;
}

export const approvalPolicyOf = (section: z.output<typeof approvalsSchema>): ApprovalPolicy => ({
  required: section.required,
  reviewers: section.reviewers,
  expiresAfterMs: durationMs(section.expires_after),
});

const DEFAULT_POLICY: z.output<typeof approvalsSchema> = { required: 1, reviewers: [], expires_after: '7d' };

/** A deployment to this target needs approval when it is `protected: true`: its own policy, else the model's, else one approval. */
export function deployApprovalPolicy(config: Config | undefined, target: string, modelName: string): ApprovalPolicy | undefined {
  const declared = config?.targets?.[target];
  if (!declared?.protected) return undefined;
  return approvalPolicyOf(declared.approvals ?? config?.models?.[modelName]?.approvals ?? DEFAULT_POLICY);
}

export const describeRequest = (r: Pick<ApprovalRequest, 'kind' | 'modelName' | 'version' | 'subject'>): string =>
  r.kind === 'promote' ? `promoting ${r.modelName} v${r.version} to @${r.subject}` : `deploying ${r.modelName} v${r.version} to ${r.subject}`;

interface RequestRow {
  approval_request_id: number;
  kind: RequestKind;
  model_name: string;
  version: number;
  subject: string;
  action_json: string;
  requested_by: string;
  requested_at: number;
  required: number;
  reviewers_json: string;
  expires_at: number;
  status: 'pending' | 'approved' | 'rejected';
  closed_at: number | null;
  executed_at: number | null;
}

function toRequest(store: Store, row: RequestRow, now: number): ApprovalRequest {
  const decisions = (
    store.db
      .prepare('SELECT reviewer, decision, comment, decided_at FROM approval_decision WHERE approval_request_id = ? ORDER BY decided_at, rowid')
      .all(row.approval_request_id) as { reviewer: string; decision: 'approve' | 'reject'; comment: string; decided_at: number }[]
  ).map((d) => ({ reviewer: d.reviewer, decision: d.decision, comment: d.comment, decidedAt: d.decided_at }));
  return {
    requestId: row.approval_request_id,
    kind: row.kind,
    modelName: row.model_name,
    version: row.version,
    subject: row.subject,
    action: JSON.parse(row.action_json) as Record<string, unknown>,
    requestedBy: row.requested_by,
    requestedAt: row.requested_at,
    required: row.required,
    reviewers: JSON.parse(row.reviewers_json) as string[],
    expiresAt: row.expires_at,
    status: row.status === 'pending' && now > row.expires_at ? 'expired' : row.status,
    closedAt: row.closed_at,
    executedAt: row.executed_at,
    decisions,
  };
}

export function getRequest(store: Store, requestId: number, now: number = Date.now()): ApprovalRequest | undefined {
  const row = store.db.prepare('SELECT * FROM approval_request WHERE approval_request_id = ?').get(requestId) as RequestRow | undefined;
  return row ? toRequest(store, row, now) : undefined;
}

/** Newest first; `status` narrows (expired is derived from the clock). */
export function listRequests(store: Store, options: { status?: RequestStatus; now?: number } = {}): ApprovalRequest[] {
  const now = options.now ?? Date.now();
  const rows = store.db.prepare('SELECT * FROM approval_request ORDER BY requested_at DESC, approval_request_id DESC').all() as RequestRow[];
  return rows.map((r) => toRequest(store, r, now)).filter((r) => !options.status || r.status === options.status);
}

/** Creates a pending request with the policy in force now, audited in the same transaction. */
export function requestApproval(
  store: Store,
  input: {
    kind: RequestKind;
    modelName: string;
    version: number;
    subject: string;
    action: Record<string, unknown>;
    policy: ApprovalPolicy;
    requester: string;
    now?: number;
  },
): ApprovalRequest {
  const now = input.now ?? Date.now();
  const id = store.transaction(() => {
    const info = store.db
      .prepare(
        `INSERT INTO approval_request (kind, model_name, version, subject, action_json, requested_by, requested_at, required, reviewers_json, expires_at, status)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending')`,
      )
      .run(
        input.kind,
        input.modelName,
        input.version,
        input.subject,
        JSON.stringify(input.action),
        input.requester,
        now,
        input.policy.required,
        JSON.stringify(input.policy.reviewers),
        now + input.policy.expiresAfterMs,
      );
    const requestId = Number(info.lastInsertRowid);
    new AuditRepository(store).record({
      actor: input.requester,
      action: 'approval.request',
      entityType: 'approval_request',
      entityId: String(requestId),
      toValue: describeRequest(input),
      details: { required: input.policy.required, reviewers: input.policy.reviewers, expiresAt: now + input.policy.expiresAfterMs },
      at: now,
    });
    return requestId;
  });
  return getRequest(store, id, now)!;
}

/** Why `reviewer` may not decide `request` now, or undefined. Checked again inside the deciding transaction. */
export function decisionProblem(request: AnyApprovalRequest, reviewer: string, now: number = Date.now()): string | undefined {
  const id = `request #${request.requestId} (${describeRequest(request)})`;
  if (request.status === 'expired' || (request.status === 'pending' && now > request.expiresAt)) {
    return `${id} expired on ${new Date(request.expiresAt).toISOString()}: ask for a new one`;
  }
  if (request.status !== 'pending') {
    const by = request.decisions
      .filter((d) => d.decision === (request.status === 'approved' ? 'approve' : 'reject'))
      .map((d) => d.reviewer)
      .join(', ');
    return `${id} was already ${request.status}${by ? ` by ${by}` : ''}`;
  }
  if (sameIdentity(reviewer, request.requestedBy)) return `${reviewer} requested ${id} and cannot decide it: self-approval is refused`;
  if (request.reviewers.length && !request.reviewers.some((entry) => isListedIdentity(entry, reviewer))) {
    return `${reviewer} is not a reviewer of ${id}: reviewers are ${request.reviewers.join(', ')}`;
  }
  const earlier = request.decisions.find((d) => sameIdentity(d.reviewer, reviewer));
  if (earlier) return `${reviewer} already ${earlier.decision === 'approve' ? 'approved' : 'rejected'} ${id}`;
  return undefined;
}

export interface DecisionOutcome {
  readonly request: ApprovalRequest;
  /** The approvals reached `required` and the change was made (in the same transaction as the last approval). */
  readonly executed: boolean;
}

/**
 * Records one reviewer's approval or rejection with its comment, audited. One rejection closes the request; the
 * approval that reaches `required` runs `execute` (the change itself, synchronous) in the same transaction, so
 * the change, the decision and their audit rows commit together — and of two reviewers racing, only one decides.
 */
export function decide(
  store: Store,
  input: {
    requestId: number;
    reviewer: string;
    decision: 'approve' | 'reject';
    comment: string;
    now?: number;
    /** Makes the change when the request is approved; throwing rolls the approval back. */
    execute?: (request: ApprovalRequest) => void;
  },
): DecisionOutcome {
  const comment = input.comment.trim();
  if (!comment) throw new ApprovalError(`a decision needs a comment: say why (--comment "<text>")`);
  const now = input.now ?? Date.now();
  return store.transaction(() => {
    const request = getRequest(store, input.requestId, now);
    if (!request) throw new ApprovalError(`no approval request #${input.requestId} (see "mloop requests")`);
    const problem = decisionProblem(request, input.reviewer, now);
    if (problem) throw new ApprovalError(problem);
    const auditId = new AuditRepository(store).record({
      actor: input.reviewer,
      action: input.decision === 'approve' ? 'approval.approve' : 'approval.reject',
      entityType: 'approval_request',
      entityId: String(request.requestId),
      toValue: describeRequest(request),
      reason: comment,
      at: now,
    });
    store.db
      .prepare('INSERT INTO approval_decision (approval_request_id, reviewer, decision, comment, decided_at, audit_id) VALUES (?, ?, ?, ?, ?, ?)')
      .run(request.requestId, input.reviewer, input.decision, comment, now, auditId);
    const approvals = request.decisions.filter((d) => d.decision === 'approve').length + (input.decision === 'approve' ? 1 : 0);
    let executed = false;
    if (input.decision === 'reject') {
      store.db.prepare("UPDATE approval_request SET status = 'rejected', closed_at = ? WHERE approval_request_id = ?").run(now, request.requestId);
    } else if (approvals >= request.required) {
      // another approval landed since the caller looked: it must prepare the change and try again
      if (!input.execute && request.kind === 'promote') throw new ApprovalRaceError();
      input.execute?.(request);
      executed = input.execute !== undefined;
      store.db
        .prepare("UPDATE approval_request SET status = 'approved', closed_at = ?, executed_at = ? WHERE approval_request_id = ?")
        .run(now, executed ? now : null, request.requestId);
    }
    return { request: getRequest(store, request.requestId, now)!, executed };
  });
}

/**
 * Marks an approved deploy request as used by the deployment starting now (audited), so one approval deploys once.
 * Refuses a request that does not approve exactly this deployment.
 */
export function consumeDeployApproval(
  store: Store,
  input: { requestId: number; modelName: string; version: number; target: string; actor: string; now?: number },
): ApprovalRequest {
  const now = input.now ?? Date.now();
  return store.transaction(() => {
    const request = getRequest(store, input.requestId, now);
    const wanted = describeRequest({ kind: 'deploy', modelName: input.modelName, version: input.version, subject: input.target });
    if (!request) throw new ApprovalError(`no approval request #${input.requestId} (see "mloop requests")`);
    if (request.kind !== 'deploy' || request.modelName !== input.modelName || request.version !== input.version || request.subject !== input.target) {
      throw new ApprovalError(`request #${request.requestId} is for ${describeRequest(request)}, not ${wanted}`);
    }
    if (request.status !== 'approved') throw new ApprovalError(`request #${request.requestId} (${wanted}) is ${request.status}, not approved`);
    if (request.executedAt !== null) {
      throw new ApprovalError(
        `request #${request.requestId} was used by a deployment on ${new Date(request.executedAt).toISOString()}: ask for a new approval`,
      );
    }
    store.db.prepare('UPDATE approval_request SET executed_at = ? WHERE approval_request_id = ?').run(now, request.requestId);
    new AuditRepository(store).record({
      actor: input.actor,
      action: 'approval.execute',
      entityType: 'approval_request',
      entityId: String(request.requestId),
      toValue: wanted,
      reason: `approved by ${request.decisions
        .filter((d) => d.decision === 'approve')
        .map((d) => d.reviewer)
        .join(', ')}`,
      at: now,
    });
    return getRequest(store, request.requestId, now)!;
  });
}
