import { DeploymentRepository } from '../store/deployments';
import type { PublishedRollout } from '../gateway/rolloutView';
import type { Store } from '../store/store';
import type { TeamLedger } from './teamLedger';
import { ensureWorkspaceWriter } from '../governance/teamTrail';

/**
 * A running rollout's live state for teammates (issue 21): while a target of this workspace rolls out (a deployment
 * `in_progress`: a canary's steps, a blue/green switch) or runs an A/B or bandit test, its rollout as the Rollout panel
 * computes it (per-version requests, errors, latency quantiles, the A/B report, the processes) is published to the
 * team's server on a bounded cadence, as a `rollout.live` record keyed `<writer>:<target>`.
 *
 * - Bounded: one tick every `intervalMs` (5 s in the editor); a tick publishes only a snapshot that changed since the
 *   last one it published (its `at` and window aside), so an idle rollout writes nothing.
 * - Coalesced: one write at a time; a tick while a write is still on its way does nothing (the next tick sends the
 *   newest state).
 * - Never in the rollout's way: it reads the store and the logs only, runs beside the rollout (nothing awaits it), and a
 *   failed write is reported to `onError` and dropped. There is no backlog: a live snapshot is superseded by the next
 *   one, so after an outage the next tick sends the state of that moment; the states of each deployment (and the
 *   rollout at each of them) stay queued in the store and reach the server by the team publisher as before.
 * - Each new snapshot moves the one it supersedes to MLflow's trash (best effort: a user the server does not let
 *   delete runs leaves them), so a target keeps one live record.
 *
 * Readers take the newest of this record and the rollout published with the deployment's newest state, by `at`: when
 * the rollout ends, its final state (published with the deployment) is newer than every live snapshot.
 */

export const LIVE_ROLLOUT_KIND = 'rollout.live';

export interface LiveRolloutRecord {
  readonly writer: string;
  readonly target: string;
  readonly publishedBy: string;
  readonly rollout: PublishedRollout;
}

export type LiveTick =
  /** No rollout runs in this workspace. */
  | { readonly outcome: 'idle' }
  /** A write of an earlier tick is still on its way. */
  | { readonly outcome: 'busy' }
  | { readonly outcome: 'done'; readonly published: readonly string[]; readonly unchanged: readonly string[]; readonly failed: readonly string[] };

export interface LiveRolloutOptions {
  readonly store: Store;
  readonly ledger: TeamLedger;
  readonly actor: () => Promise<string>;
  /** A target's rollout now (rolloutView.ts publishedRollout). */
  readonly rollout: (target: string) => Promise<PublishedRollout | undefined>;
  /** Between ticks (default 5 s); 0: no timer, ticks are asked for (tests, the CLI). */
  readonly intervalMs?: number;
  readonly onError?: (target: string, error: Error) => void;
  readonly onPublished?: (target: string, rollout: PublishedRollout) => void;
}

/** The targets of this workspace whose rollout runs now: a deployment in progress, or an A/B or bandit test on its gateway. */
export function runningRollouts(store: Store): string[] {
  const targets = new Set<string>();
  for (const d of new DeploymentRepository(store).list()) if (d.status === 'in_progress') targets.add(d.target);
  const tests = store.db.prepare("SELECT target FROM gateway WHERE strategy IN ('ab', 'bandit') AND pid IS NOT NULL").all() as { target: string }[];
  for (const t of tests) targets.add(t.target);
  return [...targets].sort();
}

/** What a snapshot says apart from when it was taken: two snapshots equal here are the same state. */
function fingerprint(r: PublishedRollout): string {
  const { at: _at, window: _window, timeline, gatewayState, ...rest } = r;
  // the timeline's buckets move with the clock: its counts are what changes; the gateway's check time too
  return JSON.stringify({
    ...rest,
    series: timeline.series.map((s) => [s.version, s.requests.reduce((a, b) => a + b, 0), s.errors.reduce((a, b) => a + b, 0)]),
    gateway: gatewayState ? { ...gatewayState, checkedAt: null } : null,
  });
}

export class LiveRolloutPublisher {
  private timer: NodeJS.Timeout | undefined;
  private writing = false;
  private disposed = false;
  /** Per target: the fingerprint and run of the last snapshot published. */
  private readonly last = new Map<string, { fingerprint: string; runId: string }>();

  constructor(private readonly options: LiveRolloutOptions) {
    const every = options.intervalMs ?? 5_000;
    if (every > 0) {
      this.timer = setInterval(() => void this.tick().catch(() => undefined), every);
      this.timer.unref?.();
    }
  }

  /** One tick: the running rollouts' snapshots that changed, published; never throws for a server's fault. */
  async tick(): Promise<LiveTick> {
    if (this.disposed) return { outcome: 'idle' };
    if (this.writing) return { outcome: 'busy' };
    const targets = runningRollouts(this.options.store);
    // a rollout that ended forgets its last snapshot: a new rollout of the target starts afresh
    for (const t of [...this.last.keys()]) if (!targets.includes(t)) this.last.delete(t);
    if (targets.length === 0) return { outcome: 'idle' };
    this.writing = true;
    const published: string[] = [];
    const unchanged: string[] = [];
    const failed: string[] = [];
    try {
      let writer: string | undefined;
      let actor: string | undefined;
      for (const target of targets) {
        try {
          const rollout = await this.options.rollout(target);
          if (!rollout) continue;
          const print = fingerprint(rollout);
          const before = this.last.get(target);
          if (before?.fingerprint === print) {
            unchanged.push(target);
            continue;
          }
          actor ??= await this.options.actor();
          writer ??= ensureWorkspaceWriter(this.options.store, { actor, server: this.options.ledger.location });
          const record: LiveRolloutRecord = { writer, target, publishedBy: actor, rollout };
          const runId = await this.options.ledger.write({
            kind: LIVE_ROLLOUT_KIND,
            key: `${writer}:${target}`,
            writer,
            at: rollout.at,
            payload: record,
            runName: `rollout ${target} (live)`,
          });
          this.last.set(target, { fingerprint: print, runId });
          published.push(target);
          this.options.onPublished?.(target, rollout);
          if (before) await this.options.ledger.discard(before.runId).catch(() => undefined);
        } catch (error) {
          failed.push(target);
          this.options.onError?.(target, error instanceof Error ? error : new Error(String(error)));
        }
      }
    } finally {
      this.writing = false;
    }
    return { outcome: 'done', published, unchanged, failed };
  }

  dispose(): void {
    this.disposed = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}

/** A workspace's live snapshot of a target's rollout on the server, or undefined (none, or not intact). */
export async function readLiveRollout(ledger: TeamLedger, writer: string, target: string): Promise<LiveRolloutRecord | undefined> {
  const record = await ledger.newest<LiveRolloutRecord>(LIVE_ROLLOUT_KIND, `${writer}:${target}`);
  if (!record?.intact || record.writer !== writer) return undefined;
  return record.payload;
}
