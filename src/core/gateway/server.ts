import { randomBytes, timingSafeEqual } from 'node:crypto';
import { createWriteStream, mkdirSync, type WriteStream } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Pool } from 'undici';
import { z } from 'zod';
import { thompsonAllocation } from './bandit';
import { ExplainerPool } from './explainer';
import { CONTROL_PREFIX, REPLAN_EVERY, type GatewayStatus } from './protocol';
import { armKey, armsOf, pickUpstream, routeTableSchema, type RouteArm, type RouteTable, type WireRoute } from './routing';

export { CONTROL_PREFIX, REPLAN_EVERY, type GatewayStatus } from './protocol';

/** A request carrying this header is assigned by the hash of its value (sticky A/B arms). */
export const KEY_HEADER = 'x-mloop-key';
const MAX_BODY = 16 << 20;
/** How many of its latest requests a gateway process remembers the route of (for feedback). */
export const REMEMBERED_REQUESTS = 1 << 20;
/** canary: the answers the gateway reads for their predictions (larger ones are passed on unread). */
const MAX_CAPTURED_BODY = 256 << 10;
/** explain: on: the bodies of this many of a process's latest answered requests are kept, for POST /explain {"request_id"}. */
export const EXPLAIN_KEPT_REQUESTS = 1000;
/** explain: on: at most this many bytes of request bodies kept per process (the oldest go first), none larger than EXPLAIN_KEPT_BODY. */
export const EXPLAIN_KEPT_BYTES = 16 << 20;
export const EXPLAIN_KEPT_BODY = 256 << 10;
/** canary: at most this many predictions of one answer go to the serving log. */
export const MAX_LOGGED_PREDICTIONS = 100;
/** SO_REUSEPORT through net's `reusePort`: Node ≥ 22.12 (23.1 on the 23 line), and a kernel that spreads connections. */
export function reusePortAvailable(version = process.versions.node, platform = process.platform): boolean {
  const [major = 0, minor = 0] = version.split('.').map(Number);
  return platform === 'linux' && (major > 23 || (major === 23 && minor >= 1) || (major === 22 && minor >= 12));
}

/** Tests only: how long a worker waits before it takes a routing change (proves the change is acknowledged after it). */
const ROUTES_DELAY_MS = Number(process.env.MLOOP_GATEWAY_TEST_ROUTES_DELAY_MS ?? 0);
/** A replica that refused a connection is left out of the rotation this long, then tried again by one request. */
export const EJECT_MS = 2000;
/** How long a client's connection may stay idle between its requests before the gateway closes it. */
export const KEEP_ALIVE_MS = 65_000;

export interface GatewayServerOptions {
  readonly target: string;
  readonly port: number;
  readonly token: string;
  readonly table: RouteTable;
  /** One JSON line per request: {ts, request_id, version, latency_ms, status}, plus predictions during a canary. */
  readonly servingLogPath: string;
  /** One JSON line per feedback: {ts, request_id, version, reward | label} or {ts, request_id, unknown: true}. */
  readonly feedbackLogPath: string;
  /** One JSON line per POST /explain: {ts, request_id, kind: "explain", version, latency_ms, status, method} (default: explain.jsonl beside the serving log). */
  readonly explainLogPath?: string;
  /** Several gateway processes on one port: each binds it with SO_REUSEPORT and the kernel spreads the connections. */
  readonly reusePort?: boolean;
  /**
   * Set in a worker process (docs/decisions/gateway-workers.md): the control API, feedback and the bandit are the
   * primary's; this process forwards those requests to it and proxies on the table the primary gives it.
   */
  readonly primary?: GatewayPeer;
  /** primary: the workers setting it was started with, and how many processes it runs toward (1 without SO_REUSEPORT). */
  readonly workersRequested?: number;
  readonly workersWanted?: number;
  /**
   * primary: changes how many processes serve the port without a gap (`PUT /_mloop/workers`): new workers join
   * the port before the call answers; workers no longer wanted stop taking connections and leave once their requests
   * are answered. Resolves with the setting and how many processes it runs toward.
   */
  readonly setWorkers?: (workers: number) => Promise<{ requested: number; wanted: number }>;
}

/** The other end of a gateway process's IPC channel: a call is answered, or rejected when the process is gone. */
export interface GatewayPeer {
  /** `timeoutMs`: this call's own limit instead of the peer's. */
  call(message: GatewayCall, timeoutMs?: number): Promise<unknown>;
}

/** What the primary and its workers ask each other over IPC. */
export type GatewayCall =
  // worker -> primary: a control or feedback request that reached the worker, answered by the primary
  | { readonly kind: 'control'; readonly method: string; readonly path: string; readonly auth: string; readonly body?: string }
  | { readonly kind: 'feedback'; readonly body?: string; readonly route?: WireRoute }
  // primary -> worker: a new routing table (PUT routes: answered once applied), new bandit weights, its own counts, a request's route
  | { readonly kind: 'routes'; readonly table: RouteTable }
  | { readonly kind: 'weights'; readonly table: RouteTable }
  | { readonly kind: 'status' }
  | { readonly kind: 'lookup'; readonly request_id: string }
  // either way: the kept body of a request and its route (POST /explain {"request_id"}); the primary asks its workers too
  | { readonly kind: 'row'; readonly request_id: string }
  // primary -> worker: stop taking connections, answer the requests in flight, then end (fewer workers)
  | { readonly kind: 'leave' };

/** An HTTP answer composed without a response object (a worker forwards it to its client). */
export interface GatewayReply {
  readonly status: number;
  readonly body: unknown;
}

/** What one process knows alone: its requests, the ones in flight, the ports it left out of the rotation. */
interface ProcessCounts {
  readonly pid: number;
  readonly table: RouteTable;
  readonly requests: number;
  /** When the process started to serve (ms since the epoch). */
  readonly since: number;
  /** It is leaving (fewer workers): it takes no new connections and ends once its requests are answered. */
  readonly leaving: boolean;
  readonly inflight: Record<string, number>;
  readonly ejected: Record<string, number>;
}

export interface GatewayServer {
  readonly port: number;
  /** This process's view (in a worker: its own counts with the table the primary gave it). */
  status(): GatewayStatus;
  /** The gateway's view over all its processes: requests and in-flight counts summed (the control API's status). */
  statusAll(): Promise<GatewayStatus>;
  /** primary: a worker process that serves the same port; routing changes reach it before they are acknowledged. */
  addWorker(worker: GatewayPeer): void;
  removeWorker(worker: GatewayPeer): void;
  /** Answers a call from the other end of the IPC channel (a worker's to the primary, the primary's to a worker). */
  answer(call: GatewayCall): Promise<unknown>;
  /**
   * Stops taking connections and answers the requests in flight (each with `Connection: close`, so no client
   * reuses a connection about to close), then closes; connections still open after `maxMs` are cut.
   */
  leave(maxMs?: number): Promise<void>;
  /** Resolves when the process has left (after `leave`). */
  readonly left: Promise<void>;
  close(): Promise<void>;
}

