import { registerPipelineModel } from '../registry/autoRegister';
import { CHALLENGER, CHAMPION, promote } from '../registry/aliases';
import type { RegistryContext, StoredGate } from '../registry/register';
import { launchRun, type RunHandle, type TrackingEndpoint } from '../runs/launcher';
import { prepareRunInputs, inputVersionIds } from '../datasets/versions';
import { AuditRepository } from '../store/audit';
import { ModelRepository, type ModelVersion } from '../store/models';
import type { Config } from '../config/schema';
import { buildRecipe, describeRecipe, RetrainError, unchangedSince, type Recipe } from './recipe';

export interface RetrainOptions {
  readonly config: Config;
  readonly projectRoot: string;
  readonly modelName: string;
  /** String commands run in a shell only in a trusted workspace. */
  readonly trusted: boolean;
  /** The MLflow endpoint the run's mlflow client logs to (the caller runs it). */
  readonly tracking?: TrackingEndpoint;
  /** Start even though an input fails validation; audited with the reason. */
  readonly overrideValidation?: string;
  /** The drift report this retrain answers (closed by the run). */
  readonly driftReportId?: number;
  readonly signal?: AbortSignal;
  readonly onProgress?: (message: string) => void;
  readonly onOutput?: (text: string) => void;
  /** Called once the run exists (a terminal can show it). */
  readonly onRun?: (handle: RunHandle) => void;
  /** Asked when nothing changed since the base version (`unchangedSince`); false cancels. Unset: run anyway. */
  readonly confirmUnchanged?: (message: string) => Promise<boolean>;
}

export interface RetrainOutcome {
  readonly recipe: Recipe;
  readonly runId: string;
  readonly version: ModelVersion;
  readonly gate: StoredGate | null;
  /** The challenger alias now points at the new version (the gate passed, or there is none). */
  readonly challenger: boolean;
  readonly champion: { readonly version: number; readonly value: number | undefined } | null;
  readonly metric: { readonly name: string; readonly value: number | undefined } | null;
  /** "weather-clf v5 trained: accuracy 0.93 (champion v4: 0.91)". */
  readonly summary: string;
}

const format = (value: number | undefined): string => (value === undefined ? '?' : String(Math.round(value * 10_000) / 10_000));

/**
 * One-click retrain: rebuilds the recipe from lineage, runs it as a recorded run, registers the new
 * version with its gate against the champion, and points `challenger` at it when the gate passes.
 */
