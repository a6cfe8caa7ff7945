import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { artifactRootOf } from '../../src/core/store/artifactRoot';
import { DatasetRepository } from '../../src/core/store/datasets';
import { ExperimentRepository } from '../../src/core/store/experiments';
import { ModelRepository } from '../../src/core/store/models';
import { RunRepository } from '../../src/core/store/runs';
import type { Store } from '../../src/core/store/store';

/**
 * Registers a pickled forest as the next version of weather-clf: a finished run of experiment "weather" whose artifact
 * model.pkl is a copy of `pickle`, and whose input is the dataset version `input` (without it the version has no
 * recorded training data, which an explanation needs).
 */
export function registerPickledVersion(store: Store, pickle: string, input?: number): void {
  const runs = new RunRepository(store);
  const experimentId = new ExperimentRepository(store).ensure('weather').experimentId;
  const run = runs.create({ experimentId, status: 'RUNNING' });
  if (input !== undefined) new DatasetRepository(store).linkRunInput(run.runId, input);
  runs.finish(run.runId, { status: 'FINISHED' });
  const folder = join(artifactRootOf(store.path), String(experimentId), run.runId, 'artifacts');
  mkdirSync(folder, { recursive: true });
  copyFileSync(pickle, join(folder, 'model.pkl'));
  new ModelRepository(store).registerVersion({ name: 'weather-clf', sourceRunId: run.runId, artifactPath: `runs:/${run.runId}/model.pkl`, actor: 'tester' });
}

/**
 * The two-version store the explain tests start from: `dir`/weather.csv as a version of dataset "weather" (its real
 * digest and size), and weather-clf v1 and v2 from `dir`/weather-v1.pkl and weather-v2.pkl, each trained on that data.
 */
export function registerWeatherVersions(store: Store, dir: string): void {
  const csv = join(dir, 'weather.csv');
  const datasets = new DatasetRepository(store);
  const dataset = datasets.upsert({ name: 'weather', uri: 'weather.csv' });
  const { version: data } = datasets.addVersion({
    datasetId: dataset.datasetId,
    digest: createHash('sha256').update(readFileSync(csv)).digest('hex'),
    path: 'weather.csv',
    sizeBytes: statSync(csv).size,
  });
  for (const version of [1, 2]) registerPickledVersion(store, join(dir, `weather-v${version}.pkl`), data.datasetVersionId);
}
