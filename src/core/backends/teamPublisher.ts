import type { PublishedRollout } from '../gateway/rolloutView';
import type { Store } from '../store/store';
import type { TeamLedger } from './teamLedger';
import { syncWithTeam, type TeamSync } from './teamOperations';

/**
 * Publishes a workspace's audit entries, deployment states and monitoring reports to the team's MLflow server as
 * they happen. The store is the queue: what to publish is always "what the server lacks of this workspace" (records
 * are keyed by content: an audit entry by its hash, a deployment state by id/time/status, a report by its id), so a
 * change made while the server is unreachable is never lost — the next attempt publishes it, and a repeated attempt
 * publishes nothing twice. Attempts run one at a time; failures retry with a doubling delay.
 */

export interface TeamPublishState {
  /** A change waits to be published (a failed attempt, or an attempt queued behind the running one). */
  readonly pending: boolean;
  /** The last failure, cleared by the next success. */
  readonly lastError: string | undefined;
  readonly lastPublishedAt: number | undefined;
  /** Consecutive failed attempts. */
  readonly failures: number;
  /** What the last successful attempt published. */
  readonly last: TeamSync | undefined;
}

export interface TeamPublisherOptions {
  readonly store: Store;
  readonly ledger: TeamLedger;
  /** Who publishes (the server's user, else the workspace's identity); asked at each attempt. */
  readonly actor: () => Promise<string>;
  /** The first retry delay; doubles after each failure up to `maxRetryMs`. */
  readonly retryMs?: number;
  readonly maxRetryMs?: number;
  /** A change is published this long after the last notice (several writes in a burst: one attempt). */
  readonly debounceMs?: number;
  readonly onState?: (state: TeamPublishState) => void;
  /** A target's rollout now, sent with its newest deployment state (syncWithTeam). */
  readonly rollout?: (target: string) => Promise<PublishedRollout | undefined>;
}

export class TeamPublisher {
  private running: Promise<void> | undefined;
  private again = false;
  private timer: NodeJS.Timeout | undefined;
  private disposed = false;
  private current: TeamPublishState = { pending: false, lastError: undefined, lastPublishedAt: undefined, failures: 0, last: undefined };

  constructor(private readonly options: TeamPublisherOptions) {}

  get state(): TeamPublishState {
    return this.current;
  }

  /** Something was written to the store: publish it soon. */
  notify(): void {
    if (this.disposed) return;
    this.update({ pending: true });
    this.schedule(this.options.debounceMs ?? 250);
  }

  /** Publishes now and waits; resolves with the state after the attempt (a failure is in `lastError`, and retried). */
  async flush(): Promise<TeamPublishState> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.update({ pending: true });
    await this.attempt();
    return this.current;
  }

  dispose(): void {
    this.disposed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private schedule(delay: number): void {
    if (this.disposed) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.attempt();
    }, delay);
    this.timer.unref?.();
  }

  private attempt(): Promise<void> {
    if (this.running) {
      // one attempt at a time: a change during it is published by one more attempt after it
      this.again = true;
      return this.running;
    }
    this.running = (async () => {
      try {
        do {
          this.again = false;
          const actor = await this.options.actor();
          const last = await syncWithTeam(this.options.store, this.options.ledger, {
            actor,
            ...(this.options.rollout ? { rollout: this.options.rollout } : {}),
          });
          this.update({ pending: this.again, lastError: undefined, lastPublishedAt: Date.now(), failures: 0, last });
        } while (this.again && !this.disposed);
      } catch (error) {
        const failures = this.current.failures + 1;
        this.update({ pending: true, lastError: (error as Error).message, failures });
        const first = this.options.retryMs ?? 2_000;
        this.schedule(Math.min(first * 2 ** (failures - 1), this.options.maxRetryMs ?? 60_000));
      } finally {
        this.running = undefined;
      }
    })();
    return this.running;
  }

  private update(change: Partial<TeamPublishState>): void {
    this.current = { ...this.current, ...change };
    this.options.onState?.(this.current);
  }
}
