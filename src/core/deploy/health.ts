import { spawn } from 'node:child_process';
import { request } from 'node:http';
import type * as Https from 'node:https';
import type { request as HttpsRequest } from 'node:https';
/** node:https on first use: loading it loads TLS, ~20 ms of every CLI start that never calls it (issue 16). */
const httpsRequest: typeof HttpsRequest = ((...args: unknown[]) =>
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- a deferred load of a Node built-in
  (require('node:https') as typeof Https).request(...(args as Parameters<typeof HttpsRequest>))) as typeof HttpsRequest;
import { fillCommand, fillText, type TemplateValues } from './template';
import { sleep } from './process';

export interface HealthSpec {
  readonly url?: string;
  readonly status: number;
  readonly json_field?: string;
  readonly json_equals?: string | number | boolean;
  readonly command?: string | readonly string[];
  readonly timeout_seconds: number;
  readonly interval_ms: number;
}

export interface CheckResult {
  readonly ok: boolean;
  /** What was checked and what came back, for people: "GET http://…/health → 500". */
  readonly detail: string;
}

const REQUEST_TIMEOUT_MS = 5000;

/** One HTTP exchange with a bounded time; the body is read up to 1 MB. */
export function httpExchange(
  url: string,
  options: { method?: string; body?: string; timeoutMs?: number; headers?: Record<string, string> } = {},
): Promise<{ status: number; body: string }> {
  return new Promise((done, fail) => {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      return fail(new Error(`"${url}" is not a URL`));
    }
    const send = parsed.protocol === 'https:' ? httpsRequest : request;
    const headers = {
      ...(options.body ? { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(options.body)) } : {}),
      ...options.headers,
    };
    const req = send(parsed, { method: options.method ?? 'GET', headers }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size <= 1 << 20) chunks.push(chunk);
      });
      res.on('end', () => done({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', fail);
    });
    req.setTimeout(options.timeoutMs ?? REQUEST_TIMEOUT_MS, () => req.destroy(new Error(`no answer within ${options.timeoutMs ?? REQUEST_TIMEOUT_MS} ms`)));
    req.on('error', fail);
    req.end(options.body);
  });
}

function fieldOf(value: unknown, path: string): unknown {
  let current = value;
  for (const part of path.split('.')) {
    if (current === null || typeof current !== 'object' || !Object.hasOwn(current, part)) return undefined;
    current = (current as Record<string, unknown>)[part];
  }
  return current;
}

/** Runs a command to completion; exit 0 within the timeout is success. */
export function runCommand(
  argv: readonly string[],
  cwd: string,
  timeoutMs: number,
  env?: NodeJS.ProcessEnv,
  signal?: AbortSignal,
): Promise<{ code: number | null; output: string; timedOut: boolean }> {
  return new Promise((done) => {
    const child = spawn(argv[0]!, argv.slice(1), {
      cwd,
      env: { ...process.env, ...env },
      detached: process.platform !== 'win32',
      stdio: ['ignore', 'pipe', 'pipe'],
      windowsHide: true,
    });
    let output = '';
    const collect = (chunk: Buffer): void => {
      output = (output + chunk.toString('utf8')).slice(-4000);
    };
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    let timedOut = false;
    const kill = (): void => {
      try {
        process.kill(process.platform === 'win32' ? child.pid! : -child.pid!, 'SIGKILL');
      } catch {
        child.kill('SIGKILL');
      }
    };
    const timer = setTimeout(() => {
      timedOut = true;
      kill();
    }, timeoutMs);
    const onAbort = (): void => kill();
    signal?.addEventListener('abort', onAbort, { once: true });
    child.once('error', (error) => {
      clearTimeout(timer);
      done({ code: null, output: `could not start ${argv[0]}: ${error.message}`, timedOut: false });
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      done({ code, output: output.trim(), timedOut });
    });
  });
}

/** One health check: the HTTP status (and JSON field) or the command's exit code. */
export async function checkOnce(spec: HealthSpec, values: TemplateValues, cwd: string): Promise<CheckResult> {
  if (spec.command !== undefined) {
    const command = fillCommand(spec.command, values, 'health.command');
    const r = await runCommand(command.argv, cwd, REQUEST_TIMEOUT_MS);
    const ok = r.code === 0;
    return { ok, detail: `${command.display} → ${r.timedOut ? 'timed out' : `exit ${r.code}`}${ok || !r.output ? '' : `: ${r.output.split('\n').at(-1)}`}` };
  }
  const url = fillText(spec.url!, values, 'health.url');
  try {
    const { status, body } = await httpExchange(url);
    if (status !== spec.status) return { ok: false, detail: `GET ${url} → ${status} (expected ${spec.status})` };
    if (spec.json_field !== undefined) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(body);
      } catch {
        return { ok: false, detail: `GET ${url} → ${status}, but the answer is not JSON` };
      }
      const field = fieldOf(parsed, spec.json_field);
      if (field === undefined) return { ok: false, detail: `GET ${url} → ${status}, but the answer has no field "${spec.json_field}"` };
      if (spec.json_equals !== undefined && String(field) !== String(spec.json_equals)) {
        return { ok: false, detail: `GET ${url} → ${status}, ${spec.json_field} = ${JSON.stringify(field)} (expected ${JSON.stringify(spec.json_equals)})` };
      }
    }
    return { ok: true, detail: `GET ${url} → ${status}` };
  } catch (error) {
    return { ok: false, detail: `GET ${url} → ${(error as Error).message}` };
  }
}

/**
 * Waits until a check passes, up to the spec's timeout. `alive` is asked between attempts so a service
 * that died is reported at once instead of after the whole timeout.
 */
export async function waitHealthy(
  spec: HealthSpec,
  values: TemplateValues,
  cwd: string,
  options: { alive?: () => string | undefined; signal?: AbortSignal } = {},
): Promise<CheckResult> {
  const deadline = Date.now() + spec.timeout_seconds * 1000;
  let last: CheckResult = { ok: false, detail: 'not checked' };
  for (;;) {
    if (options.signal?.aborted) return { ok: false, detail: 'cancelled' };
    const dead = options.alive?.();
    if (dead) return { ok: false, detail: dead };
    last = await checkOnce(spec, values, cwd);
    if (last.ok) return last;
    if (Date.now() >= deadline) return { ok: false, detail: `not healthy within ${spec.timeout_seconds} s: ${last.detail}` };
    await sleep(spec.interval_ms, options.signal);
  }
}
