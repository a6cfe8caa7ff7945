import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, readFileSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { tempDir } from './fixtures';

const ROOT = resolve(__dirname, '../../..');
const CLI = join(ROOT, 'dist', 'cli.js');
const EXAMPLE = join(ROOT, 'examples', 'weather');
const ENV = { ...process.env, MLOOP_STORE: '', GIT_CONFIG_GLOBAL: '/dev/null', GIT_CONFIG_NOSYSTEM: '1', PYTHONWARNINGS: '' };

/** Every file under a folder, relative paths. */
function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' });
}

// issue 15, item 11: the example's terminal shows only what matters — no library warnings
describe('example: python train.py under mloop (real mlflow client)', function () {
  this.timeout(240_000);

  it('prints folds, metrics, the run link and the registration, and not one warning; the MLflow model has a signature, an input example and the skops format', () => {
    const { dir, cleanup } = tempDir('mloop-example-');
    try {
      for (const item of ['mloop.yaml', 'train.py', 'data']) cpSync(join(EXAMPLE, item), join(dir, item), { recursive: true });
      const r = spawnSync(process.execPath, [CLI, 'train', 'train'], { cwd: dir, encoding: 'utf8', env: ENV });
      const output = `${r.stdout}${r.stderr}`;
      assert.equal(r.status, 0, output);
      assert.match(output, /fold 5\/5: \{"cv_accuracy"/);
      assert.match(output, /registered weather-clf v1 · gate ✓/);
      assert.doesNotMatch(output, /warn/i, 'a library warning reached the terminal');
      const mlmodel = filesUnder(join(dir, '.mloop')).find((f) => f.endsWith('MLmodel'));
      assert.ok(mlmodel, 'the mlflow client logged a model');
      const text = readFileSync(join(dir, '.mloop', mlmodel), 'utf8');
      assert.match(text, /serialization_format: skops/);
      assert.match(text, /signature:\n\s+inputs:.*"name": "month"/s);
      assert.match(text, /saved_input_example_info:/);
    } finally {
      cleanup();
    }
  });
});
