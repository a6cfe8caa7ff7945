import { createHash, randomBytes } from 'node:crypto';
import type { MlflowBackend } from './mlflowBackend';

/**
 * What a team shares through its MLflow tracking server besides runs and the registry (audit entries, approval
 * requests and decisions, deployments, monitoring reports), in MLflow's own entities: one FINISHED run per record
 * in the experiment `mloop-governance`, its content in tags written with the run in one `runs/create` request (so
 * no reader ever sees half a record). Records are immutable: nobody updates a record run, a change is a new record,
 * and readers merge. Where exactly one writer must win (the decision of an approval request) the claim is an
 * experiment created under a unique name: the server refuses the second create. Why: docs/decisions/team-on-mlflow.md.
 */
export const GOVERNANCE_EXPERIMENT = 'mloop-governance';

export type LedgerKind = 'audit' | 'audit.signature' | 'approval.request' | 'approval.vote' | 'deployment' | 'monitoring' | 'drift' | 'rollout.live';

export const KIND_TAG = 'mloop.record.kind';
export const KEY_TAG = 'mloop.record.key';
export const WRITER_TAG = 'mloop.record.writer';
export const SHA_TAG = 'mloop.record.sha256';
const PART_TAG = 'mloop.record.part.';
/** MLflow's limit on a run tag's value (MAX_TAG_VAL_LENGTH). */
const TAG_VALUE_MAX = 8000;
/** Parts per record: a record is one runs/create request, and MLflow caps a request's tags. */
const PARTS_MAX = 90;

export interface LedgerRecord<T = unknown> {
  /** The MLflow run that holds it. */
  readonly runId: string;
  readonly kind: LedgerKind;
  readonly key: string;
  readonly writer: string;
  readonly at: number;
  readonly payload: T;
  /** Someone moved its run to MLflow's trash (records are never deleted by mloop). */
  readonly deleted: boolean;
  /** Its parts still hash to the SHA-256 written with it. */
  readonly intact: boolean;
}

/** A server record that is missing, unreadable or too large; says which and why. */
export class LedgerError extends Error {
  override readonly name = 'LedgerError';
}

const sha256 = (text: string): string => createHash('sha256').update(text, 'utf8').digest('hex');

/** A random id for a new record (a request): 16 hex characters, 64 bits. */
export const newRecordId = (): string => randomBytes(8).toString('hex');

/** An MLflow filter literal for values mloop makes (hex, names, digits): single-quoted, a quote refused. */
const literal = (value: string): string => {
  if (value.includes("'")) throw new LedgerError(`a team record key cannot hold a single quote: ${JSON.stringify(value)}`);
  return `'${value}'`;
};

export class TeamLedger {
  private experimentId: Promise<string> | undefined;

  constructor(readonly backend: MlflowBackend) {}

  get location(): string {
    return this.backend.location;
  }

  /** The governance experiment's id, created by the first writer (a second creating it at once finds it). */
  private governanceExperiment(): Promise<string> {
    this.experimentId ??= this.backend
      .claimExperiment(GOVERNANCE_EXPERIMENT, {
        'mlflow.note.content': 'mloop: the team audit trail, approvals, deployments and monitoring reports (one run per record; do not edit)',
      })
      .then((c) => c.experimentId)
      .catch((error: unknown) => {
        this.experimentId = undefined;
        throw error;
      });
    return this.experimentId;
  }

  /** Writes one immutable record; returns its run id. */
  async write(input: { kind: LedgerKind; key: string; writer: string; at: number; payload: unknown; runName?: string }): Promise<string> {
    const text = JSON.stringify(input.payload);
    const parts: string[] = [];
    for (let i = 0; i < text.length; i += TAG_VALUE_MAX) parts.push(text.slice(i, i + TAG_VALUE_MAX));
    if (parts.length > PARTS_MAX)
      throw new LedgerError(`a ${input.kind} record of ${text.length} characters is larger than a team record holds (${PARTS_MAX * TAG_VALUE_MAX})`);
    const tags: Record<string, string> = { [KIND_TAG]: input.kind, [KEY_TAG]: input.key, [WRITER_TAG]: input.writer, [SHA_TAG]: sha256(text) };
    parts.forEach((part, i) => (tags[`${PART_TAG}${String(i).padStart(2, '0')}`] = part));
    return this.backend.createRecordRun(await this.governanceExperiment(), {
      runName: input.runName ?? `${input.kind} ${input.key}`.slice(0, 250),
      startTime: input.at,
      tags,
    });
  }

  /** The records of a kind (one key's, one writer's), oldest first, deleted ones included and flagged. */
  async read<T = unknown>(kind: LedgerKind, where: { key?: string; writer?: string } = {}): Promise<LedgerRecord<T>[]> {
    const clauses = [`tags.\`${KIND_TAG}\` = ${literal(kind)}`];
    if (where.key !== undefined) clauses.push(`tags.\`${KEY_TAG}\` = ${literal(where.key)}`);
    if (where.writer !== undefined) clauses.push(`tags.\`${WRITER_TAG}\` = ${literal(where.writer)}`);
    const runs = await this.backend.searchAllRuns(await this.governanceExperiment(), clauses.join(' and '));
    return runs.map(({ run, deleted }) => recordOf<T>(kind, run, deleted));
  }

  /** The newest record (by its time) of a kind and key that is not in MLflow's trash, or undefined: one request of one run. */
  async newest<T = unknown>(kind: LedgerKind, key: string): Promise<LedgerRecord<T> | undefined> {
    const run = await this.backend.newestRun(
      await this.governanceExperiment(),
      `tags.\`${KIND_TAG}\` = ${literal(kind)} and tags.\`${KEY_TAG}\` = ${literal(key)}`,
    );
    return run ? recordOf<T>(kind, run, false) : undefined;
  }

  /** Moves a record this workspace wrote and no longer needs (a superseded live snapshot) to MLflow's trash. */
  async discard(runId: string): Promise<void> {
    await this.backend.deleteRun(runId);
  }

  /**
   * Claims `name` for exactly one writer: the first create of the experiment wins and carries `tags`; every later
   * claim reads the winner's tags. The claim is moved to MLflow's trash so it does not crowd the experiment list
   * (its name stays taken there).
   */
  async claim(name: string, tags: Readonly<Record<string, string>>): Promise<{ won: boolean; tags: Record<string, string> }> {
    const result = await this.backend.claimExperiment(`${GOVERNANCE_EXPERIMENT}/${name}`, tags);
    if (result.won) await this.backend.deleteExperiment(result.experimentId);
    return { won: result.won, tags: result.tags };
  }

  /** The tags of a claim, or undefined when nobody claimed `name`. */
  async claimed(name: string): Promise<Record<string, string> | undefined> {
    return (await this.backend.experimentWithTags(`${GOVERNANCE_EXPERIMENT}/${name}`))?.tags;
  }
}

function recordOf<T>(kind: LedgerKind, run: { runId: string; startTime: number; tags: Readonly<Record<string, string>> }, deleted: boolean): LedgerRecord<T> {
  const text = Object.keys(run.tags)
    .filter((k) => k.startsWith(PART_TAG))
    .sort()
    .map((k) => run.tags[k])
    .join('');
  let payload: unknown = null;
  let parsed = true;
  try {
    payload = JSON.parse(text);
  } catch {
    parsed = false;
  }
  return {
    runId: run.runId,
    kind,
    key: run.tags[KEY_TAG] ?? '',
    writer: run.tags[WRITER_TAG] ?? '',
    at: run.startTime,
    payload: payload as T,
    deleted,
    intact: parsed && sha256(text) === run.tags[SHA_TAG],
  };
}
