import { ApprovalRequiredError } from '../governance/approvals';
import { requestTeamApproval, type TeamApprovalRequest } from '../governance/teamApprovals';
import { GateRefusedError, RegistryError } from '../registry/errors';
import { evaluateGate, type GateResult } from '../registry/gate';
import type { GateSpec } from '../registry/register';
import { AuditRepository } from '../store/audit';
import { aliasProblem } from '../store/models';
import type { Store } from '../store/store';
import type { BackendModelVersion } from './backend';
import type {
  ModelRegistry,
  RegistryAliasOptions,
  RegistryPromoteOptions,
  RegistryPromoteResult,
  RegistryRegisterOptions,
  RegistryRun,
  RegistryVersion,
} from './registry';
import type { MlflowBackend } from './mlflowBackend';
import { TeamLedger } from './teamLedger';

/**
 * The registry commands (promote, set/remove/roll back an alias, register from a run) against a remote
 * MLflow server. MLflow holds the models, versions and aliases; mloop keeps in MLflow tags what MLflow
 * has no field for (each alias's history, for roll back; a version's gate verdict), so every team
 * member's mloop sees them; the audit trail stays in the local store (MLflow has no audit log), one row
 * per change, written after the server accepted it.
 */
export interface RemoteRegistryContext {
  readonly backend: MlflowBackend;
  /** The local store that receives the audit rows. */
  readonly store: Store;
  readonly actor: string;
  /** The server authenticated `actor` (its basic-auth user), rather than taking the workspace's word. */
  readonly identityProven?: boolean;
}

const CHAMPION = 'champion';
/** Registered-model tag: the versions an alias left, oldest first (a stack that roll back pops). */
export const aliasHistoryTag = (alias: string): string => `mloop.alias_history.${alias}`;
/** Model-version tags with the gate verdict mloop computed for it. */
export const GATE_PASSED_TAG = 'mloop.gate.passed';
export const GATE_TAG = 'mloop.gate';
/** MLflow caps tag values; the history keeps the newest entries. */
const HISTORY_KEEP = 100;

async function requireVersion(
  ctx: RemoteRegistryContext,
  modelName: string,
  version: number,
): Promise<{ versions: BackendModelVersion[]; version: BackendModelVersion }> {
  const versions = await ctx.backend.modelVersions(modelName);
  if (versions.length === 0) throw new RegistryError(`no registered model "${modelName}" on ${ctx.backend.location}`);
  const found = versions.find((v) => v.version === version);
  if (!found) throw new RegistryError(`model "${modelName}" on ${ctx.backend.location} has no version ${version} (latest is v${versions[0]!.version})`);
  return { versions, version: found };
}

function readHistory(tags: Readonly<Record<string, string>> | undefined, alias: string): number[] {
  const raw = tags?.[aliasHistoryTag(alias)];
  if (!raw) return [];
  try {
    const parsed: unknown = JSON.parse(raw);
    return Array.isArray(parsed) ? parsed.filter((v): v is number => Number.isInteger(v) && v > 0) : [];
  } catch {
    return []; // a tag someone else edited by hand: history starts afresh
  }
}

const writeHistory = (ctx: RemoteRegistryContext, modelName: string, alias: string, history: readonly number[]): Promise<void> =>
  ctx.backend.setModelTag(modelName, aliasHistoryTag(alias), JSON.stringify(history.slice(-HISTORY_KEEP)));

function audit(
  ctx: RemoteRegistryContext,
  entry: {
    action: string;
    entityType: string;
    entityId: string;
    fromValue?: string | null;
    toValue?: string | null;
    reason?: string | null;
    details?: Record<string, unknown>;
  },
): void {
  ctx.store.transaction(() => {
    new AuditRepository(ctx.store).record({ ...entry, actor: ctx.actor, details: { backend: ctx.backend.location, ...(entry.details ?? {}) } });
  });
}

export interface RemotePromoteResult {
  readonly version: number;
  readonly previous: number | null;
  readonly gate: GateResult | null;
  readonly overridden: boolean;
}

/**
 * Points an alias at a version on the server. Champion passes the gate first: the rules from mloop.yaml
 * evaluated on the source run's metrics as the server holds them (slices from `<metric>/<column>/<value>`
 * metrics; an evaluation file is not read for remote runs), compared with the current champion's run;
 * without rules, the verdict stored on the version's tag. A failed gate needs an override reason.
 */
