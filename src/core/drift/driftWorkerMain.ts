import { runCollectWorker } from './collectWorker';

// Entry of dist/driftWorker.js: one side of a drift check, read in a worker thread.
runCollectWorker();
