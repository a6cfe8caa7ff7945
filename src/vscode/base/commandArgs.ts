import type { Uri } from 'vscode';
import type { RequestArgument } from '../audit/commands';
import type { DatasetsNode } from '../datasets/tree';
import type { DriftRetrainArgument, PublishArgument, RetrainArgument } from '../deployments/retrainCommand';
import type { DeployArgument, TargetInput } from '../deployments/targets';
import type { PromoteWinnerInput, StartAbTestArgument } from '../deployments/abCommands';
import type { DeploymentsNode } from '../deployments/tree';
import type { AnyTreeRow } from '../lineage/commands';
import type { VersionArgument } from '../models/commands';
import type { LogRowInput, RequestInput } from '../models/explainLogCommands';
import type { ModelsNode } from '../models/tree';
import type { ModelInput } from '../monitoring/commands';
import type { RunsNode } from '../runs/tree';
import type { SweepRequestArgument } from '../runs/sweepCommands';

/** A run: a Runs tree row, a run id (tests, notifications), or nothing (the command asks). */
export type RunArgument = RunsNode | string | undefined;
/** Runs for a panel: the clicked row of the store or the server (VS Code adds the whole selection), run ids from code, or nothing (a pick). */
export type RunSelection = RunsNode | { readonly runId: string } | string | readonly string[] | undefined;
/** A dataset: a Datasets tree row, a declared dataset's name, or nothing (a pick). */
export type DatasetArgument = DatasetsNode | string | undefined;
/** A model version: a Models tree row, or { modelName, version } from code (local or server shape). */
export type ModelVersionInput = (ModelsNode & { kind: 'modelVersion' }) | VersionArgument | undefined;

/**
 * Every mloop command id and the arguments it takes (menus pass tree rows; code and tests pass the plain
 * shapes). `registerCommand`/`executeCommand` in ./commands type both ends against it.
 */
