import { ModelRepository } from '../store/models';
import { DeploymentRepository } from '../store/deployments';
import { RunRepository } from '../store/runs';
import type { Store } from '../store/store';
import { ModelEvaluationRepository } from '../store/evaluations';
import { EnvironmentRepository } from '../store/environments';
import { environmentFacts } from '../runs/environment';
import type { ModelEvaluation } from '../evaluation/evaluate';
import type { CardSection } from '../config/schema';
import { lineageGraph } from '../lineage/graph';
import { DriftReportRepository } from '../store/driftReports';
import { MonitoringReportRepository, type MonitoringReportKind } from '../store/monitoringReports';
import { ServiceCheckRepository } from '../store/serviceChecks';
import { listRequests } from './approvals';
import { blocksToHtml, blocksToMarkdown, graph, heading, list, table, text, type CardBlock } from './cardDocument';

/**
 * A model card built only from what the store holds about one version (issue 21): no clock, no host, keys and rows
 * in a fixed order, so the same store gives the same bytes (a card diff shows what changed).
 */
export interface ModelCard {
  readonly model: string;
  readonly version: number;
  readonly uri: string;
  readonly registeredAt: string;
  readonly description: string | null;
  /** The model's `card:` section of mloop.yaml (null: it has none). */
  readonly intendedUse: {
    readonly intendedUse: string | null;
    readonly intendedUsers: readonly string[];
    readonly limitations: readonly string[];
    readonly outOfScope: readonly string[];
    readonly ethicalConsiderations: readonly string[];
  } | null;
  readonly aliases: readonly string[];
  readonly artifact: { readonly path: string | null; readonly digest: string | null };
  readonly training: {
    readonly runId: string;
    readonly runName: string;
    readonly pipeline: string | null;
    readonly command: string | null;
    readonly commit: string | null;
    readonly uncommittedChanges: boolean | null;
    readonly status: string;
    readonly startedAt: string;
    readonly endedAt: string | null;
    readonly params: Readonly<Record<string, string>>;
    readonly data: readonly { dataset: string; digest: string; path: string; rows: number | null; context: string }[];
  } | null;
  readonly metrics: Readonly<Record<string, number>>;
  readonly gate: {
    readonly passed: boolean;
    readonly checks: readonly { rule: string; passed: boolean; detail: string }[];
    readonly championVersion: number | null;
  } | null;
  /** The prediction tests run in the gate against the registered artifact (null: the model has none). */
  readonly predictionTests: {
    readonly passed: boolean;
    readonly summary: string;
    readonly cases: readonly { kind: string; name: string; expected: string; actual: string; passed: boolean }[];
  } | null;
  /** What the training run started with: Python, OS, CPU, packages, allow-listed env (null: not recorded). */
  readonly environment: { readonly digest: string; readonly facts: Readonly<Record<string, string>> } | null;
  /** The newest stored evaluation of the version (`mloop evaluate`), null when it was never evaluated. */
  readonly evaluation: {
    readonly dataset: string;
    readonly digest: string;
    readonly rows: number;
    readonly metrics: Readonly<Record<string, { value: number; lower: number | null; upper: number | null } | null>>;
    /** Per sensitive column over every row: the disparities of the monitoring definitions. */
    readonly fairness: readonly {
      column: string;
      demographicParityDifference: number;
      demographicParityRatio: number | null;
      equalizedOddsDifference: number;
    }[];
    /** Permutation importance, largest first. */
    readonly importance: readonly { feature: string; mean: number; std: number }[];
  } | null;
  readonly approvals: readonly {
    requestId: number;
    change: string;
    status: string;
    requestedBy: string;
    requestedAt: string;
    decisions: readonly { reviewer: string; decision: string; comment: string; at: string }[];
  }[];
  readonly deployments: readonly { deploymentId: number; target: string; strategy: string; trafficPercent: number; status: string; at: string }[];
  readonly audit: readonly { auditId: number; at: string; actor: string; action: string; entity: string; change: string; reason: string | null }[];
  /**
   * The newest stored report of each monitoring check of the model (drift, performance, estimated performance,
   * fairness) and of each target serving this version (health); `alerts` names the checks whose newest report alerts.
   */
  readonly monitoring: {
    readonly checks: readonly MonitoringCheckSummary[];
    readonly alerts: readonly string[];
  };
  /** Data versions → runs (and code) → this version → its deployments, read from the store's keys. */
  readonly lineage: {
    readonly nodes: readonly { id: string; kind: string; label: string; detail: string; depth: number }[];
    readonly edges: readonly { from: string; to: string; relation: string }[];
  };
}

