import { primaryMetricOf, type Config, type Pipeline } from '../config/schema';
import { prepareInput, type DatasetProgress } from '../datasets/versions';
import { findEntryScript, roughShellWords } from '../runs/codeVersion';
import { resolveCommand } from '../runs/resolveCommand';
import { DatasetRepository } from '../store/datasets';
import { ModelRepository, type ModelVersion } from '../store/models';
import { RunRepository, type Run } from '../store/runs';
import type { Store } from '../store/store';
import { CHAMPION } from '../registry/aliases';

/** Retraining cannot start; the message says what to fix. */
export class RetrainError extends Error {
  override readonly name = 'RetrainError';
}

export interface RecipeInput {
  readonly name: string;
  /** The version the base run read, when it recorded its inputs. */
  readonly base: { readonly datasetVersionId: number; readonly digest: string } | null;
  /** The version the retrain run reads: the content at the dataset's path now. */
  readonly chosen: { readonly datasetVersionId: number; readonly digest: string; readonly rows: number | null };
  /** The chosen version differs from the base run's. */
  readonly changed: boolean;
  /** null when the dataset declares no rules. */
  readonly passed: boolean | null;
  /** When the chosen version fails: what failed, and the newest version that passed. */
  readonly failures?: string;
  readonly latestPassing?: { readonly datasetVersionId: number; readonly digest: string } | null;
}

/** How to train the next version of a model, rebuilt from the lineage of its champion. */
export interface Recipe {
  readonly modelName: string;
  /** The version the recipe copies: the champion, else the newest version. */
  readonly base: { readonly version: number; readonly alias: string | null; readonly runId: string };
  readonly pipelineName: string;
  /** The base run's params the pipeline still declares (applied as overrides). */
  readonly params: Readonly<Record<string, string>>;
  /** Params the base run had that the pipeline no longer declares (not applied). */
  readonly droppedParams: readonly string[];
  /** The entry script at HEAD: same as the base run's, or changed since. */
  readonly entry: { readonly file: string; readonly digestNow: string; readonly changed: boolean } | null;
  readonly inputs: readonly RecipeInput[];
  /** Why the recipe cannot run as is (an input failing validation); undefined when it can. */
  readonly blocked?: string;
  /** The metric the result is compared on (the pipeline's primary metric). */
  readonly metric?: { readonly name: string; readonly goal: 'maximize' | 'minimize' };
}

/** The model retraining should target: one with an open drift alert, else one with a champion, else the only one. */
export function defaultRetrainModel(store: Store): { modelName: string; why: string; driftReportId?: number } | undefined {
  const alert = store.db
    .prepare(
      `SELECT r.drift_report_id, m.name FROM drift_report r JOIN model m USING (model_id)
       WHERE r.dataset_drift = 1 AND r.retrain_run_id IS NULL ORDER BY r.created_at DESC, r.drift_report_id DESC LIMIT 1`,
    )
    .get() as { drift_report_id: number; name: string } | undefined;
  if (alert) return { modelName: alert.name, why: 'open drift alert', driftReportId: alert.drift_report_id };
  const models = new ModelRepository(store);
  const all = models.list();
  const withChampion = all.filter((m) => models.versionByAlias(m.modelId, CHAMPION));
  if (withChampion.length >= 1) return { modelName: withChampion[0]!.name, why: 'champion' };
  if (all.length === 1) return { modelName: all[0]!.name, why: 'only model' };
  return undefined;
}

function baseVersion(store: Store, modelName: string): { version: ModelVersion; alias: string | null } {
  const models = new ModelRepository(store);
  const model = models.byName(modelName);
  if (!model) {
    const names = models.list().map((m) => m.name);
    throw new RetrainError(`no registered model "${modelName}"${names.length ? ` (models: ${names.join(', ')})` : ': train and register a version first'}`);
  }
  const champion = models.versionByAlias(model.modelId, CHAMPION);
  if (champion) return { version: champion, alias: CHAMPION };
  const latest = models.versions(model.modelId)[0];
  if (!latest) throw new RetrainError(`model "${modelName}" has no versions yet: train and register one first`);
  return { version: latest, alias: null };
}

function pipelineFor(config: Config, modelName: string, run: Run, label: string): [string, Pipeline] {
  if (run.pipeline) {
    const pipeline = config.pipelines[run.pipeline];
    if (!pipeline) throw new RetrainError(`${label} was trained by pipeline "${run.pipeline}", which mloop.yaml no longer declares`);
    return [run.pipeline, pipeline];
  }
  // a run started outside mloop: the pipeline that produces this model
  const producing = Object.entries(config.pipelines).filter(([, p]) => p.model?.name === modelName);
  if (producing.length === 1) return producing[0]!;
  throw new RetrainError(
    `${label} came from run ${run.runId}, which no pipeline started, and ${producing.length ? 'several pipelines' : 'no pipeline'} in mloop.yaml produce "${modelName}"`,
  );
}

/**
 * Rebuilds the recipe of a model's next version from lineage: the pipeline and params of the run that
 * produced its champion (else its newest version), the entry script at HEAD, and every input at the
 * version on disk now, validated. An input whose newest version fails validation blocks the recipe,
 * naming the rules and the newest version that passed.
 */
