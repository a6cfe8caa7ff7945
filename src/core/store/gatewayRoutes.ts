import type { Store } from './store';

export const GATEWAY_STRATEGIES = ['single', 'blue_green', 'canary', 'ab', 'bandit'] as const;
export type GatewayStrategy = (typeof GATEWAY_STRATEGIES)[number];

/** One model version behind a gateway: the private port it answers on and its share of the traffic. */
export interface GatewayRoute {
  readonly modelName: string;
  readonly version: number;
  readonly upstreamPort: number;
  /** Relative weight (the shares are weight / sum of weights); 0 takes no new requests. */
  readonly weight: number;
  /** The version's process, when mloop started it for this route (an A/B challenger, a replica). */
  readonly pid?: number | null;
  /** Which replica of its version this port is (the gateway balances across the replicas of one version). */
  readonly replica?: number | null;
}

/**
 * The challenger's arm of an A/B test or bandit: the routes whose process mloop started for the test (they have a
 * pid; the serving deployment's replicas do not), or — a table written without pids — the second of two routes.
 */
export function challengerPorts(routes: readonly GatewayRoute[]): Set<number> {
  const started = routes.filter((r) => r.pid);
  if (started.length) return new Set(started.map((r) => r.upstreamPort));
  return new Set(routes.length === 2 ? [routes[1]!.upstreamPort] : []);
}

export interface GatewayRecord {
  readonly target: string;
  readonly port: number;
  readonly pid: number | null;
  readonly strategy: GatewayStrategy;
  readonly updatedAt: number;
  readonly routes: readonly GatewayRoute[];
}

interface GatewayRow {
  target: string;
  port: number;
  pid: number | null;
  strategy: GatewayStrategy;
  updated_at: number;
}

interface RouteRow {
  model_name: string;
  version: number;
  upstream_port: number;
  weight: number;
  pid: number | null;
  replica: number | null;
}

/** The gateways and their routing tables (migration 009). Writes belong in the transaction of their audit row. */
export class GatewayRepository {
  constructor(private readonly store: Store) {}

  get(target: string): GatewayRecord | undefined {
    const row = this.store.db.prepare('SELECT * FROM gateway WHERE target = ?').get(target) as GatewayRow | undefined;
    if (!row) return undefined;
    const routes = (
      this.store.db
        .prepare('SELECT model_name, version, upstream_port, weight, pid, replica FROM gateway_route WHERE target = ? ORDER BY version, replica, upstream_port')
        .all(target) as RouteRow[]
    ).map((r) => ({
      modelName: r.model_name,
      version: r.version,
      upstreamPort: r.upstream_port,
      weight: r.weight,
      pid: r.pid,
      ...(r.replica !== null ? { replica: r.replica } : {}),
    }));
    return { target: row.target, port: row.port, pid: row.pid, strategy: row.strategy, updatedAt: row.updated_at, routes };
  }

  /** Creates the gateway row if missing (no routes yet) and records the port. */
  ensure(target: string, port: number, now = Date.now()): GatewayRecord {
    this.store.db
      .prepare(
        "INSERT INTO gateway (target, port, pid, strategy, updated_at) VALUES (?, ?, NULL, 'single', ?) ON CONFLICT(target) DO UPDATE SET port = excluded.port",
      )
      .run(target, port, now);
    return this.get(target)!;
  }

  setPid(target: string, pid: number | null): void {
    this.store.db.prepare('UPDATE gateway SET pid = ? WHERE target = ?').run(pid, target);
  }

  /** Replaces the routing table of a target's gateway. */
  setRoutes(target: string, strategy: GatewayStrategy, routes: readonly GatewayRoute[], now = Date.now()): GatewayRecord {
    this.store.db.prepare('UPDATE gateway SET strategy = ?, updated_at = ? WHERE target = ?').run(strategy, now, target);
    this.store.db.prepare('DELETE FROM gateway_route WHERE target = ?').run(target);
    const insert = this.store.db.prepare(
      'INSERT INTO gateway_route (target, model_name, version, upstream_port, weight, pid, replica) VALUES (?, ?, ?, ?, ?, ?, ?)',
    );
    for (const r of routes) insert.run(target, r.modelName, r.version, r.upstreamPort, r.weight, r.pid ?? null, r.replica ?? null);
    return this.get(target)!;
  }

  remove(target: string): void {
    this.store.db.prepare('DELETE FROM gateway WHERE target = ?').run(target);
  }
}
