import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { environmentChanges, type EnvironmentChange } from '../../shared/environmentFacts';
import { defaultRestoreTarget, notRestorableReason, restoreVersion } from '../cache/contentStore';
import { dvcCacheHas } from '../cache/dvcCache';
import { dvcRemoteFor } from '../cache/dvcRemote';
import { formatProblem, loadConfig } from '../config/loadConfig';
import type { Pipeline } from '../config/schema';
import { CONFIG_FILE } from '../project/init';
import { DatasetCacheRepository } from '../store/datasetCache';
import { DatasetRepository, type DatasetVersion } from '../store/datasets';
import { EnvironmentRepository } from '../store/environments';
import { ReproductionRepository, type MetricComparison, type Reproduction, type ReproductionVerdict } from '../store/reproductions';
import { RunCodeRepository } from '../store/runCode';
import { RunRepository, type MetricPoint, type Run } from '../store/runs';
import type { Store } from '../store/store';
import { roughShellWords } from './codeVersion';
import { captureEnvironment, environmentFacts, type RunEnvironment } from './environment';
import { launchRun, type OutputStream, type RunHandle, type RunOutcome, type TrackingEndpoint } from './launcher';
import { recreateEnvironment } from './recreateEnvironment';
import { displayCommand, resolveCommand } from './resolveCommand';

/** Relative difference under which two metric values count as the same (mloop.yaml `reproduces.tolerance`). */
export const DEFAULT_REPRODUCE_TOLERANCE = 1e-9;

/** The run cannot be re-run exactly; the message lists everything that stands in the way. */
export class ReproduceError extends Error {
  override readonly name = 'ReproduceError';
}

export interface ReproduceOptions {
  readonly store: Store;
  /** The user's project folder (mloop.yaml, .mloop/cache/): never written by a rerun. */
  readonly projectRoot: string;
  readonly runId: string;
  readonly trusted: boolean;
  /** Relative tolerance of the metric comparison (default 1e-9). */
  readonly tolerance?: number;
  /** `current`: the interpreter found as the run would find it today; `recreate`: a new venv with the recorded packages. */
  readonly env?: 'current' | 'recreate';
  readonly tracking?: TrackingEndpoint;
  readonly baseEnv?: Readonly<NodeJS.ProcessEnv>;
  readonly onOutput?: (text: string) => void;
  readonly output?: OutputStream;
  /** One line per step (checkout, diff, datasets, environment, run, compare). */
  readonly onProgress?: (message: string) => void;
  /** Called once the rerun's process started, so the caller can stop it. */
  readonly onStarted?: (handle: RunHandle) => void;
  readonly signal?: AbortSignal;
}

export interface ReproduceResult {
  readonly reproduction: Reproduction;
  readonly outcome: RunOutcome;
  /** The git commit checked out, and whether the run's uncommitted diff was applied on it. */
  readonly commit: string;
  readonly diffApplied: boolean;
  readonly restored: { dataset: string; digest: string; path: string }[];
}

/** What stands between a run and its exact re-run, found before anything is checked out. */
export interface Reproducibility {
  readonly run: Run;
  readonly blockers: string[];
  readonly notes: string[];
  readonly inputs: { dataset: string; version: DatasetVersion }[];
  readonly environment: RunEnvironment | undefined;
}

/**
 * Reads what a run recorded and says what of it cannot be brought back: the code (no commit, a dirty tree
 * whose diff was not kept, a commit gone from the repository), the data (versions whose bytes are not in the
 * cache, paths outside the project) and the environment (not recorded: differences cannot be told).
 */