export async function remotePromote(
  ctx: RemoteRegistryContext,
  options: {
    modelName: string;
    version: number;
    alias?: string;
    gate?: GateSpec;
    overrideReason?: string;
    reason?: string;
    /** The reviewers who approved the team request this promotion carries out (the policy is then satisfied). */
    approvedBy?: string;
  },
): Promise<RemotePromoteResult> {
  const alias = options.alias ?? CHAMPION;
  const problem = aliasProblem(alias);
  if (problem) throw new RegistryError(problem);
  const { versions, version } = await requireVersion(ctx, options.modelName, options.version);
  const holder = versions.find((v) => v.aliases.includes(alias));
  const previous = holder?.version ?? null;
  let gate: GateResult | null = null;
  if (alias === CHAMPION) {
    if (options.gate?.rules.length) {
      const run = version.runId ? await ctx.backend.getRun(version.runId) : undefined;
      const championRun = holder && holder.version !== version.version && holder.runId ? await ctx.backend.getRun(holder.runId) : undefined;
      gate = evaluateGate(options.gate.rules, {
        metrics: run?.metrics ?? {},
        slices: {},
        ...(holder && championRun && holder.version !== version.version ? { champion: { version: holder.version, metrics: championRun.metrics } } : {}),
      });
      await ctx.backend.setVersionTag(options.modelName, version.version, GATE_PASSED_TAG, String(gate.passed));
      await ctx.backend.setVersionTag(options.modelName, version.version, GATE_TAG, JSON.stringify(gate).slice(0, 4900));
    } else if (version.tags[GATE_PASSED_TAG] !== undefined) {
      const passed = version.tags[GATE_PASSED_TAG] === 'true';
      let checks: GateResult['checks'] = [{ rule: 'gate', passed, detail: `stored verdict on ${options.modelName} v${version.version}` }];
      try {
        checks = (JSON.parse(version.tags[GATE_TAG] ?? '') as GateResult).checks ?? checks;
      } catch {
        // the verdict alone is enough
      }
      gate = { passed, checks, championVersion: null, evaluatedAt: Date.now() };
    }
  }
  const overrideReason = options.overrideReason?.trim();
  if (gate && !gate.passed && !overrideReason) {
    const failed = gate.checks.filter((c) => !c.passed).map((c) => `${c.rule} (${c.detail})`);
    throw new GateRefusedError(
      `${options.modelName} v${version.version} failed its gate: ${failed.join('; ')}. Promote with an override reason to proceed.`,
      gate,
    );
  }
  const overridden = Boolean(gate && !gate.passed);
  // an approval policy turns a promotion to champion into a request on the team server (decided there by others)
  if (alias === CHAMPION && options.gate?.approvals && !options.approvedBy) {
    const request = await requestTeamApproval(
      { ledger: new TeamLedger(ctx.backend), store: ctx.store, actor: ctx.actor, ...(ctx.identityProven ? { identityProven: true } : {}) },
      {
        kind: 'promote',
        modelName: options.modelName,
        version: version.version,
        subject: alias,
        action: { reason: options.reason ?? null, overrideReason: overrideReason || null },
        policy: options.gate.approvals,
      },
    );
    throw new ApprovalRequiredError(request);
  }
  if (previous !== version.version) {
    await ctx.backend.setAlias(options.modelName, alias, version.version);
    if (previous !== null) {
      const history = readHistory(await ctx.backend.modelTags(options.modelName), alias);
      await writeHistory(ctx, options.modelName, alias, [...history, previous]);
    }
  }
  if (overridden) {
    audit(ctx, {
      action: 'override_gate',
      entityType: 'model_version',
      entityId: `${options.modelName}/${version.version}`,
      toValue: `${alias} despite failed gate`,
      reason: overrideReason!,
      details: { failed: gate!.checks.filter((c) => !c.passed) },
    });
  }
  audit(ctx, {
    action: alias === CHAMPION ? 'promote' : 'set_alias',
    entityType: 'alias',
    entityId: `${options.modelName}@${alias}`,
    fromValue: previous === null ? null : `v${previous}`,
    toValue: `v${version.version}`,
    reason: overridden ? overrideReason! : (options.reason ?? null),
  });
  return { version: version.version, previous, gate, overridden };
}

