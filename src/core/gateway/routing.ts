import { createHash } from 'node:crypto';
import { z } from 'zod';

/** A route as the gateway process receives it over its control API (and at start). */
export const routeSchema = z.strictObject({
  model_name: z.string().min(1),
  version: z.number().int().min(1),
  upstream_port: z.number().int().min(1).max(65535),
  weight: z.number().min(0),
  /** Which replica of its version this port is: the replicas of one version share its traffic (least outstanding). */
  replica: z.number().int().min(0).optional(),
  /**
   * A/B and bandit: which arm of the test the port answers for (0 the serving version, 1 the challenger). Routes with
   * the same arm share its traffic, whatever their version says: an A/A test runs one version in both arms.
   */
  arm: z.number().int().min(0).max(15).optional(),
});
export type WireRoute = z.output<typeof routeSchema>;

/** What the gateway's explainer of one routed version loads: its artifact and background data (control.ts resolves them). */
export const explainVersionSchema = z.strictObject({
  model_name: z.string().min(1),
  version: z.number().int().min(1),
  model_path: z.string().min(1),
  /** A snapshot of the data that trained the version (the background `mloop explain` uses by default). */
  data_path: z.string().min(1),
  /** `name@digest-prefix` of that data, named in the explanation's note. */
  data_name: z.string().min(1),
  format: z.enum(['csv', 'tsv', 'jsonl', 'parquet']),
  /** The model's `prepare: module:function` from mloop.yaml. */
  prepare: z.string().min(1).optional(),
  /** Set when the version cannot be explained (no recorded training data, artifact gone): /explain answers it (409). */
  error: z.string().optional(),
});
export type ExplainVersion = z.output<typeof explainVersionSchema>;

/** A target with `explain:` on: the gateway answers POST /explain by the routed versions (docs/deploy.md). */
export const explainSetupSchema = z.strictObject({
  python: z.string().min(1),
  project_root: z.string().min(1),
  timeout_seconds: z.number().positive().optional(),
  max_pending: z.number().int().min(1).optional(),
  versions: z.array(explainVersionSchema),
});
export type ExplainSetup = z.output<typeof explainSetupSchema>;

export const routeTableSchema = z
  .strictObject({
    strategy: z.enum(['single', 'blue_green', 'canary', 'ab', 'bandit']),
    /** Present when the target enables /explain (absent: /explain answers 404). */
    explain: explainSetupSchema.optional(),
    /** bandit: the least share of the traffic each version keeps (default 0.05). */
    floor: z.number().min(0).max(0.5).optional(),
    routes: z.array(routeSchema).refine((routes) => new Set(routes.map((r) => r.upstream_port)).size === routes.length, {
      error: 'two routes share an upstream_port',
    }),
  })
  // a routed version with no explain entry could not answer its /explain: such a table is refused, not served
  .superRefine((table, ctx) => {
    if (!table.explain) return;
    const explained = new Set(table.explain.versions.map((v) => `${v.model_name}\u0000${v.version}`));
    const missing = table.routes.find((r) => !explained.has(`${r.model_name}\u0000${r.version}`));
    if (missing)
      ctx.addIssue({
        code: 'custom',
        path: ['explain', 'versions'],
        message: `${missing.model_name} v${missing.version} is routed but has no entry: every routed version needs one`,
      });
  });
export type RouteTable = z.output<typeof routeTableSchema>;

/**
 * Where a request key falls in [0, 1): the first 48 bits of its SHA-256. The same key always lands in the same
 * place, so a user keeps the same arm for as long as the split does not change (sticky assignment).
 */
export function keyPosition(key: string): number {
  return Number.parseInt(createHash('sha256').update(key).digest('hex').slice(0, 12), 16) / 2 ** 48;
}

/** The route for a position in [0, 1) over the cumulative weights; undefined when nothing takes traffic. */
export function routeAt<R extends { readonly weight: number }>(routes: readonly R[], position: number): R | undefined {
  const total = routes.reduce((sum, r) => sum + r.weight, 0);
  if (!(total > 0)) return undefined;
  let edge = 0;
  for (const route of routes) {
    if (route.weight <= 0) continue;
    edge += route.weight / total;
    if (position < edge) return route;
  }
  return routes.findLast((r) => r.weight > 0);
}

