import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { request as httpRequest, createServer } from 'node:http';
import type { Server } from 'node:http';
import { join, relative } from 'node:path';
import { expandView, openViewContainer, runPaletteCommandUntil, screenshot, treeRows, waitForWorkbench } from '../harness/browser';
import { logTail } from '../harness/codeServer';
import { pollUntil } from '../harness/poll';
import { openWorkbench } from '../harness/workbench';
import type { WorkbenchSession } from '../harness/workbench';
import { startMlflowServer } from '../unit/mlflowServer';
import { mlflowClientJson } from '../support/python';
import type { MlflowServerProcess } from '../unit/mlflowServer';
import { ROOT, recordFigure, tempDir } from './support';

/**
 * A loopback relay in front of the real `mlflow server` that notes the Authorization header of
 * every request before passing it on unchanged: how the test sees what mloop sends.
 */
function startRecordingRelay(target: string): Promise<{ server: Server; port: number; authorizations: string[] }> {
  const authorizations: string[] = [];
  const upstream = new URL(target);
  const server = createServer((req, res) => {
    authorizations.push(req.headers.authorization ?? '');
    const forward = httpRequest({ host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers }, (reply) => {
      res.writeHead(reply.statusCode ?? 502, reply.headers);
      reply.pipe(res);
    });
    forward.on('error', (error) => {
      res.writeHead(502);
      res.end(String(error));
    });
    req.pipe(forward);
  });
  return new Promise((done, fail) => {
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      done({ server, port: typeof address === 'object' && address ? address.port : 0, authorizations });
    });
  });
}

/** Every regular file under `dir` whose bytes contain `needle` (as UTF-8 or UTF-16LE). */
function filesContaining(dir: string, needle: string): string[] {
  const hits: string[] = [];
  const forms = [Buffer.from(needle, 'utf8'), Buffer.from(needle, 'utf16le')];
  const walk = (d: string): void => {
    let entries: string[];
    try {
      entries = readdirSync(d);
    } catch {
      return;
    }
    for (const name of entries) {
      const path = join(d, name);
      let st;
      try {
        st = statSync(path);
      } catch {
        continue;
      }
      if (st.isDirectory()) walk(path);
      else if (st.isFile() && st.size < 256 * 1024 * 1024) {
        const bytes = readFileSync(path);
        if (forms.some((f) => bytes.includes(f))) hits.push(path);
      }
    }
  };
  walk(dir);
  return hits;
}

