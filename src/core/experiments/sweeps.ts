import { DEFAULT_MAX_TRIALS, type ParamValue, type Pipeline } from '../config/schema';
import type { RunHandle } from '../runs/launcher';
import { ParamError, parseParamOverrides } from '../runs/resolveCommand';
import { seededRandom } from '../sampling/seededRandom';
import { SweepRepository, type Sweep, type SweepTrial } from '../store/sweeps';
import type { Store } from '../store/store';

/** A sweep that cannot start: the message says what to change. Nothing was queued. */
export class SweepError extends Error {
  override readonly name = 'SweepError';
}

export interface SweepRequest {
  /** `k=a,b,c` from the command line: a grid instead of the pipeline's sweep. */
  readonly grid?: readonly string[];
  /** Draw this many trials (from the pipeline's random space, or from the grid's combinations). */
  readonly random?: number;
  readonly seed?: number;
}

/** The trials (param overrides as validated text) a sweep of `pipeline` runs, or a SweepError. */
export function sweepTrials(pipelineName: string, pipeline: Pipeline, request: SweepRequest = {}): Record<string, string>[] {
  const spec = pipeline.sweep;
  const maxTrials = spec?.max_trials ?? DEFAULT_MAX_TRIALS;
  const where = `pipeline "${pipelineName}"`;
  const check = (assignments: string[]): Record<string, string> => {
    try {
      return parseParamOverrides(assignments, pipeline.params);
    } catch (error) {
      if (error instanceof ParamError) throw new SweepError(`${error.message} (${where})`);
      throw error;
    }
  };
  const cliGrid = request.grid?.length ? parseGrid(request.grid) : undefined;
  const grid = cliGrid ?? (spec?.grid ? Object.fromEntries(Object.entries(spec.grid).map(([k, values]) => [k, values.map(String)])) : undefined);
  let trials: Record<string, string>[];
  if (grid) {
    for (const name of Object.keys(grid)) check([`${name}=${grid[name]![0]}`]); // undeclared params refused before counting
    const count = Object.values(grid).reduce((n, values) => n * values.length, 1);
    if (request.random === undefined && count > maxTrials) throw tooMany(count, maxTrials, where);
    const all = combinations(grid);
    trials = request.random === undefined ? all : shuffled(all, request.seed ?? 0).slice(0, request.random);
  } else if (spec?.random || request.random !== undefined) {
    const random = spec?.random;
    if (!random) throw new SweepError(`${where} declares no sweep to draw from: add sweep: { random: … } or grid: to it, or pass --grid name=a,b`);
    const n = request.random ?? random.trials;
    const next = seededRandom(request.seed ?? random.seed);
    trials = Array.from({ length: n }, () => Object.fromEntries(Object.entries(random.params).map(([k, space]) => [k, String(draw(space, next))])));
  } else if (spec?.list) {
    trials = spec.list.map((trial) => Object.fromEntries(Object.entries(trial).map(([k, v]) => [k, String(v)])));
  } else {
    throw new SweepError(`${where} declares no sweep: add sweep: (grid, random or list) under it in mloop.yaml, or pass --grid name=a,b or --random N`);
  }
  if (trials.length > maxTrials) throw tooMany(trials.length, maxTrials, where);
  if (trials.length === 0) throw new SweepError(`the sweep of ${where} has no trials`);
  return trials.map((trial) => check(Object.entries(trial).map(([k, v]) => `${k}=${v}`)));
}

function tooMany(count: number, max: number, where: string): SweepError {
  return new SweepError(
    `the sweep of ${where} has ${count} trials, more than max_trials ${max}: narrow it, draw a sample with --random N, or raise sweep.max_trials`,
  );
}

function parseGrid(assignments: readonly string[]): Record<string, string[]> {
  const grid: Record<string, string[]> = {};
  for (const assignment of assignments) {
    const eq = assignment.indexOf('=');
    if (eq <= 0) throw new SweepError(`"${assignment}" is not a grid: write name=value1,value2`);
    const name = assignment.slice(0, eq).trim();
    const values = assignment
      .slice(eq + 1)
      .split(',')
      .map((v) => v.trim())
      .filter((v) => v !== '');
    if (values.length === 0) throw new SweepError(`--grid ${name} has no values: write ${name}=value1,value2`);
    if (grid[name]) throw new SweepError(`--grid ${name} is given twice`);
    grid[name] = values;
  }
  return grid;
}

function combinations(grid: Readonly<Record<string, readonly string[]>>): Record<string, string>[] {
  let all: Record<string, string>[] = [{}];
  for (const [name, values] of Object.entries(grid)) all = all.flatMap((partial) => values.map((v) => ({ ...partial, [name]: v })));
  return all;
}

function shuffled<T>(items: readonly T[], seed: number): T[] {
  const next = seededRandom(seed);
  const copy = [...items];
  for (let i = copy.length - 1; i > 0; i--) {
    const j = Math.floor(next() * (i + 1));
    [copy[i], copy[j]] = [copy[j]!, copy[i]!];
  }
  return copy;
}

