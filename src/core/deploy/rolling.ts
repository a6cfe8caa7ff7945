/** One step of a rolling update: which new replicas start, and which old ones leave the rotation once they pass. */
export interface RollingStep {
  /** Slots (0 … replicas-1) of the new version's replicas started in this step. */
  readonly start: readonly number[];
  /** Indexes into the old replicas (in their order) taken out of the rotation, drained and stopped after the new ones pass. */
  readonly retire: readonly number[];
}

/**
 * The steps of a rolling update from `old` running replicas to `replicas` of the new version, `maxUnavailable` at a
 * time: each step starts up to that many new replicas and, once they passed their checks, retires as many old ones.
 * New replicas start before old ones leave, so the rotation never holds fewer than min(old, replicas) replicas.
 */
export function rollingPlan(input: { readonly replicas: number; readonly old: number; readonly maxUnavailable: number }): RollingStep[] {
  const batch = Math.max(1, Math.floor(input.maxUnavailable));
  const steps: RollingStep[] = [];
  let started = 0;
  let retired = 0;
  while (started < input.replicas || retired < input.old) {
    const start = Array.from({ length: Math.min(batch, input.replicas - started) }, (_, i) => started + i);
    const retire = Array.from({ length: Math.min(batch, input.old - retired) }, (_, i) => retired + i);
    started += start.length;
    retired += retire.length;
    steps.push({ start, retire });
  }
  return steps;
}

/** Equal shares of `total` percent for each of `count` routed replicas (their weights in the gateway). */
export const replicaShare = (total: number, count: number): number => (count > 0 ? total / count : 0);
