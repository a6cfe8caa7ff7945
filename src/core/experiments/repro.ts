import { join } from 'node:path';
import type { Problem } from '../config/loadConfig';
import type { Config, Pipeline } from '../config/schema';
import { launchRun, type RunHandle, type TrackingEndpoint } from '../runs/launcher';
import { displayCommand, resolveCommand } from '../runs/resolveCommand';
import { DEFAULT_EXPERIMENT, ExperimentRepository } from '../store/experiments';
import { RunRepository } from '../store/runs';
import { StageStateRepository, type StageSignature } from '../store/stageStates';
import type { Store } from '../store/store';
import { MISSING, StagePathDigests } from './stageDigests';
import { normalizeStagePath, producersOf, stagesToRun, type StageDefinition, type StageGraph } from './stageGraph';
import { missingDepIssues, readStageParams, type ProjectStages } from './stages';

/** Where a stage stands against its last successful run. */
export type StageStatus = 'never-run' | 'up-to-date' | 'changed' | 'failed';

export interface StagePlan {
  readonly stage: StageDefinition;
  readonly status: StageStatus;
  /** Why it is not up to date ("dep data/raw.csv changed"), or "unchanged". */
  readonly reason: string;
  readonly signature: StageSignature;
  readonly lastRunId: string | null;
}

/** What repro did with one stage. */
export interface StageOutcome {
  readonly stage: string;
  readonly outcome: 'skipped' | 'ran' | 'failed' | 'not-run' | 'would-run';
  readonly reason: string;
  readonly runId?: string;
}

export interface ReproResult {
  /** The run the stage runs hang under (absent when nothing ran). */
  readonly pipelineRunId?: string;
  readonly status: 'FINISHED' | 'FAILED' | 'KILLED';
  readonly stages: readonly StageOutcome[];
}

/** mloop.yaml, dvc.yaml or the files they name are wrong: nothing was started. */
export class ReproConfigError extends Error {
  override readonly name = 'ReproConfigError';
  constructor(readonly problems: readonly Problem[]) {
    super(`${problems.length === 1 ? 'a problem' : `${problems.length} problems`} in the stages; nothing was started`);
  }
}

/** `mloop repro <stage>` names no stage of the project. */
export class UnknownStageError extends Error {
  override readonly name = 'UnknownStageError';
}

/** The graph of a loaded project, or the error that says why there is none. */
export function requireGraph(project: ProjectStages): StageGraph {
  const errors = project.problems.filter((p) => p.severity === 'error');
  if (errors.length > 0 || !project.graph) throw new ReproConfigError(errors);
  return project.graph;
}

/** The stages to consider for `target` (it and what it reads from; all without one), or a clear error. */
export function selectStages(project: ProjectStages, target?: string): StageDefinition[] {
  const graph = requireGraph(project);
  if (target !== undefined && !graph.order.some((s) => s.name === target)) {
    const names = graph.order.map((s) => s.name);
    throw new UnknownStageError(
      `no stage "${target}"${names.length ? `; stages: ${names.join(', ')}` : ': the project declares no stages (stages: in mloop.yaml or dvc.yaml)'}`,
    );
  }
  return stagesToRun(graph, target);
}

