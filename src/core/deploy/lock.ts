import { mkdirSync, openSync, readFileSync, rmSync, writeSync, closeSync } from 'node:fs';
import { dirname } from 'node:path';
import { TargetBusyError } from './errors';
import { isAlive } from './process';

/**
 * One deployment per target at a time, across editors and terminals: a lock file created exclusively,
 * holding the owner's pid. A lock whose owner is gone (a crash) is taken over.
 */
export function acquireTargetLock(path: string, target: string): { release(): void } {
  mkdirSync(dirname(path), { recursive: true });
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(path, 'wx');
      writeSync(fd, JSON.stringify({ pid: process.pid, at: Date.now() }));
      closeSync(fd);
      let released = false;
      return {
        release: () => {
          if (released) return;
          released = true;
          rmSync(path, { force: true });
        },
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      let owner: { pid?: number; at?: number } = {};
      try {
        owner = JSON.parse(readFileSync(path, 'utf8')) as typeof owner;
      } catch {
        // half-written by a crashed owner: treat as stale
      }
      if (owner.pid !== undefined && isAlive(owner.pid)) {
        throw new TargetBusyError(
          `target "${target}" is being deployed by another mloop (pid ${owner.pid}${owner.at ? `, since ${new Date(owner.at).toISOString()}` : ''}); wait for it to finish or cancel it`,
        );
      }
      rmSync(path, { force: true });
    }
  }
  throw new TargetBusyError(`target "${target}": could not take the deployment lock ${path}`);
}

/** The pid of the live process holding a target's lock, if one does (a deployment is in progress). */
export function lockHolder(path: string): number | undefined {
  try {
    const owner = JSON.parse(readFileSync(path, 'utf8')) as { pid?: number };
    return owner.pid !== undefined && isAlive(owner.pid) ? owner.pid : undefined;
  } catch {
    return undefined;
  }
}
