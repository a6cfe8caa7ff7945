// One CBPE pass over a make_data.py project, for `node --cpu-prof`: where the estimate's time goes.
// usage: node out/bench/monitoring/cbpeProfile.js <project> [runs=3] [compute]
//   compute: the log and the reference are read once before the runs (fit + estimate alone, as cbpeCompute)
import { join, resolve } from 'node:path';
import { computeEstimatedPerformance } from '../../src/core/monitoring/estimatedPerformance';
import { readPredictionLog } from '../../src/core/monitoring/labels';

const project = resolve(process.argv[2] ?? '.');
const runs = Number(process.argv[3] ?? 3);
const computeOnly = process.argv[4] === 'compute';

async function main(): Promise<void> {
  const log = {
    predictions: join(project, 'logs/predictions.csv'),
    idColumn: 'id',
    predictionColumn: 'predicted',
    probabilityPrefix: 'proba_',
    timeColumn: 'time',
    window: 'monthly' as const,
    baseDir: project,
  };
  const read = computeOnly
    ? {
        read: await readPredictionLog({ ...log, idColumn: undefined }),
        referenceRead: await readPredictionLog({
          ...log,
          idColumn: undefined,
          predictions: join(project, 'reference.csv'),
          labelColumn: 'label',
          timeColumn: undefined,
          window: undefined,
        }),
      }
    : {};
  for (let run = 0; run < runs; run++) {
    const cpu = process.cpuUsage();
    const started = performance.now();
    const r = await computeEstimatedPerformance({
      log,
      ...read,
      reference: join(project, 'reference.csv'),
      labelColumn: 'label',
      config: { reference: 'reference.csv' },
      minRows: 30,
    });
    const used = process.cpuUsage(cpu);
    console.log(
      JSON.stringify({
        run: run + 1,
        wallMs: Math.round(performance.now() - started),
        cpuMs: Math.round((used.user + used.system) / 1000),
        windows: r.windows.length,
      }),
    );
  }
}

void main();