export const feedbackSchema = z
  .strictObject({
    request_id: z.string().min(1).max(200),
    reward: z.number().finite().optional(),
    label: z.union([z.string(), z.number(), z.boolean()]).optional(),
  })
  .refine((f) => (f.reward === undefined) !== (f.label === undefined), { error: 'give exactly one of reward or label', path: ['reward'] });

const workersSchema = z.strictObject({ workers: z.number().int().min(1).max(64) });

/** POST /explain: one row, as a JSON object of feature → value; or the id of a request the gateway answered (and which of its rows). */
export const explainBodySchema = z
  .strictObject({
    row: z.record(z.string(), z.union([z.number(), z.string(), z.boolean(), z.null()]), { error: 'row must be a JSON object of feature → value' }).optional(),
    request_id: z.string().min(1).max(200).optional(),
    index: z.number().int().min(0).optional(),
  })
  .refine((b) => (b.row === undefined) !== (b.request_id === undefined), { error: 'give exactly one of row or request_id', path: ['row'] })
  .refine((b) => b.index === undefined || b.request_id !== undefined, { error: 'index picks a row of request_id: give request_id', path: ['index'] });

/** A kept request: the route that answered it and the body the client sent. */
export interface KeptRequest {
  readonly route: WireRoute;
  readonly body: Buffer;
}

/**
 * The bodies of a process's latest answered requests while the target enables /explain, so that POST /explain
 * {"request_id"} explains the row a client sent (the serving log keeps no rows). Bounded by count and by bytes, the
 * oldest dropped first; a body larger than EXPLAIN_KEPT_BODY is not kept. In memory only: gone when the gateway restarts.
 */
export class KeptRequests {
  private readonly kept = new Map<string, KeptRequest>();
  private bytes = 0;

  constructor(
    private readonly maxCount = EXPLAIN_KEPT_REQUESTS,
    private readonly maxBytes = EXPLAIN_KEPT_BYTES,
    private readonly maxBody = EXPLAIN_KEPT_BODY,
  ) {}

  keep(id: string, route: WireRoute, body: Buffer | undefined): void {
    if (!body || body.length > this.maxBody) return;
    this.drop(id);
    this.kept.set(id, { route, body });
    this.bytes += body.length;
    while (this.kept.size > this.maxCount || this.bytes > this.maxBytes) this.drop(this.kept.keys().next().value!);
  }

  get(id: string): KeptRequest | undefined {
    return this.kept.get(id);
  }

  get size(): number {
    return this.kept.size;
  }

  clear(): void {
    this.kept.clear();
    this.bytes = 0;
  }

  private drop(id: string): void {
    const old = this.kept.get(id);
    if (!old) return;
    this.kept.delete(id);
    this.bytes -= old.body.length;
  }
}

/**
 * The rows of a prediction request's body, as the services mloop deploys take them ({"rows": [...]}) or MLflow's
 * ({"dataframe_records": [...]}, {"instances": [...]}, {"inputs": [...]} of objects); a string saying why not otherwise.
 */
export function rowsOfRequest(body: Buffer): Record<string, unknown>[] | string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch {
    return 'its body is not JSON';
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) return 'its body is not a JSON object';
  for (const field of ['rows', 'dataframe_records', 'instances', 'inputs']) {
    const rows = (parsed as Record<string, unknown>)[field];
    if (Array.isArray(rows) && rows.length > 0 && rows.every((r) => r && typeof r === 'object' && !Array.isArray(r))) return rows as Record<string, unknown>[];
  }
  return 'its body has no rows of feature → value objects (rows, dataframe_records, instances or inputs)';
}

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'host', 'content-length']);
/**
 * An answer keeps the version's content-length (undici hands the body over unchanged): the client gets headers and
 * body in one write instead of a chunked body and its terminator (one syscall fewer per request).
 */
const HOP_BY_HOP_ANSWER = new Set([...HOP_BY_HOP].filter((name) => name !== 'content-length'));

/**
 * An append-only JSON-lines log written in batches: lines gather in memory and go to the file stream in one write
 * when `maxBytes` have gathered or `maxDelayMs` after the first of them, whichever comes first (like nginx's
 * `access_log … buffer= flush=`), so the request path does no I/O of its own and a busy gateway makes a few writes a
 * second instead of one per turn of its event loop. A write carries whole lines only and the descriptor is O_APPEND,
 * so several processes appending to one file never tear or mix lines. `close()` writes what is left (the gateway's
 * SIGTERM/SIGINT path); a process killed with `kill -9` loses at most the last `maxDelayMs` of lines.
 */
export interface BatchedLog {
  write(line: string): void;
  /** Hands what has gathered to the file now (written in order after the batches before it). */
  flush(): void;
  close(): Promise<void>;
}

export const LOG_FLUSH_MS = 20;
export const LOG_FLUSH_BYTES = 64 << 10;

export function batchedLog(path: string, { maxDelayMs = LOG_FLUSH_MS, maxBytes = LOG_FLUSH_BYTES } = {}): BatchedLog {
  mkdirSync(dirname(path), { recursive: true });
  // an asynchronous stream (one write in flight at a time, in order): a synchronous write would stall the event loop
  // whenever the kernel throttles writers of dirty pages, which on a busy machine cost more throughput than it saved
  const stream: WriteStream = createWriteStream(path, { flags: 'a', mode: 0o600 });
  let failed = false;
  stream.on('error', (error) => {
    // a full disk must not take the gateway down with it: said in gateway.log once
    if (!failed) console.error(`mloop gateway: cannot append to ${path}: ${error.message} (lines are lost until it can)`);
    failed = true;
  });
  let pending = '';
  let timer: NodeJS.Timeout | undefined;
  let ended = false;
  const flush = (): void => {
    if (timer) {
      clearTimeout(timer);
      timer = undefined;
    }
    if (pending === '' || ended) return;
    stream.write(pending);
    pending = '';
  };
  return {
    write(line) {
      pending += line;
      if (pending.length >= maxBytes) flush();
      else if (!timer) {
        timer = setTimeout(flush, maxDelayMs);
        timer.unref();
      }
    },
    flush,
    close: () => {
      flush();
      if (ended) return Promise.resolve();
      ended = true;
      return new Promise((done) => stream.end(() => done()));
    },
  };
}

