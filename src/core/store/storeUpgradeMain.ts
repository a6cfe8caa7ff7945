import { runStoreUpgradeWorker } from './storeUpgrade';

// Entry of dist/storeUpgrade.js: a store brought to the current schema in a worker thread.
runStoreUpgradeWorker();