/** The status of each stage now, in run order (digests from the store's cache where files did not change). */
export async function planStages(store: Store, project: ProjectStages, stages: readonly StageDefinition[], digests?: StagePathDigests): Promise<StagePlan[]> {
  const paths = digests ?? new StagePathDigests(store);
  const states = new StageStateRepository(store);
  const runs = new RunRepository(store);
  const plans: StagePlan[] = [];
  for (const stage of stages) {
    const signature = await signatureOf(stage, project.root, paths);
    const state = states.get(stage.name);
    const lastRun = state?.lastRunId ? runs.get(state.lastRunId) : undefined;
    const lastFailed = !!lastRun && lastRun.runId !== state?.successRunId && (lastRun.status === 'FAILED' || lastRun.status === 'KILLED');
    let reason = state?.signature ? differenceOf(state.signature, signature) : 'never run';
    // as in DVC, a stage that reads nothing (no deps, no params) cannot be known unchanged: it always runs
    if (reason === undefined && stage.deps.length === 0 && stage.params.length === 0) reason = 'it has no deps: always runs';
    if (reason === undefined && state?.outs) {
      for (const out of stage.outs) {
        const now = await paths.digest(join(project.root, out.path));
        const recorded = state.outs[out.path];
        if (now === MISSING) reason = `out ${out.path} is missing`;
        else if (now !== recorded) reason = `out ${out.path} changed`;
        if (reason) break;
      }
    }
    const status: StageStatus = lastFailed ? 'failed' : reason === undefined ? 'up-to-date' : state?.signature ? 'changed' : 'never-run';
    plans.push({
      stage,
      status,
      reason: lastFailed ? `its last run ${lastRun?.status.toLowerCase()}` : (reason ?? 'unchanged'),
      signature,
      lastRunId: state?.lastRunId ?? null,
    });
  }
  return plans;
}

async function signatureOf(stage: StageDefinition, root: string, digests: StagePathDigests): Promise<StageSignature> {
  const deps: Record<string, string> = {};
  for (const dep of stage.deps) deps[dep.path] = await digests.digest(join(root, dep.path));
  const { values } = readStageParams(stage, root);
  return { command: commandText(stage, values), deps, params: values };
}

function commandText(stage: StageDefinition, params: Readonly<Record<string, string>>): string {
  try {
    return displayCommand(resolveCommand({ command: typeof stage.command === 'string' ? stage.command : [...stage.command], params }));
  } catch {
    return typeof stage.command === 'string' ? stage.command : stage.command.join(' ');
  }
}

function differenceOf(before: StageSignature, now: StageSignature): string | undefined {
  if (before.command !== now.command) return 'command changed';
  for (const [path, digest] of Object.entries(now.deps)) {
    if (!(path in before.deps)) return `dep ${path} added`;
    if (before.deps[path] !== digest) return digest === MISSING ? `dep ${path} is missing` : `dep ${path} changed`;
  }
  for (const path of Object.keys(before.deps)) if (!(path in now.deps)) return `dep ${path} removed`;
  for (const [key, value] of Object.entries(now.params)) if (before.params[key] !== value) return `param ${key} changed`;
  for (const key of Object.keys(before.params)) if (!(key in now.params)) return `param ${key} removed`;
  return undefined;
}

export interface ReproOptions {
  readonly store: Store;
  readonly project: ProjectStages;
  /** Run this stage and what it reads from; omitted: every stage. */
  readonly target?: string;
  /** Say what would run; start nothing. */
  readonly dryRun?: boolean;
  /** A string command runs in the user's shell, which is allowed only in a trusted workspace. */
  readonly trusted: boolean;
  /** Aborting stops the running stage (its whole process tree) and starts no other. */
  readonly signal?: AbortSignal;
  /** Where a stage's mlflow client logs; a function is called once, when the first stage starts (nothing to run: no server). */
  readonly tracking?: TrackingEndpoint | (() => Promise<TrackingEndpoint>);
  readonly artifactRoot?: string;
  readonly logDir?: string;
  readonly shell?: string;
  readonly stopGraceMs?: number;
  /** Every chunk of a stage's output, as it arrives. */
  readonly onOutput?: (stage: string, text: string) => void;
  /** A stage starts (index of total) or gets its outcome. */
  readonly onStage?: (event: { readonly stage: string; readonly index: number; readonly total: number; readonly outcome?: StageOutcome }) => void;
}

/**
 * `mloop repro`: the stages in order, each skipped when its command, deps, params and outs are as its last
 * successful run left them. Each stage that runs is a run in the store, tagged with the pipeline run as its
 * parent (mlflow.parentRunId). A failed or stopped stage stops the pipeline: no later stage starts.
 */
