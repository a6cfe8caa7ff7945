import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { parentPort, Worker, workerData } from 'node:worker_threads';
import { openStore } from './store';

/** The bundle built from storeUpgradeMain.ts (dist/storeUpgrade.js), next to dist/extension.js. */
const WORKER_FILE = 'storeUpgrade.js';

type UpgradeReply = { readonly ok: true } | { readonly ok: false; readonly message: string };

/**
 * Brings the store at `path` to the current schema in a worker thread, so that the thread that asked (the extension
 * host) keeps answering while a long step runs (migration 021 indexes every metric and param: seconds on a
 * 100,000-run store). On this thread when the worker bundle is absent. A failure is thrown with the store's message;
 * the store stays at the last step that completed (each step is one transaction).
 */
export async function upgradeStoreInWorker(path: string, workerFile: string = join(__dirname, WORKER_FILE)): Promise<void> {
  if (!existsSync(workerFile)) {
    openStore({ path }).close();
    return;
  }
  const worker = new Worker(workerFile, { workerData: { path } });
  try {
    const reply = await new Promise<UpgradeReply>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
      worker.once('exit', (code) => reject(new Error(`the store upgrade stopped (exit ${code}) before ${path} was upgraded`)));
    });
    if (!reply.ok) throw new Error(reply.message);
  } finally {
    void worker.terminate();
  }
}

/** The worker's side: open (and so upgrade) the store, close it, say how it went. */
export function runStoreUpgradeWorker(): void {
  const { path } = workerData as { path: string };
  let reply: UpgradeReply;
  try {
    openStore({ path }).close();
    reply = { ok: true };
  } catch (error) {
    reply = { ok: false, message: (error as Error).message };
  }
  parentPort?.postMessage(reply);
}
