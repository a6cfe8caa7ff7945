// The gateway's /explain: one warm Python explainer per deployed version (the helper mloop ships, mode explain_server),
// started on the first request for that version, one row at a time, a bounded queue, a timeout per request.
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { Buffer } from 'node:buffer';
import EVALUATOR_SOURCE from '../evaluation/evaluator.py';
import type { ExplainSetup, ExplainVersion } from './routing';

/** Reads the helper's bytes from stdin (their length is the first argument), then runs it with the rest of argv. */
const BOOTSTRAP =
  "import sys;n=int(sys.argv[1]);src=sys.stdin.buffer.read(n).decode('utf-8');sys.argv=['-']+sys.argv[2:];" +
  "exec(compile(src,'<mloop-evaluator>','exec'),{'__name__':'__main__'})";

/** A /explain answer composed for the client: an HTTP status and a JSON body. */
export interface ExplainReply {
  readonly status: number;
  readonly body: Record<string, unknown>;
}

interface Pending {
  readonly id: number;
  readonly row: Record<string, unknown>;
  readonly done: (reply: ExplainReply) => void;
  /** Set when the row is handed to the interpreter: its timeout runs from then. */
  timer?: NodeJS.Timeout;
}

/** How long an explainer may take to load its version before the rows waiting for it are answered 504. */
export const EXPLAINER_START_MS = 120_000;

/** What the helper's error kinds become for the client: its fault (422) or the explainer's (500). */
const CLIENT_ERRORS = new Set(['missing_features', 'bad_request', 'bad_input']);

/** One version's explainer: a long-lived Python child answering one row at a time. */
class VersionExplainer {
  private child: ChildProcessWithoutNullStreams | undefined;
  private ready = false;
  private readonly queue: Pending[] = [];
  private nextId = 1;
  private stderr = '';
  private closed = false;

  constructor(
    readonly spec: ExplainVersion,
    private readonly setup: ExplainSetup,
  ) {}

  /** Requests waiting or being explained. */
  get pending(): number {
    return this.queue.length;
  }

  explain(row: Record<string, unknown>): Promise<ExplainReply> {
    const setup = this.setup;
    const max = setup.max_pending ?? 16;
    if (this.queue.length >= max)
      return Promise.resolve({
        status: 503,
        body: { error: `the explainer of ${this.spec.model_name} v${this.spec.version} has ${max} requests waiting: try again later` },
      });
    return new Promise((resolve) => {
      this.queue.push({ id: this.nextId++, row, done: resolve });
      this.pump();
    });
  }

  /** Sends the next row when the explainer is idle; starts it first when it is not running. */
  private pump(): void {
    if (this.closed || this.queue.length === 0) return;
    if (!this.child) return this.start();
    if (!this.ready || this.queue[0]!.timer) return;
    const next = this.queue[0]!;
    const timeoutMs = (this.setup.timeout_seconds ?? 30) * 1000;
    next.timer = setTimeout(() => {
      const at = this.queue.indexOf(next);
      if (at < 0) return;
      this.queue.splice(at, 1);
      next.done({
        status: 504,
        body: {
          error: `explaining the row with ${this.spec.model_name} v${this.spec.version} took longer than ${timeoutMs / 1000} s (explain.timeout_seconds)`,
        },
      });
      // the interpreter is stuck on that row and holds every row behind it: it is ended, the next row starts another
      this.restart();
    }, timeoutMs);
    next.timer.unref();
    this.child.stdin.write(`${JSON.stringify({ id: next.id, row: next.row })}\n`);
  }

  private start(): void {
    const { spec, setup } = this;
    const request = {
      mode: 'explain_server',
      model_path: spec.model_path,
      data_path: spec.data_path,
      data_name: spec.data_name,
      format: spec.format,
      ...(spec.prepare ? { prepare: spec.prepare } : {}),
      project_root: setup.project_root,
    };
    const source = Buffer.from(EVALUATOR_SOURCE, 'utf8');
    const child = spawn(setup.python, ['-c', BOOTSTRAP, String(source.length), JSON.stringify(request)], {
      cwd: setup.project_root,
      env: { ...process.env, PYTHONUNBUFFERED: '1', PYTHONDONTWRITEBYTECODE: '1' },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    this.child = child;
    this.ready = false;
    this.stderr = '';
    const starting = setTimeout(() => {
      if (this.child !== child || this.ready) return;
      this.failAll(child, 504, `the explainer of ${spec.model_name} v${spec.version} did not load within ${EXPLAINER_START_MS / 1000} s`);
      child.kill('SIGKILL');
    }, EXPLAINER_START_MS);
    starting.unref();
    child.once('close', () => clearTimeout(starting));
    child.stdin.on('error', () => undefined); // gone: reported by 'close'
    child.stdin.write(source);
    let buffered = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      buffered += chunk;
      let at: number;
      while ((at = buffered.indexOf('\n')) >= 0) {
        this.line(child, buffered.slice(0, at).replace(/\r$/, ''));
        buffered = buffered.slice(at + 1);
      }
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      this.stderr = (this.stderr + chunk).slice(-4000);
    });
    child.on('error', (error: NodeJS.ErrnoException) => {
      const message = error.code === 'ENOENT' ? `no Python at "${setup.python}" (the project's interpreter when the routes were set)` : error.message;
      this.failAll(child, 500, `the explainer of ${spec.model_name} v${spec.version} did not start: ${message}`);
    });
    child.on('close', (code, signal) => {
      if (this.child !== child) return;
      const tail = this.stderr.trim().split('\n').slice(-6).join('\n');
      this.failAll(
        child,
        500,
        `the explainer of ${spec.model_name} v${spec.version} ended (${signal ?? `exit ${code}`})${this.startError ? `: ${this.startError}` : tail ? `: ${tail}` : ''}`,
      );
    });
  }

