/**
 * What an MLflow store holds, read-only, in the shape the importer needs. Two readers implement it:
 * MLflow's SQL database (`mlflow.db`, sqliteSource.ts) and the legacy `./mlruns` folder (fileSource.ts).
 */

import { RUN_STATUSES, type RunStatus } from '../../shared/runStatus';

/** MLflow's run statuses are mloop's (src/shared/runStatus.ts). */
export type MlflowRunStatus = RunStatus;

export interface SourceExperiment {
  /** MLflow's id as text: the folder store uses 18-digit ids, beyond a JS number's exact range. */
  readonly mlflowId: string;
  readonly name: string;
  readonly artifactLocation: string | null;
  readonly lifecycleStage: 'active' | 'deleted';
  readonly createdAt: number | null;
  readonly updatedAt: number | null;
  readonly tags: Readonly<Record<string, string>>;
}

export interface SourceRun {
  readonly runId: string;
  readonly mlflowExperimentId: string;
  readonly name: string | null;
  readonly status: MlflowRunStatus;
  readonly startTime: number | null;
  readonly endTime: number | null;
  readonly user: string | null;
  readonly sourceName: string | null;
  readonly sourceVersion: string | null;
  readonly artifactUri: string | null;
  readonly lifecycleStage: 'active' | 'deleted';
}

export interface SourceMetricPoint {
  readonly key: string;
  readonly value: number;
  readonly step: number;
  readonly timestamp: number;
}

export interface SourceRunData {
  readonly params: Readonly<Record<string, string>>;
  readonly tags: Readonly<Record<string, string>>;
  /** Number of metric points, known before they are read (change detection on re-import). */
  readonly metricCount: number;
  /** Every point in logging order, in chunks (a history of millions never sits in memory at once). */
  metricChunks(): Iterable<readonly SourceMetricPoint[]>;
}

export interface SourceModelVersion {
  readonly version: number;
  readonly runId: string | null;
  readonly source: string | null;
  readonly stage: string | null;
  readonly description: string | null;
  readonly createdAt: number | null;
  readonly tags: Readonly<Record<string, string>>;
}

export interface SourceModel {
  readonly name: string;
  readonly description: string | null;
  readonly createdAt: number | null;
  readonly updatedAt: number | null;
  readonly tags: Readonly<Record<string, string>>;
  readonly versions: readonly SourceModelVersion[];
  /** alias → version number */
  readonly aliases: Readonly<Record<string, number>>;
}

export interface MlflowSource {
  /** 'sqlite' (mlflow.db) or 'folder' (mlruns). */
  readonly kind: 'sqlite' | 'folder';
  /** The file or folder read, for messages. */
  readonly location: string;
  /** MLflow's schema revision (sqlite) or 'folder'. */
  readonly schema: string;
  experiments(): SourceExperiment[];
  runs(): SourceRun[];
  runData(run: SourceRun): SourceRunData;
  models(): SourceModel[];
  /** Things present in the source that the import does not carry over (said in the report, never silent). */
  notImported(): string[];
  close(): void;
}

/** Bad or unsupported input: names the file (and line or field) so the user can fix it. */
export class MlflowSourceError extends Error {
  readonly code: 'NOT_FOUND' | 'NOT_MLFLOW' | 'SCHEMA_UNKNOWN' | 'BAD_FILE' | 'UNREADABLE';
  readonly file: string;
  readonly line: number | undefined;
  constructor(code: MlflowSourceError['code'], file: string, message: string, options: { line?: number; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'MlflowSourceError';
    this.code = code;
    this.file = file;
    this.line = options.line;
  }
}

export const MLFLOW_RUN_STATUSES: readonly MlflowRunStatus[] = RUN_STATUSES;
