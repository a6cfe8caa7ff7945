// No vscode import: the view of one model is built from the store alone, so plain-Node unit tests can check it.
import type { StoredDriftResult } from '../../core/drift/monitor';
import { driftHeadline, verdictMargin } from '../../core/drift/monitor';
import type { EstimatedPerformanceReport } from '../../core/monitoring/estimatedPerformance';
import type { ColumnFairness, FairnessReport } from '../../core/monitoring/fairness';
import type { PerformanceReport } from '../../core/monitoring/performance';
import type { ServiceHealthReport } from '../../core/monitoring/serviceHealth';
import type { Estimate } from '../../core/monitoring/statistics';
import { DeploymentRepository } from '../../core/store/deployments';
import { DriftReportRepository, type StoredDriftReport } from '../../core/store/driftReports';
import { MonitoringReportRepository, type MonitoringReportKind, type StoredMonitoringReport } from '../../core/store/monitoringReports';
import { ServiceCheckRepository } from '../../core/store/serviceChecks';
import type { Store } from '../../core/store/store';
import { latestWindowImportance } from '../../core/evaluation/windowImportance';
import type {
  DriftDetailsView,
  ImportanceTimelineView,
  MonitoringGroupView,
  MonitoringView,
  MonitoringWindowView,
  ServiceSeriesView,
  TeamReportsView,
  WindowDetailsView,
} from '../../protocol/monitoringMessages';

const DAY_MS = 86_400_000;
/** Service checks drawn: the newest this many (a check a minute is a day). */
const SERVICE_POINTS = 1_440;
const DRIFT_HISTORY = 200;

/** The checks that failed in a model's latest check by the editor (DriftMonitor.checkErrors), and when. */
export interface FailedChecks {
  readonly at: number;
  readonly errors: readonly { readonly check: string; readonly message: string }[];
}

export interface MonitoringSelection {
  /** The clicked window. */
  readonly window?: string | null;
  /** The drift report whose columns the details show (default: the newest of the model). */
  readonly driftReportId?: number;
}

const newest = (reports: readonly StoredMonitoringReport[], kind: MonitoringReportKind): StoredMonitoringReport | undefined =>
  reports.find((r) => r.kind === kind);

/** The model a stored drift report belongs to: its registered model, else the monitoring entry it was checked for. */
export function driftReportModel(stored: StoredDriftReport): string | null {
  return stored.modelName ?? (JSON.parse(stored.resultJson) as StoredDriftResult).model ?? null;
}

/**
 * One model's monitoring from its stored reports (whoever wrote them: the editor's schedule, Check Drift…, or a
 * headless `mloop monitor`): timelines of realised and estimated performance, drift share, per-group accuracy and
 * the service serving it, the alerts, and the details of the selected window. undefined when nothing was checked.
 */
