import { workerData } from 'node:worker_threads';
import { runEstimateWorker } from '../monitoring/estimateThread';
import { runLabelsWorker } from '../monitoring/labelsThread';
import { runCollectWorker } from './collectWorker';

// Entry of dist/driftWorker.js: one side of a drift check read in a worker thread, or (mode 'estimate') the
// monitoring check's CBPE on a thread of its own (src/core/monitoring/estimateThread.ts), or (mode 'labels') the
// labels files read while the predictions log is (src/core/monitoring/labelsThread.ts).
const mode = (workerData as { mode?: string } | null)?.mode;
if (mode === 'estimate') runEstimateWorker();
else if (mode === 'labels') runLabelsWorker();
else runCollectWorker();
