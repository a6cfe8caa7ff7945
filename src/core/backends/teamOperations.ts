import { sendQueuedRequests } from '../governance/teamApprovals';
import { ensureWorkspaceWriter, publishAuditTrail } from '../governance/teamTrail';
import { DeploymentRepository, type DeploymentStatus, type DeploymentStrategy } from '../store/deployments';
import { DriftReportRepository } from '../store/driftReports';
import { MonitoringReportRepository, type MonitoringReportKind } from '../store/monitoringReports';
import type { Store } from '../store/store';
import type { PublishedRollout } from '../gateway/rolloutView';
import type { TeamLedger } from './teamLedger';

/**
 * Deployments and monitoring reports of every workspace, shared through the team's MLflow server (records of the
 * ledger, see teamLedger.ts). A deployment changes state; each state a workspace saw is one more immutable record
 * and readers keep the newest per (workspace, deployment). A monitoring report never changes: one record each.
 */

export interface TeamDeployment {
  /** The workspace that deployed (its writer id) and the deployment's number there. */
  readonly writer: string;
  readonly deploymentId: number;
  readonly modelName: string;
  readonly version: number;
  readonly target: string;
  readonly strategy: DeploymentStrategy;
  readonly trafficPercent: number;
  readonly status: DeploymentStatus;
  readonly createdAt: number;
  readonly updatedAt: number;
  readonly publishedBy: string;
  /**
   * The target's rollout when this state was published (the newest state of a target in a publish carries it): split,
   * traffic and latency over the serving log's window, canary analysis, A/B report, the processes behind the gateway.
   * Absent from records of older mloop versions; their A/B report and processes are absent from some newer ones.
   */
  readonly rollout?: Omit<PublishedRollout, 'ab' | 'replicas'> & Partial<Pick<PublishedRollout, 'ab' | 'replicas'>>;
}

export interface TeamMonitoringReport {
  readonly writer: string;
  readonly monitoringReportId: number;
  readonly modelName: string;
  readonly kind: MonitoringReportKind;
  readonly alert: boolean;
  readonly summary: string;
  /** The report's result as stored; null when it was larger than a record holds (`truncated`). */
  readonly result: unknown;
  readonly truncated: boolean;
  readonly createdAt: number;
  readonly publishedBy: string;
}

/** A drift check of one workspace (drift_report): its verdict, its one-line headline and, when it fits, its full result. */
export interface TeamDriftReport {
  readonly writer: string;
  readonly driftReportId: number;
  /** Null for a check of two files with no model. */
  readonly modelName: string | null;
  readonly datasetDrift: boolean;
  readonly driftedShare: number;
  /** driftHeadline of the check: "Drift in weather-clf: 3 of 5 features (…) · share 0.60 vs threshold 0.50". */
  readonly summary: string;
  /** What was compared with the reference: the current data's path (as that workspace named it) and digest. */
  readonly currentUri: string;
  readonly currentDigest: string | null;
  readonly result: unknown;
  readonly truncated: boolean;
  readonly createdAt: number;
  readonly publishedBy: string;
}

/** Results larger than this go up as their summary only (a record holds ~700 kB). */
const RESULT_MAX = 600_000;

export interface TeamSync {
  readonly writer: string;
  readonly deployments: number;
  readonly reports: number;
  /** Drift checks published (kind `drift` records). */
  readonly driftReports?: number;
  readonly auditEntries: number;
  /** Approval requests made while the server was unreachable, sent now. */
  readonly requests?: number;
}