/**
 * Which route answered each of the process's latest requests, for feedback. The ids the gateway gives are
 * `<12 hex digits, random per process>-<counter in base 36>`, so the route of one of them is found in a ring of
 * route numbers by its counter (4 MiB per process, nothing allocated per request); an id the client gave in
 * `x-request-id` is kept in a map, up to the same number of them.
 */
export class RequestMemory {
  readonly prefix = `${randomBytes(6).toString('hex')}-`;
  private issued = 0;
  private readonly ring: Int32Array;
  private readonly given = new Map<string, number>();
  /** Every distinct route seen (by what feedback needs of it: not its weight); its number is its place + 1. */
  private readonly routes: WireRoute[] = [];
  private readonly numbers = new Map<string, number>();
  private byObject = new WeakMap<WireRoute, number>();

  constructor(private readonly size = REMEMBERED_REQUESTS) {
    this.ring = new Int32Array(size);
  }

  /** A new request id of this process (its slot in the ring cleared); its counter is `issuedCount - 1` right after. */
  next(): string {
    const n = this.issued++;
    this.ring[n % this.size] = 0;
    return this.prefix + n.toString(36);
  }

  /** How many ids this process has given (the counter of the latest is one less). */
  get issuedCount(): number {
    return this.issued;
  }

  private numberOf(route: WireRoute): number {
    let number = this.byObject.get(route);
    if (number !== undefined) return number;
    const key = `${route.model_name}\u0000${route.version}\u0000${route.upstream_port}\u0000${route.replica ?? ''}\u0000${route.arm ?? ''}`;
    number = this.numbers.get(key);
    if (number === undefined) {
      this.routes.push(route);
      number = this.routes.length;
      this.numbers.set(key, number);
    }
    this.byObject.set(route, number);
    return number;
  }

  /**
   * The request `id` was answered by `route`. `counter`: the id's counter when this process gave it (the proxy keeps
   * it from `next()`), so the ring is written without reading the id back.
   */
  remember(id: string, route: WireRoute, counter?: number): void {
    const n = counter !== undefined && counter >= this.issued - this.size ? counter : this.counterOf(id);
    if (n !== undefined) {
      this.ring[n % this.size] = this.numberOf(route);
      return;
    }
    this.given.set(id, this.numberOf(route));
    if (this.given.size > this.size) this.given.delete(this.given.keys().next().value!);
  }

  get(id: string): WireRoute | undefined {
    const n = this.counterOf(id);
    const number = n !== undefined ? this.ring[n % this.size]! : (this.given.get(id) ?? 0);
    return number > 0 ? this.routes[number - 1] : undefined;
  }

  /** The counter of an id this process gave that is still in the ring, else undefined. */
  private counterOf(id: string): number | undefined {
    if (!id.startsWith(this.prefix)) return undefined;
    const digits = id.slice(this.prefix.length);
    if (!/^[0-9a-z]{1,11}$/.test(digits)) return undefined;
    const n = Number.parseInt(digits, 36);
    return n < this.issued && n >= this.issued - this.size ? n : undefined;
  }
}

const sameSecret = (given: string, token: string): boolean => {
  const a = Buffer.from(given);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
};

function readBody(req: IncomingMessage): Promise<Buffer | undefined> {
  return new Promise((done, fail) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY) return req.destroy(new Error(`request body over ${MAX_BODY} bytes`));
      chunks.push(chunk);
    });
    req.on('end', () => done(size === 0 ? undefined : chunks.length === 1 ? chunks[0] : Buffer.concat(chunks)));
    req.on('error', fail);
  });
}

const json = (res: ServerResponse, status: number, body: unknown): void => {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) }).end(text);
};

/** A throw in the gateway's own code while answering: a 500, or the connection cut when the head has gone. */
const failed = (res: ServerResponse, error: unknown): void => {
  if (!res.headersSent) json(res, 500, { error: (error as Error).message });
  else res.destroy();
};

/** An answer up to this size is held until it is whole, then sent with its head in one write; a larger one streams. */
const HELD_ANSWER = MAX_CAPTURED_BODY;

/** What an Exchange reports to the gateway that made it (one set of functions per gateway, not per request). */
interface ExchangeHost {
  /** The request's body has arrived (`exchange.body`): time to send it to a version. */
  received(exchange: Exchange): void;
  /** The request's body could not be read (over MAX_BODY, or the client went away while sending it). */
  unreadable(exchange: Exchange, error: Error): void;
  /** The version answered and the answer went to the client (or is streaming to it). */
  answered(exchange: Exchange): void;
  /** The attempt failed (the version refused, reset, or sent a broken answer). */
  failed(exchange: Exchange, error: Error): void;
}

/**
 * One proxied request: what the gateway needs of it across its attempts (id, start, headers and body for a retry,
 * the ports tried), and the undici dispatch handler of its current attempt (no stream, promise or closure of its own
 * per request: one object). The answer's head and body go to the client in one write once the version has sent it
 * all, so a version that dies anywhere before the end of an answer of up to HELD_ANSWER bytes is retried on another
 * replica (nothing reached the client); a larger answer streams from HELD_ANSWER on, with backpressure. For a canary
 * the held body is also where its predictions are read.
 */
class Exchange {
  /** The route of the current attempt and its headers for the client (x-mloop-version, x-mloop-replica). */
  route: WireRoute | undefined;
  extra: readonly string[] = [];
  /** The ports tried before the current attempt (made on the first retry). */
  tried: Set<number> | undefined;
  /** The x-mloop-key header (sticky A/B arm), honoured on the first attempt only. */
  key: string | undefined;
  // the current attempt's answer
  private status = 0;
  private head: string[] = [];
  private chunks: Buffer[] = [];
  private size = 0;
  private streaming = false;
  private abort: ((error?: Error) => void) | undefined;
  private resumeUpstream: (() => void) | undefined;
  /** The attempt ended (undici calls onError after an onComplete that threw: settled once, as a promise would be). */
  private settled = false;
  /** The whole answer when it was held (for a canary's predictions); undefined when it streamed. */
  held: Buffer | undefined;

  /** The request's body (undefined when empty), whole once `host.received` is called. */
  body: Buffer | undefined;
  private bodyChunks: Buffer[] | undefined;
  private bodySize = 0;
  private bodyRead = false;

  constructor(
    private readonly host: ExchangeHost,
    readonly req: IncomingMessage,
    readonly res: ServerResponse,
    readonly headers: string[],
    readonly requestId: string,
    /** The id's counter when this process gave it (RequestMemory), else undefined (the client gave it). */
    readonly counter: number | undefined,
    readonly started: number,
  ) {}