export function monitoringView(
  store: Store,
  model: string | null,
  selection: MonitoringSelection,
  options: {
    retrainAvailable: boolean;
    now?: number;
    checkErrors?: FailedChecks | undefined;
  },
): MonitoringView | undefined {
  const reports = model === null ? [] : new MonitoringReportRepository(store).list({ modelName: model, limit: 50 });
  const driftRepo = new DriftReportRepository(store);
  const driftRows = model === null ? [] : driftRepo.listForModel(model, DRIFT_HISTORY);
  const shownDrift =
    (selection.driftReportId !== undefined ? driftRepo.get(selection.driftReportId) : undefined) ?? (driftRows[0] as StoredDriftReport | undefined);
  const service = model === null ? null : serviceSeries(store, model, options.now ?? Date.now());
  const performanceRow = newest(reports, 'performance');
  const estimatedRow = newest(reports, 'estimated_performance');
  const fairnessRow = newest(reports, 'fairness');
  const failed = options.checkErrors;
  if (!performanceRow && !estimatedRow && !fairnessRow && !shownDrift && !service && !failed?.errors.length) return undefined;
  const performance = performanceRow && (JSON.parse(performanceRow.resultJson) as PerformanceReport);
  const estimated = estimatedRow && (JSON.parse(estimatedRow.resultJson) as EstimatedPerformanceReport);
  const fairness = fairnessRow && (JSON.parse(fairnessRow.resultJson) as FairnessReport);
  const driftResult = shownDrift && (JSON.parse(shownDrift.resultJson) as StoredDriftResult);
  const regression = performance ? performance.task === 'regression' : (driftResult?.windows ?? []).some((w) => w.performance?.rmse !== undefined);
  const metric = regression ? 'rmse' : 'accuracy';

  const windows = new Map<string, MonitoringWindowView & { alerts: string[] }>();
  const at = (start: string) => {
    let w = windows.get(start);
    if (!w) windows.set(start, (w = { start, alerts: [] }));
    return w;
  };
  for (const w of performance?.windows ?? []) {
    const e = w.metrics[metric as 'accuracy'];
    if (w.status === 'ok' && e && Number.isFinite(e.value)) at(w.start).realised = { value: e.value, lower: e.lower, upper: e.upper, n: w.n };
    else at(w.start);
  }
  if (metric === 'accuracy')
    for (const w of estimated?.windows ?? []) {
      const e = w.metrics.accuracy;
      if (w.status === 'ok' && e) at(w.start).estimated = { value: e.value, lower: e.lower, upper: e.upper, n: w.n };
      else at(w.start);
    }
  for (const w of driftResult?.windows ?? []) {
    at(w.start).driftShare = w.drift_share;
    // a label column in the predictions log: the drift check's own performance per window (no interval) when no labels: check ran
    const own = metric === 'rmse' ? w.performance?.rmse : w.performance?.accuracy;
    if (!performance && own !== undefined && Number.isFinite(own)) at(w.start).realised = { value: own, lower: null, upper: null, n: w.performance!.rows };
  }

  const alerts: MonitoringView['alerts'] = [];
  const reportAlerts = (
    row: StoredMonitoringReport | undefined,
    body: { alerts: readonly { window?: string; message: string; metric: string }[] } | undefined,
    check: string,
  ) => {
    for (const a of body?.alerts ?? []) {
      if (a.window) at(a.window).alerts.push(a.message);
      alerts.push({ check, message: a.message, ...(a.window ? { window: a.window } : {}), report: { kind: 'monitoring', id: row!.monitoringReportId } });
    }
  };
  reportAlerts(performanceRow, performance, 'performance');
  reportAlerts(estimatedRow, estimated, 'estimated performance');
  reportAlerts(fairnessRow, fairness, 'fairness');
  const latestDrift = driftRows[0];
  if (latestDrift?.datasetDrift)
    alerts.push({
      check: 'drift',
      message: `dataset drift in the latest check (share ${latestDrift.driftedShare.toFixed(2)}, report #${latestDrift.driftReportId})`,
      report: { kind: 'drift', id: latestDrift.driftReportId },
    });
  for (const w of driftResult?.windows ?? []) if (w.dataset_drift) at(w.start).alerts.push(`dataset drift (share ${w.drift_share.toFixed(2)})`);
  const latestService = service?.latest;
  if (latestService && (latestService.alert || !latestService.up))
    alerts.push({ check: 'service', message: `${service.view.target}: ${latestService.detail}`, report: { kind: 'service', id: latestService.id } });

  const sorted = [...windows.values()].sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
  const selectedWindow = selection.window && windows.has(selection.window) ? selection.window : null;
  return {
    model,
    metric,
    checkedAt:
      Math.max(
        performanceRow?.createdAt ?? 0,
        estimatedRow?.createdAt ?? 0,
        fairnessRow?.createdAt ?? 0,
        latestDrift?.createdAt ?? shownDrift?.createdAt ?? 0,
        service?.view.checks.at(-1)?.checkedAt ?? 0,
      ) || null,
    windows: sorted,
    drift: [...driftRows]
      .reverse()
      .map((r) => ({ reportId: r.driftReportId, createdAt: r.createdAt, driftShare: r.driftedShare, datasetDrift: r.datasetDrift })),
    fairness: (fairness?.columns ?? []).map(groupView),
    groupSeries: groupSeries(fairness),
    service: service?.view ?? null,
    importance: model === null ? null : importanceTimeline(store, model),
    alerts,
    ...(failed?.errors.length ? { checkErrors: failed.errors.map((e) => ({ check: e.check, message: e.message, checkedAt: failed.at })) } : {}),
    calibration: (estimated?.calibration ?? []).map((c) => ({
      class: c.class,
      applied: c.applied,
      eceBefore: finite(c.ece_before),
      eceAfter: finite(c.ece_after),
    })),
    summaries: [performanceRow, estimatedRow, fairnessRow].flatMap((r) => (r ? [{ kind: r.kind, summary: r.summary, createdAt: r.createdAt }] : [])),
    selectedWindow,
    details: selectedWindow ? windowDetails(selectedWindow, performance, estimated, fairness, windows.get(selectedWindow)!.alerts) : null,
    driftDetails: shownDrift && driftResult ? driftDetails(shownDrift, driftResult, selectedWindow) : null,
    retrainAvailable: options.retrainAvailable,
    rollbackTarget: model === null ? null : (servingTargets(store, model)[0] ?? null),
  };
}