export interface MonitoringCheckSummary {
  readonly check: 'drift' | MonitoringReportKind | 'health';
  /** What was checked: the model, or the target for health. */
  readonly subject: string;
  readonly at: string;
  readonly alert: boolean;
  readonly summary: string;
}

/** Hops of lineage a card shows around its version: data → (stage runs) → run → version → deployments. */
export const CARD_LINEAGE_DEPTH = 3;

const iso = (ms: number): string => new Date(ms).toISOString();
const sorted = <T>(record: Readonly<Record<string, T>>): Record<string, T> =>
  Object.fromEntries(Object.entries(record).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));

export class ModelCardError extends Error {
  override readonly name = 'ModelCardError';
}

export interface ModelCardOptions {
  /** The model's `card:` section of mloop.yaml. */
  readonly card?: CardSection;
}

const asList = (value: string | readonly string[] | undefined): string[] => (value === undefined ? [] : typeof value === 'string' ? [value] : [...value]);

export function buildModelCard(store: Store, ref: { modelName: string; version?: number; alias?: string }, options: ModelCardOptions = {}): ModelCard {
  const models = new ModelRepository(store);
  const model = models.byName(ref.modelName);
  if (!model) throw new ModelCardError(`no registered model "${ref.modelName}"`);
  // "latest" is the newest version, as in MLflow (which reserves the alias name)
  const version =
    ref.alias === 'latest'
      ? models.versions(model.modelId)[0]
      : ref.alias
        ? models.versionByAlias(model.modelId, ref.alias)
        : ref.version !== undefined
          ? models.version(model.modelId, ref.version)
          : undefined;
  if (!version) throw new ModelCardError(`${ref.modelName} has no ${ref.alias ? `alias @${ref.alias}` : `version ${ref.version}`}`);
  const details = models.versionDetails(version.modelVersionId);
  const runs = new RunRepository(store);
  const run = version.sourceRunId ? runs.get(version.sourceRunId) : undefined;
  const data = run
    ? (
        store.db
          .prepare(
            `SELECT d.name AS dataset, v.digest, v.path, v.row_count AS rows, i.context FROM run_input i
             JOIN dataset_version v USING (dataset_version_id) JOIN dataset d USING (dataset_id) WHERE i.run_id = ? ORDER BY d.name, v.digest`,
          )
          .all(run.runId) as { dataset: string; digest: string; path: string; rows: number | null; context: string }[]
      ).map((d) => ({ ...d }))
    : [];
  const gate = details.gate as {
    passed?: boolean;
    checks?: { rule: string; passed: boolean; detail: string }[];
    championVersion?: number | null;
    predictionTests?: { passed: boolean; summary: string; cases: { kind: string; name: string; expected: string; actual: string; passed: boolean }[] };
  } | null;
  const environment = run ? new EnvironmentRepository(store).forRun(run.runId) : undefined;
  const stored = new ModelEvaluationRepository(store).latest(version.modelVersionId);
  const entity = `${model.name}/${version.version}`;
  const audit = (
    store.db
      .prepare(
        `SELECT audit_id, at, actor, action, entity_id, from_value, to_value, reason FROM audit
         WHERE entity_id = ? OR (entity_id LIKE ? ESCAPE '\\' AND (to_value = ? OR from_value = ?)) ORDER BY audit_id`,
      )
      .all(entity, `${model.name.replace(/[\\%_]/g, (c) => `\\${c}`)}@%`, `v${version.version}`, `v${version.version}`) as {
      audit_id: number;
      at: number;
      actor: string;
      action: string;
      entity_id: string;
      from_value: string | null;
      to_value: string | null;
      reason: string | null;
    }[]
  ).map((a) => ({
    auditId: a.audit_id,
    at: iso(a.at),
    actor: a.actor,
    action: a.action,
    entity: a.entity_id,
    change: `${a.from_value ?? '∅'} → ${a.to_value ?? '∅'}`,
    reason: a.reason,
  }));
  return {
    model: model.name,
    version: version.version,
    uri: `models:/${model.name}/${version.version}`,
    registeredAt: iso(version.createdAt),
    description: version.description ?? null,
    intendedUse: options.card
      ? {
          intendedUse: options.card.intended_use ?? null,
          intendedUsers: asList(options.card.intended_users),
          limitations: asList(options.card.limitations),
          outOfScope: asList(options.card.out_of_scope),
          ethicalConsiderations: asList(options.card.ethical_considerations),
        }
      : null,
    aliases: [...version.aliases].sort(),
    artifact: { path: version.artifactPath ?? null, digest: version.artifactDigest ?? null },
    training: run
      ? {
          runId: run.runId,
          runName: run.name,
          pipeline: run.pipeline,
          command: run.command,
          commit: run.gitCommit,
          uncommittedChanges: run.gitDirty,
          status: run.status,
          startedAt: iso(run.startTime),
          endedAt: run.endTime === null ? null : iso(run.endTime),
          params: sorted(runs.params(run.runId)),
          data,
        }
      : null,
    metrics: sorted(details.metrics),
    gate: gate ? { passed: gate.passed === true, checks: gate.checks ?? [], championVersion: gate.championVersion ?? null } : null,
    predictionTests: gate?.predictionTests
      ? {
          passed: gate.predictionTests.passed,
          summary: gate.predictionTests.summary,
          cases: gate.predictionTests.cases.map((c) => ({ kind: c.kind, name: c.name, expected: c.expected, actual: c.actual, passed: c.passed })),
        }
      : null,
    environment: environment ? { digest: environment.digest, facts: sorted(environmentFacts(environment.document)) } : null,
    evaluation: stored ? evaluationSummary(JSON.parse(stored.resultJson) as ModelEvaluation) : null,
    approvals: listRequests(store, { now: 0 })
      .filter((r) => r.modelName === model.name && r.version === version.version)
      .sort((a, b) => a.requestId - b.requestId)
      .map((r) => ({
        requestId: r.requestId,
        change: r.kind === 'promote' ? `promote to @${r.subject}` : `deploy to ${r.subject}`,
        // the stored state: "expired" depends on the clock, which a deterministic card leaves out
        status: r.status,
        requestedBy: r.requestedBy,
        requestedAt: iso(r.requestedAt),
        decisions: r.decisions.map((d) => ({ reviewer: d.reviewer, decision: d.decision, comment: d.comment, at: iso(d.decidedAt) })),
      })),
    deployments: new DeploymentRepository(store)
      .list()
      .filter((d) => d.modelVersionId === version.modelVersionId)
      .sort((a, b) => a.deploymentId - b.deploymentId)
      .map((d) => ({
        deploymentId: d.deploymentId,
        target: d.target,
        strategy: d.strategy,
        trafficPercent: d.trafficPercent,
        status: d.status,
        at: iso(d.createdAt),
      })),
    audit,
    monitoring: monitoringSummary(store, model, version),
    lineage: cardLineage(store, version.modelVersionId),
  };
}

