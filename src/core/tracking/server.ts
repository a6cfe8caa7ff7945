import { randomBytes, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { sendLandingPage } from './landingPage';
import type { AddressInfo } from 'node:net';
import type { Store } from '../store/store';
import { ARTIFACTS_PREFIX, serveArtifacts } from './artifactsApi';
import { createContext, type JsonHandler, type TrackingContext } from './context';
import { MlflowApiError, storageFailure } from './errors';
import { experimentRoutes } from './experimentsApi';
import { loggedModelRoutes } from './loggedModelsApi';
import { registryRoutes } from './registryApi';
import { runInputRoutes } from './runInputs';
import { runBodyRoutes, runRoutes } from './runsApi';
import { defaultMetricWriterFile, MetricWriterThread } from './metricWriter';
import { toWireJson } from './wire';

export interface TrackingServerOptions {
  readonly store: Store;
  /** Folder the mlflow-artifacts proxy reads and writes, normally `<project>/.mloop/artifacts`. */
  readonly artifactRoot: string;
  /** 0 or absent: a free port chosen by the OS. */
  readonly port?: number;
  /** The bearer token clients must send; absent: 32 random bytes, hex. */
  readonly token?: string;
  /** The editor's URI scheme (vscode, vscode-insiders, …) the root page links to; default vscode. */
  readonly uriScheme?: string;
  readonly log?: (line: string) => void;
  /** Largest JSON request body accepted (default 64 MB). */
  readonly maxBodyBytes?: number;
  /** Largest single artifact upload accepted (default 4 GB). */
  readonly maxArtifactBytes?: number;
  /**
   * The worker bundle that writes plain log-batch metrics on a thread of its own (default: dist/metricWriter.js beside
   * this bundle); null, or a file that is not there: every write on the server's thread.
   */
  readonly metricWriterFile?: string | null;
}

export interface TrackingServer {
  /** `http://127.0.0.1:<port>`: the value for MLFLOW_TRACKING_URI. */
  readonly uri: string;
  readonly port: number;
  /** The value for MLFLOW_TRACKING_TOKEN. */
  readonly token: string;
  /** Whether plain log-batch metrics are being written on the metric writer thread (see metricWriter.ts). */
  readonly metricWriterThread: boolean;
  close(): Promise<void>;
}

export const DEFAULT_MAX_BODY_BYTES = 64 * 1024 * 1024;
const DEFAULT_MAX_ARTIFACT_BYTES = 4 * 1024 ** 3;
const BIND_ADDRESS = '127.0.0.1';
/** How long the rest of a refused request's body is read and dropped before the connection is cut. */
const DRAIN_MS = 10_000;

/** What the MLflow 3 client asks before uploads: no multipart, no workspaces. */
const serverInfo: JsonHandler = () => ({
  store_type: 'SqlStore',
  workspaces_enabled: false,
  multipart_uploads_enabled: false,
  multipart_downloads_enabled: false,
});

const allRoutes: Readonly<Record<string, JsonHandler>> = {
  ...experimentRoutes,
  ...runRoutes,
  ...runInputRoutes,
  ...loggedModelRoutes,
  ...registryRoutes,
  'GET /api/3.0/mlflow/server-info': serverInfo,
};

interface Router {
  find(method: string, path: string): { handler: JsonHandler; params: string[] } | undefined;
  /** Whether some method serves this path (for a clearer "wrong method" message). */
  knows(path: string): boolean;
}

function buildRouter(routes: Readonly<Record<string, JsonHandler>>): Router {
  const exact = new Map<string, JsonHandler>();
  const patterns: { method: string; regex: RegExp; handler: JsonHandler }[] = [];
  for (const [key, handler] of Object.entries(routes)) {
    if (!key.includes('{')) exact.set(key, handler);
    else {
      const [method, path] = key.split(' ') as [string, string];
      const regex = new RegExp(`^${path.replace(/\{[^}]+\}/g, '([^/]+)')}$`);
      patterns.push({ method, regex, handler });
    }
  }
  const paths = new Set([...exact.keys()].map((k) => k.split(' ')[1]));
  return {
    find(method, path) {
      const handler = exact.get(`${method} ${path}`);
      if (handler) return { handler, params: [] };
      for (const p of patterns) {
        if (p.method !== method) continue;
        const match = p.regex.exec(path);
        if (match) return { handler: p.handler, params: match.slice(1).map((s) => decodeURIComponent(s)) };
      }
      return undefined;
    },
    knows: (path) => paths.has(path) || patterns.some((p) => p.regex.test(path)),
  };
}

/** The MLflow preview prefix and the UI's ajax prefix serve the same API. */
const canonicalPath = (path: string): string => path.replace(/^\/ajax-api\//, '/api/').replace(/^\/api\/2\.0\/preview\//, '/api/2.0/');

function queryObject(query: URLSearchParams): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of query) {
    const previous = out[key];
    out[key] = previous === undefined ? value : Array.isArray(previous) ? [...(previous as string[]), value] : [previous, value];
  }
  return out;
}

