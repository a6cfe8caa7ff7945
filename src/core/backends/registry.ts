import type { GateResult } from '../registry/gate';
import type { GateSpec } from '../registry/register';

/**
 * The registry workflow (gate, aliases with their history, audit) over either backend: the project's
 * embedded store (EmbeddedRegistry) or a team's MLflow tracking server (MlflowRegistry, audit rows in
 * the local store). The Models view's commands are written once against this interface.
 */
export interface RegistryVersion {
  readonly modelName: string;
  readonly version: number;
  /** The run the version was registered from, when it was. */
  readonly runId: string | null;
  readonly aliases: readonly string[];
  /** The gate verdict stored on the version; null when it was never gated. */
  readonly gatePassed: boolean | null;
}

export interface RegistryRun {
  readonly runId: string;
  readonly name: string;
  /** The mloop.yaml pipeline that produced it (a server run has none). */
  readonly pipeline: string | null;
}

export interface RegistryPromoteResult {
  readonly version: number;
  readonly previous: number | null;
  readonly gate: GateResult | null;
  readonly overridden: boolean;
}

export interface ModelRegistry {
  /** For messages: the store file or the server URI. */
  readonly location: string;
  /** Appended to user messages: "" for the project's store, " on <uri>" for a server. */
  readonly where: string;
  /** A server's run artifacts are not on this machine: the user names the path log_model used (default `model`). */
  readonly asksArtifactPath: boolean;
  /** Every version (of one model when named): models by name, versions newest first. */
  versions(modelName?: string): Promise<RegistryVersion[]>;
  run(runId: string): Promise<RegistryRun | undefined>;
  /** Points an alias at a version; champion passes the gate first (GateRefusedError without an override reason). */
  promote(options: RegistryPromoteOptions): Promise<RegistryPromoteResult>;
  /** Returns the version the alias pointed at. */
  removeAlias(options: RegistryAliasOptions): Promise<number>;
  /** Where a roll back of the alias would go; target undefined when there is no earlier version. */
  rollbackTarget(modelName: string, alias: string): Promise<{ current: number | null; target: number | undefined }>;
  rollbackAlias(options: RegistryAliasOptions): Promise<{ from: number | null; to: number }>;
  /** Registers a version from a finished run's artifact (artifactPath omitted: the model the run logged). */
  registerFromRun(options: RegistryRegisterOptions): Promise<{ version: number; gate: GateResult | null }>;
}

/** Pointing an alias at a version (champion passes the gate first unless overridden with a reason). */
export interface RegistryPromoteOptions {
  modelName: string;
  version: number;
  alias: string;
  gate?: GateSpec;
  overrideReason?: string;
  reason?: string;
  modelVersionId?: number;
}

/** Removing or rolling back an alias of a model, with the reason audited. */
export interface RegistryAliasOptions {
  modelName: string;
  alias: string;
  reason?: string;
}

/** Registering a version from a finished run (artifactPath omitted: the model the run logged). */
export interface RegistryRegisterOptions {
  runId: string;
  modelName: string;
  artifactPath?: string;
  gate?: GateSpec;
  projectRoot?: string;
}