export interface CommandArgs {
  'mloop.project.init': [];
  'mloop.project.openConfig': [];
  'mloop.project.showStatus': [];
  'mloop.project.revealStore': [];
  'mloop.project.refresh': [];
  'mloop.project.showLog': [];
  'mloop.project.importMlflow': [source?: string];
  'mloop.backend.setToken': [];
  'mloop.runs.train': [pipelineName?: string, overrides?: Record<string, string> | string[], askParams?: boolean];
  'mloop.runs.trainWithParams': [pipelineName?: string];
  'mloop.runs.stop': [run?: RunArgument];
  'mloop.runs.rerun': [run?: RunArgument];
  'mloop.runs.reproduce': [run?: RunArgument, options?: { env?: 'current' | 'recreate' }];
  'mloop.runs.showUncommittedChanges': [run?: RunArgument];
  'mloop.runs.copyId': [run?: RunArgument];
  'mloop.runs.delete': [run?: RunArgument | readonly string[]];
  'mloop.runs.rename': [run?: RunArgument, name?: string];
  'mloop.runs.openMetrics': [clicked?: RunSelection, selection?: readonly RunsNode[]];
  'mloop.runs.compare': [clicked?: RunSelection, selection?: readonly RunsNode[] | string];
  /** An experiment row, or what code passes: the experiment and the filter and order to open with. */
  'mloop.runs.openTable': [input?: RunsNode | { experimentId?: number; filter?: string; orderBy?: string; column?: string }];
  'mloop.runs.openPlots': [input?: RunsNode | { experimentId?: number }];
  /** A column id of the open Experiments Table (or its header's context: `{ column }`); absent: the command asks. */
  'mloop.runs.tableGoToColumn': [column?: string | { readonly column?: string }];
  /** A column (id or header context) and a width in px or 'fit'; absent: the command asks. */
  'mloop.runs.tableSetColumnWidth': [column?: string | { readonly column?: string }, width?: number | 'fit'];
  'mloop.runs.showMore': [experimentId: number | string];
  /** A stage name (it and what it reads from), or every stage. */
  'mloop.runs.repro': [stage?: string];
  'mloop.runs.showPipeline': [];
  /** A pipeline (with a grid or a random draw instead of its sweep), or nothing (the command asks). */
  'mloop.runs.sweep': [request?: SweepRequestArgument];
  'mloop.runs.reveal': [runId: string, modelVersionId?: number];
  'mloop.runs.openCodeAtCommit': [input?: AnyTreeRow | string];
  'mloop.datasets.profile': [dataset?: DatasetArgument];
  'mloop.datasets.validate': [dataset?: DatasetArgument];
  'mloop.datasets.preview': [dataset?: DatasetArgument];
  'mloop.datasets.compareVersions': [dataset?: DatasetArgument];
  'mloop.datasets.openFile': [dataset?: DatasetArgument];
  'mloop.datasets.recordVersion': [dataset?: DatasetArgument];
  'mloop.datasets.revealLineage': [input?: AnyTreeRow | number];
  'mloop.datasets.restoreVersion': [version?: DatasetArgument];
  'mloop.datasets.push': [dataset?: DatasetArgument];
  'mloop.datasets.pull': [dataset?: DatasetArgument];
  'mloop.models.promote': [version?: ModelVersionInput];
  'mloop.models.setAlias': [version?: ModelVersionInput];
  'mloop.models.removeAlias': [version?: ModelVersionInput];
  'mloop.models.rollbackAlias': [
    input?: (ModelsNode & { kind: 'model' }) | ModelVersionInput | { modelName: string; alias?: string; aliases?: readonly string[]; reason?: string },
  ];
  'mloop.models.compareWithChampion': [version?: ModelVersionInput];
  'mloop.models.copyUri': [version?: ModelVersionInput];
  'mloop.models.evaluate': [version?: ModelVersionInput, dataset?: string];
  'mloop.models.explain': [version?: ModelVersionInput, row?: Readonly<Record<string, unknown>> | string];
  'mloop.models.explainLogRow': [row?: LogRowInput];
  'mloop.models.explainRequest': [request?: RequestInput, index?: number];
  'mloop.models.importanceOverWindows': [modelName?: string];
  'mloop.models.openCard': [version?: ModelVersionInput];
  'mloop.models.compareCards': [version?: ModelVersionInput, other?: number];
  'mloop.models.registerFromRun': [run?: RunsNode | string, modelName?: string];
  'mloop.models.retrain': [given?: ModelsNode | RetrainArgument | DriftRetrainArgument];
  'mloop.models.publishToServer': [given?: PublishArgument];
  'mloop.audit.approveRequest': [request: RequestArgument, comment?: string];
  'mloop.audit.rejectRequest': [request: RequestArgument, comment?: string];
  'mloop.deployments.deploy': [input?: ModelsNode | DeployArgument];
  'mloop.deployments.rollback': [target?: TargetInput];
  'mloop.deployments.checkHealth': [target?: TargetInput];
  'mloop.deployments.restart': [target?: TargetInput];
  'mloop.deployments.openLogs': [row?: DeploymentsNode | { readonly target: string }];
  'mloop.deployments.stop': [target?: TargetInput];
  'mloop.deployments.shadowReport': [target?: TargetInput];
  'mloop.deployments.promoteShadow': [target?: TargetInput];
  'mloop.deployments.stopShadow': [target?: TargetInput];
  'mloop.deployments.promoteWinner': [target?: PromoteWinnerInput];
  'mloop.deployments.startAbTest': [input?: TargetInput | StartAbTestArgument];
  'mloop.deployments.stopAbTest': [target?: TargetInput];
  'mloop.deployments.openRollout': [target?: TargetInput];
  'mloop.deployments.revealLineage': [target?: TargetInput];
  'mloop.monitoring.checkDrift': [input?: ModelInput];
  'mloop.monitoring.openDriftReport': [reportId?: number];
  'mloop.monitoring.checkPerformance': [input?: ModelInput];
  'mloop.monitoring.openPanel': [input?: ModelInput];
  'mloop.lineage.show': [input?: AnyTreeRow | string, depth?: number];
  'mloop.lineage.showForFile': [uri?: Uri];
}

export type CommandId = keyof CommandArgs;

/** What a command resolves to, where a caller reads it. */
export interface CommandResults {
  'mloop.lineage.show': string | undefined;
  'mloop.runs.openMetrics': string[] | undefined;
  'mloop.runs.compare': string[] | undefined;
}

/** The workbench's own commands mloop runs, with their arguments. */
export interface WorkbenchCommandArgs {
  setContext: [key: string, value: unknown];
  'workbench.trust.manage': [];
  'workbench.actions.view.problems': [];
  'workbench.action.files.openFolder': [];
  'workbench.action.openSettings': [query: string];
  revealInExplorer: [uri: Uri];
  'vscode.open': [uri: Uri];
  'vscode.diff': [left: Uri, right: Uri, title: string];
  'mloop.datasets.focus': [];
  'mloop.runs.focus': [];
  'mloop.models.focus': [];
  'mloop.deployments.focus': [];
}

