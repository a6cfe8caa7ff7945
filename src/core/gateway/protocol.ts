import type { RouteTable } from './routing';

// What the gateway's clients (control.ts, abRollout.ts) share with the server, apart from server.ts so that
// loading them does not load the server and undici (≈ 0.1–0.25 s of every CLI start; issue 16).

/** Paths under this prefix are the control API (bearer token); everything else is proxied or /feedback. */
export const CONTROL_PREFIX = '/_mloop/';
/** bandit: the weights are drawn again after this many binary rewards. */
export const REPLAN_EVERY = 20;

export interface GatewayStatus {
  readonly target: string;
  readonly pid: number;
  /** Processes serving the port (the primary and its workers, docs/decisions/gateway-workers.md). */
  readonly workers: number;
  /** How many it runs toward: the setting, or 1 where the platform has no SO_REUSEPORT (Node < 22.12, not Linux). */
  readonly workers_wanted: number;
  /** The workers setting it was started with (a different setting restarts it: control.ts). */
  readonly workers_requested: number;
  readonly table: RouteTable;
  /** Requests being answered now, by upstream port: a switch has drained when the old port is at 0. */
  readonly inflight: Record<string, number>;
  /** Upstream ports left out of the rotation after refusing a connection, with the time (ms) they are tried again. */
  readonly ejected: Record<string, number>;
  readonly requests: number;
  readonly feedback: { readonly accepted: number; readonly unknown: number; readonly malformed: number };
  /**
   * Each process serving the port: its requests, those in flight now, when it started, and the table it proxies on
   * (the same in all once a change is acknowledged); `leaving` while it ends after a change to fewer workers.
   */
  readonly processes?: readonly GatewayProcess[];
}

/** One process of a gateway (the primary, or a worker sharing its port). */
export interface GatewayProcess {
  readonly pid: number;
  readonly role?: 'primary' | 'worker';
  readonly requests: number;
  readonly inflight?: number;
  /** ms since the epoch */
  readonly since?: number;
  readonly leaving?: boolean;
  readonly table: RouteTable;
}
