import type { EvaluationHostMessage } from '../protocol/evaluationMessages';
import type { MonitoringView } from '../protocol/monitoringMessages';
import type { RolloutView, TeammateRolloutView } from '../protocol/rolloutMessages';
import type { PipelineHostMessage } from '../protocol/pipelineMessages';
import type { ExperimentsTableSnapshot } from './runs/experimentsTablePanel';
import type { RunPlotsSnapshot } from './runs/runPlotsPanel';
import type { PanelKind } from '../shared/panels';
import type { DatasetWatchEvent } from './datasets/datasetWatcher';
import type { LineageHostMessage } from '../protocol/lineageMessages';
import type { RunInfo } from '../protocol/common';
import type { RunOutcome, TrackingEndpoint } from '../core/runs/launcher';
import type { Store } from '../core/store/store';

/** One tree row as tests and other extensions see it: what the user reads, not TreeItem internals. */
export interface TreeRowSnapshot {
  readonly label: string;
  readonly description?: string;
  readonly contextValue?: string;
  /** Present below the second level when treeSnapshot was asked for more depth. */
  readonly children?: readonly TreeRowSnapshot[];
}

export interface TreeNodeSnapshot extends TreeRowSnapshot {
  readonly children: readonly TreeRowSnapshot[];
}

/** What `activate()` returns: the extension's public surface, for other extensions and the tests. */
export interface MloopApi {
  readonly version: string;
  /** The newest store schema this build knows. */
  readonly schemaVersion: number;
  readonly viewIds: readonly string[];
  /** How long activate() took, in ms. */
  readonly activationMs: number;
  /** The store file of the first workspace folder, or undefined without a folder. */
  storePath(): string | undefined;
  /** Opens the store, creating and migrating it when needed. */
  openStore(): Promise<Store>;
  /** Re-reads the store into every view. */
  refresh(): Promise<void>;
  /**
   * Launches a pipeline of mloop.yaml in a terminal; resolves once the run exists. Rejects with a
   * DatasetGateError when an input fails validation, unless `validationOverride` gives a reason.
   */
  train(
    pipelineName: string,
    overrides?: Readonly<Record<string, string>>,
    options?: { readonly validationOverride?: string },
  ): Promise<{ runId: string; outcome: Promise<RunOutcome> }>;
  /** The MLflow-compatible endpoint (started on first call). */
  trackingEndpoint(): Promise<TrackingEndpoint>;
  /** Runs the drift check of a model from `monitoring:` in mloop.yaml, as a scheduled check would (stored, badge, notification). */
  checkDrift(model: string): Promise<{ reportId: number; datasetDrift: boolean; headline: string } | undefined>;
}

/**
 * What `activate()` adds only when VS Code runs the extension for its tests (ExtensionMode.Test): what the
 * user sees, read back for assertions. Not part of the public surface.
 */
export interface MloopTestApi extends MloopApi {
  /** The drift badge's text in the status bar, or undefined when no monitored model drifted. */
  driftBadge(): string | undefined;
  /** The top two levels of a view, as shown. */
  treeSnapshot(viewId: string, depth?: number): Promise<readonly TreeNodeSnapshot[]>;
  /** Selects a row (top two levels) of a view by its id, expanding its parent, as a user clicking it would (screenshots). */
  revealTreeRow(viewId: string, id: string): Promise<boolean>;
  /** What the open Lineage panel was last given (nodes and edges), or undefined when none is open. */
  lineagePanelState(): LineageHostMessage | undefined;
  /** The open Metrics panel: whether its page is ready, its runs, and per `runId/key` the points the page holds. */
  metricsPanelState(): { ready: boolean; runs: readonly RunInfo[]; points: Readonly<Record<string, number>> } | undefined;
  /** The open Experiments Table: what it last sent its page (scope, query, counts, first rows' names, a query error). */
  experimentsTableState(): ExperimentsTableSnapshot | undefined;
  /**
   * Holds the Experiments Table's whole-table reads from starting until the returned function is called; with
   * `afterSteps`, the read starts and waits after that many steps (mid-way, its snapshot and temp tables open).
   */
  holdExperimentsTableRead(afterSteps?: number): () => void;
  /** The open Experiments Table's rows in view as its CSV export writes them, and whether SQL read them (mid-read). */
  experimentsTableCsv(): Promise<{ readonly csv: string; readonly rows: number; readonly fromSql: boolean } | undefined>;
  /** What the open plots across runs last computed (scope, run count, metric, param importance). */
  runPlotsState(): RunPlotsSnapshot | undefined;
  /** Hands a message to the open panel of `kind` as if its page sent it (zod-validated like one); false when none is open. */
  pageMessage(kind: PanelKind, message: unknown): Promise<boolean>;
  /** What the open Monitoring panel last drew. */
  monitoringPanelState(): MonitoringView | undefined;
  /** What the open Evaluation panel last drew: an evaluation, or an explained prediction with where its row came from. */
  evaluationPanelState(): EvaluationHostMessage | undefined;
  /** What the open Rollout panel last drew: this workspace's rollout of its target, or a teammate's (read-only). */
  rolloutPanelState(): { target: string; own: RolloutView | undefined; teammate: TeammateRolloutView | undefined } | undefined;
  /** What the open Pipeline DAG panel last loaded (stages with their status, edges), or undefined when none is open. */
  pipelinePanelState(): PipelineHostMessage | undefined;
  /** The message a view shows above its rows (Restricted Mode, a store problem), or undefined. */
  viewMessage(viewId: string): string | undefined;
  /** The ids of the rows selected in a view (a finished run is revealed and selected there). */
  viewSelection(viewId: string): readonly string[];
  /** What the dataset file watcher concluded so far, oldest first (a proposal, or content already recorded). */
  datasetWatchEvents(): readonly DatasetWatchEvent[];
}
