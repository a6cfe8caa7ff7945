import { spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, mkdirSync, statSync } from 'node:fs';
import { userInfo } from 'node:os';
import { basename, dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import type { Pipeline } from '../config/schema';
import { ArtifactRepository } from '../store/artifacts';
import { DEFAULT_EXPERIMENT, ExperimentRepository } from '../store/experiments';
import { RunRepository, type MetricPoint, type RunStatus } from '../store/runs';
import type { Store } from '../store/store';
import { captureCodeChanges, findEntryScript, readGitState, roughShellWords, sha256File } from './codeVersion';
import { ProtocolLineSplitter, type ProtocolRecord } from './lineProtocol';
import { RunOutputLog } from './outputLog';
import { readableRunName } from './runName';
import { displayCommand, resolveCommand } from './resolveCommand';
import { linkRunInputs } from '../datasets/versions';
import type { Backend, BackendDatasetInput, BackendMetricPoint, TrackingTarget } from '../backends/backend';
import { artifactRootOf } from '../store/artifactRoot';
import { EnvironmentRepository } from '../store/environments';
import { RunCodeRepository } from '../store/runCode';
import { captureEnvironment } from './environment';

/** Where a launched script's unchanged `mlflow` client sends what it logs. */
export interface TrackingEndpoint {
  readonly uri: string;
  readonly token: string;
}

/** Something that takes output and says when it is full (a Writable such as process.stdout). */
export interface OutputStream {
  write(chunk: string): boolean;
  once(event: 'drain', listener: () => void): unknown;
}

export interface LaunchOptions {
  readonly store: Store;
  /** Folder of mloop.yaml: the run's working directory. */
  readonly projectRoot: string;
  readonly pipelineName: string;
  readonly pipeline: Pipeline;
  /** Validated `--param` overrides (see parseParamOverrides). */
  readonly overrides?: Readonly<Record<string, string>>;
  /** A string command runs in the user's shell, which is allowed only in a trusted workspace. */
  readonly trusted: boolean;
  /** Omitted: no MLFLOW_* variables are injected (the line protocol needs no server). */
  readonly tracking?: TrackingEndpoint;
  /** Every chunk of output, as it arrives (a terminal). */
  readonly onOutput?: (text: string) => void;
  /** Like onOutput, but the child is paused while the stream is full. */
  readonly output?: OutputStream;
  /** Environment the run starts from (default: this process's). */
  readonly baseEnv?: Readonly<NodeJS.ProcessEnv>;
  /** Shell for string commands (default: $SHELL when it is a POSIX shell, else /bin/sh). */
  readonly shell?: string;
  /** Between SIGTERM and SIGKILL when stopping, in ms (default 5000). */
  readonly stopGraceMs?: number;
  /** Default: `<store folder>/logs`. */
  readonly logDir?: string;
  /** Where run artifacts are kept, as the tracking server keeps them (default: `<store folder>/artifacts`). */
  readonly artifactRoot?: string;
  readonly logCapBytes?: number;
  readonly tailChars?: number;
  readonly runName?: string;
  /** Dataset versions the run reads (see prepareRunInputs), pinned to the run as soon as it exists. */
  readonly inputVersionIds?: readonly number[];
  /** Record the Python environment, OS, CPU and allow-listed variables the run started with (default true). */
  readonly captureEnvironment?: boolean;
  /** More tags for the run row (a stage run's parent pipeline run: mlflow.parentRunId). */
  readonly tags?: Readonly<Record<string, string>>;
  /**
   * backend=mlflow: the run is made on the team's tracking server first and the script's MLflow client
   * logs there (MLFLOW_TRACKING_URI/TOKEN/RUN_ID point at it); the local row, with the same run id, keeps
   * what MLflow cannot (pid, exit code, output log). The server's run gets the final status at exit.
   */
  readonly remote?: { readonly backend: Backend; readonly tracking: TrackingTarget };
}

export type FinalRunStatus = Exclude<RunStatus, 'SCHEDULED' | 'RUNNING'>;

export interface RunOutcome {
  readonly runId: string;
  readonly status: FinalRunStatus;
  readonly exitCode: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly logPath: string;
  readonly logTruncated: boolean;
  /** The last part of the output (bounded). */
  readonly outputTail: string;
  /** Why the process could not start, when it could not. */
  readonly error?: string;
}

export interface RunHandle {
  readonly runId: string;
  readonly pid: number | undefined;
  readonly done: Promise<RunOutcome>;
  /** Stops the whole process tree: SIGTERM, then SIGKILL after the grace period. The run ends KILLED. */
  stop(): void;
}

/** Refused before anything starts: a shell command in an untrusted workspace. */
export class UntrustedCommandError extends Error {
  override readonly name = 'UntrustedCommandError';
}

const POSIX_SHELLS = new Set(['sh', 'bash', 'zsh', 'dash', 'ksh', 'mksh', 'ash', 'yash']);
/** After the main process exits, how long to wait for its output pipes to close (a background child may hold them). */
const PIPE_CLOSE_WAIT_MS = 2000;

/**
 * Starts a pipeline as a recorded run: the run row (RUNNING, params, code version) exists before
 * the process does; output goes to the caller and a bounded log; protocol lines land in the store;
 * the exit decides FINISHED / FAILED / KILLED.
 */
export async function launchRun(options: LaunchOptions): Promise<RunHandle> {
  const resolved = resolveCommand(options.pipeline, options.overrides);
  if (resolved.kind === 'shell' && !options.trusted) {
    throw new UntrustedCommandError(
      `pipeline "${options.pipelineName}" has a shell command, which mloop runs only in a trusted workspace. ` +
        'Trust the workspace, or write the command as a list (program and arguments), which runs without a shell.',
    );
  }
  const argv = resolved.kind === 'shell' ? [...shellFor(options.shell), resolved.command] : [...resolved.args];
  const cwd = options.projectRoot;
  // the uncommitted code is read before the process can touch the work tree, side by side with the commit
  const [git, entry, codeChanges] = await Promise.all([
    readGitState(cwd),
    findEntryScript(resolved.kind === 'shell' ? roughShellWords(resolved.command) : resolved.args, cwd),
    captureCodeChanges(cwd).catch(() => undefined),
  ]);

  const runs = new RunRepository(options.store);
  const ordinal = (options.store.db.prepare('SELECT count(*) FROM run WHERE pipeline = ?').pluck().get(options.pipelineName) as number) + 1;
  const runName =
    options.runName ?? readableRunName({ pipelineName: options.pipelineName, ordinal, defaults: options.pipeline.params, params: resolved.params });
  const experiment = new ExperimentRepository(options.store).ensure(options.pipeline.experiment ?? DEFAULT_EXPERIMENT);
  const user = currentUser();
  const command = displayCommand(resolved);
  const sourceTags = {
    'mlflow.source.type': 'LOCAL',
    ...(entry ? { 'mlflow.source.name': entry.file } : {}),
    ...(git ? { 'mlflow.source.git.commit': git.commit } : {}),
    ...(user ? { 'mlflow.user': user } : {}),
  };
  const remoteRun = options.remote
    ? await options.remote.backend.createRun({
        experimentName: options.pipeline.experiment ?? DEFAULT_EXPERIMENT,
        runName,
        params: resolved.params,
        tags: { ...sourceTags, 'mloop.pipeline': options.pipelineName, 'mloop.command': command },
      })
    : undefined;
  const run = runs.create({
    ...(remoteRun ? { runId: remoteRun.runId } : {}),
    experimentId: experiment.experimentId,
    name: remoteRun?.name ?? runName,
    status: 'RUNNING',
    pipeline: options.pipelineName,
    command,
    gitCommit: git?.commit,
    gitDirty: git?.dirty,
    entryFile: entry?.file,
    entryDigest: entry?.sha256,
    user,
    params: resolved.params,
    // the layout the tracking server serves: <artifact root>/<experiment id>/<run id>/artifacts/<path>
    artifactUri: `mlflow-artifacts:/${experiment.experimentId}/{runId}/artifacts`,
    tags: { ...sourceTags, ...options.tags },
  });
  const runId = run.runId;
  if (options.inputVersionIds?.length) linkRunInputs(options.store, runId, options.inputVersionIds);
  if (codeChanges && codeChanges.commit === git?.commit) new RunCodeRepository(options.store).record(runId, codeChanges);

  const env: NodeJS.ProcessEnv = { ...(options.baseEnv ?? process.env), PYTHONUNBUFFERED: '1' };
  for (const [key, value] of Object.entries(options.pipeline.env)) env[key] = String(value);
  delete env.MLFLOW_RUN_ID; // an inherited id would attach the script to some other run
  delete env.MLFLOW_EXPERIMENT_ID;
  env.MLOOP_RUN_ID = runId;
  if (options.remote && remoteRun) {
    env.MLFLOW_TRACKING_URI = options.remote.tracking.uri;
    if (options.remote.tracking.token) env.MLFLOW_TRACKING_TOKEN = options.remote.tracking.token;
    else delete env.MLFLOW_TRACKING_TOKEN; // a token for the local endpoint means nothing to the team server
    env.MLFLOW_RUN_ID = runId;
    env.MLFLOW_EXPERIMENT_ID = remoteRun.experimentId;
  } else if (options.tracking) {
    env.MLFLOW_TRACKING_URI = options.tracking.uri;
    env.MLFLOW_TRACKING_TOKEN = options.tracking.token;
    env.MLFLOW_RUN_ID = runId;
    env.MLFLOW_EXPERIMENT_ID = String(experiment.experimentId);
  }

  const logPath = join(options.logDir ?? join(dirname(options.store.path), 'logs'), `${runId}.log`);
  const log = new RunOutputLog(logPath, options.logCapBytes, options.tailChars);
  log.write(`[mloop] run ${runId} · pipeline ${options.pipelineName} · ${command}\n`);
  if (options.remote?.backend.logInputs && options.inputVersionIds?.length) {
    // the team's server learns what the run read, as mlflow.log_input would have told it: lineage from any client
    try {
      await options.remote.backend.logInputs(runId, serverDatasetInputs(options.store, options.inputVersionIds, cwd));
    } catch (error) {
      log.write(
        `[mloop] could not record the run's datasets on ${options.remote.backend.location}: ${(error as Error).message} (they stay linked in the local store)\n`,
      );
    }
  }

  const child = spawn(argv[0]!, argv.slice(1), { cwd, env, detached: process.platform !== 'win32', stdio: ['ignore', 'pipe', 'pipe'], windowsHide: true });
  if (child.pid !== undefined) options.store.db.prepare('UPDATE run SET pid = ? WHERE run_id = ?').run(child.pid, runId);

  const artifactDir = join(options.artifactRoot ?? artifactRootOf(options.store.path), String(experiment.experimentId), runId, 'artifacts');
  const session = new RunSession({ options, runId, child, log, runs, artifactDir });
  // asked for beside the starting process, never before it: the run's start does not wait for pip
  const environment =
    options.captureEnvironment === false
      ? Promise.resolve()
      : recordEnvironment(options.store, runId, {
          commandWords: resolved.kind === 'shell' ? roughShellWords(resolved.command) : resolved.args,
          env,
          cwd,
          pipelineEnvNames: Object.keys(options.pipeline.env),
        }).catch((error: unknown) => log.write(`[mloop] could not record the run's environment: ${(error as Error).message}\n`));
  const remote = options.remote;
  const finished = remote
    ? session.done.then(async (outcome): Promise<RunOutcome> => {
        try {
          await remote.backend.finishRun(runId, outcome.status, Date.now());
          return outcome;
        } catch (error) {
          const message = `the run ended ${outcome.status}, but marking it on ${remote.backend.location} failed: ${(error as Error).message}`;
          return { ...outcome, error: outcome.error ? `${outcome.error}; ${message}` : message };
        }
      })
    : session.done;
  // the caller may close the store once the run is done: the environment row lands first
  const done = finished.then(async (outcome) => {
    await environment;
    return outcome;
  });
  return { runId, pid: child.pid, done, stop: () => session.stop() };
}

async function recordEnvironment(store: Store, runId: string, capture: Parameters<typeof captureEnvironment>[0]): Promise<void> {
  const started = performance.now();
  const document = await captureEnvironment(capture);
  new EnvironmentRepository(store).record(runId, document, Math.round(performance.now() - started));
}

function shellFor(configured: string | undefined): string[] {
  if (process.platform === 'win32') return [process.env.ComSpec ?? 'cmd.exe', '/d', '/s', '/c'];
  const candidate = configured ?? process.env.SHELL;
  // values are quoted for POSIX shells; fish and others read '…' differently, so they get /bin/sh
  const shell = candidate && POSIX_SHELLS.has(basename(candidate)) ? candidate : '/bin/sh';
  return [shell, '-c'];
}

function currentUser(): string | undefined {
  try {
    return userInfo().username;
  } catch {
    return undefined;
  }
}

/** One running process and everything that follows from it; lives until the run row is final. */
class RunSession {
  readonly done: Promise<RunOutcome>;
  private resolveDone!: (outcome: RunOutcome) => void;
  private readonly options: LaunchOptions;
  private readonly runId: string;
  private readonly child: ChildProcess;
  private readonly log: RunOutputLog;
  private readonly runs: RunRepository;
  private readonly artifactDir: string;
  private readonly splitter: ProtocolLineSplitter;
  private readonly pending: { record: ProtocolRecord; receivedAt: number; line: number }[] = [];
  private flushScheduled = false;
  private artifacts: Promise<void> = Promise.resolve();
  /** backend=mlflow: protocol records sent on to the server's run, in order. */
  private forwarding: Promise<void> = Promise.resolve();
  private forwardError: string | undefined;
  private artifactNoticeShown = false;
  private stopping = false;
  private exited: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  private spawnError: string | undefined;
  private finalized = false;
  private pausedForOutput = false;
  private killTimer: NodeJS.Timeout | undefined;

  constructor(parts: { options: LaunchOptions; runId: string; child: ChildProcess; log: RunOutputLog; runs: RunRepository; artifactDir: string }) {
    ({ options: this.options, runId: this.runId, child: this.child, log: this.log, runs: this.runs, artifactDir: this.artifactDir } = parts);
    this.done = new Promise((resolveDone) => (this.resolveDone = resolveDone));
    this.splitter = new ProtocolLineSplitter({
      onOutput: (text) => this.emit(text),
      onRecord: (record, line) => this.enqueue(record, line),
      onInvalid: (reason, line, text) =>
        this.emit(`[mloop] stdout line ${line}: ignored protocol line (${reason}): ${text.length > 120 ? `${text.slice(0, 120)}…` : text}\n`),
    });
    const stdoutText = new StringDecoder('utf8');
    const stderrText = new StringDecoder('utf8');
    this.child.stdout!.on('data', (chunk: Buffer) => this.splitter.push(stdoutText.write(chunk)));
    this.child.stdout!.on('end', () => {
      this.splitter.push(stdoutText.end());
      this.splitter.end();
    });
    this.child.stderr!.on('data', (chunk: Buffer) => this.emit(stderrText.write(chunk)));
    this.child.stderr!.on('end', () => this.emit(stderrText.end()));
    this.child.on('error', (error) => {
      if (this.child.pid !== undefined) return; // a failed kill of a process that already ended: nothing to record
      this.spawnError = `could not start ${this.child.spawnfile}: ${error.message}`;
      this.emit(`[mloop] ${this.spawnError}\n`);
      void this.finalize();
    });
    this.child.on('exit', (code, signal) => {
      this.exited = { code, signal };
      // a background grandchild may keep the pipes open: do not wait for it forever
      setTimeout(() => {
        this.child.stdout?.destroy();
        this.child.stderr?.destroy();
        void this.finalize();
      }, PIPE_CLOSE_WAIT_MS).unref();
    });
    this.child.on('close', () => void this.finalize());
  }

  stop(): void {
    if (this.finalized || this.stopping) {
      if (this.stopping && !this.finalized) this.signalTree('SIGKILL'); // asked twice: no more grace
      return;
    }
    this.stopping = true;
    this.signalTree('SIGTERM');
    const grace = this.options.stopGraceMs ?? 5000;
    this.killTimer = setTimeout(() => this.signalTree('SIGKILL'), grace);
  }

  private signalTree(signal: NodeJS.Signals): void {
    const pid = this.child.pid;
    if (pid === undefined) return;
    try {
      if (process.platform === 'win32') this.child.kill(signal);
      else process.kill(-pid, signal); // the whole process group: the script and everything it started
    } catch {
      // the group is already gone
    }
  }

  private emit(text: string): void {
    if (text === '') return;
    this.log.write(text);
    this.options.onOutput?.(text);
    const stream = this.options.output;
    if (stream && !stream.write(text) && !this.pausedForOutput) {
      this.pausedForOutput = true;
      this.child.stdout?.pause();
      this.child.stderr?.pause();
      stream.once('drain', () => {
        this.pausedForOutput = false;
        this.child.stdout?.resume();
        this.child.stderr?.resume();
      });
    }
  }

  private enqueue(record: ProtocolRecord, line: number): void {
    if ((record.type === 'artifact' || record.type === 'model') && this.options.remote && !this.artifactNoticeShown) {
      this.artifactNoticeShown = true;
      this.emit(
        `[mloop] stdout line ${line}: ${record.type} files reported by protocol lines stay in the local store; the MLflow server (${this.options.remote.backend.location}) receives protocol metrics, params and tags only. Log files with the mlflow client (mlflow.log_artifact / log_model) to put them on the server.\n`,
      );
    }
    if (record.type === 'artifact' || record.type === 'model') {
      this.artifacts = this.artifacts.then(() => this.storeArtifact(record, line));
      return;
    }
    this.pending.push({ record, receivedAt: Date.now(), line });
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => this.flush());
    }
  }

  /** Everything that arrived in one tick, in one transaction. */
  private flush(): void {
    this.flushScheduled = false;
    const batch = this.pending.splice(0);
    if (batch.length === 0) return;
    const db = this.options.store.db;
    const conflicts: string[] = [];
    try {
      this.options.store.transaction(() => {
        const metrics: MetricPoint[] = [];
        const insertParam = db.prepare('INSERT INTO param (run_id, key, value) VALUES (?, ?, ?) ON CONFLICT (run_id, key) DO NOTHING');
        const readParam = db.prepare('SELECT value FROM param WHERE run_id = ? AND key = ?').pluck();
        const upsertTag = db.prepare('INSERT INTO tag (run_id, key, value) VALUES (?, ?, ?) ON CONFLICT (run_id, key) DO UPDATE SET value = excluded.value');
        for (const { record, receivedAt, line } of batch) {
          if (record.type === 'metric') {
            metrics.push({ key: record.name, value: record.value, step: record.step, timestamp: record.timestamp ?? receivedAt });
          } else if (record.type === 'param') {
            if (insertParam.run(this.runId, record.name, record.value).changes === 0) {
              const existing = readParam.get(this.runId, record.name) as string;
              if (existing !== record.value)
                conflicts.push(
                  `[mloop] stdout line ${line}: param ${record.name} is already ${JSON.stringify(existing)}; params cannot change during a run, ${JSON.stringify(record.value)} was ignored\n`,
                );
            }
          } else if (record.type === 'tag') {
            upsertTag.run(this.runId, record.name, record.value);
          }
        }
        if (metrics.length) this.runs.logMetrics(this.runId, metrics);
      });
    } catch (error) {
      conflicts.push(`[mloop] could not store ${batch.length} protocol records: ${(error as Error).message}\n`);
    }
    for (const message of conflicts) this.emit(message);
    this.forward(batch.map((b) => ({ record: b.record, receivedAt: b.receivedAt })));
  }

  /** backend=mlflow: the same records go to the run on the tracking server (the charts of the team read them there). */
  private forward(batch: readonly { record: ProtocolRecord; receivedAt: number }[]): void {
    const backend = this.options.remote?.backend;
    if (!backend?.logBatch) return;
    const metrics: (BackendMetricPoint & { key: string })[] = [];
    const params: Record<string, string> = {};
    const tags: Record<string, string> = {};
    for (const { record, receivedAt } of batch) {
      if (record.type === 'metric') metrics.push({ key: record.name, value: record.value, step: record.step, timestamp: record.timestamp ?? receivedAt });
      else if (record.type === 'param') params[record.name] ??= record.value;
      else if (record.type === 'tag') tags[record.name] = record.value;
    }
    if (metrics.length === 0 && Object.keys(params).length === 0 && Object.keys(tags).length === 0) return;
    this.forwarding = this.forwarding.then(async () => {
      if (this.forwardError) return; // one message per run; the local store still has every record
      try {
        await backend.logBatch!(this.runId, { metrics, params, tags });
      } catch (error) {
        this.forwardError = `protocol records could not be sent to ${backend.location}: ${(error as Error).message} (later records of this run stay local only)`;
        this.emit(`[mloop] ${this.forwardError}\n`);
      }
    });
  }

  /** Copies a reported file into the run's artifact folder and records its digest. */
  private async storeArtifact(record: Extract<ProtocolRecord, { type: 'artifact' | 'model' }>, line: number): Promise<void> {
    const cwd = this.options.projectRoot;
    const source = resolve(cwd, record.path);
    try {
      if (!statSync(source).isFile()) throw new Error('not a file');
    } catch {
      this.emit(`[mloop] stdout line ${line}: ${record.type} path ${record.path} is not a file (relative to ${cwd}); nothing was stored\n`);
      return;
    }
    try {
      const inside = relative(cwd, source);
      // a path outside the project keeps only its file name, so it cannot escape the artifact folder
      const artifactPath = inside.startsWith('..') || isAbsolute(inside) ? basename(source) : inside.split('\\').join('/');
      const target = join(this.artifactDir, artifactPath);
      mkdirSync(dirname(target), { recursive: true });
      copyFileSync(source, target);
      const digest = await sha256File(target);
      const size = statSync(target).size;
      this.options.store.transaction(() => {
        new ArtifactRepository(this.options.store).record({ runId: this.runId, path: artifactPath, digest, size });
        if (record.type === 'model') {
          this.options.store.db
            .prepare('INSERT INTO tag (run_id, key, value) VALUES (?, ?, ?) ON CONFLICT (run_id, key) DO UPDATE SET value = excluded.value')
            .run(this.runId, `mloop.model.${record.name}`, artifactPath);
        }
      });
    } catch (error) {
      this.emit(`[mloop] stdout line ${line}: could not store ${record.type} ${record.path}: ${(error as Error).message}\n`);
    }
  }

  private async finalize(): Promise<void> {
    if (this.finalized) return;
    if (this.exited === undefined && this.child.pid !== undefined) return; // 'close' always follows 'exit'
    this.finalized = true;
    this.splitter.end();
    this.flush();
    await this.artifacts;
    await this.forwarding;
    if (this.stopping) await this.waitForTreeToDie();
    clearTimeout(this.killTimer);
    const { code, signal } = this.exited ?? { code: null, signal: null };
    const status: FinalRunStatus =
      this.spawnError && this.child.pid === undefined ? 'FAILED' : this.stopping || signal !== null ? 'KILLED' : code === 0 ? 'FINISHED' : 'FAILED';
    this.runs.finish(this.runId, { status, exitCode: code });
    this.log.write(`[mloop] run ${this.runId} ${status}${code !== null ? ` (exit code ${code})` : signal ? ` (${signal})` : ''}\n`);
    this.log.close();
    this.resolveDone({
      runId: this.runId,
      status,
      exitCode: code,
      signal,
      logPath: this.log.path,
      logTruncated: this.log.truncated,
      outputTail: this.log.tail(),
      ...(this.spawnError || this.forwardError ? { error: [this.spawnError, this.forwardError].filter(Boolean).join('; ') } : {}),
    });
  }

  /** After a stop, the run is over only when no process of its group is left (SIGKILL at the grace deadline). */
  private async waitForTreeToDie(): Promise<void> {
    const pid = this.child.pid;
    if (pid === undefined || process.platform === 'win32') return;
    const deadline = Date.now() + (this.options.stopGraceMs ?? 5000) + 1000;
    while (groupAlive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    if (groupAlive(pid)) this.signalTree('SIGKILL');
  }
}

