import { existsSync } from 'node:fs';
import { AuditRepository } from '../store/audit';
import { aliasProblem, ModelRepository, type Model, type ModelVersion } from '../store/models';
import { ApprovalRequiredError, requestApproval } from '../governance/approvals';
import { GateRefusedError, RegistryError } from './errors';
import { gateWithEvidence, PREDICTION_TEST_RULE, type GateSpec, type RegistryContext, type StoredGate } from './register';
import { artifactLocation, pathDigest } from './modelArtifact';

export const CHAMPION = 'champion';
export const CHALLENGER = 'challenger';

export interface VersionRef {
  readonly modelName: string;
  readonly version: number;
  /** When the caller holds a version row (a tree node), it must belong to `modelName`. */
  readonly modelVersionId?: number;
}

export function findModel(ctx: RegistryContext, name: string): Model {
  const models = new ModelRepository(ctx.store);
  const model = models.byName(name);
  if (!model) {
    const names = models.list().map((m) => m.name);
    throw new RegistryError(`no registered model "${name}"${names.length ? ` (models: ${names.join(', ')})` : ''}`);
  }
  return model;
}

export function findVersion(ctx: RegistryContext, ref: VersionRef): { model: Model; version: ModelVersion } {
  const model = findModel(ctx, ref.modelName);
  const models = new ModelRepository(ctx.store);
  if (ref.modelVersionId !== undefined) {
    const row = models.versionById(ref.modelVersionId);
    if (!row) throw new RegistryError(`model version ${ref.modelVersionId} no longer exists`);
    if (row.modelId !== model.modelId) {
      const owner = ctx.store.db.prepare('SELECT name FROM model WHERE model_id = ?').pluck().get(row.modelId) as string;
      throw new RegistryError(`v${row.version} belongs to model "${owner}", not "${model.name}"`);
    }
  }
  const version = models.version(model.modelId, ref.version);
  if (!version) throw new RegistryError(`model "${model.name}" has no version ${ref.version} (latest is v${models.versions(model.modelId)[0]?.version ?? 0})`);
  return { model, version };
}

/** Refuses a version whose artifact is gone or no longer matches the digest taken at registration. */
export async function verifyArtifact(ctx: RegistryContext, model: Model, version: ModelVersion): Promise<void> {
  if (!version.artifactDigest) return;
  const location = artifactLocation(ctx.store, ctx.artifactRoot, version.artifactPath);
  if (!location) return; // kept outside this store's artifact root: nothing to check here
  if (!existsSync(location)) throw new RegistryError(`${model.name} v${version.version}: its artifact ${version.artifactPath} is missing (${location})`);
  const digest = await pathDigest(location);
  if (digest.replace(/^sha256:/, '') !== version.artifactDigest.replace(/^sha256:/, '')) {
    throw new RegistryError(`${model.name} v${version.version}: its artifact ${version.artifactPath} changed since registration (digest mismatch)`);
  }
}

export interface PromoteOptions extends VersionRef {
  /** Default: champion. */
  readonly alias?: string;
  /** Re-evaluate the gate (against the current champion) before promoting. */
  readonly gate?: GateSpec;
  /** Promote even though the gate failed; required to be a non-empty reason, which is audited. */
  readonly overrideReason?: string;
  readonly reason?: string;
  readonly now?: number;
}

export interface PromoteResult {
  readonly version: ModelVersion;
  readonly previous: number | null;
  readonly gate: StoredGate | null;
  readonly overridden: boolean;
}

/** A promotion checked and ready to write: what `applyPromotion` commits. */
export interface PromotionPlan {
  readonly model: Model;
  readonly version: ModelVersion;
  readonly alias: string;
  readonly previous: number | null;
  readonly gate: StoredGate | null;
  readonly overridden: boolean;
  readonly options: PromoteOptions;
}

/** Everything a promotion checks before it writes: the alias, the version and its artifact, the gate (or its override). */
export async function preparePromotion(ctx: RegistryContext, options: PromoteOptions): Promise<PromotionPlan> {
  const alias = options.alias ?? CHAMPION;
  const problem = aliasProblem(alias);
  if (problem) throw new RegistryError(problem);
  const { model, version } = findVersion(ctx, options);
  await verifyArtifact(ctx, model, version);
  const models = new ModelRepository(ctx.store);
  const previous = models.versionByAlias(model.modelId, alias)?.version ?? null;
  let gate: StoredGate | null = null;
  let overridden = false;
  if (alias === CHAMPION) {
    const stored = models.versionDetails(version.modelVersionId).gate as StoredGate | null;
    if (options.gate?.rules.length) {
      gate = gateWithEvidence(ctx, {
        modelName: model.name,
        rules: options.gate.rules,
        metrics: stored?.evidence?.metrics ?? models.versionDetails(version.modelVersionId).metrics,
        slices: stored?.evidence?.slices ?? {},
        evaluationFile: stored?.evaluationFile,
        // a missing or unreadable evaluation file at registration still fails the gate
        problems: stored?.checks?.filter((c) => c.rule.startsWith('evaluation file ') || c.rule.startsWith(PREDICTION_TEST_RULE)) ?? [],
        excludeVersion: version.version,
        now: options.now,
      });
    } else {
      gate = stored;
    }
    if (gate && !gate.passed) {
      const reason = options.overrideReason?.trim();
      if (!reason) {
        const failed = gate.checks.filter((c) => !c.passed).map((c) => `${c.rule} (${c.detail})`);
        throw new GateRefusedError(
          `${model.name} v${version.version} failed its gate: ${failed.join('; ')}. Promote with an override reason to proceed.`,
          gate,
        );
      }
      overridden = true;
    }
  }
  return { model, version, alias, previous, gate, overridden, options };
}

