import { parentPort, workerData } from 'node:worker_threads';
import type { StandbyStart } from '../drift/spareWorkers';
import { runScanWorker, type ScanWorkerData } from './readThread';

// Entry of dist/scanWorker.js: a predictions log's bytes scanned into typed batches on a thread of their own
// (readThread.ts). A bundle of its own, not a mode of dist/driftWorker.js: a thread that loaded that one holds ~8 MB
// more, and this one lives through the log's read, near the check's peak. Mode 'standby': a spare started before its
// work is known (src/core/drift/spareWorkers.ts), its workerData the first message.
if ((workerData as { mode?: string } | null)?.mode === 'standby')
  parentPort?.once('message', (start: StandbyStart) => runScanWorker(start.standby as ScanWorkerData));
else runScanWorker(workerData as ScanWorkerData);