/** Targets this model was ever deployed to (the deployments table is small). */
function targetsThatServed(store: Store, model: string): string[] {
  return [
    ...new Set(
      new DeploymentRepository(store)
        .list()
        .filter((d) => d.modelName === model)
        .map((d) => d.target),
    ),
  ];
}

/** Targets whose current deployment serves this model. */
function servingTargets(store: Store, model: string): string[] {
  const deployments = new DeploymentRepository(store);
  return targetsThatServed(store, model).filter((t) => deployments.current(t)?.modelName === model);
}

function serviceSeries(
  store: Store,
  model: string,
  now: number,
): { view: ServiceSeriesView; latest: { id: number; up: boolean; alert: boolean; detail: string } | undefined } | null {
  // the targets that served this model, then their checks through the target index
  const targets = targetsThatServed(store, model);
  if (targets.length === 0) return null;
  const target = servingTargets(store, model)[0] ?? targets[0]!;
  const repo = new ServiceCheckRepository(store);
  const checks = repo.list(target, { limit: SERVICE_POINTS }).filter((c) => c.modelName === model);
  if (checks.length === 0) return null;
  const uptime = repo.uptime(target, now - DAY_MS);
  const latest = checks[0]!;
  // a check of a deployment the target no longer serves (restarted, redeployed or rolled back since) says nothing
  // about what serves now: its DOWN stays in the chart, not in the alerts (the next check says how the new one is)
  const current = new DeploymentRepository(store).current(target);
  const superseded = current !== undefined && latest.deploymentId !== null && latest.deploymentId !== current.deploymentId;
  return {
    view: {
      target,
      uptime: uptime.ratio,
      checks: [...checks].reverse().map((c) => {
        const stats = (JSON.parse(c.resultJson) as ServiceHealthReport).serving?.all;
        return {
          checkedAt: c.checkedAt,
          up: c.up,
          alert: c.alert,
          detail: c.detail,
          p50: stats?.p50_ms ?? null,
          p95: stats?.p95_ms ?? null,
          p99: stats?.p99_ms ?? null,
          errorRate: stats?.error_rate ?? null,
          requests: stats?.requests ?? 0,
        };
      }),
    },
    latest: superseded ? undefined : { id: latest.serviceCheckId, up: latest.up, alert: latest.alert, detail: latest.detail },
  };
}

function groupView(c: ColumnFairness): MonitoringGroupView {
  return {
    column: c.column,
    parityDifference: c.demographic_parity_difference,
    parityRatio: c.demographic_parity_ratio,
    equalizedOddsDifference: c.equalized_odds_difference,
    groups: c.groups.map((g) => ({
      group: g.group,
      n: g.n,
      selectionRate: finite(g.selection_rate.value),
      accuracy: estimateView(g.accuracy),
      tpr: g.true_positive_rate.n === 0 ? null : estimateView(g.true_positive_rate),
      fpr: g.false_positive_rate.n === 0 ? null : finite(g.false_positive_rate.value),
    })),
  };
}

