import { spawn } from 'node:child_process';
import { z } from 'zod';
// the helper mloop ships: bundled as text by esbuild (loader .py → text), sent to `python -` on stdin
import EVALUATOR_SOURCE from './evaluator.py';

export class EvaluationError extends Error {
  override readonly name = 'EvaluationError';
  constructor(
    message: string,
    /** missing_package | unsupported_flavour | missing_features | bad_request | no_python | crashed | cancelled | bad_input */
    readonly kind: string = 'bad_input',
  ) {
    super(message);
  }
}

export interface EvaluatorProgress {
  readonly done: number;
  readonly total: number;
  readonly message: string;
}

export interface EvaluatorRun {
  /** The project's interpreter (pythonOf). */
  readonly python: string;
  readonly cwd: string;
  readonly env?: NodeJS.ProcessEnv;
  readonly request: Readonly<Record<string, unknown>>;
  readonly signal?: AbortSignal;
  readonly onProgress?: (progress: EvaluatorProgress) => void;
  /** The child's pid once it started (its process group is what cancel kills). */
  readonly onSpawn?: (pid: number) => void;
}

const progressSchema = z.object({ done: z.number(), total: z.number(), message: z.string() });
const errorSchema = z.object({ kind: z.string(), message: z.string() });

/**
 * Runs the shipped helper in the project's Python as a child process (args array; the request is one argument, the
 * script comes on stdin). Progress lines become onProgress calls; abort kills the child's process group.
 * Resolves with the helper's result, unparsed (each caller parses its own shape with zod).
 */
export function runEvaluator(run: EvaluatorRun): Promise<unknown> {
  return new Promise((resolve, reject) => {
    run.signal?.throwIfAborted();
    const child = spawn(run.python, ['-', JSON.stringify(run.request)], {
      cwd: run.cwd,
      env: { ...(run.env ?? process.env), PYTHONUNBUFFERED: '1', PYTHONDONTWRITEBYTECODE: '1' },
      stdio: ['pipe', 'pipe', 'pipe'],
      detached: process.platform !== 'win32',
    });
    if (child.pid !== undefined) run.onSpawn?.(child.pid);
    let result: unknown;
    let failure: EvaluationError | undefined;
    let stderr = '';
    let pending = '';
    const kill = (): void => {
      try {
        if (process.platform === 'win32' || child.pid === undefined) child.kill('SIGKILL');
        else process.kill(-child.pid, 'SIGKILL'); // the interpreter and any worker it started (joblib, numba)
      } catch {
        // already gone
      }
    };
    const onAbort = (): void => {
      failure = new EvaluationError('the evaluation was cancelled', 'cancelled');
      kill();
    };
    run.signal?.addEventListener('abort', onAbort, { once: true });
    const line = (text: string): void => {
      const m = /^::mloop-(progress|result|error) (.*)$/.exec(text);
      if (!m) return;
      let payload: unknown;
      try {
        payload = JSON.parse(m[2]!);
      } catch {
        return;
      }
      if (m[1] === 'progress') {
        const p = progressSchema.safeParse(payload);
        if (p.success) run.onProgress?.(p.data);
      } else if (m[1] === 'result') result = payload;
      else {
        const e = errorSchema.safeParse(payload);
        if (e.success && !failure) failure = new EvaluationError(e.data.message, e.data.kind);
      }
    };
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      pending += chunk;
      let at: number;
      while ((at = pending.indexOf('\n')) >= 0) {
        line(pending.slice(0, at).replace(/\r$/, ''));
        pending = pending.slice(at + 1);
      }
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr = (stderr + chunk).slice(-8000);
    });
    child.stdin.on('error', () => undefined); // a child that dies before reading its script: reported by 'close'
    child.stdin.end(EVALUATOR_SOURCE);
    child.on('error', (error: NodeJS.ErrnoException) => {
      run.signal?.removeEventListener('abort', onAbort);
      reject(
        error.code === 'ENOENT'
          ? new EvaluationError(`no Python at "${run.python}": set mloop.python / --python, or create the project's .venv`, 'no_python')
          : error,
      );
    });
    child.on('close', (code) => {
      run.signal?.removeEventListener('abort', onAbort);
      if (pending) line(pending);
      if (failure) return reject(failure);
      if (code === 0 && result !== undefined) return resolve(result);
      const tail = stderr.trim().split('\n').slice(-12).join('\n');
      reject(new EvaluationError(`the evaluator (${run.python}) exited with code ${code} and no result:\n${tail}`, 'crashed'));
    });
  });
}