function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Dataset versions as MLflow dataset inputs: MLflow caps a digest at 36 characters (the first 36 hex
 * digits of the SHA-256 are kept), writes the source as `{"uri": …}` and the profile as `{"num_rows": …}`.
 */
export function serverDatasetInputs(store: Store, versionIds: readonly number[], projectRoot: string): BackendDatasetInput[] {
  const row = store.db.prepare(
    `SELECT d.name, v.digest, coalesce(v.source_type, 'local') AS source_type, v.path, v.row_count FROM dataset_version v JOIN dataset d USING (dataset_id) WHERE v.dataset_version_id = ?`,
  );
  return versionIds.flatMap((id) => {
    const v = row.get(id) as { name: string; digest: string; source_type: string; path: string; row_count: number | null } | undefined;
    if (!v) return [];
    const uri = /^[a-z][a-z0-9+.-]*:\/\//i.test(v.path) || isAbsolute(v.path) ? v.path : resolve(projectRoot, v.path);
    return [
      {
        name: v.name,
        digest: v.digest.replace(/^sha256:/, '').slice(0, 36),
        sourceType: v.source_type,
        source: JSON.stringify({ uri }),
        schema: null,
        profile: v.row_count === null ? null : JSON.stringify({ num_rows: v.row_count }),
        context: 'training',
      },
    ];
  });
}
