import { spawn, spawnSync } from 'node:child_process';

/** The interpreter the tests compare against (mlflow, pandas, scipy, scikit-learn); MLOOP_TEST_PYTHON overrides it. */
export const PYTHON = process.env.MLOOP_TEST_PYTHON ?? 'python3';

export interface MlflowEnvOptions {
  /** MLFLOW_TRACKING_URI: a tracking server (ours or a real `mlflow server`) or a store URI. */
  readonly uri?: string;
  /** MLFLOW_TRACKING_TOKEN, for mloop's tracking endpoint. */
  readonly token?: string;
  /** MLFLOW_ALLOW_FILE_STORE: mlflow 3 refuses a plain folder (mlruns/) as a store without it. */
  readonly fileStore?: boolean;
}

/** process.env plus what makes the real mlflow client quiet and quick to fail: no telemetry, no retries, no git probe. */
export function mlflowEnv(options: MlflowEnvOptions = {}): NodeJS.ProcessEnv {
  return {
    ...process.env,
    MLFLOW_DISABLE_TELEMETRY: 'true',
    DO_NOT_TRACK: 'true',
    GIT_PYTHON_REFRESH: 'quiet',
    MLFLOW_HTTP_REQUEST_MAX_RETRIES: '0',
    ...(options.uri !== undefined ? { MLFLOW_TRACKING_URI: options.uri } : {}),
    ...(options.token !== undefined ? { MLFLOW_TRACKING_TOKEN: options.token } : {}),
    ...(options.fileStore ? { MLFLOW_ALLOW_FILE_STORE: 'true' } : {}),
  };
}

export interface PythonRun {
  /** After the interpreter: a script and its arguments, or `-c`, the code and its arguments. */
  readonly args: readonly string[];
  readonly cwd?: string;
  /** The child's whole environment (default: this process's); mlflowEnv() for the mlflow client. */
  readonly env?: NodeJS.ProcessEnv;
  /** Written to the child's stdin. */
  readonly input?: string;
}

/** The JSON a script printed: all of stdout, or its last line when the libraries printed something before it. */
function parseReport<T>(run: PythonRun, code: number | null, stdout: string, stderr: string): T {
  const what = `${PYTHON} ${run.args[0] === '-c' ? '-c <code>' : (run.args[0] ?? '')}`;
  // a script that fails prints its reason as JSON and exits non-zero: show both, and the traceback
  if (code !== 0) throw new Error(`${what} exited ${code}\nstdout: ${stdout.slice(-2000)}\nstderr:\n${stderr.slice(-3000)}`);
  const text = stdout.trim();
  try {
    return JSON.parse(text) as T;
  } catch {
    try {
      return JSON.parse(text.split('\n').pop() ?? '') as T;
    } catch {
      throw new Error(`${what} printed no JSON\nstdout: ${stdout.slice(-2000)}\nstderr:\n${stderr.slice(-3000)}`);
    }
  }
}

/** Runs python and resolves with the JSON it printed; rejects with its stderr when it fails or prints none. */
export function pythonJson<T>(run: PythonRun): Promise<T> {
  return new Promise((done, fail) => {
    const child = spawn(PYTHON, run.args, {
      ...(run.cwd !== undefined ? { cwd: run.cwd } : {}),
      env: run.env ?? process.env,
      stdio: [run.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString('utf8')));
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
    child.on('error', fail);
    child.on('close', (code) => {
      try {
        done(parseReport<T>(run, code, stdout, stderr));
      } catch (error) {
        fail(error as Error);
      }
    });
    if (run.input !== undefined) child.stdin!.end(run.input);
  });
}

/** pythonJson for a quick reference computation in a synchronous helper; throws with python's stderr. */
export function pythonJsonSync<T>(run: PythonRun): T {
  const r = spawnSync(PYTHON, run.args, {
    ...(run.cwd !== undefined ? { cwd: run.cwd } : {}),
    env: run.env ?? process.env,
    ...(run.input !== undefined ? { input: run.input } : {}),
    encoding: 'utf8',
    maxBuffer: 1 << 28, // the scipy peer answers thousands of cases at once
  });
  if (r.error) throw new Error(`could not start ${PYTHON}: ${r.error.message}`);
  return parseReport<T>(run, r.status, r.stdout, r.stderr);
}

/** The real mlflow client against `uri`: runs `code` (python source) and resolves with the JSON it printed. */
export function mlflowClientJson<T>(uri: string, code: string, args: readonly string[] = []): Promise<T> {
  return pythonJson<T>({ args: ['-c', code, ...args], env: mlflowEnv({ uri }) });
}