/** Each group's accuracy and TPR per window (reports written before fairness had windows have none). */
function groupSeries(fairness: FairnessReport | undefined): MonitoringView['groupSeries'] {
  const windows = fairness?.windows ?? [];
  if (windows.length < 2) return [];
  const series = new Map<string, MonitoringView['groupSeries'][number]>();
  for (const w of windows)
    for (const c of w.columns)
      for (const g of c.groups) {
        const key = `${c.column}\u0000${g.group}`;
        let s = series.get(key);
        if (!s) series.set(key, (s = { column: c.column, group: g.group, points: [] }));
        s.points.push({
          start: w.start,
          accuracy: w.status === 'ok' ? finite(g.accuracy.value) : null,
          tpr: w.status === 'ok' && g.true_positive_rate.n > 0 ? finite(g.true_positive_rate.value) : null,
          n: g.n,
        });
      }
  return [...series.values()];
}

function windowDetails(
  start: string,
  performance: PerformanceReport | undefined,
  estimated: EstimatedPerformanceReport | undefined,
  fairness: FairnessReport | undefined,
  alerts: readonly string[],
): WindowDetailsView {
  const realised = performance?.windows.find((w) => w.start === start);
  const guess = estimated?.windows.find((w) => w.start === start);
  const names = [...new Set([...Object.keys(realised?.metrics ?? {}), ...Object.keys(guess?.metrics ?? {})])];
  return {
    start,
    n: realised?.n ?? guess?.n ?? null,
    status: realised?.status ?? guess?.status ?? null,
    metrics: names.map((metric) => ({
      metric,
      realised: estimateView((realised?.metrics as Record<string, Estimate | null | undefined> | undefined)?.[metric]),
      estimated: estimateView((guess?.metrics as Record<string, Estimate | null | undefined> | undefined)?.[metric]),
    })),
    fairness: (fairness?.windows?.find((w) => w.start === start)?.columns ?? []).map(groupView),
    alerts: [...alerts],
  };
}

function driftDetails(stored: StoredDriftReport, result: StoredDriftResult, window: string | null): DriftDetailsView {
  const ref = result.reference;
  const scores = window ? result.windows.find((w) => w.start === window)?.scores : undefined;
  return {
    reportId: stored.driftReportId,
    createdAt: stored.createdAt,
    headline: driftHeadline(result, stored.modelName ?? result.model ?? undefined),
    referenceLabel: ref.dataset ? `${ref.dataset} @ ${ref.digest?.slice(0, 12) ?? '?'}${ref.kind === 'dataset-profile' ? ' (stored profile)' : ''}` : ref.path,
    currentLabel: stored.currentUri,
    datasetDrift: result.report.dataset_drift,
    driftShare: result.report.drift_share,
    shareThreshold: result.report.share_threshold,
    margin: verdictMargin(result.report),
    referenceRows: result.report.reference_rows,
    currentRows: result.report.current_rows,
    columns: result.report.columns.map((c) => ({
      column: c.column,
      type: c.type,
      method: c.method,
      statistic: finite(c.statistic),
      pValue: finite(c.p_value),
      threshold: c.threshold,
      drifted: c.drifted,
      status: c.status,
      ...(c.reason ? { reason: c.reason } : {}),
      score: Number.isFinite(c.score) ? c.score : Number.MAX_VALUE,
      ...(scores && typeof scores[c.column] === 'number' && Number.isFinite(scores[c.column]) ? { windowScore: scores[c.column]! } : {}),
      ...(c.unseen_categories ? { unseenCategories: [...c.unseen_categories] } : {}),
      ...(c.histogram
        ? {
            histogram: {
              reference: [...c.histogram.reference],
              current: [...c.histogram.current],
              ...(c.histogram.edges ? { edges: [...c.histogram.edges] } : {}),
              ...(c.histogram.categories ? { categories: [...c.histogram.categories] } : {}),
            },
          }
        : {}),
    })),
  };
}

const estimateView = (e: Estimate | null | undefined): { value: number; lower: number | null; upper: number | null } | null =>
  e && Number.isFinite(e.value) ? { value: e.value, lower: finite(e.lower), upper: finite(e.upper) } : null;

const finite = (x: number | null | undefined): number | null => (typeof x === 'number' && Number.isFinite(x) ? x : null);

