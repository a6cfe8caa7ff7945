import { createHash } from 'node:crypto';
import { z } from 'zod';

/** A route as the gateway process receives it over its control API (and at start). */
export const routeSchema = z.strictObject({
  model_name: z.string().min(1),
  version: z.number().int().min(1),
  upstream_port: z.number().int().min(1).max(65535),
  weight: z.number().min(0),
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
