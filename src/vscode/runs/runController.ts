import * as vscode from 'vscode';
import type { Config, Pipeline } from '../../core/config/schema';
import { primaryMetricOf } from '../../core/config/schema';
import type { RunHandle, RunOutcome } from '../../core/runs/launcher';
import { RunRepository } from '../../core/store/runs';
import type { ProjectConfig } from '../base/projectConfig';
import type { TrackingService } from './trackingService';
import type { BackendService } from '../backend/backendService';
import type { WorkspaceStore } from '../base/workspaceStore';
import { offerValidationOverride, snapshotRunInputs } from '../datasets/runInputs';
import { RunTerminal } from './runTerminal';
import { requireTrusted } from '../base/commandContext';
import { artifactRootOf } from '../../core/store/artifactRoot';
import { executeCommand } from '../base/commands';

export interface TrainRequest {
  readonly pipelineName: string;
  readonly overrides?: Readonly<Record<string, string>>;
  /** Run as a VS Code task (the terminal closes with the task). */
  readonly asTask?: boolean;
  /** Start even if an input dataset fails validation; the reason is audited. */
  readonly validationOverride?: string;
}

/**
 * Launches pipelines as recorded runs, each in its own terminal, and keeps the live handles so
 * runs can be stopped from the tree, the palette or Ctrl+C.
 */
export class RunController implements vscode.Disposable {
  private readonly active = new Map<string, RunHandle>();
  private readonly finished = new vscode.EventEmitter<RunOutcome>();
  /** Fires when a run launched here ends (tests and the status bar listen). */
  readonly onDidFinishRun = this.finished.event;

  constructor(
    private readonly deps: {
      readonly workspaceStore: WorkspaceStore;
      readonly projectConfig: ProjectConfig;
      readonly tracking: TrackingService;
      readonly log: vscode.LogOutputChannel;
      /** With mloop.backend = mlflow, runs are made on (and log to) the team's tracking server. */
      readonly backends?: BackendService;
    },
  ) {}

  get activeRunIds(): string[] {
    return [...this.active.keys()];
  }

  isActive(runId: string): boolean {
    return this.active.has(runId);
  }

  /** Checks everything that can be checked before a terminal opens; throws a message for the user. */
  private prepare(pipelineName: string): { config: Config; pipeline: Pipeline; projectRoot: string } {
    requireTrusted();
    const config = this.deps.projectConfig.reload();
    const projectRoot = this.deps.projectConfig.projectRoot;
    if (!projectRoot) throw new Error('open the folder of your ML project first');
    if (!config) throw new Error('mloop.yaml is missing or has errors; see the Problems panel');
    const pipeline = config.pipelines[pipelineName];
    if (!pipeline) throw new Error(`mloop.yaml has no pipeline "${pipelineName}" (pipelines: ${Object.keys(config.pipelines).join(', ') || 'none'})`);
    return { config, pipeline, projectRoot };
  }

  /** A terminal (or task) body that starts the run when it opens. Resolves once the run id is known. */
  createTerminal(request: TrainRequest): { pty: RunTerminal; started: Promise<string>; outcome: Promise<RunOutcome> } {
    const { config, pipeline, projectRoot } = this.prepare(request.pipelineName);
    let resolveStarted!: (runId: string) => void;
    let rejectStarted!: (error: Error) => void;
    const started = new Promise<string>((resolve, reject) => {
      resolveStarted = resolve;
      rejectStarted = reject;
    });
    let resolveOutcome!: (o: RunOutcome) => void;
    let rejectOutcome!: (e: Error) => void;
    const outcome = new Promise<RunOutcome>((resolve, reject) => {
      resolveOutcome = resolve;
      rejectOutcome = reject;
    });
    outcome.catch(() => undefined);
    started.catch(() => undefined);
    const pty = new RunTerminal(
      async (write) => {
        const store = await this.deps.workspaceStore.get({ create: true });
        if (!store) throw new Error('mloop needs an open folder to hold its store');
        const inputVersionIds = await snapshotRunInputs(store, {
          config,
          pipelineName: request.pipelineName,
          pipeline,
          projectRoot,
          override: request.validationOverride,
          write,
        });
        const tracking = await this.deps.tracking.endpoint();
        const backend = await this.deps.backends?.remote();
        const { launchRun } = await import('../../core/runs/launcher');
        return launchRun({
          store,
          projectRoot,
          pipelineName: request.pipelineName,
          pipeline,
          overrides: request.overrides,
          trusted: vscode.workspace.isTrusted,
          tracking,
          inputVersionIds,
          ...(backend ? { remote: { backend, tracking: backend.tracking } } : {}),
          onOutput: write,
        });
      },
      (handle) => {
        this.active.set(handle.runId, handle);
        this.deps.log.info(
          `run ${handle.runId} started: pipeline ${request.pipelineName}${request.overrides && Object.keys(request.overrides).length ? ` with ${JSON.stringify(request.overrides)}` : ''}`,
        );
        this.deps.workspaceStore.fire();
        resolveStarted(handle.runId);
      },
      (result) => {
        if (result instanceof Error) {
          this.deps.log.error(`pipeline ${request.pipelineName} could not start: ${result.message}`);
          this.deps.workspaceStore.fire(); // a blocked start still recorded the input versions and their validation
          if (result.name === 'DatasetGateError')
            void offerValidationOverride(request.pipelineName, (reason) => this.train({ ...request, validationOverride: reason }));
          else
            void vscode.window
              .showErrorMessage(`mloop: ${request.pipelineName} could not start: ${result.message}`, 'Show Log')
              .then((a) => a && this.deps.log.show());
          rejectStarted(result);
          rejectOutcome(result);
          return;
        }
        this.active.delete(result.runId);
        this.deps.log.info(`run ${result.runId} ${result.status} (exit ${result.exitCode ?? '-'}${result.signal ? `, ${result.signal}` : ''})`);
        // the pipeline's model is registered (and gated) before anyone hears the run ended
        void this.registerModel(request.pipelineName, result).then((registration) => {
          this.deps.workspaceStore.fire();
          // the new run (and version) come into view in the trees the user has open, without taking the focus
          void executeCommand('mloop.runs.reveal', result.runId, registration?.modelVersionId);
          void this.notify(request.pipelineName, pipeline, result, registration);
          this.finished.fire(result);
          resolveOutcome(result);
        });
      },
      request.asTask ?? false,
    );
    return { pty, started, outcome };
  }