export async function checkReproducible(store: Store, projectRoot: string, runId: string, env: 'current' | 'recreate' = 'current'): Promise<Reproducibility> {
  const run = new RunRepository(store).get(runId);
  if (!run) throw new ReproduceError(`no run ${runId} in the store`);
  const name = `run ${run.name} (${runId.slice(0, 8)})`;
  const blockers: string[] = [];
  const notes: string[] = [];
  if (run.status === 'RUNNING' || run.status === 'SCHEDULED') blockers.push(`${name} is still ${run.status.toLowerCase()}: its metrics are not final yet`);
  if (!run.pipeline) blockers.push(`${name} was not launched from a pipeline in mloop.yaml, so there is no command to run again`);
  if (!run.gitCommit) blockers.push(`${name} recorded no git commit (it started outside a git repository): its code cannot be checked out`);
  else if (!(await gitOk(projectRoot, ['cat-file', '-e', `${run.gitCommit}^{commit}`])))
    blockers.push(
      `commit ${run.gitCommit.slice(0, 12)} of ${name} no longer exists in the repository at ${projectRoot} (rebased away or garbage-collected): fetch it or restore the branch that had it`,
    );
  const code = new RunCodeRepository(store).forRun(runId);
  if (run.gitDirty && !code)
    blockers.push(
      `${name} started with uncommitted changes, but it is from before mloop kept them: the exact code (commit ${run.gitCommit?.slice(0, 12) ?? '?'} plus those changes) cannot be recovered`,
    );
  else if (code && (code.truncated || !code.diff))
    blockers.push(`the uncommitted changes of ${name} were ${code.diffBytes.toLocaleString('en-US')} bytes or more, over the cap: they were not kept`);
  if (code && code.untracked.length)
    notes.push(
      `untracked files at the original run were listed but not kept, so the rerun does not have them: ${code.untracked.slice(0, 10).join(', ')}${code.untracked.length > 10 ? ', …' : ''}`,
    );
  const datasets = new DatasetRepository(store);
  const cache = new DatasetCacheRepository(store);
  const inputs: Reproducibility['inputs'] = [];
  const versionIds = store.db.prepare('SELECT dataset_version_id FROM run_input WHERE run_id = ? ORDER BY dataset_version_id').pluck().all(runId) as number[];
  for (const id of versionIds) {
    const version = datasets.version(id);
    const dataset = version && datasets.byId(version.datasetId);
    if (!version || !dataset) continue;
    const why = notRestorableReason(cache.state(id), version);
    const fromDvc =
      version.digestAlgorithm === 'md5-dvc' &&
      ((await dvcCacheHas(projectRoot, version.digest)) || (await dvcRemoteFor(projectRoot, version.path).catch(() => undefined)) !== undefined);
    if (why && !fromDvc) blockers.push(`dataset ${dataset.name}: ${why}`);
    else if (relative(projectRoot, defaultRestoreTarget(store, projectRoot, version)).startsWith('..'))
      blockers.push(`dataset ${dataset.name} (${version.path}) is outside the project: a rerun restores data only inside its temporary checkout`);
    inputs.push({ dataset: dataset.name, version });
  }
  const environment = new EnvironmentRepository(store).forRun(runId)?.document;
  if (!environment) {
    if (env === 'recreate') blockers.push(`${name} is from before mloop captured environments: there is no package list to recreate`);
    else notes.push(`${name} is from before mloop captured environments: differences from today's Python cannot be reported`);
  } else if (env === 'recreate' && !environment.python) {
    blockers.push(`${name} recorded no Python environment (${environment.pythonProblem ?? 'none found'}): there is no package list to recreate`);
  }
  return { run, blockers, notes, inputs, environment };
}

/**
 * Re-runs a run exactly: its commit checked out into a temporary git worktree (the user's work tree is
 * never touched), its uncommitted diff applied, its dataset versions restored from the cache (digests
 * verified) into the checkout's paths, its params, and the environment compared with (or rebuilt as) the
 * recorded one. The rerun is a normal run; its metrics are compared with the original's within a relative
 * tolerance, and the verdict is stored (lineage: "reproduces"). The temporary worktree is always removed.
 */
