// A reader process for the concurrency test: does what the Runs tree and a metrics chart do, over and
// over, against a store that other processes write, and prints its latencies as JSON when stdin closes.
import { metricHistory } from '../../../src/core/metrics/history';
import { experimentsWithRuns, latestMetricValues, runPage } from '../../../src/core/store/runListing';
import { openStore } from '../../../src/core/store/store';

const [storePath, metricKey = 'm'] = process.argv.slice(2);
if (!storePath) throw new Error('usage: treeReader.js <store> [metric key]');

const store = openStore({ path: storePath });
const listingMs: number[] = [];
const chartMs: number[] = [];
const errors: string[] = [];
let points = 0;
let stopping = false;
process.stdin.on('end', () => (stopping = true)).resume();

function once(): void {
  const t0 = performance.now();
  const experiments = experimentsWithRuns(store);
  const runs = experiments.flatMap((e) => runPage(store, e.experimentId, 0, 200));
  latestMetricValues(
    store,
    runs.map((r) => r.runId),
    metricKey,
  );
  const t1 = performance.now();
  listingMs.push(t1 - t0);
  const run = runs[Math.floor(Math.random() * runs.length)];
  if (run) {
    const series = metricHistory(store, { runId: run.runId, key: metricKey, maxPoints: 2000 });
    points = Math.max(points, series.total);
    chartMs.push(performance.now() - t1);
  }
}

function loop(): void {
  if (stopping) {
    store.close();
    process.stdout.write(`${JSON.stringify({ listingMs, chartMs, errors, points })}\n`);
    return;
  }
  try {
    once();
  } catch (error) {
    errors.push(`${(error as { code?: string }).code ?? ''} ${(error as Error).message}`);
  }
  setTimeout(loop, 5); // a UI refreshes on events, not in a hot loop
}
loop();
