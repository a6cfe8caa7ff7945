import { copyFileSync, existsSync, mkdirSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { extname, isAbsolute, join, resolve } from 'node:path';
import { ContentStoreError, resolveVersionRef } from '../cache/contentStore';
import type { Config } from '../config/schema';
import { detectFormat } from '../datasets/readers';
import { trainingDataRef } from '../evaluation/explain';
import { resolveEvaluationData, versionArtifact } from '../evaluation/target';
import { ModelRepository } from '../store/models';
import type { Store } from '../store/store';
import type { ExplainSetup, ExplainVersion } from './routing';

/** What resolving the explainers of a target's routed versions needs (a target with `explain:` on). */
export interface GatewayExplainContext {
  readonly artifactRoot: string;
  readonly projectRoot: string;
  readonly config: Config | undefined;
  /** The project's interpreter (pythonOf): the explainers run in it. */
  readonly python: string;
  readonly timeoutSeconds?: number;
  readonly maxPending?: number;
}

/**
 * The explain setup the gateway gets with its routes: for each routed version, its artifact and a snapshot of the data
 * that trained it (the background `mloop explain` uses by default, so both give the same numbers), kept under
 * `<gateway dir>/explain/<digest><ext>` so that later edits of the workspace's file do not change a deployed
 * explainer. A snapshot is made once per digest (no digest is computed again while it exists); unused ones are removed.
 */
export async function explainSetupFor(
  store: Store,
  gatewayDirectory: string,
  context: GatewayExplainContext,
  routes: readonly { readonly modelName: string; readonly version: number }[],
): Promise<ExplainSetup> {
  const folder = join(gatewayDirectory, 'explain');
  const models = new ModelRepository(store);
  const versions: ExplainVersion[] = [];
  const kept = new Set<string>();
  const seen = new Set<string>();
  for (const { modelName, version: number } of routes) {
    const key = `${modelName}\u0000${number}`;
    if (seen.has(key)) continue;
    seen.add(key);
    const base = { model_name: modelName, version: number };
    const prepare = context.config?.models?.[modelName]?.prepare;
    const failed = (error: string): void => {
      versions.push({ ...base, model_path: '-', data_path: '-', data_name: '-', format: 'csv', error });
    };
    try {
      const model = models.byName(modelName);
      const version = model ? models.version(model.modelId, number) : undefined;
      if (!model || !version) {
        failed(`${modelName} v${number} is not in the registry`);
        continue;
      }
      const modelPath = versionArtifact(store, context.artifactRoot, model, version);
      const ref = trainingDataRef(store, version.sourceRunId);
      if (!ref) {
        failed(`it has no recorded training data to explain against (mloop explain needs --dataset for it too)`);
        continue;
      }
      const { dataset, version: data } = resolveVersionRef(store, ref);
      const format = detectFormat(data.path);
      if (!format) {
        failed(`its training data ${data.path} is not CSV, TSV, JSONL or Parquet`);
        continue;
      }
      const file = `${data.digest}${extname(data.path)}`;
      const snapshot = join(folder, file);
      if (!existsSync(snapshot)) {
        const resolved = await resolveEvaluationData({ store, projectRoot: context.projectRoot, config: context.config, ref });
        try {
          mkdirSync(folder, { recursive: true });
          const partial = `${snapshot}.${process.pid}.part`;
          copyFileSync(isAbsolute(resolved.path) ? resolved.path : resolve(context.projectRoot, resolved.path), partial);
          renameSync(partial, snapshot);
        } finally {
          resolved.release();
        }
      }
      kept.add(file);
      versions.push({
        ...base,
        model_path: modelPath,
        data_path: snapshot,
        data_name: `${dataset.name}@${data.digest.slice(0, 12)}`,
        format,
        ...(prepare ? { prepare } : {}),
      });
    } catch (error) {
      if (error instanceof ContentStoreError || (error as Error).name === 'EvaluationError') failed((error as Error).message);
      else throw error;
    }
  }
  // snapshots no routed version uses any more (an explainer already running keeps its data in memory)
  if (existsSync(folder))
    for (const entry of readdirSync(folder)) if (!kept.has(entry) && !entry.endsWith('.part')) rmSync(join(folder, entry), { force: true });
  return {
    python: context.python,
    project_root: context.projectRoot,
    ...(context.timeoutSeconds !== undefined ? { timeout_seconds: context.timeoutSeconds } : {}),
    ...(context.maxPending !== undefined ? { max_pending: context.maxPending } : {}),
    versions,
  };
}