export async function reproduceRun(options: ReproduceOptions): Promise<ReproduceResult> {
  const { store, projectRoot, runId } = options;
  const progress = options.onProgress ?? ((): void => undefined);
  const tolerance = options.tolerance ?? DEFAULT_REPRODUCE_TOLERANCE;
  const envMode = options.env ?? 'current';
  const check = await checkReproducible(store, projectRoot, runId, envMode);
  if (check.blockers.length) {
    throw new ReproduceError(`run ${check.run.name} (${runId.slice(0, 8)}) cannot be re-run exactly:\n  - ${check.blockers.join('\n  - ')}`);
  }
  const { run } = check;
  const commit = run.gitCommit!;
  const notes = [...check.notes];
  const top = (await gitText(projectRoot, ['rev-parse', '--show-toplevel'])).trim();
  const projectInRepo = relative(top, projectRoot);
  const temp = await mkdtemp(join(tmpdir(), 'mloop-rerun-'));
  const tree = join(temp, 'tree');
  let worktreeAdded = false;
  try {
    progress(`checking out ${commit.slice(0, 12)} into a temporary worktree`);
    // the repository's hooks (post-checkout…) are not run for a checkout the user did not make
    await gitText(top, ['-c', `core.hooksPath=${join(temp, 'no-hooks')}`, 'worktree', 'add', '--detach', tree, commit]);
    worktreeAdded = true;
    const code = new RunCodeRepository(store).forRun(runId);
    let diffApplied = false;
    if (code?.diff && code.diff.length > 0) {
      progress(`applying the run's uncommitted changes (${code.diff.length.toLocaleString('en-US')} bytes)`);
      const patch = join(temp, 'run.patch');
      await writeFile(patch, code.diff);
      try {
        await gitText(tree, ['apply', '--whitespace=nowarn', patch]);
      } catch (error) {
        throw new ReproduceError(
          `the uncommitted changes of run ${run.name} no longer apply on commit ${commit.slice(0, 12)}: ${(error as Error).message} ("mloop runs diff ${runId.slice(0, 8)}" prints them)`,
        );
      }
      diffApplied = true;
    }
    const project = join(tree, projectInRepo);
    const pipeline = await pipelineAt(project, run);
    const restored: ReproduceResult['restored'] = [];
    for (const { dataset, version } of check.inputs) {
      options.signal?.throwIfAborted();
      const rel = relative(projectRoot, defaultRestoreTarget(store, projectRoot, version));
      progress(`restoring ${dataset}@${version.digest.slice(0, 12)} into ${rel}`);
      await restoreVersion({ store, projectRoot, version, target: join(project, rel), ...(options.signal ? { signal: options.signal } : {}) });
      restored.push({ dataset, digest: version.digest, path: rel });
    }
    const recorded = new RunRepository(store).params(runId);
    const overrides = Object.fromEntries(Object.entries(recorded).filter(([k]) => Object.hasOwn(pipeline.params, k)));
    const resolved = resolveCommand(pipeline, overrides);
    if (run.command && displayCommand(resolved) !== run.command)
      notes.push(`the command resolves to "${displayCommand(resolved)}" at that commit, not "${run.command}" as recorded`);
    const words = resolved.kind === 'shell' ? roughShellWords(resolved.command) : [...resolved.args];

    let env: NodeJS.ProcessEnv = { ...(options.baseEnv ?? process.env) };
    if (envMode === 'recreate') {
      const venv = await recreateEnvironment({
        environment: check.environment!,
        folder: join(temp, 'venv'),
        onProgress: progress,
        ...(options.signal ? { signal: options.signal } : {}),
      });
      notes.push(...venv.notes);
      env = { ...env, VIRTUAL_ENV: venv.prefix, PATH: `${venv.bin}${process.platform === 'win32' ? ';' : ':'}${env.PATH ?? ''}` };
    } else if (existsSync(join(projectRoot, '.venv')) && !existsSync(join(project, '.venv'))) {
      // the project's own interpreter (uv, poetry, python -m venv .venv) is found where the run found it
      await symlink(join(projectRoot, '.venv'), join(project, '.venv'), 'dir');
    }
    let changes: EnvironmentChange[] = [];
    if (check.environment) {
      progress('comparing the environment with the recorded one');
      const now = await captureEnvironment({ commandWords: words, env, cwd: project, pipelineEnvNames: Object.keys(pipeline.env) });
      // a recreated venv is built without pip (the builder's pip fills it): the installer is not a difference
      changes = pythonChanges(check.environment, now).filter((c) => envMode !== 'recreate' || c.fact !== 'package:pip');
    }

    progress(`running ${displayCommand(resolved)}`);
    const handle = await launchRun({
      store,
      projectRoot: project,
      pipelineName: run.pipeline!,
      pipeline,
      overrides,
      trusted: options.trusted,
      baseEnv: env,
      runName: `${run.name} (reproduce)`,
      inputVersionIds: check.inputs.map((i) => i.version.datasetVersionId),
      tags: { 'mloop.reproduces': runId },
      ...(options.tracking ? { tracking: options.tracking } : {}),
      ...(options.output ? { output: options.output } : {}),
      ...(options.onOutput ? { onOutput: options.onOutput } : {}),
    });
    options.onStarted?.(handle);
    const outcome = await handle.done;
    const runs = new RunRepository(store);
    const metrics = compareMetrics(runs.latestMetricPoints(runId), runs.latestMetricPoints(outcome.runId), tolerance);
    const verdict: ReproductionVerdict = outcome.status !== 'FINISHED' ? 'failed' : metrics.every((m) => m.within) ? 'reproduced' : 'differs';
    if (verdict === 'failed')
      notes.push(`the rerun ended ${outcome.status}${outcome.exitCode !== null ? ` (exit code ${outcome.exitCode})` : ''}: see ${outcome.logPath}`);
    const reproduction = { runId: outcome.runId, originalRunId: runId, verdict, tolerance, metrics, environment: changes, notes };
    new ReproductionRepository(store).record(reproduction);
    return { reproduction: { ...reproduction, createdAt: Date.now() }, outcome, commit, diffApplied, restored };
  } finally {
    if (worktreeAdded) await gitText(top, ['worktree', 'remove', '--force', tree]).catch(() => undefined);
    await rm(temp, { recursive: true, force: true });
    await gitText(top, ['worktree', 'prune']).catch(() => undefined);
  }
}

