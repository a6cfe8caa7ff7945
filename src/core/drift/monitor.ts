import type { DatasetFileFormat } from '../datasets/readers';
import { DriftReportRepository, type StoredDriftReport } from '../store/driftReports';
import type { Store } from '../store/store';
import { runDriftCheck, type DriftCheckOptions, type DriftCheckResult } from './check';
import type { DriftWindow } from './collect';
import type { ModelMonitoring } from './monitoringSchema';
import type { ColumnDrift, DriftMethodChoice, DriftOptions, DriftReport } from './report';

/** What a stored report keeps (result_json): everything the Drift panel draws. */
export interface StoredDriftResult extends DriftCheckResult {
  readonly model: string | null;
}

/** Check options from a model's `monitoring:` entry in mloop.yaml (explicit `overrides` win). */
export function checkOptionsFromMonitoring(model: string, monitoring: ModelMonitoring, baseDir: string): DriftCheckOptions {
  return {
    model,
    baseDir,
    current: monitoring.current,
    ...(monitoring.reference ? { reference: monitoring.reference } : {}),
    ...(monitoring.columns ? { columns: monitoring.columns } : {}),
    ...(monitoring.format ? { format: monitoring.format as DatasetFileFormat } : {}),
    ...(monitoring.time_column ? { timeColumn: monitoring.time_column } : {}),
    ...(monitoring.window ? { window: monitoring.window as DriftWindow } : {}),
    ...(monitoring.label ? { labelColumn: monitoring.label } : {}),
    ...(monitoring.prediction ? { predictionColumn: monitoring.prediction } : {}),
    drift: driftOptionsFrom(monitoring),
  };
}

export function driftOptionsFrom(m: {
  method?: DriftMethodChoice;
  threshold?: number;
  thresholds?: DriftOptions['thresholds'];
  drift_share?: number;
}): DriftOptions {
  return {
    ...(m.method ? { method: m.method } : {}),
    ...(m.threshold !== undefined ? { threshold: m.threshold } : {}),
    ...(m.thresholds ? { thresholds: m.thresholds } : {}),
    ...(m.drift_share !== undefined ? { driftShare: m.drift_share } : {}),
  };
}

/** Runs a check and stores it with lineage: the model, the reference dataset version and the current data's digest. */
export async function checkAndStore(store: Store, options: DriftCheckOptions): Promise<{ result: DriftCheckResult; stored: StoredDriftReport }> {
  const result = await runDriftCheck({ ...options, store });
  const { ModelRepository } = await import('../store/models'); // loaded here: `mloop drift` on two files needs no registry
  const modelId = options.model ? new ModelRepository(store).byName(options.model)?.modelId : undefined;
  const body: StoredDriftResult = { ...result, model: options.model ?? null };
  const stored = new DriftReportRepository(store).add({
    modelId: modelId ?? null,
    referenceDatasetVersionId: result.reference.datasetVersionId ?? null,
    currentUri: options.current,
    currentDigest: result.current.digest,
    driftedShare: result.report.drift_share,
    datasetDrift: result.report.dataset_drift,
    result: body,
  });
  return { result, stored };
}

/** One line for a notification or a terminal: "Drift in weather-clf: 3 of 5 features (temp_max: Wasserstein 0.31) · share 0.60 vs threshold 0.50". */
export function driftHeadline(result: DriftCheckResult, model?: string): string {
  const r = result.report;
  const top = r.columns.find((c) => c.status === 'ok' && c.drifted);
  const what = `${r.drifted_columns} of ${r.compared_columns} features`;
  const detail = top ? ` (${top.column}: ${methodLabel(top.method)} ${columnValue(top)})` : '';
  return `${r.dataset_drift ? 'Drift' : 'No dataset drift'}${model ? ` in ${model}` : ''}: ${what}${detail} · ${verdictMargin(r)}`;
}

/**
 * How close the verdict is to flipping, so a borderline one reads as such: "share 0.50 vs threshold 0.50 ·
 * borderline: temp_min (Wasserstein 0.120 vs 0.1) decides it".
 */
export function verdictMargin(
  r: Pick<DriftReport, 'dataset_drift' | 'drift_share' | 'share_threshold' | 'drifted_columns' | 'compared_columns' | 'columns'>,
): string {
  const base = `share ${r.drift_share.toFixed(2)} vs threshold ${r.share_threshold.toFixed(2)}`;
  if (r.compared_columns === 0) return `${base} (no column could be compared)`;
  const flipped = (r.drifted_columns + (r.dataset_drift ? -1 : 1)) / r.compared_columns;
  if (r.dataset_drift ? flipped >= r.share_threshold : flipped < r.share_threshold) return base;
  // the column nearest its own threshold on the deciding side: the weakest drifted one, or the strongest calm one
  const candidates = r.columns.filter((c) => c.status === 'ok' && c.drifted === r.dataset_drift);
  const decider = candidates.reduce<ColumnDrift | undefined>(
    (best, c) => (!best || (r.dataset_drift ? c.score < best.score : c.score > best.score) ? c : best),
    undefined,
  );
  const who = decider
    ? `${decider.column} (${methodLabel(decider.method)} ${columnValue(decider)} vs ${decider.p_value !== null ? 'p < ' : ''}${decider.threshold})`
    : 'one column';
  return `${base} · borderline: ${r.dataset_drift ? `without ${who} it would be no drift` : `${who} drifting too would make it drift`}`;
}

function columnValue(c: ColumnDrift): string {
  return c.p_value !== null ? `p = ${formatStatistic(c.p_value)}` : formatStatistic(c.statistic);
}

export function methodLabel(method: string | null): string {
  switch (method) {
    case 'ks':
      return 'KS';
    case 'psi':
      return 'PSI';
    case 'wasserstein':
      return 'Wasserstein';
    case 'jensenshannon':
      return 'Jensen–Shannon';
    case 'chisquare':
      return 'chi-square';
    default:
      return '—';
  }
}

export function formatStatistic(x: number | null): string {
  if (x === null) return '—';
  if (x === 0) return '0';
  return Math.abs(x) >= 0.01 && Math.abs(x) < 1e4 ? x.toFixed(Math.abs(x) < 1 ? 3 : 2) : x.toExponential(2);
}