/**
 * Whether each command is in package.json `contributes.commands` (palette, menus) or only run by mloop
 * itself (tree rows' "Show more", cross-command calls). A unit test holds this, the manifest and the ids together.
 */
export const COMMAND_VISIBILITY: { readonly [K in CommandId]: 'contributed' | 'internal' } = {
  'mloop.project.init': 'contributed',
  'mloop.project.openConfig': 'contributed',
  'mloop.project.showStatus': 'contributed',
  'mloop.project.revealStore': 'contributed',
  'mloop.project.refresh': 'contributed',
  'mloop.project.showLog': 'contributed',
  'mloop.project.importMlflow': 'contributed',
  'mloop.backend.setToken': 'contributed',
  'mloop.runs.train': 'contributed',
  'mloop.runs.trainWithParams': 'contributed',
  'mloop.runs.stop': 'contributed',
  'mloop.runs.rerun': 'contributed',
  'mloop.runs.reproduce': 'contributed',
  'mloop.runs.showUncommittedChanges': 'contributed',
  'mloop.runs.copyId': 'contributed',
  'mloop.runs.delete': 'contributed',
  'mloop.runs.rename': 'contributed',
  'mloop.runs.openMetrics': 'contributed',
  'mloop.runs.compare': 'contributed',
  'mloop.runs.openTable': 'contributed',
  'mloop.runs.openPlots': 'contributed',
  'mloop.runs.tableGoToColumn': 'contributed',
  'mloop.runs.tableSetColumnWidth': 'contributed',
  'mloop.runs.repro': 'contributed',
  'mloop.runs.showPipeline': 'contributed',
  'mloop.runs.sweep': 'contributed',
  'mloop.runs.showMore': 'internal',
  'mloop.runs.reveal': 'internal',
  'mloop.runs.openCodeAtCommit': 'contributed',
  'mloop.datasets.profile': 'contributed',
  'mloop.datasets.validate': 'contributed',
  'mloop.datasets.preview': 'contributed',
  'mloop.datasets.compareVersions': 'contributed',
  'mloop.datasets.openFile': 'contributed',
  'mloop.datasets.recordVersion': 'contributed',
  'mloop.datasets.revealLineage': 'contributed',
  'mloop.datasets.restoreVersion': 'contributed',
  'mloop.datasets.push': 'contributed',
  'mloop.datasets.pull': 'contributed',
  'mloop.models.promote': 'contributed',
  'mloop.models.setAlias': 'contributed',
  'mloop.models.removeAlias': 'contributed',
  'mloop.models.rollbackAlias': 'contributed',
  'mloop.models.compareWithChampion': 'contributed',
  'mloop.models.copyUri': 'contributed',
  'mloop.models.evaluate': 'contributed',
  'mloop.models.explain': 'contributed',
  'mloop.models.explainLogRow': 'contributed',
  'mloop.models.explainRequest': 'contributed',
  'mloop.models.importanceOverWindows': 'contributed',
  'mloop.models.openCard': 'contributed',
  'mloop.models.compareCards': 'contributed',
  'mloop.models.registerFromRun': 'contributed',
  'mloop.models.retrain': 'contributed',
  'mloop.models.publishToServer': 'contributed',
  'mloop.audit.approveRequest': 'contributed',
  'mloop.audit.rejectRequest': 'contributed',
  'mloop.deployments.deploy': 'contributed',
  'mloop.deployments.rollback': 'contributed',
  'mloop.deployments.checkHealth': 'contributed',
  'mloop.deployments.restart': 'contributed',
  'mloop.deployments.openLogs': 'contributed',
  'mloop.deployments.stop': 'contributed',
  'mloop.deployments.shadowReport': 'contributed',
  'mloop.deployments.promoteShadow': 'contributed',
  'mloop.deployments.stopShadow': 'contributed',
  'mloop.deployments.promoteWinner': 'contributed',
  'mloop.deployments.startAbTest': 'contributed',
  'mloop.deployments.stopAbTest': 'contributed',
  'mloop.deployments.openRollout': 'contributed',
  'mloop.deployments.revealLineage': 'contributed',
  'mloop.monitoring.checkDrift': 'contributed',
  'mloop.monitoring.openDriftReport': 'contributed',
  'mloop.monitoring.checkPerformance': 'contributed',
  'mloop.monitoring.openPanel': 'contributed',
  'mloop.lineage.show': 'contributed',
  'mloop.lineage.showForFile': 'contributed',
};
