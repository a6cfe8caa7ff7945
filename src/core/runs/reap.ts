import { RunRepository } from '../store/runs';
import type { Store } from '../store/store';

/** Whether a process with this id exists (EPERM: it exists, owned by someone else). */
export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Marks runs left RUNNING by a crashed editor or CLI as KILLED: their process no longer exists.
 * Call once when the store is opened for launching. Returns the run ids it marked.
 */
export function reapOrphanedRuns(store: Store, isAlive: (pid: number) => boolean = isProcessAlive): string[] {
  return new RunRepository(store).reapOrphans(isAlive);
}