/** The run's pipeline as mloop.yaml declared it at the run's commit (with its uncommitted changes). */
async function pipelineAt(project: string, run: Run): Promise<Pipeline> {
  const file = join(project, CONFIG_FILE);
  const text = await readFile(file, 'utf8').catch(() => undefined);
  if (text === undefined)
    throw new ReproduceError(`${CONFIG_FILE} is not in commit ${run.gitCommit!.slice(0, 12)} (with the run's changes): commit it so runs can be re-run`);
  const { config, problems } = loadConfig(text, `${CONFIG_FILE} at ${run.gitCommit!.slice(0, 12)}`);
  if (!config) throw new ReproduceError(`${CONFIG_FILE} at the run's commit has errors:\n${problems.map(formatProblem).join('\n')}`);
  const pipeline = config.pipelines[run.pipeline!];
  if (!pipeline) throw new ReproduceError(`${CONFIG_FILE} at commit ${run.gitCommit!.slice(0, 12)} has no pipeline "${run.pipeline}"`);
  return pipeline;
}

/** The interpreter and package differences, original → now. */
export function pythonChanges(original: RunEnvironment, now: RunEnvironment): EnvironmentChange[] {
  return environmentChanges(environmentFacts(original), environmentFacts(now)).filter((c) => c.fact === 'python' || c.fact.startsWith('package:'));
}

/** Every metric of either run, the original's last value against the rerun's, within a relative tolerance. */
export function compareMetrics(original: readonly MetricPoint[], rerun: readonly MetricPoint[], tolerance: number): MetricComparison[] {
  const a = new Map(original.map((m) => [m.key, m.value]));
  const b = new Map(rerun.map((m) => [m.key, m.value]));
  const keys = [...new Set([...a.keys(), ...b.keys()])].sort();
  const text = (v: number | undefined): number | string | null => (v === undefined ? null : Number.isFinite(v) ? v : String(v));
  return keys.map((key) => {
    const x = a.get(key);
    const y = b.get(key);
    let difference: number | null = null;
    if (x !== undefined && y !== undefined) {
      if (Object.is(x, y) || x === y || (Number.isNaN(x) && Number.isNaN(y))) difference = 0;
      else if (!Number.isFinite(x) || !Number.isFinite(y)) difference = Number.POSITIVE_INFINITY;
      else difference = Math.abs(x - y) / Math.max(Math.abs(x), Math.abs(y));
    }
    return {
      key,
      original: text(x),
      rerun: text(y),
      relativeDifference: difference === null || Number.isFinite(difference) ? difference : null,
      within: difference !== null && difference <= tolerance,
    };
  });
}

function gitText(cwd: string, args: string[]): Promise<string> {
  return new Promise((done, fail) => {
    execFile('git', args, { cwd, maxBuffer: 16 * 1024 * 1024, timeout: 120_000, windowsHide: true }, (error, stdout, stderr) => {
      if (error) fail(new Error(String(stderr).trim().split('\n').slice(-3).join(' ') || error.message));
      else done(stdout);
    });
  });
}

const gitOk = (cwd: string, args: string[]): Promise<boolean> =>
  gitText(cwd, args).then(
    () => true,
    () => false,
  );
