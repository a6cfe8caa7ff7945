// A bulk import killed midway, for the reliability test: imports an MLflow store into an mloop store as a bulk (the
// key indexes set aside from the first run), prints "midway" once two runs are written, and then blocks inside the
// import, with the indexes still aside, until the test kills it.
import { writeSync } from 'node:fs';
import { importMlflow } from '../../../src/core/mlflow/importStore';
import { openStore } from '../../../src/core/store/store';

const [storePath, source] = process.argv.slice(2);
if (!storePath || !source) throw new Error('usage: bulkImporter.js <store> <mlflow store>');

const store = openStore({ path: storePath });
void importMlflow(store, {
  source,
  actor: 'bulk-test',
  bulkRuns: 0,
  onProgress: (p) => {
    if (p.phase !== 'runs' || p.done !== 2) return;
    writeSync(1, 'midway\n');
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0);
  },
});