/** Publishes what the server lacks of this workspace: deployment states, monitoring reports, then the audit chain. */
export async function syncWithTeam(
  store: Store,
  ledger: TeamLedger,
  input: {
    actor: string;
    /** The target's rollout now (rolloutView.ts publishedRollout), sent with the newest state of each target published. */
    rollout?: (target: string) => Promise<PublishedRollout | undefined>;
  },
): Promise<TeamSync> {
  const writer = ensureWorkspaceWriter(store, { actor: input.actor, server: ledger.location });
  // approval requests made while the server was unreachable first: a reviewer is waiting for them
  const requests = await sendQueuedRequests(store, ledger);
  const heldDeployments = new Set((await ledger.read('deployment', { writer })).map((r) => r.key));
  let deployments = 0;
  const states = new DeploymentRepository(store).list().reverse();
  const pending = states.filter((d) => !heldDeployments.has(`${writer}:${d.deploymentId}:${d.updatedAt}:${d.status}`));
  // the newest state to publish of each target carries the target's rollout now
  const newestOfTarget = new Map<string, number>();
  for (const d of pending)
    if ((pending.find((o) => o.deploymentId === newestOfTarget.get(d.target))?.updatedAt ?? -Infinity) <= d.updatedAt)
      newestOfTarget.set(d.target, d.deploymentId);
  for (const d of pending) {
    const key = `${writer}:${d.deploymentId}:${d.updatedAt}:${d.status}`;
    const rollout = input.rollout && newestOfTarget.get(d.target) === d.deploymentId ? await input.rollout(d.target).catch(() => undefined) : undefined;
    const payload: TeamDeployment = {
      writer,
      deploymentId: d.deploymentId,
      modelName: d.modelName,
      version: d.version,
      target: d.target,
      strategy: d.strategy,
      trafficPercent: d.trafficPercent,
      status: d.status,
      createdAt: d.createdAt,
      updatedAt: d.updatedAt,
      publishedBy: input.actor,
      ...(rollout ? { rollout: trimRollout(rollout) } : {}),
    };
    await ledger.write({
      kind: 'deployment',
      key,
      writer,
      at: d.updatedAt,
      payload,
      runName: `deployment ${d.modelName} v${d.version} → ${d.target} (${d.status})`,
    });
    deployments++;
  }
  const heldReports = new Set((await ledger.read('monitoring', { writer })).map((r) => r.key));
  let reports = 0;
  for (const r of new MonitoringReportRepository(store).list().reverse()) {
    const key = `${writer}:${r.monitoringReportId}`;
    if (heldReports.has(key)) continue;
    const truncated = r.resultJson.length > RESULT_MAX;
    const payload: TeamMonitoringReport = {
      writer,
      monitoringReportId: r.monitoringReportId,
      modelName: r.modelName,
      kind: r.kind,
      alert: r.alert,
      summary: r.summary,
      result: truncated ? null : (JSON.parse(r.resultJson) as unknown),
      truncated,
      createdAt: r.createdAt,
      publishedBy: input.actor,
    };
    await ledger.write({ kind: 'monitoring', key, writer, at: r.createdAt, payload, runName: `monitoring ${r.kind} ${r.modelName}` });
    reports++;
  }
  const driftReports = await publishDriftReports(store, ledger, writer, input.actor);
  const audit = await publishAuditTrail(store, ledger, input);
  return { writer, deployments, reports, driftReports, auditEntries: audit.published, requests };
}