function monitoringSummary(
  store: Store,
  model: { modelId: number; name: string },
  version: { version: number; modelVersionId: number },
): ModelCard['monitoring'] {
  const checks: MonitoringCheckSummary[] = [];
  const drift = new DriftReportRepository(store).list({ modelId: model.modelId, limit: 1 })[0];
  if (drift)
    checks.push({
      check: 'drift',
      subject: model.name,
      at: iso(drift.createdAt),
      alert: drift.datasetDrift,
      summary: `${cardNumber(drift.driftedShare * 100)}% of columns drifted${drift.datasetDrift ? ': dataset drift' : ''} (report #${drift.driftReportId})`,
    });
  const reports = new MonitoringReportRepository(store);
  for (const kind of ['performance', 'estimated_performance', 'fairness'] as const) {
    const r = reports.list({ modelName: model.name, kind, limit: 1 })[0];
    if (r) checks.push({ check: kind, subject: model.name, at: iso(r.createdAt), alert: r.alert, summary: r.summary });
  }
  const targets = store.db
    .prepare('SELECT DISTINCT target FROM deployment WHERE model_version_id = ? ORDER BY target')
    .pluck()
    .all(version.modelVersionId) as string[];
  const services = new ServiceCheckRepository(store);
  for (const target of targets) {
    const c = services.list(target, { limit: 50 }).find((x) => x.modelName === model.name && x.version === version.version);
    if (c) checks.push({ check: 'health', subject: target, at: iso(c.checkedAt), alert: c.alert, summary: `${c.up ? 'up' : 'down'}: ${c.detail}` });
  }
  return { checks, alerts: checks.filter((c) => c.alert).map((c) => (c.check === 'health' ? `health of ${c.subject}` : c.check)) };
}

function cardLineage(store: Store, modelVersionId: number): ModelCard['lineage'] {
  const g = lineageGraph(store, `model:${modelVersionId}`, { depth: CARD_LINEAGE_DEPTH });
  const byId = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
  return {
    nodes: g.nodes
      .map((n) => ({ id: n.id, kind: n.kind, label: n.label, detail: n.detail, depth: n.depth }))
      .sort((a, b) => a.depth - b.depth || byId(a.id, b.id)),
    edges: g.edges.map((e) => ({ from: e.from, to: e.to, relation: e.relation })).sort((a, b) => byId(a.from, b.from) || byId(a.to, b.to)),
  };
}