/**
 * Carries out an approved team promotion request: the requester's promotion (their gate override, their reason),
 * with the approvers in its reason; the gate is checked again as mloop.yaml states it now.
 */
export async function executeTeamPromotion(ctx: RemoteRegistryContext, request: TeamApprovalRequest, gate?: GateSpec): Promise<RemotePromoteResult> {
  const approvers = request.decisions
    .filter((d) => d.decision === 'approve')
    .map((d) => d.reviewer)
    .join(', ');
  const note = `request ${request.requestId} approved by ${approvers}`;
  const reason = typeof request.action.reason === 'string' ? `${request.action.reason} · ${note}` : note;
  const overrideReason = typeof request.action.overrideReason === 'string' ? `${request.action.overrideReason} · ${note}` : undefined;
  return remotePromote(
    { ...ctx, actor: request.requestedBy },
    {
      modelName: request.modelName,
      version: request.version,
      alias: request.subject,
      reason,
      ...(overrideReason ? { overrideReason } : {}),
      ...(gate ? { gate } : {}),
      approvedBy: approvers,
    },
  );
}

/** Removes an alias on the server; returns the version it pointed at. */
export async function remoteRemoveAlias(ctx: RemoteRegistryContext, options: { modelName: string; alias: string; reason?: string }): Promise<number> {
  const versions = await ctx.backend.modelVersions(options.modelName);
  const holder = versions.find((v) => v.aliases.includes(options.alias));
  if (!holder) throw new RegistryError(`${options.modelName} on ${ctx.backend.location} has no alias "${options.alias}"`);
  await ctx.backend.deleteAlias(options.modelName, options.alias);
  const history = readHistory(await ctx.backend.modelTags(options.modelName), options.alias);
  await writeHistory(ctx, options.modelName, options.alias, [...history, holder.version]);
  audit(ctx, {
    action: 'delete_alias',
    entityType: 'alias',
    entityId: `${options.modelName}@${options.alias}`,
    fromValue: `v${holder.version}`,
    toValue: null,
    reason: options.reason ?? null,
  });
  return holder.version;
}

/**
 * Where an alias goes back to: the newest version in its history tag that is not the current one and
 * still exists. Only moves made through mloop are in the history (another client's alias moves are not).
 */
export async function remoteRollbackTarget(
  ctx: RemoteRegistryContext,
  modelName: string,
  alias: string,
): Promise<{ current: number | null; target: number | undefined; history: number[] }> {
  const [versions, tags] = await Promise.all([ctx.backend.modelVersions(modelName), ctx.backend.modelTags(modelName)]);
  const current = versions.find((v) => v.aliases.includes(alias))?.version ?? null;
  const existing = new Set(versions.map((v) => v.version));
  const history = readHistory(tags, alias);
  while (history.length && (history[history.length - 1] === current || !existing.has(history[history.length - 1]!))) history.pop();
  return { current, target: history[history.length - 1], history };
}

/** Moves an alias back to the version it held before its last mloop change (popping the history). */
export async function remoteRollbackAlias(
  ctx: RemoteRegistryContext,
  options: { modelName: string; alias: string; reason?: string },
): Promise<{ from: number | null; to: number }> {
  const { current, target, history } = await remoteRollbackTarget(ctx, options.modelName, options.alias);
  if (target === undefined)
    throw new RegistryError(`${options.modelName}@${options.alias} on ${ctx.backend.location} has no earlier version (set through mloop) to roll back to`);
  await ctx.backend.setAlias(options.modelName, options.alias, target);
  await writeHistory(ctx, options.modelName, options.alias, history.slice(0, -1));
  audit(ctx, {
    action: 'rollback_alias',
    entityType: 'alias',
    entityId: `${options.modelName}@${options.alias}`,
    fromValue: current === null ? null : `v${current}`,
    toValue: `v${target}`,
    reason: options.reason ?? null,
  });
  return { from: current, to: target };
}

/**
 * Registers a version of `modelName` on the server from a finished run's artifact (`runs:/<run>/<path>`,
 * default path `model`, where `mlflow.<flavor>.log_model(..., "model")` puts it). With rules the gate is
 * evaluated on the run's metrics and stored on the version's tags.
 */
