import { workerData } from 'node:worker_threads';
import { runEstimateWorker } from '../monitoring/estimateThread';
import { runCollectWorker } from './collectWorker';

// Entry of dist/driftWorker.js: one side of a drift check read in a worker thread, or (mode 'estimate') the
// monitoring check's CBPE on a thread of its own (src/core/monitoring/estimateThread.ts).
if ((workerData as { mode?: string } | null)?.mode === 'estimate') runEstimateWorker();
else runCollectWorker();