function evaluationSummary(e: ModelEvaluation): NonNullable<ModelCard['evaluation']> {
  const pi = e.permutationImportance;
  return {
    dataset: e.dataset.name,
    digest: e.dataset.digest,
    rows: e.rows,
    metrics: sorted(Object.fromEntries(Object.entries(e.metrics).map(([k, m]) => [k, m ? { value: m.value, lower: m.lower, upper: m.upper } : null]))),
    fairness: (e.fairness?.columns ?? []).map((c) => ({
      column: c.column,
      demographicParityDifference: c.demographic_parity_difference,
      demographicParityRatio: c.demographic_parity_ratio,
      equalizedOddsDifference: c.equalized_odds_difference,
    })),
    importance: pi.features
      .map((feature, i) => ({ feature, mean: pi.mean[i]!, std: pi.std[i]! }))
      .sort((a, b) => b.mean - a.mean || (a.feature < b.feature ? -1 : a.feature > b.feature ? 1 : 0)),
  };
}

/** A number as cards print it: at most 4 decimals, so float noise does not change the bytes. */
export const cardNumber = (x: number | null): string => (x === null ? '—' : String(Number(x.toFixed(4))));

/** The few facts a reader scans for; the JSON keeps every package. */
export function environmentSummary(env: ModelCard['environment']): { python: string; os: string; cpu: string; packages: number } | null {
  if (!env) return null;
  const f = env.facts;
  return { python: f.python ?? '—', os: f.os ?? '—', cpu: f.cpu ?? '—', packages: Object.keys(f).filter((k) => k.startsWith('package:')).length };
}

function intendedUseBlocks(u: ModelCard['intendedUse']): CardBlock[] {
  if (!u) return [text('Not stated: add a `card:` section for this model to mloop.yaml (intended_use, limitations, out_of_scope, ethical_considerations).')];
  const section = (title: string, items: readonly string[]): CardBlock[] => (items.length ? [heading(3, title), list(items)] : []);
  return [
    text(u.intendedUse ?? 'Intended use: not stated.'),
    ...section('Intended users', u.intendedUsers),
    ...section('Limitations', u.limitations),
    ...section('Out of scope', u.outOfScope),
    ...section('Ethical considerations', u.ethicalConsiderations),
  ];
}

function environmentBlocks(env: ModelCard['environment']): CardBlock[] {
  const s = environmentSummary(env);
  if (!s) return [text('Not recorded.')];
  return [list([`Python: ${s.python}`, `OS: ${s.os}`, `CPU: ${s.cpu}`, `Packages: ${s.packages} (environment \`${env!.digest.slice(0, 12)}\`)`])];
}

function evaluationBlocks(e: ModelCard['evaluation']): CardBlock[] {
  if (!e) return [text('Not evaluated (run `mloop evaluate`).')];
  return [
    text(`On ${e.dataset} \`${e.digest.slice(0, 12)}\` (${e.rows} rows); 95% intervals.`),
    table(
      ['metric', 'value', 'interval'],
      Object.entries(e.metrics).map(([k, m]) => [
        k,
        m ? cardNumber(m.value) : null,
        m && m.lower !== null ? `${cardNumber(m.lower)} – ${cardNumber(m.upper)}` : null,
      ]),
    ),
    heading(3, 'Group fairness'),
    table(
      ['column', 'demographic parity difference', 'ratio', 'equalized odds difference'],
      e.fairness.map((f) => [f.column, cardNumber(f.demographicParityDifference), cardNumber(f.demographicParityRatio), cardNumber(f.equalizedOddsDifference)]),
      'No sensitive columns (monitoring groups) were evaluated.',
    ),
    heading(3, 'Permutation importance'),
    table(
      ['feature', 'mean', 'std'],
      e.importance.map((i) => [i.feature, cardNumber(i.mean), cardNumber(i.std)]),
    ),
  ];
}

