import { scheduleMilliseconds } from '../drift/monitoringSchema';
import { AuditRepository } from '../store/audit';
import type { Store } from '../store/store';

/** Used when `on_drift: retrain` gives no cooldown: one automatic retrain per model every 6 hours at most. */
export const DEFAULT_RETRAIN_COOLDOWN = '6h';

export type AutoRetrainDecision =
  | { readonly start: true; readonly reason: string }
  | { readonly start: false; readonly reason: string; readonly lastAt: number; readonly nextAt: number };

/**
 * Whether a drift report may start a retrain of `modelName` by itself (`on_drift: retrain`): not when a
 * retrain of that model ran or started (by hand or automatically) within the cooldown. A start is
 * recorded at once (audit `retrain.auto`, "auto-retrain after drift report N"), in the same transaction
 * as the check, so two drift checks racing each other start one retrain.
 */
export function decideAutoRetrain(
  store: Store,
  input: { readonly modelName: string; readonly driftReportId: number; readonly cooldown?: string; readonly actor: string; readonly now?: number },
): AutoRetrainDecision {
  const cooldown = input.cooldown ?? DEFAULT_RETRAIN_COOLDOWN;
  const cooldownMs = scheduleMilliseconds(cooldown);
  if (cooldownMs === undefined) throw new Error(`monitoring.${input.modelName}.cooldown: "${cooldown}" is not a duration such as 30m, 6h or 1d`);
  const now = input.now ?? Date.now();
  return store.transaction(() => {
    const lastAt = store.db
      .prepare("SELECT max(at) FROM audit WHERE entity_type = 'model' AND entity_id = ? AND action IN ('retrain', 'retrain.auto')")
      .pluck()
      .get(input.modelName) as number | null;
    if (lastAt !== null && now - lastAt < cooldownMs) {
      return {
        start: false,
        lastAt,
        nextAt: lastAt + cooldownMs,
        reason: `a retrain of ${input.modelName} ran ${formatAgo(now - lastAt)} ago, within the cooldown of ${cooldown}: drift report ${input.driftReportId} does not start another before ${new Date(lastAt + cooldownMs).toISOString()}`,
      };
    }
    const reason = `auto-retrain after drift report ${input.driftReportId}`;
    new AuditRepository(store).record({
      actor: input.actor,
      action: 'retrain.auto',
      entityType: 'model',
      entityId: input.modelName,
      reason,
      details: { driftReportId: input.driftReportId, cooldown },
      at: now,
    });
    return { start: true, reason };
  });
}

function formatAgo(ms: number): string {
  const minutes = Math.round(ms / 60_000);
  return minutes < 90 ? `${minutes} min` : `${(minutes / 60).toFixed(1)} h`;
}