/** Writes a prepared promotion: the gate verdict, the override and the alias move with their audit rows, in one transaction (or the caller's). */
export function applyPromotion(ctx: RegistryContext, plan: PromotionPlan): void {
  const { model, version, alias, gate, overridden, options } = plan;
  const models = new ModelRepository(ctx.store);
  ctx.store.transaction(() => {
    if (gate && options.gate?.rules.length)
      models.setGateResult({ modelVersionId: version.modelVersionId, passed: gate.passed, result: gate, actor: ctx.actor, now: options.now });
    if (overridden) {
      new AuditRepository(ctx.store).record({
        actor: ctx.actor,
        action: 'override_gate',
        entityType: 'model_version',
        entityId: `${model.name}/${version.version}`,
        toValue: `${alias} despite failed gate`,
        reason: options.overrideReason!.trim(),
        details: { failed: gate!.checks.filter((c) => !c.passed) },
        at: options.now,
      });
    }
    models.setAlias({
      modelId: model.modelId,
      alias,
      version: version.version,
      actor: ctx.actor,
      reason: overridden ? options.overrideReason!.trim() : options.reason,
      action: alias === CHAMPION ? 'promote' : 'set_alias',
      now: options.now,
    });
  });
}

/**
 * Points an alias (champion by default) at a version. Promotion to champion requires a passing gate
 * (re-evaluated when rules are given) unless an override reason is given; the gate verdict, the
 * override and the alias move commit with their audit rows in one transaction. When the model has an approval
 * policy (`gate.approvals`), promotion to champion creates an approval request instead and throws
 * ApprovalRequiredError naming it; the move happens when reviewers approve (src/core/governance/approvals.ts).
 */
export async function promote(ctx: RegistryContext, options: PromoteOptions): Promise<PromoteResult> {
  const plan = await preparePromotion(ctx, options);
  const policy = options.gate?.approvals;
  if (policy && plan.alias === CHAMPION) {
    const request = requestApproval(ctx.store, {
      kind: 'promote',
      modelName: plan.model.name,
      version: plan.version.version,
      subject: plan.alias,
      action: { reason: options.reason ?? null, overrideReason: options.overrideReason?.trim() || null },
      policy,
      requester: ctx.actor,
      now: options.now,
    });
    throw new ApprovalRequiredError(request);
  }
  applyPromotion(ctx, plan);
  const models = new ModelRepository(ctx.store);
  return { version: models.version(plan.model.modelId, plan.version.version)!, previous: plan.previous, gate: plan.gate, overridden: plan.overridden };
}

/** Sets any alias except champion (which goes through promote and its gate). */
export async function setAlias(
  ctx: RegistryContext,
  options: VersionRef & { alias: string; reason?: string; overrideReason?: string; gate?: GateSpec; now?: number },
): Promise<PromoteResult> {
  return promote(ctx, options);
}

export function removeAlias(ctx: RegistryContext, options: { modelName: string; alias: string; reason?: string; now?: number }): number {
  const model = findModel(ctx, options.modelName);
  const models = new ModelRepository(ctx.store);
  const current = models.versionByAlias(model.modelId, options.alias);
  if (!current || !models.deleteAlias({ modelId: model.modelId, alias: options.alias, actor: ctx.actor, reason: options.reason, now: options.now })) {
    throw new RegistryError(`${model.name} has no alias "${options.alias}"`);
  }
  return current.version;
}

/**
 * The version an alias goes back to: replaying its history as a stack (each move pushes the version it
 * left, each rollback pops), so repeated rollbacks walk further back instead of flipping between two.
 */
export function rollbackTarget(ctx: RegistryContext, modelName: string, alias: string): { current: number | null; target: number | undefined } {
  const model = findModel(ctx, modelName);
  const models = new ModelRepository(ctx.store);
  const stack: number[] = [];
  for (const change of models.aliasHistory(model.modelId, alias)) {
    if (change.action === 'rollback_alias') stack.pop();
    else if (change.fromVersion !== null) stack.push(change.fromVersion);
  }
  const current = models.versionByAlias(model.modelId, alias)?.version ?? null;
  while (stack.length && stack[stack.length - 1] === current) stack.pop();
  return { current, target: stack[stack.length - 1] };
}

/** Moves an alias back to the version it pointed at before its last change; audited as rollback_alias. */
export async function rollbackAlias(
  ctx: RegistryContext,
  options: { modelName: string; alias: string; reason?: string; now?: number },
): Promise<{ from: number | null; to: number }> {
  const { current, target } = rollbackTarget(ctx, options.modelName, options.alias);
  if (target === undefined) throw new RegistryError(`${options.modelName}@${options.alias} has no earlier version to roll back to`);
  const { model, version } = findVersion(ctx, { modelName: options.modelName, version: target });
  await verifyArtifact(ctx, model, version);
  new ModelRepository(ctx.store).setAlias({
    modelId: model.modelId,
    alias: options.alias,
    version: target,
    actor: ctx.actor,
    reason: options.reason,
    action: 'rollback_alias',
    now: options.now,
  });
  return { from: current, to: target };
}

/** `models:/name@alias` or `models:/name/version`: how MLflow and mloop name a version. */
export const modelUri = (modelName: string, ref: { alias?: string; version?: number }): string =>
  ref.alias ? `models:/${modelName}@${ref.alias}` : `models:/${modelName}/${ref.version}`;