export async function buildRecipe(
  store: Store,
  options: { config: Config; projectRoot: string; modelName: string; signal?: AbortSignal; onProgress?: DatasetProgress },
): Promise<Recipe> {
  const { version, alias } = baseVersion(store, options.modelName);
  const label = `${options.modelName} v${version.version}${alias ? ` (${alias})` : ''}`;
  if (!version.sourceRunId) throw new RetrainError(`${label} has no source run: mloop cannot tell how it was trained`);
  const runs = new RunRepository(store);
  const run = runs.get(version.sourceRunId);
  if (!run) throw new RetrainError(`${label} came from run ${version.sourceRunId}, which is not in this store`);
  const [pipelineName, pipeline] = pipelineFor(options.config, options.modelName, run, label);

  const recorded = runs.params(run.runId);
  const params: Record<string, string> = {};
  const droppedParams: string[] = [];
  for (const [key, value] of Object.entries(recorded)) {
    if (Object.hasOwn(pipeline.params, key)) params[key] = value;
    else droppedParams.push(key);
  }

  const resolved = resolveCommand(pipeline, params);
  const entryNow = await findEntryScript(resolved.kind === 'shell' ? roughShellWords(resolved.command) : resolved.args, options.projectRoot);
  const entry = entryNow ? { file: entryNow.file, digestNow: entryNow.sha256, changed: run.entryDigest !== null && run.entryDigest !== entryNow.sha256 } : null;

  const datasets = new DatasetRepository(store);
  const baseInputs = store.db
    .prepare(
      'SELECT d.name, v.dataset_version_id, v.digest FROM run_input i JOIN dataset_version v USING (dataset_version_id) JOIN dataset d ON d.dataset_id = v.dataset_id WHERE i.run_id = ?',
    )
    .all(run.runId) as { name: string; dataset_version_id: number; digest: string }[];
  const inputs: RecipeInput[] = [];
  for (const name of pipeline.inputs) {
    const declaration = options.config.datasets[name];
    if (!declaration) throw new RetrainError(`pipeline "${pipelineName}" reads dataset "${name}", which mloop.yaml does not declare under datasets:`);
    const { snapshot, validation } = await prepareInput(store, name, declaration, options);
    const baseInput = baseInputs.find((b) => b.name === name);
    const passed = validation ? validation.report.passed : null;
    let latestPassing: RecipeInput['latestPassing'];
    let failures: string | undefined;
    if (passed === false) {
      failures = validation!.report.failures
        .map((f) => `${f.message}${f.examples[0] ? `, e.g. row ${f.examples[0].row}: ${JSON.stringify(f.examples[0].value)}` : ''}`)
        .join('; ');
      const found = datasets
        .versions(snapshot.dataset.datasetId)
        .find((v) => v.datasetVersionId !== snapshot.version.datasetVersionId && datasets.latestValidation(v.datasetVersionId)?.passed === true);
      latestPassing = found ? { datasetVersionId: found.datasetVersionId, digest: found.digest } : null;
    }
    inputs.push({
      name,
      base: baseInput ? { datasetVersionId: baseInput.dataset_version_id, digest: baseInput.digest } : null,
      chosen: { datasetVersionId: snapshot.version.datasetVersionId, digest: snapshot.version.digest, rows: snapshot.version.rowCount },
      changed: baseInput ? baseInput.dataset_version_id !== snapshot.version.datasetVersionId : true,
      passed,
      ...(failures !== undefined ? { failures } : {}),
      ...(latestPassing !== undefined ? { latestPassing } : {}),
    });
  }
  const failing = inputs.filter((i) => i.passed === false);
  const blocked = failing.length
    ? failing
        .map(
          (i) =>
            `dataset "${i.name}": its newest version ${i.chosen.digest.slice(0, 12)} fails validation (${i.failures}); ` +
            (i.latestPassing
              ? `the newest version that passed is ${i.latestPassing.digest.slice(0, 12)} — restore that content at ${options.config.datasets[i.name]!.path}, fix the data, or override with a reason`
              : 'no earlier version passed either'),
        )
        .join('\n')
    : undefined;
  const metric = primaryMetricOf(pipeline);
  return {
    modelName: options.modelName,
    base: { version: version.version, alias, runId: run.runId },
    pipelineName,
    params,
    droppedParams,
    entry,
    inputs,
    ...(blocked ? { blocked } : {}),
    ...(metric ? { metric } : {}),
  };
}

/** The recipe in a few lines, for a log or a terminal. */
/**
 * "nothing changed since v2 (data, code, params)" when the retrain would repeat its base run exactly: every input
 * is the version the base read, the entry script has the same digest, and the params are the base's (always, by
 * construction). undefined when something changed, or when the code cannot be compared (no entry script found).
 */
export function unchangedSince(recipe: Recipe): string | undefined {
  if (!recipe.entry || recipe.entry.changed) return undefined;
  if (recipe.inputs.length === 0 || recipe.inputs.some((i) => i.changed || i.base === null)) return undefined;
  return `nothing changed since v${recipe.base.version}${recipe.base.alias ? ` (${recipe.base.alias})` : ''} (data, code, params)`;
}

export function describeRecipe(recipe: Recipe): string {
  const lines = [
    `retrain ${recipe.modelName} from v${recipe.base.version}${recipe.base.alias ? ` (${recipe.base.alias})` : ''}: pipeline ${recipe.pipelineName}` +
      (Object.keys(recipe.params).length
        ? ` with ${Object.entries(recipe.params)
            .map(([k, v]) => `${k}=${v}`)
            .join(' ')}`
        : ''),
  ];
  if (recipe.entry) lines.push(`  code: ${recipe.entry.file} at HEAD${recipe.entry.changed ? ' (changed since the base run)' : ' (unchanged)'}`);
  for (const i of recipe.inputs) {
    const check = i.passed === null ? '' : i.passed ? ' ✓ valid' : ' ✗ fails validation';
    lines.push(`  input ${i.name} @ ${i.chosen.digest.slice(0, 12)}${i.changed ? ' (new since the base run)' : ' (same as the base run)'}${check}`);
  }
  if (recipe.droppedParams.length) lines.push(`  params no longer declared (not applied): ${recipe.droppedParams.join(', ')}`);
  return lines.join('\n');
}
