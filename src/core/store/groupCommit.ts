import type { Store } from './store';

interface Job {
  readonly write: () => unknown;
  readonly resolve: (value: unknown) => void;
  readonly reject: (error: unknown) => void;
}

/** Writes queued while one commit is prepared are committed together, at most this many at a time. */
export const MAX_WRITES_PER_COMMIT = 64;

/**
 * Group commit: writes that arrive together (the requests a busy server has already read when it gets
 * to them) share one transaction. A write that throws is rolled back alone and its promise rejects; the
 * others commit (the group runs again, each write in its own savepoint: a write must touch nothing but the
 * store, so that running it twice after a rollback is the same as running it once). Every promise settles only after
 * the commit that holds its write, so an acknowledged write is on disk as with one transaction each,
 * and writes apply in the order they were queued. Pages a burst rewrites (the open block of a metric
 * series, its series row) reach the write-ahead log once per commit instead of once per request.
 */
export class GroupCommit {
  private queue: Job[] = [];
  private scheduled = false;

  constructor(
    private readonly store: Store,
    private readonly maxPerCommit: number = MAX_WRITES_PER_COMMIT,
  ) {}

  /** Queues `write` (it runs inside the store's transaction) and resolves with its result once committed. */
  run<T>(write: () => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ write, resolve: resolve as (value: unknown) => void, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  /** Writes queued and not yet committed. */
  get pending(): number {
    return this.queue.length;
  }

  private flush(): void {
    const jobs = this.queue.splice(0, this.maxPerCommit);
    if (this.queue.length > 0) setImmediate(() => this.flush());
    else this.scheduled = false;
    if (jobs.length === 1) {
      // alone in its commit: a plain transaction, no savepoint (and no sub-journal) needed
      const job = jobs[0]!;
      let value: unknown;
      try {
        value = this.store.transaction(job.write);
      } catch (error) {
        job.reject(error);
        return;
      }
      job.resolve(value);
      return;
    }
    // Most groups have no failing write: all of them run in the one transaction, without a savepoint each (a savepoint
    // journals every page its write touches again, a large share of a small write's cost). If one throws, the whole
    // transaction rolls back and the group runs again, each write in its own savepoint, as below.
    const values: unknown[] = [];
    let thrownByWrite = false;
    try {
      this.store.transaction(() => {
        for (const job of jobs) {
          try {
            values.push(job.write());
          } catch (error) {
            thrownByWrite = true;
            throw error;
          }
        }
      });
    } catch (error) {
      if (!thrownByWrite) {
        // BEGIN or COMMIT failed (busy, disk full, I/O): nothing of the group was written
        for (const job of jobs) job.reject(error);
        return;
      }
    }
    if (!thrownByWrite) {
      jobs.forEach((job, i) => job.resolve(values[i]));
      return;
    }
    const outcomes: { ok: boolean; value: unknown }[] = [];
    try {
      this.store.transaction(() => {
        for (const job of jobs) {
          try {
            // inside the open transaction, a better-sqlite3 transaction function is a savepoint
            outcomes.push({ ok: true, value: this.store.db.transaction(job.write)() });
          } catch (error) {
            outcomes.push({ ok: false, value: error });
          }
        }
      });
    } catch (error) {
      // BEGIN or COMMIT failed (busy, disk full, I/O): nothing of the group was written
      for (const job of jobs) job.reject(error);
      return;
    }
    jobs.forEach((job, i) => {
      const outcome = outcomes[i]!;
      if (outcome.ok) job.resolve(outcome.value);
      else job.reject(outcome.value);
    });
  }
}
