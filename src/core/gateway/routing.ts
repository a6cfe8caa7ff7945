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
});
export type WireRoute = z.output<typeof routeSchema>;

export const routeTableSchema = z.strictObject({
  strategy: z.enum(['single', 'blue_green', 'canary', 'ab', 'bandit']),
  /** bandit: the least share of the traffic each version keeps (default 0.05). */
  floor: z.number().min(0).max(0.5).optional(),
  routes: z.array(routeSchema).refine((routes) => new Set(routes.map((r) => r.upstream_port)).size === routes.length, {
    error: 'two routes share an upstream_port',
  }),
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

/** Groups the routes into arms: replicas of the same model version form one arm whose weight is theirs summed. */
export function armsOf<R extends { readonly model_name: string; readonly version: number; readonly weight: number; readonly replica?: number | undefined }>(
  routes: readonly R[],
): RouteArm<R>[] {
  const arms: { weight: number; members: R[] }[] = [];
  const byVersion = new Map<string, { weight: number; members: R[] }>();
  for (const route of routes) {
    if (route.weight <= 0) continue;
    const key = route.replica === undefined ? undefined : `${route.model_name}\u0000${route.version}`;
    let arm = key === undefined ? undefined : byVersion.get(key);
    if (!arm) {
      arm = { weight: 0, members: [] };
      arms.push(arm);
      if (key !== undefined) byVersion.set(key, arm);
    }
    arm.weight += route.weight;
    arm.members.push(route);
  }
  return arms;
}

/**
 * The upstream for a request: the arm (a version) by weight — sticky by the key when there is one — then, among
 * that version's replicas, the one with the fewest requests in flight (least outstanding: a replica stuck on a slow
 * batch or a dying process stops being chosen while it is busy, which round-robin would not notice); ties go
 * round-robin from `turn`, so idle replicas share the load evenly.
 */
export function pickUpstream<
  R extends {
    readonly model_name: string;
    readonly version: number;
    readonly weight: number;
    readonly upstream_port: number;
    readonly replica?: number | undefined;
  },
>(routes: readonly R[], options: { key?: string | undefined; inflight: (port: number) => number; turn: number; random?: () => number }): R | undefined {
  const arm = pickRoute(armsOf(routes), options.key, options.random);
  if (!arm) return undefined;
  const members = arm.members;
  let best: R | undefined;
  let bestLoad = Number.POSITIVE_INFINITY;
  for (let i = 0; i < members.length; i++) {
    const member = members[(options.turn + i) % members.length]!;
    const load = options.inflight(member.upstream_port);
    if (load < bestLoad) {
      best = member;
      bestLoad = load;
    }
  }
  return best;
}