type RandomSpace = readonly ParamValue[] | { readonly min: number; readonly max: number; readonly log: boolean; readonly integer: boolean };

function draw(space: RandomSpace, next: () => number): ParamValue {
  if (Array.isArray(space)) return space[Math.floor(next() * space.length)]!;
  const range = space as Exclude<RandomSpace, readonly ParamValue[]>;
  const value = range.log ? Math.exp(Math.log(range.min) + next() * (Math.log(range.max) - Math.log(range.min))) : range.min + next() * (range.max - range.min);
  return range.integer ? Math.round(value) : Number(value.toPrecision(6));
}

export interface SweepRunOptions {
  readonly store: Store;
  readonly sweepId: string;
  /** Starts one trial as a run of the pipeline with these overrides and tags. */
  readonly launch: (overrides: Readonly<Record<string, string>>, tags: Readonly<Record<string, string>>) => Promise<RunHandle>;
  /** A trial started or ended. */
  readonly onTrial?: (trial: SweepTrial) => void;
  /** Aborting cancels the sweep: running trials are stopped, no queued one starts (recorded in the store). */
  readonly signal?: AbortSignal;
  /** How a "best" trial is chosen (the pipeline's primary metric), to tag it mloop.sweep.best. */
  readonly primaryMetric?: { readonly name: string; readonly goal: 'maximize' | 'minimize' };
}

/**
 * Runs a queued sweep's trials, at most max_parallel at once, until the queue is empty or the sweep is
 * cancelled (here, or in the store by another process: checked before each start). Trials left RUNNING by
 * a crash are marked KILLED; queued ones run. Resolves with the sweep as it ended.
 */
export async function runSweep(options: SweepRunOptions): Promise<Sweep> {
  const { store, sweepId } = options;
  const repo = new SweepRepository(store);
  const sweep = repo.get(sweepId);
  if (!sweep) throw new SweepError(`no sweep ${sweepId} in the store`);
  // a trial marked RUNNING that nobody runs now was interrupted by a restart
  for (const trial of repo.trials(sweepId).filter((t) => t.status === 'RUNNING')) repo.setTrial(sweepId, trial.ordinal, { status: 'KILLED' });
  const running = new Set<RunHandle>();
  const onAbort = (): void => {
    repo.cancel(sweepId);
    for (const handle of running) handle.stop();
  };
  if (options.signal?.aborted) onAbort();
  options.signal?.addEventListener('abort', onAbort);
  let failures = 0;
  const worker = async (): Promise<void> => {
    for (let trial = repo.claimNext(sweepId); trial; trial = repo.claimNext(sweepId)) {
      let handle: RunHandle;
      try {
        handle = await options.launch(trial.params, { 'mloop.sweep': sweepId, 'mloop.sweep.trial': String(trial.ordinal) });
      } catch {
        // could not start (a shell command in an untrusted workspace…): the trial fails, the others still run
        failures++;
        repo.setTrial(sweepId, trial.ordinal, { status: 'FAILED' });
        options.onTrial?.({ ...trial, status: 'FAILED' });
        continue;
      }
      running.add(handle);
      repo.setTrial(sweepId, trial.ordinal, { status: 'RUNNING', runId: handle.runId });
      options.onTrial?.({ ...trial, status: 'RUNNING', runId: handle.runId });
      if (options.signal?.aborted) handle.stop();
      const outcome = await handle.done;
      running.delete(handle);
      if (outcome.status !== 'FINISHED') failures++;
      repo.setTrial(sweepId, trial.ordinal, { status: outcome.status });
      options.onTrial?.({ ...trial, status: outcome.status, runId: outcome.runId });
    }
  };
  try {
    await Promise.all(Array.from({ length: sweep.maxParallel }, () => worker()));
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
  }
  repo.finish(sweepId, failures > 0 ? 'FAILED' : 'FINISHED');
  if (options.primaryMetric) markBestTrial(store, sweepId, options.primaryMetric);
  return repo.get(sweepId)!;
}

/** Tags the trial with the best primary metric (its latest value) mloop.sweep.best = true. */
function markBestTrial(store: Store, sweepId: string, metric: { readonly name: string; readonly goal: 'maximize' | 'minimize' }): void {
  const order = metric.goal === 'minimize' ? 'ASC' : 'DESC';
  const best = store.db
    .prepare(
      `SELECT t.run_id FROM sweep_trial t JOIN metric_series m ON m.run_id = t.run_id AND m.key = ?
       WHERE t.sweep_id = ? AND t.status = 'FINISHED' AND m.latest_value IS NOT NULL ORDER BY m.latest_value ${order} LIMIT 1`,
    )
    .pluck()
    .get(metric.name, sweepId) as string | undefined;
  if (best)
    store.db
      .prepare("INSERT INTO tag (run_id, key, value) VALUES (?, 'mloop.sweep.best', 'true') ON CONFLICT (run_id, key) DO UPDATE SET value = 'true'")
      .run(best);
}