  /** Starts a run in a new terminal. Resolves with the run id once the process started. */
  async train(request: TrainRequest): Promise<{ runId: string; outcome: Promise<RunOutcome> }> {
    const { pty, started, outcome } = this.createTerminal(request);
    const terminal = vscode.window.createTerminal({ name: `mloop: ${request.pipelineName}`, pty, iconPath: new vscode.ThemeIcon('beaker') });
    terminal.show(true);
    const runId = await started;
    return { runId, outcome };
  }

  stop(runId: string): boolean {
    const handle = this.active.get(runId);
    if (!handle) return false;
    handle.stop();
    return true;
  }

  /** The run-completion hook of the registry: a FINISHED run of a pipeline with `model:` registers a version. */
  private async registerModel(
    pipelineName: string,
    outcome: RunOutcome,
  ): Promise<{ registered?: string; skipped?: string; modelVersionId?: number } | undefined> {
    const config = this.deps.projectConfig.current;
    const projectRoot = this.deps.projectConfig.projectRoot;
    if (outcome.status !== 'FINISHED' || !config?.pipelines[pipelineName]?.model || !projectRoot) return undefined;
    try {
      const store = await this.deps.workspaceStore.get();
      if (!store) return undefined;
      const [{ registerPipelineModel }, { registryActor }] = await Promise.all([
        import('../../core/registry/autoRegister'),
        import('../../core/registry/actor'),
      ]);
      const registration = await registerPipelineModel(
        { store, artifactRoot: artifactRootOf(store.path), actor: registryActor(projectRoot) },
        { config, pipelineName, runId: outcome.runId, status: outcome.status, projectRoot },
      );
      if (!registration) return undefined;
      if ('skipped' in registration) {
        this.deps.log.info(`run ${outcome.runId}: ${registration.modelName} not registered: ${registration.skipped}`);
        return { skipped: `${registration.modelName} not registered: ${registration.skipped}` };
      }
      const gate = registration.gate
        ? registration.gate.passed
          ? ' · gate ✓'
          : ` · gate ✗ (${registration.gate.checks
              .filter((c) => !c.passed)
              .map((c) => c.detail)
              .join('; ')})`
        : '';
      const text = `${registration.modelName} v${registration.version.version}${gate}`;
      this.deps.log.info(`run ${outcome.runId}: registered ${text}`);
      return { registered: text, modelVersionId: registration.version.modelVersionId };
    } catch (error) {
      this.deps.log.error(`run ${outcome.runId}: the model of pipeline ${pipelineName} was not registered: ${(error as Error).message}`);
      void vscode.window.showErrorMessage(`mloop: ${pipelineName} finished, but its model was not registered: ${(error as Error).message}`);
      return undefined;
    }
  }

  private async notify(pipelineName: string, pipeline: Pipeline, outcome: RunOutcome, registered?: { registered?: string; skipped?: string }): Promise<void> {
    const registration = registered?.registered;
    const store = await this.deps.workspaceStore.get().catch(() => undefined);
    const metric = primaryMetricOf(pipeline);
    let summary = '';
    if (store) {
      const latest = new RunRepository(store).latestMetrics(outcome.runId);
      const key = metric?.name ?? Object.keys(latest)[0];
      if (key && latest[key] !== undefined) summary = `: ${key} ${Number(latest[key]).toPrecision(4)}`;
    }
    if (outcome.status === 'FINISHED') {
      const action = await vscode.window.showInformationMessage(
        `mloop: ${pipelineName} finished${summary}${registration ? ` · registered ${registration}` : ''}${registered?.skipped ? ` · ${registered.skipped}` : ''}`,
        'Open Metrics',
        registration ? 'Show Models' : 'Show Runs',
        // the policy kept it out of the registry: registering stays one click away
        ...(registered?.skipped ? ['Register'] : []),
      );
      if (action === 'Register') await executeCommand('mloop.models.registerFromRun', outcome.runId, pipeline.model?.name);
      if (action === 'Open Metrics') await executeCommand('mloop.runs.openMetrics', outcome.runId);
      if (action === 'Show Runs') await executeCommand('mloop.runs.focus');
      if (action === 'Show Models') await executeCommand('mloop.models.focus');
    } else if (outcome.status === 'FAILED') {
      const action = await vscode.window.showErrorMessage(
        `mloop: ${pipelineName} failed (exit ${outcome.exitCode ?? '?'})${outcome.error ? `: ${outcome.error}` : ''}`,
        'Show Output',
      );
      if (action) vscode.window.terminals.find((t) => t.name === `mloop: ${pipelineName}`)?.show();
    }
  }

  dispose(): void {
    for (const handle of this.active.values()) handle.stop();
    this.active.clear();
    this.finished.dispose();
  }
}