/** The request's body as the chunks read (joined only where a whole buffer is needed: bodyBuffer). */
function readBody(req: IncomingMessage, maxBytes: number): Promise<Buffer[]> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > maxBytes) return Promise.reject(tooLarge(declared, maxBytes));
  return new Promise((resolveBody, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let failed = false;
    req.on('data', (chunk: Buffer) => {
      if (failed) return;
      size += chunk.length;
      if (size > maxBytes) {
        failed = true;
        chunks.length = 0;
        reject(tooLarge(size, maxBytes));
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => failed || resolveBody(chunks));
    req.on('error', (error) => failed || reject(error));
  });
}

const bodyBuffer = (chunks: readonly Buffer[]): Buffer => (chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks));

const tooLarge = (size: number, maxBytes: number): MlflowApiError =>
  new MlflowApiError(
    'INVALID_PARAMETER_VALUE',
    `Request body of at least ${size} bytes is larger than the ${maxBytes}-byte limit of this endpoint; split it into smaller batches (runs/log-batch takes at most 1000 metrics).`,
  );

function parseJsonBody(body: Buffer): Record<string, unknown> {
  if (body.length === 0) return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch (error) {
    throw new MlflowApiError('INVALID_PARAMETER_VALUE', `Malformed JSON in the request body: ${(error as Error).message}`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new MlflowApiError('INVALID_PARAMETER_VALUE', 'The request body must be a JSON object.');
  }
  return parsed as Record<string, unknown>;
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = toWireJson(body);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

function tokenMatches(header: string | undefined, expected: Buffer): boolean {
  if (!header?.startsWith('Bearer ')) return false;
  const given = Buffer.from(header.slice('Bearer '.length).trim(), 'utf8');
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/**
 * Starts the MLflow-REST-compatible endpoint over the store, on 127.0.0.1 only, behind a bearer token.
 * The unchanged `mlflow` client logs into mloop with MLFLOW_TRACKING_URI + MLFLOW_TRACKING_TOKEN.
 */
export async function startTrackingServer(options: TrackingServerOptions): Promise<TrackingServer> {
  if (options.store.readonly) throw new Error(`The tracking server needs a writable store; ${options.store.path} was opened read-only.`);
  const token = options.token ?? randomBytes(32).toString('hex');
  if (token.length < 16) throw new Error('The tracking token must be at least 16 characters.');
  const expected = Buffer.from(token, 'utf8');
  const ctx: TrackingContext = createContext(options);
  ctx.experiments.ensureDefault();
  const router = buildRouter(allRoutes);
  const maxBody = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const maxArtifact = options.maxArtifactBytes ?? DEFAULT_MAX_ARTIFACT_BYTES;
  const log = ctx.log;

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const method = req.method ?? 'GET';
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const rawPath = q === -1 ? url : url.slice(0, q);
    const query = new URLSearchParams(q === -1 ? '' : url.slice(q + 1));
    try {
      // the one unauthenticated answer: a data-free page that forwards the link MLflow prints to the editor
      if (method === 'GET' && rawPath === '/') return sendLandingPage(res, options.uriScheme ?? 'vscode');
      if (!tokenMatches(req.headers.authorization, expected)) {
        throw new MlflowApiError('UNAUTHENTICATED', 'Missing or wrong bearer token: set MLFLOW_TRACKING_TOKEN to the token mloop printed for this server.');
      }
      const path = canonicalPath(rawPath);
      if (path === ARTIFACTS_PREFIX || path.startsWith(`${ARTIFACTS_PREFIX}/`)) {
        const body = await serveArtifacts(ctx, req, res, path, query, maxArtifact);
        if (body) sendJson(res, 200, body);
        return;
      }
      const route = router.find(method, path);
      if (!route) {
        throw new MlflowApiError(
          'ENDPOINT_NOT_FOUND',
          router.knows(path) ? `${method} is not allowed on ${path}.` : `No endpoint ${method} ${path.slice(0, 200)} on this mloop tracking server.`,
        );
      }
      const body = method === 'GET' ? undefined : await readBody(req, maxBody);
      let result = body && q === -1 ? runBodyRoutes[`${method} ${path}`]?.(ctx, body) : undefined;
      if (result === undefined) {
        const input = body ? { ...queryObject(query), ...parseJsonBody(bodyBuffer(body)) } : queryObject(query);
        result = route.handler(ctx, input, route.params);
      }
      sendJson(res, 200, (result instanceof Promise ? await result : result) ?? {});
    } catch (error) {
      if (res.headersSent) {
        log(`${method} ${rawPath.slice(0, 200)}: failed while streaming: ${(error as Error).message}`);
        res.destroy();
        return;
      }
      const apiError =
        error instanceof MlflowApiError
          ? error
          : (storageFailure(error, ctx.store.path) ??
            new MlflowApiError('INTERNAL_ERROR', `Internal error in the mloop tracking server: ${(error as Error).message}`));
      if (apiError.code === 'INTERNAL_ERROR') log(`${method} ${rawPath.slice(0, 200)} -> 500 ${(error as Error).stack ?? String(error)}`);
      else if (apiError.status !== 401) log(`${method} ${rawPath.slice(0, 200)} -> ${apiError.status} ${apiError.code}: ${apiError.message.slice(0, 300)}`);
      sendJson(res, apiError.status, { error_code: apiError.code, message: apiError.message });
      // A body we did not read (refused early): read and drop the rest, so a client still sending gets the
      // answer rather than a reset connection; one that keeps sending for DRAIN_MS is cut off.
      if (!req.readableEnded) {
        res.on('finish', () => {
          const giveUp = setTimeout(() => req.destroy(), DRAIN_MS).unref();
          req
            .on('end', () => clearTimeout(giveUp))
            .on('error', () => clearTimeout(giveUp))
            .resume();
        });
      }
    }
  };

  const server = createServer({ keepAliveTimeout: 65_000 }, (req, res) => void handle(req, res));
  await new Promise<void>((resolveListen, reject) => {
    server.once('error', reject);
    server.listen({ host: BIND_ADDRESS, port: options.port ?? 0 }, () => {
      server.off('error', reject);
      resolveListen();
    });
  });
  // plain log-batch writes on their own thread and connection (see metricWriter.ts), from the first request on
  const writerFile = options.metricWriterFile === undefined ? defaultMetricWriterFile() : options.metricWriterFile;
  const metricWriter = writerFile ? MetricWriterThread.start(options.store.path, writerFile, log) : undefined;
  if (metricWriter) ctx.metricWriter = metricWriter;
  const port = (server.address() as AddressInfo).port;
  const uri = `http://${BIND_ADDRESS}:${port}`;
  log(`mloop tracking server listening on ${uri}`);
  return {
    uri,
    port,
    token,
    get metricWriterThread() {
      return metricWriter?.alive ?? false;
    },
    close: async () => {
      try {
        await new Promise<void>((resolveClose, reject) => {
          server.close((error) => (error ? reject(error) : resolveClose()));
          server.closeAllConnections();
        });
      } finally {
        await metricWriter?.close();
      }
    },
  };
}
