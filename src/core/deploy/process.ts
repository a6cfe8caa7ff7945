import { spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname } from 'node:path';

/** A service mloop started and keeps running beyond its own process (detached, own process group). */
export interface ServiceProcess {
  readonly pid: number;
  readonly logPath: string;
}

/** Starts a long-running service detached from mloop, output appended to `logPath`. */
export function startService(input: { argv: readonly string[]; cwd: string; env?: NodeJS.ProcessEnv; logPath: string }): Promise<ServiceProcess> {
  mkdirSync(dirname(input.logPath), { recursive: true });
  const fd = openSync(input.logPath, 'a');
  try {
    const child = spawn(input.argv[0]!, input.argv.slice(1), {
      cwd: input.cwd,
      env: { ...process.env, PYTHONUNBUFFERED: '1', ...input.env },
      detached: process.platform !== 'win32',
      stdio: ['ignore', fd, fd],
      windowsHide: true,
    });
    return new Promise((done, fail) => {
      child.once('error', (error) => fail(new Error(`could not start ${input.argv[0]}: ${error.message}`)));
      child.once('spawn', () => {
        child.unref();
        done({ pid: child.pid!, logPath: input.logPath });
      });
    });
  } finally {
    closeSync(fd);
  }
}

/** True while the process exists (a zombie of ours counts as gone once reaped by the OS). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

const signalGroup = (pid: number, signal: NodeJS.Signals): void => {
  try {
    process.kill(process.platform === 'win32' ? pid : -pid, signal);
  } catch {
    try {
      process.kill(pid, signal);
    } catch {
      // already gone
    }
  }
};

/** Stops a service's whole process group: SIGTERM, then SIGKILL after `graceMs`. Resolves once it is gone. */
export async function stopService(pid: number, graceMs = 5000): Promise<void> {
  if (!isAlive(pid)) return;
  signalGroup(pid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline) {
    if (!isAlive(pid)) return;
    await sleep(25);
  }
  signalGroup(pid, 'SIGKILL');
  for (let i = 0; i < 200 && isAlive(pid); i++) await sleep(25);
}

/** A TCP port nothing listens on right now (loopback). */
export function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const server = createServer();
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => done(port));
    });
  });
}

export const sleep = (ms: number, signal?: AbortSignal): Promise<void> =>
  new Promise((done) => {
    if (signal?.aborted) return done();
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      done();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(timer);
      done();
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