  /** The helper's own message when it could not load the version (unsupported flavour, missing package, …). */
  private startError: string | undefined;

  private line(child: ChildProcessWithoutNullStreams, text: string): void {
    if (this.child !== child) return;
    const m = /^::mloop-(ready|result|error) (.*)$/.exec(text);
    if (!m) return;
    let payload: { id?: number | null; answer?: Record<string, unknown>; kind?: string; message?: string };
    try {
      payload = JSON.parse(m[2]!) as typeof payload;
    } catch {
      return;
    }
    if (m[1] === 'ready') {
      this.ready = true;
      this.startError = undefined;
      return this.pump();
    }
    if (m[1] === 'error' && (payload.id === undefined || payload.id === null)) {
      // a failure to load: the whole explainer ends (its close answers the waiting rows with this message)
      this.startError = `${payload.kind ?? 'error'}: ${payload.message ?? ''}`;
      return;
    }
    const at = this.queue.findIndex((p) => p.id === payload.id);
    if (at < 0) return; // answered already (timed out)
    const [entry] = this.queue.splice(at, 1);
    clearTimeout(entry!.timer);
    if (m[1] === 'result') entry!.done({ status: 200, body: payload.answer ?? {} });
    else
      entry!.done({
        status: CLIENT_ERRORS.has(payload.kind ?? '') ? 422 : 500,
        body: { error: payload.message ?? 'the explainer failed', kind: payload.kind ?? 'crashed' },
      });
    this.pump();
  }

  /** The child is gone or failed to load: the row being explained and those waiting are answered with the failure. */
  private failAll(child: ChildProcessWithoutNullStreams, status: number, message: string): void {
    if (this.child !== child) return;
    this.child = undefined;
    this.ready = false;
    const kind = /unsupported_flavour|missing_package|missing_features|bad_request/.exec(this.startError ?? '')?.[0];
    this.startError = undefined;
    for (const entry of this.queue.splice(0)) {
      clearTimeout(entry.timer);
      entry.done({ status, body: { error: message, ...(kind ? { kind } : {}) } });
    }
  }

  /** Ends the child of a timed-out row; the rows still waiting get a new one. */
  private restart(): void {
    const child = this.child;
    this.child = undefined;
    this.ready = false;
    child?.kill('SIGKILL');
    this.pump();
  }

  close(): void {
    this.closed = true;
    const child = this.child;
    this.child = undefined;
    for (const entry of this.queue.splice(0)) {
      clearTimeout(entry.timer);
      entry.done({ status: 503, body: { error: `${this.spec.model_name} v${this.spec.version} is no longer routed on this gateway` } });
    }
    if (child) {
      child.stdin.end();
      // it ends when its stdin closes; one that does not within 2 s is killed
      const kill = setTimeout(() => child.kill('SIGKILL'), 2000);
      kill.unref();
      child.once('close', () => clearTimeout(kill));
    }
  }
}

const keyOf = (model: string, version: number): string => `${model}\u0000${version}`;

/** The explainers of one gateway process, by version: made on first use, closed when their version's setup changes. */
export class ExplainerPool {
  private setup: ExplainSetup | undefined;
  private readonly explainers = new Map<string, VersionExplainer>();

  /** A new routing table's explain setup: explainers whose version left it, or whose files changed, are closed. */
  configure(setup: ExplainSetup | undefined): void {
    const same = (a: ExplainSetup | undefined, b: ExplainSetup | undefined): boolean =>
      a?.python === b?.python && a?.project_root === b?.project_root && a?.timeout_seconds === b?.timeout_seconds && a?.max_pending === b?.max_pending;
    const keep = same(this.setup, setup);
    this.setup = setup;
    for (const [key, explainer] of this.explainers) {
      const spec = setup?.versions.find((v) => keyOf(v.model_name, v.version) === key);
      if (keep && spec && JSON.stringify(spec) === JSON.stringify(explainer.spec)) continue;
      explainer.close();
      this.explainers.delete(key);
    }
  }

  get enabled(): boolean {
    return this.setup !== undefined;
  }

  /** Explains one row by a routed version (undefined setup: the target did not enable /explain). */
  explain(model: string, version: number, row: Record<string, unknown>): Promise<ExplainReply> {
    const setup = this.setup;
    if (!setup) return Promise.resolve({ status: 404, body: { error: 'explanations are not enabled on this target (explain: true in mloop.yaml)' } });
    const spec = setup.versions.find((v) => v.model_name === model && v.version === version);
    // unreachable: a table whose explain setup misses a routed version is refused (routeTableSchema)
    if (!spec) throw new Error(`${model} v${version} is routed without an explain setup`);
    if (spec.error) return Promise.resolve({ status: 409, body: { error: `${model} v${version} cannot be explained: ${spec.error}` } });
    const key = keyOf(model, version);
    let explainer = this.explainers.get(key);
    if (!explainer) {
      explainer = new VersionExplainer(spec, setup);
      this.explainers.set(key, explainer);
    }
    return explainer.explain(row);
  }

  close(): void {
    for (const explainer of this.explainers.values()) explainer.close();
    this.explainers.clear();
  }
}