export async function remoteRegisterFromRun(
  ctx: RemoteRegistryContext,
  options: { runId: string; modelName: string; artifactPath?: string; gate?: GateSpec; description?: string },
): Promise<{ version: BackendModelVersion; gate: GateResult | null }> {
  const run = await ctx.backend.getRun(options.runId);
  if (!run) throw new RegistryError(`no run ${options.runId} on ${ctx.backend.location}`);
  if (run.status !== 'FINISHED')
    throw new RegistryError(`run ${run.name} (${options.runId}) is ${run.status.toLowerCase()}: register a model from a finished run`);
  const path = (options.artifactPath ?? 'model').replace(/^\/+/, '');
  const version = await ctx.backend.createModelVersion({
    name: options.modelName,
    source: `runs:/${options.runId}/${path}`,
    runId: options.runId,
    ...(options.description ? { description: options.description } : {}),
  });
  let gate: GateResult | null = null;
  if (options.gate?.rules.length) {
    const versions = await ctx.backend.modelVersions(options.modelName);
    const champion = versions.find((v) => v.aliases.includes(CHAMPION) && v.version !== version.version);
    const championRun = champion?.runId ? await ctx.backend.getRun(champion.runId) : undefined;
    gate = evaluateGate(options.gate.rules, {
      metrics: run.metrics,
      slices: {},
      ...(champion && championRun ? { champion: { version: champion.version, metrics: championRun.metrics } } : {}),
    });
    await ctx.backend.setVersionTag(options.modelName, version.version, GATE_PASSED_TAG, String(gate.passed));
    await ctx.backend.setVersionTag(options.modelName, version.version, GATE_TAG, JSON.stringify(gate).slice(0, 4900));
  }
  audit(ctx, {
    action: 'register',
    entityType: 'model_version',
    entityId: `${options.modelName}/${version.version}`,
    toValue: `v${version.version}`,
    details: { sourceRunId: options.runId, source: version.source, gatePassed: gate ? gate.passed : null },
  });
  return { version, gate };
}

/** The same registry workflow against an MLflow server (the functions above), behind the ModelRegistry interface. */
export class MlflowRegistry implements ModelRegistry {
  readonly asksArtifactPath = true;

  constructor(private readonly ctx: RemoteRegistryContext) {}

  get location(): string {
    return this.ctx.backend.location;
  }

  get where(): string {
    return ` on ${this.ctx.backend.location}`;
  }

  async versions(modelName?: string): Promise<RegistryVersion[]> {
    const names = modelName === undefined ? (await this.ctx.backend.listModels()).map((m) => m.name) : [modelName];
    const out: RegistryVersion[] = [];
    for (const name of names) {
      for (const v of await this.ctx.backend.modelVersions(name)) {
        const verdict = v.tags[GATE_PASSED_TAG];
        out.push({ modelName: name, version: v.version, runId: v.runId, aliases: v.aliases, gatePassed: verdict === undefined ? null : verdict === 'true' });
      }
    }
    return out;
  }

  async run(runId: string): Promise<RegistryRun | undefined> {
    const run = await this.ctx.backend.getRun(runId);
    return run && { runId: run.runId, name: run.name, pipeline: null };
  }

  promote(options: RegistryPromoteOptions): Promise<RegistryPromoteResult> {
    return remotePromote(this.ctx, options);
  }

  removeAlias(options: RegistryAliasOptions): Promise<number> {
    return remoteRemoveAlias(this.ctx, options);
  }

  async rollbackTarget(modelName: string, alias: string): Promise<{ current: number | null; target: number | undefined }> {
    const { current, target } = await remoteRollbackTarget(this.ctx, modelName, alias);
    return { current, target };
  }

  rollbackAlias(options: RegistryAliasOptions): Promise<{ from: number | null; to: number }> {
    return remoteRollbackAlias(this.ctx, options);
  }

  async registerFromRun(options: RegistryRegisterOptions): Promise<{ version: number; gate: GateResult | null }> {
    const r = await remoteRegisterFromRun(this.ctx, options);
    return { version: r.version.version, gate: r.gate };
  }
}
