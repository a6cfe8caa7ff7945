// Shared by the reliability suite: scale (CI default vs MLOOP_RELIABILITY_FULL=1), the real `mloop`
// CLI as a child process, raw HTTP, a content digest of a store, and the figures RELIABILITY.md quotes.
import Database from 'better-sqlite3';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { findRepoRoot } from '../harness/paths';

/** `MLOOP_RELIABILITY_FULL=1` runs the counts RELIABILITY.md quotes; the default keeps CI short but walks the same path. */
export const FULL = process.env.MLOOP_RELIABILITY_FULL === '1';
export const scale = (ciDefault: number, full: number): number => (FULL ? full : ciDefault);

export const ROOT = findRepoRoot(__dirname);
export const CLI = join(ROOT, 'dist', 'cli.js');
export const NODE = process.execPath;

export function tempDir(prefix = 'mloop-rel-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function waitFor(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(20);
  }
}

/** One measured figure: printed in the test output and appended to test-results/reliability-figures.jsonl. */
export function recordFigure(test: string, figure: string, details: Record<string, unknown> = {}): void {
  const line = { at: new Date().toISOString(), full: FULL, test, figure, ...details };
  process.stdout.write(`      [figure] ${test}: ${figure}\n`);
  const dir = join(ROOT, 'test-results');
  mkdirSync(dir, { recursive: true });
  appendFileSync(join(dir, 'reliability-figures.jsonl'), `${JSON.stringify(line)}\n`);
}

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

