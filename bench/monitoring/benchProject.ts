// The first model of a project made by make_data.py, as the in-process monitoring benches read it: its monitoring
// config and the options of its predictions log (what `mloop monitor` passes to readPredictionLog and joinLabels).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig } from '../../src/core/config/loadConfig';
import type { ModelMonitoring } from '../../src/core/drift/monitoringSchema';

export function benchProject(project: string) {
  const file = join(project, 'mloop.yaml');
  const config = loadConfig(readFileSync(file, 'utf8'), file).config as { monitoring: Record<string, ModelMonitoring> };
  const monitoring = Object.values(config.monitoring)[0]!;
  const options = {
    predictions: join(project, monitoring.current),
    predictionColumn: monitoring.prediction!,
    probabilityPrefix: monitoring.probabilities ?? 'proba_',
    timeColumn: monitoring.time_column!,
    window: monitoring.window!,
    groups: monitoring.groups!,
    baseDir: project,
  };
  return { monitoring, options, idColumn: monitoring.id_column ?? 'id', labels: join(project, monitoring.labels!) };
}