export async function repro(options: ReproOptions): Promise<ReproResult> {
  const { store, project } = options;
  const stages = selectStages(project, options.target);
  const graph = requireGraph(project);
  const issues = missingDepIssues(graph, stages, project.root);
  for (const stage of stages) issues.push(...readStageParams(stage, project.root).issues);
  if (!options.trusted) {
    for (const stage of stages) {
      if (typeof stage.command === 'string')
        issues.push({
          file: stage.file,
          at: stage.at,
          message: `stage "${stage.name}" has a shell command, which mloop runs only in a trusted workspace (trust it, or write the command as a list)`,
        });
    }
  }
  if (issues.length > 0) throw new ReproConfigError(issues.map((i) => project.problemOf(i)));

  const digests = new StagePathDigests(store, options.signal);
  const outcomes: StageOutcome[] = [];
  const report = (outcome: StageOutcome, index: number): void => {
    outcomes.push(outcome);
    options.onStage?.({ stage: outcome.stage, index, total: stages.length, outcome });
  };

  if (options.dryRun) {
    const plans = await planStages(store, project, stages, digests);
    const willRun = new Set<string>();
    plans.forEach((plan, index) => {
      const upstream = producersOf(graph, plan.stage.name).filter((p) => willRun.has(p));
      if (plan.status !== 'up-to-date') willRun.add(plan.stage.name);
      if (plan.status !== 'up-to-date') report({ stage: plan.stage.name, outcome: 'would-run', reason: plan.reason }, index);
      else if (upstream.length > 0) {
        willRun.add(plan.stage.name);
        report({ stage: plan.stage.name, outcome: 'would-run', reason: `if ${upstream.join(', ')} change${upstream.length === 1 ? 's' : ''} its outs` }, index);
      } else report({ stage: plan.stage.name, outcome: 'skipped', reason: 'unchanged' }, index);
    });
    return { status: 'FINISHED', stages: outcomes };
  }

  const runs = new RunRepository(store);
  const states = new StageStateRepository(store);
  let pipelineRunId: string | undefined;
  let status: ReproResult['status'] = 'FINISHED';
  let running: RunHandle | undefined;
  let tracking: TrackingEndpoint | undefined;
  const onAbort = (): void => running?.stop();
  options.signal?.addEventListener('abort', onAbort);
  try {
    for (const [index, stage] of stages.entries()) {
      if (status !== 'FINISHED' || options.signal?.aborted) {
        if (options.signal?.aborted) status = 'KILLED';
        report({ stage: stage.name, outcome: 'not-run', reason: status === 'KILLED' ? 'the pipeline was stopped' : 'an earlier stage failed' }, index);
        continue;
      }
      // planned one at a time: an upstream stage that just ran may have changed this one's deps
      const [plan] = await planStages(store, project, [stage], digests);
      if (plan!.status === 'up-to-date') {
        report({ stage: stage.name, outcome: 'skipped', reason: 'unchanged' }, index);
        continue;
      }
      options.onStage?.({ stage: stage.name, index, total: stages.length });
      pipelineRunId ??= startPipelineRun(store, options.target, stage.experiment);
      const pipeline: Pipeline = {
        command: typeof stage.command === 'string' ? stage.command : [...stage.command],
        params: plan!.signature.params,
        inputs: [],
        outputs: stage.outs.map((o) => o.written),
        env: stage.env,
        ...(stage.experiment ? { experiment: stage.experiment } : {}),
      };
      try {
        // a dep that is a declared dataset (by name or by its path) is versioned and pinned to the stage run, as
        // `mloop train` pins a pipeline's inputs: lineage then reaches the raw data through the stage outs
        const datasets = stageDatasets(stage, project.config);
        let inputVersionIds: number[] = [];
        if (datasets.length > 0 && project.config) {
          const versions = await import('../datasets/versions');
          const inputs = await versions.prepareRunInputs(store, {
            config: project.config,
            pipelineName: stage.name,
            pipeline: { ...pipeline, inputs: datasets },
            projectRoot: project.root,
            ...(options.signal ? { signal: options.signal } : {}),
          });
          inputVersionIds = versions.inputVersionIds(inputs);
        }
        if (typeof options.tracking === 'function') tracking ??= await options.tracking();
        else tracking = options.tracking;
        running = await launchRun({
          store,
          projectRoot: join(project.root, stage.wdir),
          pipelineName: stage.name,
          pipeline,
          trusted: options.trusted,
          captureEnvironment: false,
          ...(inputVersionIds.length > 0 ? { inputVersionIds } : {}),
          tags: { 'mlflow.parentRunId': pipelineRunId, 'mloop.stage': stage.name, 'mloop.stage.reason': plan!.reason },
          ...(tracking ? { tracking } : {}),
          ...(options.artifactRoot ? { artifactRoot: options.artifactRoot } : {}),
          ...(options.logDir ? { logDir: options.logDir } : {}),
          ...(options.shell ? { shell: options.shell } : {}),
          ...(options.stopGraceMs !== undefined ? { stopGraceMs: options.stopGraceMs } : {}),
          ...(options.onOutput ? { onOutput: (text: string) => options.onOutput!(stage.name, text) } : {}),
        });
      } catch (error) {
        status = 'FAILED';
        report({ stage: stage.name, outcome: 'failed', reason: `could not start: ${(error as Error).message}` }, index);
        continue;
      }
      states.started(stage.name, running.runId);
      if (options.signal?.aborted) running.stop();
      const outcome = await running.done;
      running = undefined;
      if (outcome.status !== 'FINISHED') {
        status = outcome.status === 'KILLED' ? 'KILLED' : 'FAILED';
        const how = outcome.exitCode !== null ? `exit code ${outcome.exitCode}` : (outcome.signal ?? outcome.error ?? outcome.status);
        report({ stage: stage.name, outcome: 'failed', reason: `${outcome.status.toLowerCase()} (${how})`, runId: outcome.runId }, index);
        continue;
      }
      const outs: Record<string, string> = {};
      for (const out of stage.outs) outs[out.path] = await digests.digest(join(project.root, out.path));
      const absent = stage.outs.filter((o) => outs[o.path] === MISSING).map((o) => o.written);
      if (absent.length > 0) {
        status = 'FAILED';
        runs.finish(outcome.runId, { status: 'FAILED', exitCode: outcome.exitCode });
        report({ stage: stage.name, outcome: 'failed', reason: `it exited 0 but did not write ${absent.join(', ')}`, runId: outcome.runId }, index);
        continue;
      }
      states.succeeded(stage.name, outcome.runId, plan!.signature, outs);
      report({ stage: stage.name, outcome: 'ran', reason: plan!.reason, runId: outcome.runId }, index);
    }
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
    if (pipelineRunId) runs.finish(pipelineRunId, { status, exitCode: status === 'FINISHED' ? 0 : 1 });
  }
  return { ...(pipelineRunId ? { pipelineRunId } : {}), status, stages: outcomes };
}