/** Sticky by the key when the request carries one, otherwise drawn at random by weight. */
export function pickRoute<R extends { readonly weight: number }>(
  routes: readonly R[],
  key: string | undefined,
  random: () => number = Math.random,
): R | undefined {
  return routeAt(routes, key ? keyPosition(key) : random());
}

/** Routes that answer for one arm of the split: the replicas of a version, or a single route without a replica number. */
export interface RouteArm<R> {
  readonly weight: number;
  readonly members: readonly R[];
}

/** What groups routes into one arm: their test arm when they have one, else their version when they are replicas of it. */
export function armKey(route: {
  readonly model_name: string;
  readonly version: number;
  readonly replica?: number | undefined;
  readonly arm?: number | undefined;
}): string | undefined {
  if (route.arm !== undefined) return `arm\u0000${route.arm}`;
  return route.replica === undefined ? undefined : `${route.model_name}\u0000${route.version}`;
}

type Groupable = {
  readonly model_name: string;
  readonly version: number;
  readonly weight: number;
  readonly replica?: number | undefined;
  readonly arm?: number | undefined;
};

/**
 * Groups the routes into arms: the routes of one test arm, or the replicas of one model version, form one arm whose
 * weight is theirs summed (so a version's share does not depend on how many replicas serve it).
 */
export function armsOf<R extends Groupable>(routes: readonly R[]): RouteArm<R>[] {
  const arms: { weight: number; members: R[] }[] = [];
  const byKey = new Map<string, { weight: number; members: R[] }>();
  for (const route of routes) {
    if (route.weight <= 0) continue;
    const key = armKey(route);
    let arm = key === undefined ? undefined : byKey.get(key);
    if (!arm) {
      arm = { weight: 0, members: [] };
      arms.push(arm);
      if (key !== undefined) byKey.set(key, arm);
    }
    arm.weight += route.weight;
    arm.members.push(route);
  }
  return arms;
}

/**
 * The upstream for a request: the arm (a version, or a test arm) by weight — sticky by the key when there is one —
 * then, among that arm's replicas, the one with the fewest requests in flight (least outstanding: a replica stuck on
 * a slow batch or a dying process stops being chosen while it is busy, which round-robin would not notice); ties go
 * round-robin from `turn`, so idle replicas share the load evenly.
 *
 * `ejected` ports (they refused a connection a moment ago) are passed over inside their arm, and an arm whose every
 * replica is ejected gives its traffic to the others; the arms keep their weights otherwise, so one replica leaving
 * the rotation changes neither the split nor which arm a sticky key lands in.
 */
export function pickUpstream<R extends Groupable & { readonly upstream_port: number }>(
  routes: readonly R[],
  options: {
    key?: string | undefined;
    inflight: (port: number) => number;
    turn: number;
    random?: () => number;
    ejected?: ((port: number) => boolean) | undefined;
    /** The arms of `routes`, when the caller keeps them (they change only with the routing table). */
    arms?: readonly RouteArm<R>[];
  },
): R | undefined {
  const all = options.arms ?? armsOf(routes);
  const ejected = options.ejected;
  let arms = all;
  if (ejected && all.some((a) => a.members.every((m) => ejected(m.upstream_port)))) {
    const serving = all.filter((a) => a.members.some((m) => !ejected(m.upstream_port)));
    // when every replica of every arm was ejected, they are tried anyway: better a retry than a 503
    if (serving.length) arms = serving;
  }
  const arm = pickRoute(arms, options.key, options.random);
  if (!arm) return undefined;
  const members = arm.members;
  if (members.length === 1) return members[0];
  let best: R | undefined;
  let bestLoad = Number.POSITIVE_INFINITY;
  for (let i = 0; i < members.length; i++) {
    const member = members[(options.turn + i) % members.length]!;
    // an ejected replica counts as fully busy: chosen only when its arm has nothing else
    const load = options.inflight(member.upstream_port) + (ejected?.(member.upstream_port) ? 1e9 : 0);
    if (load < bestLoad) {
      best = member;
      bestLoad = load;
    }
  }
  return best;
}
