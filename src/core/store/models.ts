import { AuditRepository } from './audit';
import type { Store } from './store';

export interface Model {
  readonly modelId: number;
  readonly name: string;
  readonly description: string | null;
  readonly createdAt: number;
  readonly updatedAt: number;
}

export interface ModelVersion {
  readonly modelVersionId: number;
  readonly modelId: number;
  readonly version: number;
  readonly sourceRunId: string | null;
  readonly artifactPath: string | null;
  readonly artifactDigest: string | null;
  readonly gatePassed: boolean | null;
  readonly stage: string | null;
  readonly createdAt: number;
  readonly description: string | null;
  /** Aliases pointing at this version, sorted. */
  readonly aliases: readonly string[];
}

interface ModelRow {
  model_id: number;
  name: string;
  description: string | null;
  created_at: number;
  updated_at: number;
}

interface ModelVersionRow {
  model_version_id: number;
  model_id: number;
  version: number;
  source_run_id: string | null;
  artifact_path: string | null;
  artifact_digest: string | null;
  gate_passed: 0 | 1 | null;
  stage: string | null;
  created_at: number;
  description: string | null;
  aliases: string | null;
}

const toModel = (r: ModelRow): Model => ({
  modelId: r.model_id,
  name: r.name,
  description: r.description,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

const toVersion = (r: ModelVersionRow): ModelVersion => ({
  modelVersionId: r.model_version_id,
  modelId: r.model_id,
  version: r.version,
  sourceRunId: r.source_run_id,
  artifactPath: r.artifact_path,
  artifactDigest: r.artifact_digest,
  gatePassed: r.gate_passed === null ? null : r.gate_passed === 1,
  stage: r.stage,
  createdAt: r.created_at,
  description: r.description,
  aliases: r.aliases ? r.aliases.split('\u001f').sort() : [],
});

const VERSION_SELECT = `SELECT v.*, (SELECT group_concat(a.alias, char(31)) FROM alias a WHERE a.model_version_id = v.model_version_id) AS aliases
  FROM model_version v`;

/** MLflow's alias rules: word characters and dashes, at most 255, and not `latest` or `v<digits>`. */
export function aliasProblem(alias: string): string | undefined {
  if (alias.length === 0 || alias.length > 255) return `alias must be 1 to 255 characters (got ${alias.length})`;
  if (!/^[\w-]+$/.test(alias)) return `alias "${alias}" may contain only letters, digits, "_" and "-"`;
  if (/^(latest|v\d+)$/i.test(alias)) return `alias "${alias}" is reserved (latest and v<number> name versions)`;
  return undefined;
}

export class ModelRepository {
  private readonly audit: AuditRepository;

  constructor(private readonly store: Store) {
    this.audit = new AuditRepository(store);
  }

  list(): Model[] {
    return (this.store.db.prepare('SELECT * FROM model ORDER BY name').all() as ModelRow[]).map(toModel);
  }

  byName(name: string): Model | undefined {
    const row = this.store.db.prepare('SELECT * FROM model WHERE name = ?').get(name) as ModelRow | undefined;
    return row && toModel(row);
  }

  /** Newest version first. */
  versions(modelId: number): ModelVersion[] {
    const rows = this.store.db.prepare(`${VERSION_SELECT} WHERE v.model_id = ? ORDER BY v.version DESC`).all(modelId) as ModelVersionRow[];
    return rows.map(toVersion);
  }

  version(modelId: number, version: number): ModelVersion | undefined {
    const row = this.store.db.prepare(`${VERSION_SELECT} WHERE v.model_id = ? AND v.version = ?`).get(modelId, version) as ModelVersionRow | undefined;
    return row && toVersion(row);
  }

  /** Registers the next version of `name` (creating the model) and audits it, in one transaction. */
  registerVersion(input: {
    name: string;
    sourceRunId?: string;
    artifactPath?: string;
    artifactDigest?: string;
    metrics?: Readonly<Record<string, number>>;
    /** The MLflow signature (inputs/outputs), when the run logged one. */
    signature?: unknown;
    /** The gate's verdict at registration. */
    gate?: { readonly passed: boolean; readonly result: unknown };
    description?: string;
    /** This number instead of the next (a copy of a server's version keeps the server's number). */
    version?: number;
    actor: string;
    now?: number;
  }): ModelVersion {
    const now = input.now ?? Date.now();
    return this.store.transaction(() => {
      this.store.db
        .prepare('INSERT INTO model (name, created_at, updated_at) VALUES (?, ?, ?) ON CONFLICT (name) DO UPDATE SET updated_at = excluded.updated_at')
        .run(input.name, now, now);
      const model = this.byName(input.name)!;
      const next =
        input.version ??
        (this.store.db.prepare('SELECT coalesce(max(version), 0) + 1 AS next FROM model_version WHERE model_id = ?').get(model.modelId) as { next: number })
          .next;
      this.store.db
        .prepare(
          `INSERT INTO model_version (model_id, version, source_run_id, artifact_path, artifact_digest, metrics_json, signature_json, gate_json, gate_passed, description, created_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        )
        .run(
          model.modelId,
          next,
          input.sourceRunId ?? null,
          input.artifactPath ?? null,
          input.artifactDigest ?? null,
          input.metrics ? JSON.stringify(input.metrics) : null,
          input.signature === undefined ? null : JSON.stringify(input.signature),
          input.gate ? JSON.stringify(input.gate.result) : null,
          input.gate ? (input.gate.passed ? 1 : 0) : null,
          input.description ?? null,
          now,
        );
      this.audit.record({
        actor: input.actor,
        action: 'register',
        entityType: 'model_version',
        entityId: `${input.name}/${next}`,
        toValue: `v${next}`,
        details: { sourceRunId: input.sourceRunId ?? null, artifactDigest: input.artifactDigest ?? null, gatePassed: input.gate ? input.gate.passed : null },
        at: now,
      });
      return this.version(model.modelId, next)!;
    });
  }

  /** Creates a model with no versions yet and audits it, in one transaction; undefined when the name is taken. */
  createModel(input: { name: string; description?: string; actor: string; now?: number }): Model | undefined {
    const now = input.now ?? Date.now();
    return this.store.transaction(() => {
      const info = this.store.db
        .prepare('INSERT INTO model (name, description, created_at, updated_at) VALUES (?, ?, ?, ?) ON CONFLICT (name) DO NOTHING')
        .run(input.name, input.description ?? null, now, now);
      if (info.changes === 0) return undefined;
      this.audit.record({ actor: input.actor, action: 'create_model', entityType: 'model', entityId: input.name, at: now });
      return this.byName(input.name)!;
    });
  }

  /** The version `alias` points at, if any. */
  versionByAlias(modelId: number, alias: string): ModelVersion | undefined {
    const row = this.store.db
      .prepare(`${VERSION_SELECT} WHERE v.model_version_id = (SELECT model_version_id FROM alias WHERE model_id = ? AND alias = ?)`)
      .get(modelId, alias) as ModelVersionRow | undefined;
    return row && toVersion(row);
  }

  /** Removes `alias`, records history and audit, in one transaction; false when it was not set. */
  deleteAlias(input: { modelId: number; alias: string; actor: string; reason?: string; now?: number }): boolean {
    const now = input.now ?? Date.now();
    return this.store.transaction(() => {
      const previous = this.versionByAlias(input.modelId, input.alias);
      if (!previous) return false;
      this.store.db.prepare('DELETE FROM alias WHERE model_id = ? AND alias = ?').run(input.modelId, input.alias);
      const model = this.store.db.prepare('SELECT name FROM model WHERE model_id = ?').pluck().get(input.modelId) as string;
      const auditId = this.audit.record({
        actor: input.actor,
        action: 'delete_alias',
        entityType: 'alias',
        entityId: `${model}@${input.alias}`,
        fromValue: `v${previous.version}`,
        toValue: null,
        reason: input.reason ?? null,
        at: now,
      });
      this.store.db
        .prepare('INSERT INTO alias_history (model_id, alias, from_model_version_id, to_model_version_id, changed_at, audit_id) VALUES (?, ?, ?, NULL, ?, ?)')
        .run(input.modelId, input.alias, previous.modelVersionId, now, auditId);
      return true;
    });
  }

  modelTags(modelId: number): Record<string, string> {
    const rows = this.store.db.prepare('SELECT key, value FROM model_tag WHERE model_id = ? ORDER BY key').all(modelId) as { key: string; value: string }[];
    return Object.fromEntries(rows.map((r) => [r.key, r.value]));
  }

  setModelTag(modelId: number, key: string, value: string): void {
    this.store.db
      .prepare('INSERT INTO model_tag (model_id, key, value) VALUES (?, ?, ?) ON CONFLICT (model_id, key) DO UPDATE SET value = excluded.value')
      .run(modelId, key, value);
  }

  deleteModelTag(modelId: number, key: string): void {
    this.store.db.prepare('DELETE FROM model_tag WHERE model_id = ? AND key = ?').run(modelId, key);
  }

  versionTags(modelVersionId: number): Record<string, string> {
    const rows = this.store.db.prepare('SELECT key, value FROM model_version_tag WHERE model_version_id = ? ORDER BY key').all(modelVersionId) as {
      key: string;
      value: string;
    }[];
    return Object.fromEntries(rows.map((r) => [r.key, r.value]));
  }

  setVersionTag(modelVersionId: number, key: string, value: string): void {
    this.store.db
      .prepare(
        'INSERT INTO model_version_tag (model_version_id, key, value) VALUES (?, ?, ?) ON CONFLICT (model_version_id, key) DO UPDATE SET value = excluded.value',
      )
      .run(modelVersionId, key, value);
  }

  deleteVersionTag(modelVersionId: number, key: string): void {
    this.store.db.prepare('DELETE FROM model_version_tag WHERE model_version_id = ? AND key = ?').run(modelVersionId, key);
  }

  /** Points `alias` at a version (moving it if set), records history and audit, in one transaction. */
  setAlias(input: { modelId: number; alias: string; version: number; actor: string; reason?: string; now?: number; action?: string; details?: unknown }): void {
    const problem = aliasProblem(input.alias);
    if (problem) throw new Error(problem);
    const now = input.now ?? Date.now();
    this.store.transaction(() => {
      const target = this.version(input.modelId, input.version);
      if (!target) throw new Error(`model ${input.modelId} has no version ${input.version}`);
      const previous = this.store.db
        .prepare('SELECT v.model_version_id, v.version FROM alias a JOIN model_version v USING (model_version_id) WHERE a.model_id = ? AND a.alias = ?')
        .get(input.modelId, input.alias) as { model_version_id: number; version: number } | undefined;
      this.store.db
        .prepare(
          `INSERT INTO alias (model_id, alias, model_version_id, updated_at) VALUES (?, ?, ?, ?)
           ON CONFLICT (model_id, alias) DO UPDATE SET model_version_id = excluded.model_version_id, updated_at = excluded.updated_at`,
        )
        .run(input.modelId, input.alias, target.modelVersionId, now);
      const model = this.store.db.prepare('SELECT name FROM model WHERE model_id = ?').pluck().get(input.modelId) as string;
      const auditId = this.audit.record({
        actor: input.actor,
        action: input.action ?? 'set_alias',
        entityType: 'alias',
        entityId: `${model}@${input.alias}`,
        fromValue: previous ? `v${previous.version}` : null,
        toValue: `v${target.version}`,
        reason: input.reason ?? null,
        details: input.details,
        at: now,
      });
      this.store.db
        .prepare('INSERT INTO alias_history (model_id, alias, from_model_version_id, to_model_version_id, changed_at, audit_id) VALUES (?, ?, ?, ?, ?, ?)')
        .run(input.modelId, input.alias, previous?.model_version_id ?? null, target.modelVersionId, now, auditId);
    });
  }

  /** The snapshot taken at registration: metrics, MLflow signature and gate verdict (parsed JSON). */
  versionDetails(modelVersionId: number): { metrics: Record<string, number>; signature: unknown; gate: unknown } {
    const row = this.store.db.prepare('SELECT metrics_json, signature_json, gate_json FROM model_version WHERE model_version_id = ?').get(modelVersionId) as
      | { metrics_json: string | null; signature_json: string | null; gate_json: string | null }
      | undefined;
    const parse = (text: string | null | undefined): unknown => (text ? JSON.parse(text) : null);
    return { metrics: (parse(row?.metrics_json) as Record<string, number> | null) ?? {}, signature: parse(row?.signature_json), gate: parse(row?.gate_json) };
  }

  /** The version with this row id, whatever its model. */
  versionById(modelVersionId: number): ModelVersion | undefined {
    const row = this.store.db.prepare(`${VERSION_SELECT} WHERE v.model_version_id = ?`).get(modelVersionId) as ModelVersionRow | undefined;
    return row && toVersion(row);
  }

  /** Stores a (re-)evaluated gate verdict on a version and audits it, in one transaction. */
  setGateResult(input: { modelVersionId: number; passed: boolean; result: unknown; actor: string; now?: number }): void {
    this.store.transaction(() => {
      const before = this.versionById(input.modelVersionId);
      if (!before) throw new Error(`no model version with id ${input.modelVersionId}`);
      this.store.db
        .prepare('UPDATE model_version SET gate_json = ?, gate_passed = ? WHERE model_version_id = ?')
        .run(JSON.stringify(input.result), input.passed ? 1 : 0, input.modelVersionId);
      const model = this.store.db.prepare('SELECT name FROM model WHERE model_id = ?').pluck().get(before.modelId) as string;
      const verdict = (p: boolean | null): string | null => (p === null ? null : p ? 'passed' : 'failed');
      this.audit.record({
        actor: input.actor,
        action: 'gate',
        entityType: 'model_version',
        entityId: `${model}/${before.version}`,
        fromValue: verdict(before.gatePassed),
        toValue: verdict(input.passed),
        details: input.result,
        at: input.now,
      });
    });
  }

  /** Every change of an alias, oldest first, with the audit action that made it. */
  aliasHistory(modelId: number, alias: string): AliasChange[] {
    const rows = this.store.db
      .prepare(
        `SELECT h.alias, f.version AS from_version, t.version AS to_version, h.changed_at, a.action, a.actor, a.reason
         FROM alias_history h LEFT JOIN model_version f ON f.model_version_id = h.from_model_version_id
         LEFT JOIN model_version t ON t.model_version_id = h.to_model_version_id LEFT JOIN audit a ON a.audit_id = h.audit_id
         WHERE h.model_id = ? AND h.alias = ? ORDER BY h.changed_at, h.alias_history_id`,
      )
      .all(modelId, alias) as {
      alias: string;
      from_version: number | null;
      to_version: number | null;
      changed_at: number;
      action: string | null;
      actor: string | null;
      reason: string | null;
    }[];
    return rows.map((r) => ({
      alias: r.alias,
      fromVersion: r.from_version,
      toVersion: r.to_version,
      changedAt: r.changed_at,
      action: r.action,
      actor: r.actor,
      reason: r.reason,
    }));
  }
}

export interface AliasChange {
  readonly alias: string;
  readonly fromVersion: number | null;
  readonly toVersion: number | null;
  readonly changedAt: number;
  readonly action: string | null;
  readonly actor: string | null;
  readonly reason: string | null;
}
