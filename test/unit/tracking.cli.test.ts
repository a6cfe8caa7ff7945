import assert from 'node:assert/strict';
import { Command } from 'commander';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { CliFailure } from '../../src/cli/cliIo';
import { registerServerCommand } from '../../src/cli/serverCommand';
import { openStore } from '../../src/core/store/store';
import { tempDir } from './fixtures';

function harness(dir: string) {
  let stdout = '';
  let stderr = '';
  let stop!: (reason: string) => void;
  const stopped = new Promise<string>((done) => (stop = done));
  const program = new Command('mloop').exitOverride();
  registerServerCommand(program, {
    io: { stdout: { write: (s: string) => (stdout += s) }, stderr: { write: (s: string) => (stderr += s) }, cwd: dir },
    child: (path, description) =>
      new Command(path.split(' ').pop()!)
        .description(description)
        .exitOverride()
        .configureOutput({ writeErr: (s) => void (stderr += s), writeOut: (s) => void (stdout += s) }),
    projectRoot: () => dir,
    storePath: (root) => join(root, '.mloop', 'mloop.db'),
    untilStopped: () => stopped,
  });
  return { program, stop, out: () => stdout, err: () => stderr };
}

async function waitFor(condition: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (condition()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe('tracking: mloop server command', function () {
  this.timeout(10_000);

  it('prints MLFLOW_TRACKING_URI and MLFLOW_TRACKING_TOKEN that work, serves the project store, and stops cleanly', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const h = harness(dir);
      const running = h.program.parseAsync(['server', '--port', '0', '--quiet'], { from: 'user' });
      await waitFor(() => h.out().includes('MLFLOW_TRACKING_TOKEN='), 'the token line');
      const uri = /^MLFLOW_TRACKING_URI=(http:\/\/127\.0\.0\.1:\d+)$/m.exec(h.out())?.[1];
      const token = /^MLFLOW_TRACKING_TOKEN=([0-9a-f]{64})$/m.exec(h.out())?.[1];
      assert.ok(uri && token, h.out());
      const created = await fetch(`${uri}/api/2.0/mlflow/experiments/create`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'from-notebook' }),
      });
      assert.equal(created.status, 200);
      h.stop('SIGINT');
      await running;
      assert.match(h.out(), /# stopped \(SIGINT\)/);
      await assert.rejects(fetch(`${uri}/api/2.0/mlflow/experiments/get?experiment_id=0`), 'the port is closed after stopping');
      const store = openStore({ path: join(dir, '.mloop', 'mloop.db'), readonly: true });
      try {
        assert.equal(store.db.prepare("SELECT count(*) FROM experiment WHERE name = 'from-notebook'").pluck().get(), 1);
      } finally {
        store.close();
      }
    } finally {
      cleanup();
    }
  });

  it('a busy port is a CliFailure that says what to do; a bad port is a usage error', async () => {
    const { dir, cleanup } = tempDir();
    const blocker = createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    try {
      const port = (blocker.address() as AddressInfo).port;
      await assert.rejects(
        harness(dir).program.parseAsync(['server', '--port', String(port)], { from: 'user' }),
        (e: unknown) => e instanceof CliFailure && /in use/.test(e.message),
      );
      await assert.rejects(harness(dir).program.parseAsync(['server', '--port', 'http'], { from: 'user' }), /port number/);
    } finally {
      blocker.close();
      cleanup();
    }
  });
});