/** The newest `mloop importance` of the model: one line per feature over its windows, the features by their largest importance. */
export function importanceTimeline(store: Store, model: string): ImportanceTimelineView | null {
  const r = latestWindowImportance(store, model);
  if (!r || r.windows.length === 0) return null;
  const features = r.features
    .map((feature, k) => ({
      feature,
      mean: r.windows.map((w) => w.mean[k] ?? null),
      std: r.windows.map((w) => w.std[k] ?? null),
      peak: Math.max(...r.windows.map((w) => w.mean[k] ?? Number.NEGATIVE_INFINITY)),
    }))
    .sort((a, b) => b.peak - a.peak || (a.feature < b.feature ? -1 : 1))
    .map(({ feature, mean, std }) => ({ feature, mean, std }));
  return {
    version: r.version,
    seed: r.seed,
    scoring: r.scoring,
    createdAt: r.createdAt,
    windows: r.windows.map((w) => ({ start: w.window, rows: w.rows })),
    features,
  };
}

/**
 * Teammates' published reports as lines to chart: per workspace and kind (realised performance, CBPE estimate) the
 * windows of its newest report of that kind that carries its result, the metric the task reads (accuracy, or rmse for
 * a regression). Reports too large to publish (`truncated`, result null) have no windows to draw.
 */
export function teamReportSeries(
  reports: readonly { writer: string; publishedBy: string; kind: string; result: unknown; createdAt: number }[],
): NonNullable<TeamReportsView['series']> {
  const out: NonNullable<TeamReportsView['series']> = [];
  const seen = new Set<string>();
  for (const r of [...reports].sort((a, b) => b.createdAt - a.createdAt)) {
    if ((r.kind !== 'performance' && r.kind !== 'estimated_performance') || r.result === null || typeof r.result !== 'object') continue;
    const key = `${r.writer}\u0000${r.kind}`;
    if (seen.has(key)) continue;
    const body = r.result as { task?: string; windows?: readonly { start: string; n: number; status: string; metrics?: Record<string, Estimate | null> }[] };
    const metric = body.task === 'regression' ? 'rmse' : 'accuracy';
    const points = (body.windows ?? [])
      .map((w) => ({ w, e: w.metrics?.[metric] }))
      .filter(({ w, e }) => w.status === 'ok' && e && Number.isFinite(e.value))
      .map(({ w, e }) => ({ start: w.start, value: e!.value, lower: e!.lower ?? null, upper: e!.upper ?? null, n: w.n }));
    if (points.length === 0) continue;
    seen.add(key);
    out.push({ workspace: r.writer, publishedBy: r.publishedBy, kind: r.kind, metric, createdAt: r.createdAt, points });
  }
  return out;
}

/**
 * Teammates' fairness as this workspace's own is drawn: per workspace, its newest published fairness report that
 * carries its result (a report too large to publish has none), over all its labelled rows, with the thresholds it was
 * judged against and its alerts.
 */
export function teamFairness(
  reports: readonly { writer: string; publishedBy: string; kind: string; result: unknown; createdAt: number }[],
): NonNullable<TeamReportsView['fairness']> {
  const out: NonNullable<TeamReportsView['fairness']> = [];
  const seen = new Set<string>();
  for (const r of [...reports].sort((a, b) => b.createdAt - a.createdAt)) {
    if (r.kind !== 'fairness' || seen.has(r.writer) || r.result === null || typeof r.result !== 'object') continue;
    const body = r.result as Partial<FairnessReport>;
    if (!Array.isArray(body.columns)) continue;
    seen.add(r.writer);
    out.push({
      workspace: r.writer,
      publishedBy: r.publishedBy,
      createdAt: r.createdAt,
      positiveClass: String(body.positive_class ?? ''),
      n: typeof body.n === 'number' ? body.n : 0,
      columns: body.columns.map(groupView),
      thresholds: Object.entries(body.thresholds ?? {}).flatMap(([metric, b]) =>
        b ? [{ metric, min: typeof b.min === 'number' ? b.min : null, max: typeof b.max === 'number' ? b.max : null }] : [],
      ),
      alerts: (body.alerts ?? []).map((a) => a.message),
    });
  }
  return out;
}
