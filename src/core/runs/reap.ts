import { readFileSync } from 'node:fs';
import { RunRepository } from '../store/runs';
import type { Store } from '../store/store';

/**
 * Whether a process with this id exists (EPERM: it exists, owned by someone else). A zombie (exited,
 * not yet reaped: a container's init may never reap a crashed launcher's orphans) is not alive.
 */
export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  return !isZombie(pid);
}

function isZombie(pid: number): boolean {
  if (process.platform !== 'linux') return false;
  try {
    // "<pid> (<comm>) <state> …": comm may contain spaces and parentheses, so read after the last ")"
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'Z';
  } catch {
    return false;
  }
}

/**
 * Marks runs left RUNNING by a crashed editor or CLI as KILLED: their process no longer exists.
 * Call once when the store is opened for launching. Returns the run ids it marked.
 */
export function reapOrphanedRuns(store: Store, isAlive: (pid: number) => boolean = isProcessAlive): string[] {
  return new RunRepository(store).reapOrphans(isAlive);
}