/** Peak resident set size of a live process (VmHWM), in bytes; 0 once it is gone. */
export function peakRss(pid: number): number {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

// ---------------------------------------------------------------------------------------------
// The CLI as a child process

export interface CliChild {
  readonly child: ChildProcess;
  stdout(): string;
  stderr(): string;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** `prefix`: a program that runs node for us, e.g. `['prlimit', '--fsize=…', '--']`. */
export function spawnCli(
  args: readonly string[],
  options: { cwd: string; env?: NodeJS.ProcessEnv; quietStdout?: boolean; prefix?: readonly string[] },
): CliChild {
  const [program, ...before] = [...(options.prefix ?? []), NODE];
  const child = spawn(program!, [...before, CLI, ...args], {
    cwd: options.cwd,
    env: { ...process.env, ...options.env },
    stdio: ['ignore', options.quietStdout ? 'ignore' : 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout?.setEncoding('utf8').on('data', (s: string) => (out = (out + s).slice(-1_000_000)));
  child.stderr?.setEncoding('utf8').on('data', (s: string) => (err = (err + s).slice(-1_000_000)));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((done) => child.on('exit', (code, signal) => done({ code, signal })));
  return { child, stdout: () => out, stderr: () => err, exited };
}

export interface ServerChild extends CliChild {
  readonly uri: string;
  readonly port: number;
  readonly token: string;
  /** SIGINT and wait for a clean exit. */
  stop(): Promise<void>;
}

/** `mloop server --dir <dir> --port 0` as a real child process, once it printed its URI and token. */
export async function startServerChild(dir: string, extraArgs: readonly string[] = [], prefix?: readonly string[]): Promise<ServerChild> {
  const cli = spawnCli(['server', '--dir', dir, '--port', '0', ...extraArgs], { cwd: dir, ...(prefix ? { prefix } : {}) });
  let exited = false;
  void cli.exited.then(() => (exited = true));
  await waitFor(() => exited || /MLFLOW_TRACKING_TOKEN=\S+\n/.test(cli.stdout()), 20_000, 'mloop server to print its token');
  if (exited) throw new Error(`mloop server exited early: ${cli.stderr()}`);
  const uri = /^MLFLOW_TRACKING_URI=(\S+)$/m.exec(cli.stdout())![1]!;
  const token = /^MLFLOW_TRACKING_TOKEN=(\S+)$/m.exec(cli.stdout())![1]!;
  return {
    ...cli,
    uri,
    port: Number(new URL(uri).port),
    token,
    async stop() {
      if (cli.child.exitCode !== null || cli.child.signalCode !== null) return;
      cli.child.kill('SIGINT');
      await cli.exited;
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Raw HTTP (node:http sends the path exactly as given; fetch would normalise "../")

export interface Reply {
  readonly status: number;
  readonly text: string;
  readonly json: Record<string, unknown> | undefined;
}

export const keepAlive = new Agent({ keepAlive: true, maxSockets: 4 });

export function rawRequest(
  port: number,
  method: string,
  path: string,
  options: { body?: string | Buffer; headers?: Record<string, string>; timeoutMs?: number; agent?: Agent } = {},
): Promise<Reply> {
  return new Promise((done, fail) => {
    const headers: Record<string, string> = {
      ...(options.body === undefined ? {} : { 'content-length': String(Buffer.byteLength(options.body)) }),
      ...options.headers,
    };
    const req = request({ host: '127.0.0.1', port, method, path, headers, agent: options.agent ?? keepAlive }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', fail);
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json: Record<string, unknown> | undefined;
        try {
          const parsed: unknown = JSON.parse(text);
          json = parsed !== null && typeof parsed === 'object' ? (parsed as Record<string, unknown>) : undefined;
        } catch {
          json = undefined;
        }
        done({ status: res.statusCode ?? 0, text, json });
      });
    });
    req.setTimeout(options.timeoutMs ?? 30_000, () =>
      req.destroy(new Error(`no answer to ${method} ${path.slice(0, 100)} within ${options.timeoutMs ?? 30_000} ms`)),
    );
    req.on('error', fail);
    req.end(options.body);
  });
}

export const bearer = (token: string): Record<string, string> => ({ authorization: `Bearer ${token}` });

export function postJson(server: { port: number; token: string }, path: string, body: unknown, agent?: Agent): Promise<Reply> {
  return rawRequest(server.port, 'POST', `/api/2.0/mlflow/${path}`, {
    body: JSON.stringify(body),
    headers: { ...bearer(server.token), 'content-type': 'application/json' },
    ...(agent ? { agent } : {}),
  });
}

/** Every step stored for a metric, read back through the MLflow API of a fresh `mloop server`. */
export async function storedSteps(server: ServerChild, runId: string, key: string): Promise<Set<number>> {
  const steps = new Set<number>();
  let token: string | undefined;
  do {
    const q = new URLSearchParams({ run_id: runId, metric_key: key, max_results: '25000', ...(token ? { page_token: token } : {}) });
    const reply = await rawRequest(server.port, 'GET', `/api/2.0/mlflow/metrics/get-history?${q.toString()}`, { headers: bearer(server.token) });
    if (reply.status !== 200) throw new Error(`get-history failed: ${reply.status} ${reply.text.slice(0, 300)}`);
    for (const m of reply.json!.metrics as { step: number | string }[]) steps.add(Number(m.step));
    token = reply.json!.next_page_token as string | undefined;
  } while (token);
  return steps;
}

// ---------------------------------------------------------------------------------------------
// Store content

/**
 * A sha256 over every row of every table of the store (rows sorted, so page layout does not matter)
 * plus the artifact folder's files and sizes: equal digests mean no request changed anything.
 */
export function storeDigest(dbPath: string, artifactRoot?: string): string {
  const db = new Database(dbPath, { readonly: true, fileMustExist: true });
  try {
    const hash = createHash('sha256');
    const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name").pluck().all() as string[];
    for (const table of tables) {
      const rows = (db.prepare(`SELECT * FROM "${table}"`).raw().all() as unknown[][]).map((r) =>
        JSON.stringify(r, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : Buffer.isBuffer(v) ? v.toString('hex') : v)),
      );
      rows.sort();
      hash.update(`\u0000${table}\u0000${rows.join('\n')}`);
    }
    if (artifactRoot && existsSync(artifactRoot)) {
      for (const file of (readdirSync(artifactRoot, { recursive: true }) as string[]).map(String).sort()) {
        const st = statSync(join(artifactRoot, file));
        hash.update(`\u0000artifact\u0000${relative(artifactRoot, join(artifactRoot, file))}\u0000${st.isDirectory() ? 'dir' : st.size}`);
      }
    }
    return hash.digest('hex');
  } finally {
    db.close();
  }
}

/** Opens a store file read-only for one query. */
export function queryStore<T>(dbPath: string, fn: (db: Database.Database) => T): T {
  const db = new Database(dbPath, { readonly: true, fileMustExist: true });
  try {
    db.pragma('busy_timeout = 5000');
    return fn(db);
  } finally {
    db.close();
  }
}

// ---------------------------------------------------------------------------------------------
// A training script that writes down what was acknowledged

/**
 * A training script (train.py) that logs 10-point batches to MLFLOW_TRACKING_URI (steps 10i…10i+9 of
 * metric `http`) and writes to acks.txt, line by line, `pid <pid>` first and `http <i>` once
 * runs/log-batch answered 200 for batch i. `protocolLines`: after each batch it also prints
 * `::mloop metric name=line value=i step=i` and writes `line <i>` once that line was flushed.
 * `failure`: on the first failed request it exits 3 after printing the error to stderr, or after
 * writing `failed <i>` to acks.txt (where nobody reads its stderr).
 */
export function ackingTrainScript(options: { protocolLines: boolean; failure: 'stderr' | 'ack' }): string {
  const onFailure = options.failure === 'stderr' ? 'print(f"log-batch {i} failed: {error}", file=sys.stderr, flush=True)' : 'ack.write(f"failed {i}\\n")';
  const protocol = options.protocolLines ? '    print(f"::mloop metric name=line value={i} step={i}", flush=True)\n    ack.write(f"line {i}\\n")\n' : '';
  return String.raw`
import json, os, sys, time, urllib.request
uri, token, run_id = os.environ["MLFLOW_TRACKING_URI"], os.environ["MLFLOW_TRACKING_TOKEN"], os.environ["MLFLOW_RUN_ID"]
ack = open("acks.txt", "a", buffering=1)
ack.write(f"pid {os.getpid()}\n")
i = 0
while True:
    now = int(time.time() * 1000)
    body = json.dumps({"run_id": run_id, "metrics": [{"key": "http", "value": i * 10 + j, "step": i * 10 + j, "timestamp": now} for j in range(10)]}).encode()
    req = urllib.request.Request(uri + "/api/2.0/mlflow/runs/log-batch", data=body, method="POST",
                                 headers={"Authorization": "Bearer " + token, "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as reply:
            if reply.status == 200:
                ack.write(f"http {i}\n")
    except Exception as error:
        ${onFailure}
        sys.exit(3)
${protocol}    i += 1
`;
}

export interface Acks {
  pid: number | undefined;
  /** Batches answered 200. */
  http: number[];
  /** Protocol lines flushed (protocolLines scripts only). */
  line: number[];
}

/** What the script of ackingTrainScript wrote to <dir>/acks.txt; a half-written last line does not count. */
export function readAcks(dir: string): Acks {
  const file = join(dir, 'acks.txt');
  const acks: Acks = { pid: undefined, http: [], line: [] };
  if (!existsSync(file)) return acks;
  for (const row of readFileSync(file, 'utf8').split('\n')) {
    const [kind, n] = row.split(' ');
    if (n === undefined || !/^\d+$/.test(n)) continue; // a half-written last line was not acknowledged
    if (kind === 'pid') acks.pid = Number(n);
    else if (kind === 'http') acks.http.push(Number(n));
    else if (kind === 'line') acks.line.push(Number(n));
  }
  return acks;
}
