// One CBPE pass over a make_data.py project, for `node --cpu-prof`: where the estimate's time goes.
// usage: node out/bench/monitoring/cbpeProfile.js <project> [runs=3]
import { join, resolve } from 'node:path';
import { computeEstimatedPerformance } from '../../src/core/monitoring/estimatedPerformance';

const project = resolve(process.argv[2] ?? '.');
const runs = Number(process.argv[3] ?? 3);

async function main(): Promise<void> {
  for (let run = 0; run < runs; run++) {
    const cpu = process.cpuUsage();
    const started = performance.now();
    const r = await computeEstimatedPerformance({
      log: {
        predictions: join(project, 'logs/predictions.csv'),
        idColumn: 'id',
        predictionColumn: 'predicted',
        probabilityPrefix: 'proba_',
        timeColumn: 'time',
        window: 'monthly',
        baseDir: project,
      },
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