describe('reliability: the remote MLflow token lives in SecretStorage only', function () {
  this.timeout(600_000);
  let session: WorkbenchSession | undefined;
  let mlflow: MlflowServerProcess | undefined;
  let relay: Server | undefined;
  let temp: { dir: string; cleanup: () => void } | undefined;

  after(async () => {
    await session?.close();
    relay?.close();
    await mlflow?.stop();
    temp?.cleanup();
  });

  it('a token typed into "mloop: Set MLflow Token" is sent as a Bearer header to the real server, survives a window reload, and is in no settings, log or workspace file', async function () {
    temp = tempDir('mloop-rel-secrets-');
    const workspace = join(temp.dir, 'project');
    const runDir = join(temp.dir, 'run');
    const resultsDir = join(ROOT, 'test-results', 'reliability');
    mkdirSync(join(workspace, '.vscode'), { recursive: true });
    mkdirSync(join(temp.dir, 'mlflow'), { recursive: true });
    mlflow = await startMlflowServer(join(temp.dir, 'mlflow'));
    // something for the Runs view to show: an experiment with a run, logged by the real client
    await mlflowClientJson(
      mlflow.uri,
      'import mlflow\nmlflow.set_experiment("secret-check")\nwith mlflow.start_run(run_name="remote-run"):\n    mlflow.log_metric("loss", 0.5)\nprint("{}")',
    );
    const rec = await startRecordingRelay(mlflow.uri);
    relay = rec.server;
    const trackingUri = `http://127.0.0.1:${rec.port}`;
    writeFileSync(join(workspace, '.vscode', 'settings.json'), JSON.stringify({ 'mloop.backend': 'mlflow', 'mloop.mlflow.trackingUri': trackingUri }, null, 2));
    const token = `mlt-${randomBytes(18).toString('hex')}`;

    session = await openWorkbench({ root: ROOT, workspace, runDir, resultsDir, consoleLogName: 'secrets.console.log' });
    const { page, server } = session;
    try {
      await waitForWorkbench(page, 60_000);
      // the Runs view reads the server (through the relay) before any token exists
      await openViewContainer(page, 'mloop', 60_000);
      await expandView(page, 'Runs');
      await pollUntil(async () => (await treeRows(page, 'Runs')).find((r) => r.includes('secret-check')), {
        what: 'the remote experiment in the Runs tree',
        intervalMs: 1_000,
        timeoutMs: 90_000,
      });
      assert.ok(rec.authorizations.length > 0, 'mloop asked the server');
      assert.ok(
        rec.authorizations.every((a) => a === ''),
        'no Authorization header before a token is set',
      );

      // type the token into the password box, as a user does
      await runPaletteCommandUntil(page, 'mloop: Set MLflow Token', '.quick-input-widget input[type="password"]', {
        what: 'the password box of mloop: Set MLflow Token',
        timeoutMs: 60_000,
      });
      await page.locator('.quick-input-widget input[type="password"]').fill(token);
      await page.keyboard.press('Enter');

      const bearer = `Bearer ${token}`;
      const sentAfterSet = await pollUntil(() => rec.authorizations.filter((a) => a === bearer).length || undefined, {
        what: 'a request carrying the token',
        intervalMs: 500,
        timeoutMs: 60_000,
      });
      const wrong = rec.authorizations.filter((a) => a !== '' && a !== bearer);
      assert.deepEqual(wrong, [], 'no other credential was sent');

      // a new window (new extension host): the token comes back from SecretStorage
      const before = rec.authorizations.length;
      await page.reload();
      await waitForWorkbench(page, 60_000);
      await openViewContainer(page, 'mloop', 60_000);
      await expandView(page, 'Runs');
      await pollUntil(() => rec.authorizations.slice(before).some((a) => a === bearer) || undefined, {
        what: 'the reloaded window to send the stored token',
        intervalMs: 500,
        timeoutMs: 90_000,
      });
      assert.ok(
        rec.authorizations.slice(before).every((a) => a === bearer),
        'after the reload every request carries the stored token',
      );
      await screenshot(page, resultsDir, 'secrets-remote-runs');

      // where the token must never be: settings (user and workspace), logs (code-server's, the extension host's,
      // mloop's output channel, the page console), the workspace and mloop's store
      await session.drainConsole();
      const userData = join(runDir, 'ud');
      const settingsHits = [
        ...filesContaining(join(userData, 'User'), token).filter((f) => f.endsWith('.json')),
        ...filesContaining(join(workspace, '.vscode'), token),
      ];
      const logHits = [
        ...filesContaining(join(userData, 'logs'), token),
        ...filesContaining(join(resultsDir), token),
        ...(readFileSync(server.logFile, 'utf8').includes(token) ? [server.logFile] : []),
      ];
      const workspaceHits = filesContaining(workspace, token);
      // VS Code web keeps SecretStorage in the browser's storage; list what held it on disk for the record
      const elsewhere = filesContaining(runDir, token)
        .filter((f) => !settingsHits.includes(f) && !logHits.includes(f))
        .map((f) => relative(runDir, f));
      assert.deepEqual(settingsHits, [], 'the token is in a settings file');
      assert.deepEqual(logHits, [], 'the token is in a log');
      assert.deepEqual(workspaceHits, [], 'the token is in the workspace');
      const logFiles = readdirSync(join(userData, 'logs'), { recursive: true }).length;
      recordFigure(
        'security: remote MLflow token in SecretStorage',
        `token sent as Bearer on ${sentAfterSet} request(s) after it was set and again after a window reload; found in 0 settings files, 0 of ${logFiles} log entries/files, 0 workspace files${elsewhere.length ? `; stored by the workbench in ${elsewhere.join(', ')}` : ''}`,
        {
          requests: rec.authorizations.length,
          elsewhere,
        },
      );
    } catch (error) {
      await screenshot(page, resultsDir, 'secrets-failed').catch(() => undefined);
      throw new Error(`${(error as Error).message}\ncode-server log tail:\n${logTail(server.logFile, 30)}`);
    }
  });
});
