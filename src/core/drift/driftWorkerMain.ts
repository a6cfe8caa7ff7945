import { parentPort, workerData } from 'node:worker_threads';
import { runEstimateWorker } from '../monitoring/estimateThread';
import { runCollectWorker } from './collectWorker';
import type { StandbyStart } from './spareWorkers';

// Entry of dist/driftWorker.js: one side of a drift check read in a worker thread, or (mode 'estimate') the
// monitoring check's CBPE on a thread of its own (src/core/monitoring/estimateThread.ts). Mode 'standby': a spare
// started before its work is known (spareWorkers.ts), its workerData the first message.
function run(data: unknown): void {
  if ((data as { mode?: string } | null)?.mode === 'estimate') runEstimateWorker(data);
  else runCollectWorker(data);
}

if ((workerData as { mode?: string } | null)?.mode === 'standby') parentPort?.once('message', (start: StandbyStart) => run(start.standby));
else run(workerData);