/** The datasets of mloop.yaml a stage reads: a dep that names one, or that is its path. */
export function stageDatasets(stage: StageDefinition, config: Config | undefined): string[] {
  if (!config) return [];
  const byPath = new Map(Object.entries(config.datasets).map(([name, d]) => [normalizeStagePath(d.path, ''), name]));
  const names = stage.deps.flatMap((dep) => {
    if (config.datasets[dep.written] && !dep.written.includes('/')) return [dep.written];
    const named = byPath.get(dep.path);
    return named ? [named] : [];
  });
  return [...new Set(names)];
}

/** The run that groups one repro's stage runs (created when the first stage starts). */
function startPipelineRun(store: Store, target: string | undefined, experimentName: string | undefined): string {
  const experiment = new ExperimentRepository(store).ensure(experimentName ?? DEFAULT_EXPERIMENT);
  const ordinal = (store.db.prepare("SELECT count(*) FROM tag WHERE key = 'mloop.kind' AND value = 'pipeline'").pluck().get() as number) + 1;
  return new RunRepository(store).create({
    experimentId: experiment.experimentId,
    name: `repro-${ordinal}${target ? `-${target}` : ''}`,
    status: 'RUNNING',
    command: `mloop repro${target ? ` ${target}` : ''}`,
    tags: { 'mloop.kind': 'pipeline', ...(target ? { 'mloop.target': target } : {}) },
  }).runId;
}
