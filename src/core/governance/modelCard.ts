import { ModelRepository } from '../store/models';
import { DeploymentRepository } from '../store/deployments';
import { RunRepository } from '../store/runs';
import type { Store } from '../store/store';
import { listRequests } from './approvals';

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
}

const iso = (ms: number): string => new Date(ms).toISOString();
const sorted = <T>(record: Readonly<Record<string, T>>): Record<string, T> =>
  Object.fromEntries(Object.entries(record).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));

export class ModelCardError extends Error {
  override readonly name = 'ModelCardError';
}

export function buildModelCard(store: Store, ref: { modelName: string; version?: number; alias?: string }): ModelCard {
  const models = new ModelRepository(store);
  const model = models.byName(ref.modelName);
  if (!model) throw new ModelCardError(`no registered model "${ref.modelName}"`);
  const version = ref.alias
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
  const gate = details.gate as { passed?: boolean; checks?: { rule: string; passed: boolean; detail: string }[]; championVersion?: number | null } | null;
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
  };
}

const cell = (text: string | number | boolean | null): string =>
  String(text ?? '—')
    .replace(/\|/g, '\\|')
    .replace(/\r?\n/g, ' ');
const table = (headers: readonly string[], rows: readonly (readonly (string | number | boolean | null)[])[]): string[] =>
  rows.length === 0
    ? ['None.']
    : [`| ${headers.join(' | ')} |`, `|${headers.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.map(cell).join(' | ')} |`)];

/** The card as Markdown: the same content as the JSON, for people and pull requests. */
export function modelCardMarkdown(card: ModelCard): string {
  const t = card.training;
  const lines = [
    `# Model card: ${card.model} v${card.version}`,
    '',
    `- URI: \`${card.uri}\``,
    `- Registered: ${card.registeredAt}`,
    `- Aliases: ${card.aliases.length ? card.aliases.map((a) => `@${a}`).join(', ') : 'none'}`,
    `- Artifact: ${card.artifact.path ? `\`${card.artifact.path}\`` : '—'}${card.artifact.digest ? ` (${card.artifact.digest})` : ''}`,
    ...(card.description ? [`- Description: ${card.description}`] : []),
    '',
    '## Training',
    '',
    ...(t
      ? [
          `- Run: \`${t.runId}\` (${t.runName}), ${t.status}, ${t.startedAt} → ${t.endedAt ?? '—'}`,
          `- Pipeline: ${t.pipeline ?? '—'}; command: ${t.command ? `\`${t.command}\`` : '—'}`,
          `- Code: ${t.commit ? `commit \`${t.commit}\`${t.uncommittedChanges ? ' with uncommitted changes' : ''}` : 'not recorded'}`,
          '',
          '### Parameters',
          '',
          ...table(
            ['param', 'value'],
            Object.entries(t.params).map(([k, v]) => [k, v]),
          ),
          '',
          '### Training data',
          '',
          ...table(
            ['dataset', 'digest', 'path', 'rows', 'use'],
            t.data.map((d) => [d.dataset, d.digest, d.path, d.rows, d.context]),
          ),
        ]
      : ['No source run recorded.']),
    '',
    '## Metrics',
    '',
    ...table(
      ['metric', 'value'],
      Object.entries(card.metrics).map(([k, v]) => [k, v]),
    ),
    '',
    '## Release gate',
    '',
    ...(card.gate
      ? [
          `Verdict: ${card.gate.passed ? 'passed' : 'failed'}${card.gate.championVersion !== null ? ` (compared with champion v${card.gate.championVersion})` : ''}`,
          '',
          ...table(
            ['rule', 'result', 'detail'],
            card.gate.checks.map((c) => [c.rule, c.passed ? 'pass' : 'fail', c.detail]),
          ),
        ]
      : ['No gate was evaluated.']),
    '',
    '## Approvals',
    '',
    ...table(
      ['request', 'change', 'status', 'requested by', 'decisions'],
      card.approvals.map((a) => [
        `#${a.requestId}`,
        a.change,
        a.status,
        `${a.requestedBy} (${a.requestedAt})`,
        a.decisions.map((d) => `${d.decision} by ${d.reviewer}: ${d.comment}`).join('; '),
      ]),
    ),
    '',
    '## Deployments',
    '',
    ...table(
      ['#', 'target', 'strategy', 'traffic', 'status', 'at'],
      card.deployments.map((d) => [d.deploymentId, d.target, d.strategy, `${d.trafficPercent}%`, d.status, d.at]),
    ),
    '',
    '## Audit trail',
    '',
    ...table(
      ['#', 'at', 'who', 'action', 'what', 'change', 'why'],
      card.audit.map((a) => [a.auditId, a.at, a.actor, a.action, a.entity, a.change, a.reason]),
    ),
    '',
  ];
  return lines.join('\n');
}