/** The drift checks the server lacks of this workspace, one immutable record each (a check never changes). */
async function publishDriftReports(store: Store, ledger: TeamLedger, writer: string, actor: string): Promise<number> {
  const held = new Set((await ledger.read('drift', { writer })).map((r) => r.key));
  const repo = new DriftReportRepository(store);
  // ids first: a workspace's checks pile up (one per scheduled check), and only the new ones' results are read
  const pending = repo.ids().filter((id) => !held.has(`${writer}:${id}`));
  if (pending.length === 0) return 0;
  const { driftHeadline } = await import('../drift/monitor');
  let published = 0;
  for (const id of pending) {
    const r = repo.get(id);
    if (!r) continue;
    const key = `${writer}:${r.driftReportId}`;
    const truncated = r.resultJson.length > RESULT_MAX;
    const result = JSON.parse(r.resultJson) as Parameters<typeof driftHeadline>[0];
    let summary: string;
    try {
      summary = driftHeadline(result, r.modelName ?? undefined);
    } catch {
      // a result of an older shape: the verdict alone
      summary = `${r.datasetDrift ? 'Drift' : 'No dataset drift'}${r.modelName ? ` in ${r.modelName}` : ''}: share ${r.driftedShare.toFixed(2)}`;
    }
    const payload: TeamDriftReport = {
      writer,
      driftReportId: r.driftReportId,
      modelName: r.modelName,
      datasetDrift: r.datasetDrift,
      driftedShare: r.driftedShare,
      summary,
      currentUri: r.currentUri,
      currentDigest: r.currentDigest,
      result: truncated ? null : result,
      truncated,
      createdAt: r.createdAt,
      publishedBy: actor,
    };
    await ledger.write({ kind: 'drift', key, writer, at: r.createdAt, payload, runName: `drift ${r.modelName ?? r.currentUri}`.slice(0, 250) });
    published++;
  }
  return published;
}

/** A rollout fits a record: at most 240 buckets of the timeline, the newest (a record holds ~700 kB). */
function trimRollout(rollout: PublishedRollout): PublishedRollout {
  const keep = 240;
  const { timeline } = rollout;
  if (timeline.starts.length <= keep) return rollout;
  const from = timeline.starts.length - keep;
  return {
    ...rollout,
    timeline: {
      ...timeline,
      starts: timeline.starts.slice(from),
      series: timeline.series.map((s) => ({ ...s, requests: s.requests.slice(from), errors: s.errors.slice(from), p95Ms: s.p95Ms.slice(from) })),
    },
  };
}

/** Every workspace's deployments in their newest published state, newest first. */
export async function listTeamDeployments(ledger: TeamLedger): Promise<TeamDeployment[]> {
  const latest = new Map<string, TeamDeployment>();
  for (const record of await ledger.read<TeamDeployment>('deployment')) {
    if (!record.intact || record.deleted) continue;
    const d = record.payload;
    const id = `${record.writer}:${d.deploymentId}`;
    const held = latest.get(id);
    if (!held || d.updatedAt > held.updatedAt) latest.set(id, { ...d, writer: record.writer });
  }
  return [...latest.values()].sort((a, b) => b.updatedAt - a.updatedAt || a.writer.localeCompare(b.writer) || b.deploymentId - a.deploymentId);
}

/** Every workspace's monitoring reports (one model's when given), newest first. */
export async function listTeamMonitoringReports(ledger: TeamLedger, options: { modelName?: string } = {}): Promise<TeamMonitoringReport[]> {
  const keys = new Set<string>();
  return (
    (await ledger.read<TeamMonitoringReport>('monitoring'))
      .filter((r) => r.intact && !r.deleted && (!options.modelName || r.payload.modelName === options.modelName))
      // a report published twice (two publishers of one workspace racing) is one report
      .filter((r) => !keys.has(r.key) && keys.add(r.key))
      .map((r) => ({ ...r.payload, writer: r.writer }))
      .sort((a, b) => b.createdAt - a.createdAt || a.writer.localeCompare(b.writer) || b.monitoringReportId - a.monitoringReportId)
  );
}

/** Every workspace's drift checks (one model's when given), newest first. */
export async function listTeamDriftReports(ledger: TeamLedger, options: { modelName?: string } = {}): Promise<TeamDriftReport[]> {
  const keys = new Set<string>();
  return (
    (await ledger.read<TeamDriftReport>('drift'))
      .filter((r) => r.intact && !r.deleted && (!options.modelName || r.payload.modelName === options.modelName))
      // a check published twice (two publishers of one workspace racing) is one check
      .filter((r) => !keys.has(r.key) && keys.add(r.key))
      .map((r) => ({ ...r.payload, writer: r.writer }))
      .sort((a, b) => b.createdAt - a.createdAt || a.writer.localeCompare(b.writer) || b.driftReportId - a.driftReportId)
  );
}