export async function retrainModel(ctx: RegistryContext, options: RetrainOptions): Promise<RetrainOutcome> {
  const progress = (m: string): void => options.onProgress?.(m);
  progress(`rebuilding the recipe of ${options.modelName} from lineage`);
  const recipe = await buildRecipe(ctx.store, {
    config: options.config,
    projectRoot: options.projectRoot,
    modelName: options.modelName,
    signal: options.signal,
    onProgress: progress,
  });
  progress(describeRecipe(recipe));
  if (recipe.blocked && !options.overrideValidation?.trim()) throw new RetrainError(`cannot retrain ${options.modelName}:\n${recipe.blocked}`);
  const unchanged = unchangedSince(recipe);
  if (unchanged) progress(`${unchanged}: the run will repeat v${recipe.base.version}`);
  if (unchanged && options.confirmUnchanged && !(await options.confirmUnchanged(unchanged))) throw new RetrainError('retrain cancelled');
  if (options.signal?.aborted) throw new RetrainError('retrain cancelled');
  const pipeline = options.config.pipelines[recipe.pipelineName]!;
  const inputs = await prepareRunInputs(ctx.store, {
    config: options.config,
    pipelineName: recipe.pipelineName,
    pipeline,
    projectRoot: options.projectRoot,
    ...(options.overrideValidation?.trim() ? { override: { reason: options.overrideValidation, actor: ctx.actor } } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
  });
  if (options.signal?.aborted) throw new RetrainError('retrain cancelled');

  progress(`training: pipeline ${recipe.pipelineName}`);
  const handle = await launchRun({
    store: ctx.store,
    projectRoot: options.projectRoot,
    pipelineName: recipe.pipelineName,
    pipeline,
    overrides: recipe.params,
    trusted: options.trusted,
    ...(options.tracking ? { tracking: options.tracking } : {}),
    artifactRoot: ctx.artifactRoot,
    inputVersionIds: inputVersionIds(inputs),
    runName: `retrain ${options.modelName}`,
    ...(options.onOutput ? { onOutput: options.onOutput } : {}),
  });
  options.onRun?.(handle);
  const onAbort = (): void => handle.stop();
  options.signal?.addEventListener('abort', onAbort, { once: true });
  if (options.signal?.aborted) handle.stop();
  const outcome = await handle.done.finally(() => options.signal?.removeEventListener('abort', onAbort));
  if (outcome.status !== 'FINISHED') {
    throw new RetrainError(
      `the retrain run ${outcome.runId} ended ${outcome.status}${outcome.exitCode !== null ? ` (exit code ${outcome.exitCode})` : ''}${outcome.error ? `: ${outcome.error}` : ''}; see ${outcome.logPath}`,
    );
  }

  progress('registering the new version and checking its gate against the champion');
  const registration = await registerPipelineModel(ctx, {
    config: options.config,
    pipelineName: recipe.pipelineName,
    runId: outcome.runId,
    status: outcome.status,
    projectRoot: options.projectRoot,
    policy: 'always',
  });
  if (!registration || 'skipped' in registration)
    throw new RetrainError(`pipeline "${recipe.pipelineName}" declares no model: output, so the run registered nothing`);
  const gatePassed = registration.gate === null || registration.gate.passed;
  // a copy of the champion (same data, code and params) is not a candidate to promote
  const copyOfChampion = unchanged !== undefined && recipe.base.alias === CHAMPION;
  if (gatePassed && !copyOfChampion)
    await promote(ctx, {
      modelName: registration.modelName,
      version: registration.version.version,
      alias: CHALLENGER,
      reason: `retrained from v${recipe.base.version}`,
    });

  const models = new ModelRepository(ctx.store);
  const model = models.byName(registration.modelName)!;
  const champion = models.versionByAlias(model.modelId, CHAMPION);
  const metricName = recipe.metric?.name ?? registration.gate?.checks[0]?.rule.split(/\s/)[0];
  const valueOf = (v: ModelVersion): number | undefined => (metricName ? models.versionDetails(v.modelVersionId).metrics[metricName] : undefined);
  const newValue = valueOf(registration.version);
  const championInfo = champion && champion.version !== registration.version.version ? { version: champion.version, value: valueOf(champion) } : null;
  const summary =
    `${registration.modelName} v${registration.version.version} trained` +
    (metricName ? `: ${metricName} ${format(newValue)}${championInfo ? ` (champion v${championInfo.version}: ${format(championInfo.value)})` : ''}` : '') +
    (registration.gate ? ` · gate ${registration.gate.passed ? 'passed' : 'failed'}` : '') +
    (copyOfChampion
      ? ` · same data, code and params as champion v${recipe.base.version}: not offered as challenger`
      : gatePassed
        ? ' · now challenger'
        : ' · challenger not moved');

  ctx.store.transaction(() => {
    if (options.driftReportId !== undefined)
      ctx.store.db.prepare('UPDATE drift_report SET retrain_run_id = ? WHERE drift_report_id = ?').run(outcome.runId, options.driftReportId);
    new AuditRepository(ctx.store).record({
      actor: ctx.actor,
      action: 'retrain',
      entityType: 'model',
      entityId: registration.modelName,
      fromValue: `v${recipe.base.version}`,
      toValue: `v${registration.version.version}`,
      reason: options.driftReportId !== undefined ? `drift report ${options.driftReportId}` : null,
      details: {
        runId: outcome.runId,
        pipeline: recipe.pipelineName,
        params: recipe.params,
        inputs: recipe.inputs.map((i) => ({ name: i.name, digest: i.chosen.digest, changed: i.changed })),
        gatePassed,
      },
    });
  });
  return {
    recipe,
    runId: outcome.runId,
    version: models.versionById(registration.version.modelVersionId)!,
    gate: registration.gate,
    challenger: gatePassed && !copyOfChampion,
    champion: championInfo,
    metric: metricName ? { name: metricName, value: newValue } : null,
    summary,
  };
}