  /** Reads the request's body, then hands the exchange to its host (listeners shared by every request: no closure or promise per request). */
  readBody(): void {
    (this.req as RequestWithExchange)[EXCHANGE] = this;
    this.req.on('data', onRequestData).on('end', onRequestEnd).on('error', onRequestError);
  }

  requestData(chunk: Buffer): void {
    this.bodySize += chunk.length;
    if (this.bodySize > MAX_BODY) {
      this.req.destroy(new Error(`request body over ${MAX_BODY} bytes`));
      return;
    }
    if (this.body === undefined) this.body = chunk;
    else (this.bodyChunks ??= [this.body]).push(chunk);
  }

  requestEnd(): void {
    if (this.bodyRead) return;
    this.bodyRead = true;
    if (this.bodyChunks) this.body = Buffer.concat(this.bodyChunks, this.bodySize);
    this.bodyChunks = undefined;
    if (this.bodySize === 0) this.body = undefined;
    this.host.received(this);
  }

  requestError(error: Error): void {
    // (an error after the whole body arrived is the response's business, as it was for a promise already settled)
    if (this.bodyRead) return;
    this.bodyRead = true;
    this.host.unreadable(this, error);
  }

  /** Forgets the answer of a failed attempt (only one that reached nothing to the client is retried). */
  reset(): void {
    this.status = 0;
    this.head = [];
    this.chunks = [];
    this.size = 0;
    this.abort = undefined;
    this.resumeUpstream = undefined;
    this.held = undefined;
    this.settled = false;
  }

  onConnect(abort: (error?: Error) => void): void {
    this.abort = abort;
  }

  onHeaders(statusCode: number, raw: Buffer[], resume: () => void): boolean {
    // 1xx informational heads are the version's business, not the client's
    if (statusCode < 200) return true;
    this.status = statusCode;
    this.resumeUpstream = resume;
    // one pass over the raw list (each name decoded and lower-cased once); the content-length is kept unless the
    // answer is chunked: a chunked answer has no length to keep, a sized one keeps it (headers and body in one write)
    const head: string[] = [];
    let chunked = false;
    let sized = false;
    for (let i = 0; i < raw.length; i += 2) {
      const name = raw[i]!.toString('latin1');
      const lower = name.toLowerCase();
      if (lower === 'transfer-encoding') chunked = true;
      else if (lower === 'content-length') sized = true;
      if (!HOP_BY_HOP_ANSWER.has(lower)) head.push(name, raw[i + 1]!.toString('latin1'));
    }
    // (both at once is not valid HTTP; the rare case pays a second pass)
    let kept = head;
    if (chunked && sized) kept = head.filter((_, j) => head[j - (j % 2)]!.toLowerCase() !== 'content-length');
    kept.push('x-request-id', this.requestId);
    for (const value of this.extra) kept.push(value);
    this.head = kept;
    return true;
  }

  onData(chunk: Buffer): boolean {
    if (!this.streaming) {
      this.size += chunk.length;
      this.chunks.push(chunk);
      if (this.size <= HELD_ANSWER) return true;
      // too large to hold: from here on it streams (a failure now can only cut the answer short)
      this.streaming = true;
      this.res.once('close', () => {
        if (!this.res.writableFinished) this.abort?.(new Error('the client went away'));
      });
      this.res.writeHead(this.status, this.head);
      const held = this.chunks;
      this.chunks = [];
      for (let i = 0; i < held.length - 1; i++) this.res.write(held[i]);
      chunk = held[held.length - 1]!;
    }
    if (this.res.write(chunk)) return true;
    this.res.once('drain', () => this.resumeUpstream?.());
    return false;
  }

  onComplete(): void {
    if (this.settled) return;
    this.settled = true;
    try {
      if (this.streaming) this.res.end();
      else {
        const body = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks, this.size);
        this.held = body;
        // (a chunked answer stays chunked: Node frames the held body as one chunk and the terminator, in the same write)
        // with the length known and the socket corked by end(): head and body in one write
        this.res.writeHead(this.status, this.head).end(body);
      }
    } catch (error) {
      // (a head Node refuses to write, say): the same as a failed attempt, answered 502
      this.host.failed(this, error as Error);
      return;
    }
    this.host.answered(this);
  }

  onError(error: Error): void {
    if (this.settled) return;
    this.settled = true;
    this.host.failed(this, error);
  }
}

const EXCHANGE = Symbol('exchange');
type RequestWithExchange = IncomingMessage & { [EXCHANGE]: Exchange };
// `this` is the request (EventEmitter calls a listener on its emitter)
function onRequestData(this: RequestWithExchange, chunk: Buffer): void {
  this[EXCHANGE].requestData(chunk);
}
function onRequestEnd(this: RequestWithExchange): void {
  this[EXCHANGE].requestEnd();
}
function onRequestError(this: RequestWithExchange, error: Error): void {
  this[EXCHANGE].requestError(error);
}

/** The scalar predictions of a {"predictions": [...]} answer (first MAX_LOGGED_PREDICTIONS), or undefined. */
export function predictionsOf(body: Buffer[]): (string | number | boolean)[] | undefined {
  if (body.length === 0) return undefined;
  try {
    const predictions = (JSON.parse(Buffer.concat(body).toString('utf8')) as { predictions?: unknown } | null)?.predictions;
    if (!Array.isArray(predictions)) return undefined;
    return predictions
      .slice(0, MAX_LOGGED_PREDICTIONS)
      .filter((p): p is string | number | boolean => typeof p === 'string' || typeof p === 'boolean' || (typeof p === 'number' && Number.isFinite(p)));
  } catch {
    return undefined;
  }
}

/**
 * The traffic gateway: a reverse proxy on the target's port (loopback) in front of model versions on private
 * ports. undici pools forward each request (docs/decisions/gateway-proxy.md); the route is drawn by weight, or by
 * the hash of the `x-mloop-key` header. A version that refuses the connection is skipped for another one.
 */