/** The card's sections, in the order every format shows them. */
export function modelCardBlocks(card: ModelCard): CardBlock[] {
  const t = card.training;
  return [
    heading(1, `Model card: ${card.model} v${card.version}`),
    list([
      `URI: \`${card.uri}\``,
      `Registered: ${card.registeredAt}`,
      `Aliases: ${card.aliases.length ? card.aliases.map((a) => `@${a}`).join(', ') : 'none'}`,
      `Artifact: ${card.artifact.path ? `\`${card.artifact.path}\`` : '—'}${card.artifact.digest ? ` (${card.artifact.digest})` : ''}`,
      ...(card.description ? [`Description: ${card.description}`] : []),
    ]),
    heading(2, 'Intended use and limits'),
    ...intendedUseBlocks(card.intendedUse),
    heading(2, 'Training'),
    ...(t
      ? [
          list([
            `Run: \`${t.runId}\` (${t.runName}), ${t.status}, ${t.startedAt} → ${t.endedAt ?? '—'}`,
            `Pipeline: ${t.pipeline ?? '—'}; command: ${t.command ? `\`${t.command}\`` : '—'}`,
            `Code: ${t.commit ? `commit \`${t.commit}\`${t.uncommittedChanges ? ' with uncommitted changes' : ''}` : 'not recorded'}`,
          ]),
          heading(3, 'Parameters'),
          table(
            ['param', 'value'],
            Object.entries(t.params).map(([k, v]) => [k, v]),
          ),
          heading(3, 'Training data'),
          table(
            ['dataset', 'digest', 'path', 'rows', 'use'],
            t.data.map((d) => [d.dataset, d.digest, d.path, d.rows, d.context]),
          ),
        ]
      : [text('No source run recorded.')]),
    heading(2, 'Metrics'),
    table(
      ['metric', 'value'],
      Object.entries(card.metrics).map(([k, v]) => [k, v]),
    ),
    heading(2, 'Release gate'),
    ...(card.gate
      ? [
          text(
            `Verdict: ${card.gate.passed ? 'passed' : 'failed'}${card.gate.championVersion !== null ? ` (compared with champion v${card.gate.championVersion})` : ''}`,
          ),
          table(
            ['rule', 'result', 'detail'],
            card.gate.checks.map((c) => [c.rule, c.passed ? 'pass' : 'fail', c.detail]),
          ),
        ]
      : [text('No gate was evaluated.')]),
    heading(2, 'Prediction tests'),
    ...(card.predictionTests
      ? [
          text(`${card.predictionTests.passed ? 'Passed' : 'Failed'}: ${card.predictionTests.summary}`),
          table(
            ['kind', 'case', 'expected', 'actual', 'result'],
            card.predictionTests.cases.map((c) => [c.kind, c.name, c.expected, c.actual, c.passed ? 'pass' : 'fail']),
          ),
        ]
      : [text('None configured.')]),
    heading(2, 'Environment'),
    ...environmentBlocks(card.environment),
    heading(2, 'Evaluation'),
    ...evaluationBlocks(card.evaluation),
    heading(2, 'Approvals'),
    table(
      ['request', 'change', 'status', 'requested by', 'decisions'],
      card.approvals.map((a) => [
        `#${a.requestId}`,
        a.change,
        a.status,
        `${a.requestedBy} (${a.requestedAt})`,
        a.decisions.map((d) => `${d.decision} by ${d.reviewer}: ${d.comment}`).join('; '),
      ]),
    ),
    heading(2, 'Deployments'),
    table(
      ['#', 'target', 'strategy', 'traffic', 'status', 'at'],
      card.deployments.map((d) => [d.deploymentId, d.target, d.strategy, `${d.trafficPercent}%`, d.status, d.at]),
    ),
    heading(2, 'Monitoring'),
    text(card.monitoring.alerts.length ? `Alerts: ${card.monitoring.alerts.join(', ')}.` : 'No alerts in the newest reports.'),
    table(
      ['check', 'of', 'at', 'alert', 'summary'],
      card.monitoring.checks.map((c) => [c.check, c.subject, c.at, c.alert ? 'alert' : 'ok', c.summary]),
      'No monitoring report yet (run `mloop monitor`).',
    ),
    heading(2, 'Lineage'),
    graph(card.lineage.nodes, card.lineage.edges, 'No lineage recorded.'),
    heading(2, 'Audit trail'),
    table(
      ['#', 'at', 'who', 'action', 'what', 'change', 'why'],
      card.audit.map((a) => [a.auditId, a.at, a.actor, a.action, a.entity, a.change, a.reason]),
    ),
  ];
}

/** The card as Markdown: the same content as the JSON, for people and pull requests. */
export const modelCardMarkdown = (card: ModelCard): string => blocksToMarkdown(modelCardBlocks(card));

/** The card as one self-contained HTML page (no script, no external resource), every value escaped. */
export const modelCardHtml = (card: ModelCard): string => blocksToHtml(`Model card: ${card.model} v${card.version}`, modelCardBlocks(card));