export function startGatewayServer(options: GatewayServerOptions): Promise<GatewayServer> {
  let table = options.table;
  // the arms of the table (a version's replicas, a test arm): drawn from on every request, grouped once per table
  let arms: RouteArm<WireRoute>[] = armsOf(table.routes);
  // /explain: this process's warm explainers, one per routed version, started by its first request (explainer.ts)
  const explainers = new ExplainerPool();
  explainers.configure(table.explain);
  // explain: on: the bodies of the latest requests, for /explain {"request_id"} (the serving log keeps no rows)
  const kept = new KeptRequests();
  const setTable = (next: RouteTable): void => {
    if (next.explain !== table.explain) explainers.configure(next.explain);
    if (!next.explain) kept.clear();
    table = next;
    arms = armsOf(next.routes);
  };
  const pools = new Map<number, Pool>();
  const inflight = new Map<number, number>();
  // ports that refused a connection: out of the rotation until then (passive health check, like nginx's max_fails)
  const ejected = new Map<number, number>();
  let turn = 0;
  const versions = new RequestMemory();
  const counts = { requests: 0, accepted: 0, unknown: 0, malformed: 0 };
  // bandit: binary rewards per arm (its replicas together) since the routes were set
  const banditArm = (route: WireRoute): string => armKey(route) ?? `port\u0000${route.upstream_port}`;
  let rewards = new Map<string, { successes: number; failures: number }>();
  let sinceReplan = 0;
  const learn = (route: WireRoute, reward: number): void => {
    if (table.strategy !== 'bandit' || (reward !== 0 && reward !== 1)) return;
    const key = banditArm(route);
    const arm = rewards.get(key) ?? { successes: 0, failures: 0 };
    if (reward === 1) arm.successes++;
    else arm.failures++;
    rewards.set(key, arm);
    if (++sinceReplan < REPLAN_EVERY) return;
    sinceReplan = 0;
    const keys = [...new Set(table.routes.map(banditArm))];
    const members = new Map<string, number>();
    for (const r of table.routes) members.set(banditArm(r), (members.get(banditArm(r)) ?? 0) + 1);
    const shares = thompsonAllocation(
      keys.map((k) => rewards.get(k) ?? { successes: 0, failures: 0 }),
      { floor: table.floor ?? 0.05, random: Math.random },
    );
    const shareOf = new Map(keys.map((k, i) => [k, shares[i]!]));
    // an arm's share is spread evenly over its replicas
    setTable({
      ...table,
      routes: table.routes.map((r) => ({ ...r, weight: Math.round((shareOf.get(banditArm(r))! / members.get(banditArm(r))!) * 10_000) / 100 })),
    });
    void callWorkers({ kind: 'weights', table });
  };
  // every process appends to the one serving log (O_APPEND, whole lines per write: docs/decisions/gateway-workers.md);
  // feedback is the primary's alone
  const servingLog = batchedLog(options.servingLogPath);
  // (a feedback line is written before its answer: one request each, far fewer than the proxied ones)
  const feedbackLog = options.primary ? undefined : batchedLog(options.feedbackLogPath, { maxBytes: 0 });
  const workers = new Set<GatewayPeer>();
  // a status or a lookup does not wait long for a stuck worker (the control API's client gives up after 3 s)
  const callWorkers = (call: GatewayCall): Promise<unknown[]> => {
    const within = call.kind === 'status' || call.kind === 'lookup' || call.kind === 'row' ? 2000 : undefined;
    return Promise.all([...workers].map((w) => w.call(call, within).catch(() => undefined)));
  };

  // the headers an answer gets from its route (x-mloop-version, x-mloop-replica): made once per route object
  const answerHeaders = new WeakMap<WireRoute, readonly string[]>();
  const answerHeadersOf = (route: WireRoute): readonly string[] => {
    let extra = answerHeaders.get(route);
    if (!extra) {
      extra = ['x-mloop-version', String(route.version), ...(route.replica !== undefined ? ['x-mloop-replica', String(route.replica)] : [])];
      answerHeaders.set(route, extra);
    }
    return extra;
  };

  const poolFor = (port: number): Pool => {
    let pool = pools.get(port);
    if (!pool) {
      pool = new Pool(`http://127.0.0.1:${port}`, { connections: 128, keepAliveTimeout: 4000 });
      pools.set(port, pool);
    }
    return pool;
  };

  const since = Date.now();
  let leaving = false;
  let workersRequested = options.workersRequested ?? 1;
  let workersWanted = options.workersWanted ?? 1;
  const processCounts = (): ProcessCounts => ({
    pid: process.pid,
    table,
    requests: counts.requests,
    since,
    leaving,
    inflight: Object.fromEntries([...inflight].map(([port, n]) => [String(port), n])),
    ejected: Object.fromEntries([...ejected].filter(([, until]) => until > Date.now()).map(([port, until]) => [String(port), until])),
  });
  const statusCounts = (): Omit<ProcessCounts, 'since' | 'leaving'> => {
    const { since: _since, leaving: _leaving, ...rest } = processCounts();
    return rest;
  };
  const status = (): GatewayStatus => ({
    target: options.target,
    workers: 1,
    workers_wanted: workersWanted,
    workers_requested: workersRequested,
    ...statusCounts(),
    feedback: { accepted: counts.accepted, unknown: counts.unknown, malformed: counts.malformed },
  });
  /** The primary's status with every worker's counts added: in flight summed per port (a switch has drained when the sum is 0). */
  const statusAll = async (): Promise<GatewayStatus> => {
    const own = status();
    const ownCounts = processCounts();
    const parts = (await callWorkers({ kind: 'status' })).filter((p): p is ProcessCounts => p !== undefined);
    const inflightOf = (p: Pick<ProcessCounts, 'inflight'>): number => Object.values(p.inflight).reduce((a, b) => a + b, 0);
    const processes = [ownCounts, ...parts].map((p, i) => ({
      pid: p.pid,
      role: i === 0 ? ('primary' as const) : ('worker' as const),
      requests: p.requests,
      inflight: inflightOf(p),
      since: p.since,
      ...(p.leaving ? { leaving: true } : {}),
      table: p.table,
    }));
    const inflightAll: Record<string, number> = { ...own.inflight };
    const ejectedAll: Record<string, number> = { ...own.ejected };
    let requests = own.requests;
    for (const part of parts) {
      requests += part.requests;
      for (const [port, n] of Object.entries(part.inflight)) inflightAll[port] = (inflightAll[port] ?? 0) + n;
      for (const [port, until] of Object.entries(part.ejected)) ejectedAll[port] = Math.max(ejectedAll[port] ?? 0, until);
    }
    return { ...own, workers: 1 + parts.filter((p) => !p.leaving).length, requests, inflight: inflightAll, ejected: ejectedAll, processes };
  };

  /** PUT routes: a new table, the bandit's rewards and the ejections forgotten, pools of unrouted ports closed. */
  const applyRoutes = (next: RouteTable): void => {
    setTable(next);
    rewards = new Map();
    sinceReplan = 0;
    ejected.clear();
    const routed = new Set(table.routes.map((r) => r.upstream_port));
    // a version no longer routed keeps its pool until its requests are answered
    for (const [port, pool] of pools) {
      if (!routed.has(port)) {
        pools.delete(port);
        void pool.close().catch(() => undefined);
      }
    }
  };

  const controlReply = async (method: string, path: string, auth: string, raw: string | undefined): Promise<GatewayReply> => {
    if (!auth.startsWith('Bearer ') || !sameSecret(auth.slice(7), options.token)) return { status: 401, body: { error: 'a bearer token is required' } };
    if (method === 'GET' && path === 'status') return { status: 200, body: await statusAll() };
    if (method === 'PUT' && path === 'routes') {
      let body: unknown;
      try {
        body = JSON.parse(raw ?? '');
      } catch {
        return { status: 400, body: { error: 'the body is not JSON' } };
      }
      const parsed = routeTableSchema.safeParse(body);
      if (!parsed.success) {
        const issue = parsed.error.issues[0]!;
        return { status: 400, body: { error: `${issue.path.join('.') || 'body'}: ${issue.message}` } };
      }
      applyRoutes(parsed.data);
      // acknowledged once every worker proxies on the new table (a worker that cannot take it is replaced: gatewayMain.ts)
      await callWorkers({ kind: 'routes', table });
      return { status: 200, body: await statusAll() };
    }
    if (method === 'PUT' && path === 'workers') {
      if (!options.setWorkers) return { status: 400, body: { error: 'this gateway process cannot change its workers' } };
      let body: unknown;
      try {
        body = JSON.parse(raw ?? '');
      } catch {
        return { status: 400, body: { error: 'the body is not JSON' } };
      }
      const parsed = workersSchema.safeParse(body);
      if (!parsed.success) return { status: 400, body: { error: `workers: ${parsed.error.issues[0]!.message}` } };
      ({ requested: workersRequested, wanted: workersWanted } = await options.setWorkers(parsed.data.workers));
      return { status: 200, body: await statusAll() };
    }
    return { status: 404, body: { error: `no control endpoint ${method} ${CONTROL_PREFIX}${path}` } };
  };

  /** The route that answered a request: this process's memory, else a worker's (feedback may reach another process). */
  const routeOf = async (requestId: string, given: WireRoute | undefined): Promise<WireRoute | undefined> => {
    const route = given ?? versions.get(requestId);
    if (route || workers.size === 0) return route;
    return (await callWorkers({ kind: 'lookup', request_id: requestId })).find((r): r is WireRoute => r !== undefined && r !== null);
  };

  const feedbackReply = async (raw: string | undefined, given: WireRoute | undefined): Promise<GatewayReply> => {
    let body: unknown;
    try {
      body = JSON.parse(raw ?? '');
    } catch {
      counts.malformed++;
      return { status: 400, body: { error: 'the body is not JSON', field: null } };
    }
    const parsed = feedbackSchema.safeParse(body);
    if (!parsed.success) {
      counts.malformed++;
      const issue = parsed.error.issues[0]!;
      const field = issue.path.join('.') || (issue.code === 'unrecognized_keys' ? issue.keys.join(', ') : 'body');
      return { status: 400, body: { error: `${field}: ${issue.message}`, field } };
    }
    const { request_id, ...outcome } = parsed.data;
    const route = await routeOf(request_id, given);
    if (!route) {
      counts.unknown++;
      feedbackLog?.write(`${JSON.stringify({ ts: Date.now(), request_id, unknown: true })}\n`);
      return { status: 404, body: { error: `no request ${request_id} passed through this gateway` } };
    }
    counts.accepted++;
    if (outcome.reward !== undefined) learn(route, outcome.reward);
    feedbackLog?.write(
      `${JSON.stringify({ ts: Date.now(), request_id, model_name: route.model_name, version: route.version, upstream_port: route.upstream_port, ...outcome })}\n`,
    );
    return { status: 200, body: { request_id, version: route.version } };
  };

  const send = (res: ServerResponse, reply: GatewayReply): void => json(res, reply.status, reply.body);
  const primary = options.primary;

  const control = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const auth = req.headers.authorization ?? '';
    const path = req.url!.slice(CONTROL_PREFIX.length);
    const body = req.method === 'GET' ? undefined : (await readBody(req))?.toString('utf8');
    if (!primary) return send(res, await controlReply(req.method!, path, auth, body));
    const call: GatewayCall = { kind: 'control', method: req.method!, path, auth, ...(body !== undefined ? { body } : {}) };
    send(res, (await primary.call(call)) as GatewayReply);
  };

  const feedback = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const body = (await readBody(req))?.toString('utf8');
    if (!primary) return send(res, await feedbackReply(body, undefined));
    // the request id is looked up here first (the request most likely came through this process)
    let route: WireRoute | undefined;
    try {
      route = versions.get((JSON.parse(body ?? '') as { request_id?: string } | null)?.request_id ?? '');
    } catch {}
    send(res, (await primary.call({ kind: 'feedback', ...(body !== undefined ? { body } : {}), ...(route ? { route } : {}) })) as GatewayReply);
  };

  const answer = async (call: GatewayCall): Promise<unknown> => {
    switch (call.kind) {
      case 'control':
        return controlReply(call.method, call.path, call.auth, call.body);
      case 'feedback':
        return feedbackReply(call.body, call.route);
      case 'routes':
        // fault injection for the tests: a worker slow to take a change (the change is acknowledged only after it)
        if (ROUTES_DELAY_MS > 0) await new Promise((done) => setTimeout(done, ROUTES_DELAY_MS));
        applyRoutes(call.table);
        return true;
      case 'weights':
        setTable(call.table);
        return true;
      case 'status':
        return processCounts();
      case 'lookup':
        return versions.get(call.request_id) ?? null;
      case 'row':
        return wireKept(await keptOf(call.request_id, true));
      case 'leave':
        void leave();
        return true;
    }
  };

  /** The request's serving-log line, composed by hand (the documented field order; the id needs no escaping: word
   * characters, '.', ':' and '-' only): no object per request. */
  const logAnswer = (x: Exchange, route: WireRoute | undefined, statusCode: number, predictions?: (string | number | boolean)[]): void =>
    servingLog.write(
      `{"ts":${Date.now()},"request_id":"${x.requestId}","version":${route ? `${route.version},"upstream_port":${route.upstream_port}${route.replica !== undefined ? `,"replica":${route.replica}` : ''}` : 'null'},"latency_ms":${Math.round((performance.now() - x.started) * 1000) / 1000},"status":${statusCode}${predictions ? `,"predictions":${JSON.stringify(predictions)}` : ''}}\n`,
    );

  /** Sends the request to a version: the only one (no draw), else drawn among the ones not tried yet. */
  const attempt = (x: Exchange): void => {
    const tried = x.tried;
    let route: WireRoute | undefined;
    const only = arms.length === 1 && arms[0]!.members.length === 1 ? arms[0]!.members[0] : undefined;
    if (!tried && only)
      route = only; // one version, one replica: nothing to draw (the common case)
    else {
      const untried = tried ? table.routes.filter((r) => !tried.has(r.upstream_port)) : table.routes;
      const now = ejected.size === 0 ? 0 : Date.now();
      route = pickUpstream(untried, {
        key: tried ? undefined : x.key,
        inflight: (p) => inflight.get(p) ?? 0,
        turn: turn++,
        ejected: ejected.size === 0 ? undefined : (p) => (ejected.get(p) ?? 0) > now,
        ...(tried ? {} : { arms }),
      });
    }
    if (!route) {
      logAnswer(x, undefined, 503);
      return json(x.res, 503, { error: `no model version takes traffic on target "${options.target}"` });
    }
    x.route = route;
    x.extra = answerHeadersOf(route);
    const port = route.upstream_port;
    inflight.set(port, (inflight.get(port) ?? 0) + 1);
    poolFor(port).dispatch({ path: x.req.url!, method: x.req.method as 'GET', headers: x.headers, body: x.body ?? null }, x);
  };

  const exchangeHost: ExchangeHost = {
    received(x) {
      try {
        attempt(x);
      } catch (error) {
        failed(x.res, error);
      }
    },
    unreadable(x, error) {
      try {
        logAnswer(x, undefined, 413);
        json(x.res, 413, { error: error.message });
      } catch (thrown) {
        failed(x.res, thrown);
      }
    },
    answered(x) {
      const route = x.route!;
      const port = route.upstream_port;
      inflight.set(port, inflight.get(port)! - 1);
      try {
        ejected.delete(port);
        versions.remember(x.requestId, route, x.counter);
        if (table.explain && x.res.statusCode === 200) kept.keep(x.requestId, route, x.body);
        // a canary is compared on its predictions too: read them from the (held) answers while it runs (docs/deploy.md)
        const predictions = table.strategy === 'canary' && x.res.statusCode === 200 && x.held ? predictionsOf([x.held]) : undefined;
        logAnswer(x, route, x.res.statusCode, predictions);
      } catch (error) {
        failed(x.res, error);
      }
    },
    failed(x, error) {
      const route = x.route!;
      const port = route.upstream_port;
      inflight.set(port, inflight.get(port)! - 1);
      try {
        retryOrFail(x, route, error);
      } catch (thrown) {
        failed(x.res, thrown);
      }
    },
  };

  /** A failed attempt: another version when nothing reached the client and one is left, else a 502. */
  const retryOrFail = (x: Exchange, route: WireRoute, error: Error): void => {
    const port = route.upstream_port;
    const { res } = x;
    if (res.headersSent) {
      logAnswer(x, route, 502);
      res.destroy(error);
      return;
    }
    const code = (error as NodeJS.ErrnoException).code ?? '';
    // nothing reached the client (the version is gone or restarting, or died after its head and before a byte of its
    // body: a content-length mismatch): another version may answer
    if (!['ECONNREFUSED', 'ECONNRESET', 'UND_ERR_SOCKET', 'UND_ERR_CLOSED', 'UND_ERR_DESTROYED', 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH'].includes(code)) {
      logAnswer(x, route, 502);
      return json(res, 502, { error: `version ${route.version}: ${error.message}` });
    }
    if (code === 'ECONNREFUSED') ejected.set(port, Date.now() + EJECT_MS);
    const tried = (x.tried ??= new Set());
    tried.add(port);
    if (table.routes.every((r) => tried.has(r.upstream_port) || r.weight <= 0)) {
      logAnswer(x, route, 502);
      return json(res, 502, { error: `version ${route.version} did not answer: ${error.message}` });
    }
    x.reset();
    // after undici has finished with the failed attempt
    queueMicrotask(() => {
      try {
        attempt(x);
      } catch (thrown) {
        failed(x.res, thrown);
      }
    });
  };

  const proxy = (req: IncomingMessage, res: ServerResponse): void => {
    const started = performance.now();
    counts.requests++;
    // the request's end-to-end headers as a flat list, straight from the raw ones (no header object per request)
    const raw = req.rawHeaders;
    const headers: string[] = [];
    let given: string | undefined;
    let key: string | undefined;
    for (let i = 0; i < raw.length; i += 2) {
      const name = raw[i]!;
      const lower = name.toLowerCase();
      if (lower === 'x-request-id') given ??= raw[i + 1];
      else if (HOP_BY_HOP.has(lower)) continue;
      else {
        if (lower === KEY_HEADER) key ??= raw[i + 1];
        headers.push(name, raw[i + 1]!);
      }
    }
    let requestId = given;
    let counter: number | undefined;
    if (requestId === undefined || !/^[\w.:-]{1,128}$/.test(requestId)) {
      requestId = versions.next();
      counter = versions.issuedCount - 1;
    }
    headers.push('x-request-id', requestId);
    const x = new Exchange(exchangeHost, req, res, headers, requestId, counter, started);
    x.key = key;
    // the body first (kept for a retry), then the attempt: exchangeHost.received
    x.readBody();
  };

  // explain requests have a log of their own: the serving log's latencies and errors stay those of predictions
  let explainLog: BatchedLog | undefined;
  const explainLogOf = (): BatchedLog => (explainLog ??= batchedLog(options.explainLogPath ?? join(dirname(options.servingLogPath), 'explain.jsonl')));

  /** A kept request of this process, else (asked by a client, or this is the primary) of the other processes. */
  const keptOf = async (requestId: string, asked: boolean): Promise<KeptRequest | undefined> => {
    const here = kept.get(requestId);
    if (here) return here;
    // a worker asked by the primary answers for itself; the primary asks its workers
    if (asked && primary) return undefined;
    const fromPeer = (wire: unknown): KeptRequest | undefined => {
      const w = wire as { route?: WireRoute; body?: string } | null | undefined;
      return w?.route && typeof w.body === 'string' ? { route: w.route, body: Buffer.from(w.body, 'base64') } : undefined;
    };
    if (primary) return fromPeer(await primary.call({ kind: 'row', request_id: requestId }, 3000).catch(() => undefined));
    return (await callWorkers({ kind: 'row', request_id: requestId })).map(fromPeer).find((k) => k !== undefined);
  };
  const wireKept = (k: KeptRequest | undefined): { route: WireRoute; body: string } | null => (k ? { route: k.route, body: k.body.toString('base64') } : null);

  /**
   * POST /explain {"row": {...}}: the row explained by the version this request is routed to (sticky key honoured);
   * {"request_id": id, "index"?: i}: row i (default 0) of that earlier request, explained by the version that answered it.
   */
  const explain = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const started = performance.now();
    const given = req.headers['x-request-id'];
    const requestId = typeof given === 'string' && /^[\w.:-]{1,128}$/.test(given) ? given : versions.next();
    const keyHeader = req.headers[KEY_HEADER];
    const key = typeof keyHeader === 'string' ? keyHeader : undefined;
    const reply = (route: WireRoute | undefined, status: number, body: Record<string, unknown>): void => {
      explainLogOf().write(
        `${JSON.stringify({
          ts: Date.now(),
          request_id: requestId,
          kind: 'explain',
          version: route?.version ?? null,
          ...(route ? { upstream_port: route.upstream_port } : {}),
          latency_ms: Math.round((performance.now() - started) * 1000) / 1000,
          status,
          ...(typeof body.method === 'string' ? { method: body.method } : {}),
        })}\n`,
      );
      const text = JSON.stringify({ request_id: requestId, ...(route ? { model: route.model_name, version: route.version } : {}), ...body });
      res
        .writeHead(status, {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(text),
          'x-request-id': requestId,
          ...(route ? { 'x-mloop-version': String(route.version) } : {}),
        })
        .end(text);
    };
    let raw: Buffer | undefined;
    try {
      raw = await readBody(req);
    } catch (error) {
      return reply(undefined, 413, { error: (error as Error).message });
    }
    if (!explainers.enabled)
      return reply(undefined, 404, {
        error: `explanations are not enabled on target "${options.target}": set explain: true on the target in mloop.yaml, then deploy`,
      });
    let body: unknown;
    try {
      body = JSON.parse(raw?.toString('utf8') ?? '');
    } catch {
      return reply(undefined, 400, { error: 'the body is not JSON: send {"row": {"feature": value, ...}}', field: null });
    }
    const parsed = explainBodySchema.safeParse(body);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      const field = issue.path.join('.') || (issue.code === 'unrecognized_keys' ? issue.keys.join(', ') : 'body');
      return reply(undefined, 400, { error: `${field}: ${issue.message} (send {"row": {"feature": value, ...}})`, field });
    }
    if (parsed.data.request_id !== undefined) {
      const id = parsed.data.request_id;
      const earlier = await keptOf(id, false);
      if (!earlier)
        return reply(undefined, 404, {
          error: `no request ${id} is kept on this gateway: it keeps the rows of its latest ${EXPLAIN_KEPT_REQUESTS} answered requests (up to ${EXPLAIN_KEPT_BYTES >> 20} MiB) while explain: is on, in memory (a restart forgets them)`,
          field: 'request_id',
        });
      const rows = rowsOfRequest(earlier.body);
      if (typeof rows === 'string') return reply(earlier.route, 422, { error: `request ${id} cannot be explained: ${rows}`, field: 'request_id' });
      const index = parsed.data.index ?? 0;
      if (index >= rows.length)
        return reply(earlier.route, 400, { error: `index: request ${id} sent ${rows.length} row(s): give 0 to ${rows.length - 1}`, field: 'index' });
      const row = rows[index]! as Record<string, string | number | boolean | null>;
      const { model_name: model, version } = earlier.route;
      if (!table.routes.some((r) => r.model_name === model && r.version === version))
        return reply(earlier.route, 409, {
          error: `${model} v${version} answered request ${id} but is no longer routed on target "${options.target}": it cannot explain it here`,
        });
      const answer = await explainers.explain(model, version, row);
      return reply(earlier.route, answer.status, { explained_request: id, index, row, ...answer.body });
    }
    // the same draw as a prediction's: by weight, or by the hash of x-mloop-key (the arm that key's predictions get)
    const now = ejected.size === 0 ? 0 : Date.now();
    const route = pickUpstream(table.routes, {
      key,
      inflight: (p) => inflight.get(p) ?? 0,
      turn: turn++,
      ejected: ejected.size === 0 ? undefined : (p) => (ejected.get(p) ?? 0) > now,
      arms,
    });
    if (!route) return reply(undefined, 503, { error: `no model version takes traffic on target "${options.target}"` });
    const answer = await explainers.explain(route.model_name, route.version, parsed.data.row!);
    reply(route, answer.status, answer.body);
  };

  const server = createServer((req, res) => {
    // leaving: this answer closes its connection (the client opens its next one to a process that stays)
    if (leaving) res.shouldKeepAlive = false;
    const url = req.url ?? '/';
    const handle = url.startsWith(CONTROL_PREFIX)
      ? control
      : req.method === 'POST' && url === '/feedback'
        ? feedback
        : req.method === 'POST' && url === '/explain'
          ? explain
          : undefined;
    if (handle) {
      handle(req, res).catch((error: unknown) => failed(res, error));
      return;
    }
    // a prediction: no promise on its path (Exchange reads the body and reports to exchangeHost)
    try {
      proxy(req, res);
    } catch (error) {
      failed(res, error);
    }
  });
  // a client's idle keep-alive connection stays as long as nginx (65 s in Debian's nginx.conf) and mloop's tracking
  // server keep theirs: with Node's 5 s, a client idle longer than 4 s between calls (its agent drops the connection a
  // second before the server's timeout) reconnects, and a client that ignores the Keep-Alive hint races the close
  server.keepAliveTimeout = KEEP_ALIVE_MS;
  let markLeft: () => void = () => undefined;
  const left = new Promise<void>((done) => (markLeft = done));
  const finish = async (): Promise<void> => {
    explainers.close();
    await Promise.all([...pools.values()].map((p) => p.close().catch(() => undefined)));
    await Promise.all([servingLog.close(), feedbackLog?.close(), explainLog?.close()]);
  };
  const leave = async (maxMs = 10_000): Promise<void> => {
    if (leaving) return left;
    leaving = true;
    // server.close() would also close the idle keep-alive connections at once, racing a request a client is sending on
    // one: they stay until their next answer (Connection: close) or their keep-alive timeout instead
    server.closeIdleConnections = () => undefined;
    const cut = setTimeout(() => server.closeAllConnections(), maxMs);
    cut.unref();
    await new Promise<void>((closed) => server.close(() => closed()));
    clearTimeout(cut);
    await finish();
    markLeft();
  };
  return new Promise((done, fail) => {
    server.once('error', fail);
    server.listen({ port: options.port, host: '127.0.0.1', ...(options.reusePort ? { reusePort: true } : {}) }, () => {
      server.off('error', fail);
      const address = server.address();
      done({
        port: typeof address === 'object' && address ? address.port : options.port,
        status,
        statusAll,
        addWorker: (worker) => workers.add(worker),
        removeWorker: (worker) => workers.delete(worker),
        answer,
        leave,
        left,
        close: async () => {
          await new Promise<void>((closed) => {
            server.close(() => closed());
            server.closeAllConnections();
          });
          await finish();
        },
      });
    });
  });
}
