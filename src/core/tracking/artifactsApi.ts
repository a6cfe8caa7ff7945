import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync, mkdirSync, readdirSync, realpathSync, renameSync, rmSync, statSync, type Stats } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { dirname, join, relative as relativePath, resolve, sep } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { TrackingContext } from './context';
import { invalidParameter, MlflowApiError, notFound } from './errors';

// The `mlflow-artifacts` proxy: the client PUTs and GETs `<experiment>/<run>/artifacts/<path>` and
// `<experiment>/models/<model id>/artifacts/<path>` relative to the artifact root. Every path is
// checked segment by segment and resolved inside the root; anything that could leave it is refused.

export const ARTIFACTS_PREFIX = '/api/2.0/mlflow-artifacts/artifacts';

/** A safe relative artifact path ("" is the root), or a 400 that says why not. */
export function safeArtifactPath(encoded: string): string {
  let decoded: string;
  try {
    decoded = decodeURIComponent(encoded);
  } catch {
    throw invalidParameter(`Invalid artifact path ${JSON.stringify(encoded.slice(0, 200))}: malformed percent-encoding.`);
  }
  if (decoded === '') return '';
  const refuse = (why: string): never => {
    throw invalidParameter(`Invalid artifact path ${JSON.stringify(decoded.slice(0, 200))}: ${why}.`);
  };
  if (decoded.includes('\0')) refuse('it contains a NUL character');
  if (decoded.includes('\\')) refuse('it contains a backslash');
  if (decoded.startsWith('/') || /^[A-Za-z]:/.test(decoded)) refuse('absolute paths are not allowed');
  const segments = decoded.replace(/\/+$/, '').split('/');
  for (const segment of segments) {
    if (segment === '' || segment === '.' || segment === '..') refuse('it must be relative, without ".", ".." or empty segments');
  }
  return segments.join('/');
}

/** The absolute file for a safe relative path, checked to be inside the (real) artifact root. */
function fileFor(ctx: TrackingContext, relative: string): string {
  const root = resolve(ctx.artifactRoot);
  const target = relative === '' ? root : resolve(root, relative);
  if (target !== root && !target.startsWith(root + sep))
    throw invalidParameter(`Invalid artifact path ${JSON.stringify(relative)}: it resolves outside the artifact root.`);
  // A symlink inside the root must not lead out of it either: check the deepest existing ancestor.
  let existing = target;
  while (!existsSync(existing) && existing !== root) existing = dirname(existing);
  if (existsSync(existing)) {
    const realRoot = existsSync(root) ? realpathSync(root) : root;
    const real = realpathSync(existing);
    if (real !== realRoot && !real.startsWith(realRoot + sep))
      throw invalidParameter(`Invalid artifact path ${JSON.stringify(relative)}: it leads outside the artifact root.`);
  }
  return target;
}

/** A run artifact path `<experiment>/<run id>/artifacts/<file>`: recorded in the store's artifact table. */
const RUN_ARTIFACT = /^\d+\/([0-9a-f]{32})\/artifacts\/(.+)$/;

async function upload(ctx: TrackingContext, req: IncomingMessage, relative: string, maxBytes: number): Promise<void> {
  if (relative === '') throw invalidParameter('An artifact upload needs a file path after /mlflow-artifacts/artifacts/.');
  const file = fileFor(ctx, relative);
  if (existsSync(file) && statSync(file).isDirectory()) throw invalidParameter(`Cannot upload to ${relative}: it is a folder.`);
  // a parent that is a file (an earlier upload by that name) is the caller's conflict, not a server error
  const root = resolve(ctx.artifactRoot);
  for (let parent = dirname(file); parent.startsWith(root + sep); parent = dirname(parent)) {
    if (existsSync(parent) && !statSync(parent).isDirectory()) {
      throw invalidParameter(`Cannot upload to ${relative}: ${relativePath(root, parent)} is a file, not a folder.`);
    }
  }
  mkdirSync(dirname(file), { recursive: true });
  fileFor(ctx, relative); // re-check now that the parents exist
  const partial = `${file}.${process.pid}.${Date.now()}.partial`;
  const hash = createHash('sha256');
  let size = 0;
  try {
    await pipeline(
      req,
      async function* (source: AsyncIterable<Buffer>) {
        for await (const chunk of source) {
          size += chunk.length;
          if (size > maxBytes) throw invalidParameter(`Artifact ${relative} is larger than the ${maxBytes} byte limit of this endpoint.`);
          hash.update(chunk);
          yield chunk;
        }
      },
      createWriteStream(partial),
    );
    renameSync(partial, file);
  } catch (error) {
    rmSync(partial, { force: true });
    throw error;
  }
  const match = RUN_ARTIFACT.exec(relative);
  if (match && ctx.runs.get(match[1]!)) ctx.artifacts.record({ runId: match[1]!, path: match[2]!, digest: `sha256:${hash.digest('hex')}`, size });
}

async function download(ctx: TrackingContext, res: ServerResponse, relative: string): Promise<void> {
  const file = fileFor(ctx, relative);
  let stats: Stats;
  try {
    stats = statSync(file);
  } catch {
    throw notFound(`No artifact at ${relative}.`);
  }
  if (!stats.isFile()) throw notFound(`${relative || '/'} is a folder, not a file; list it with GET ${ARTIFACTS_PREFIX}?path=${relative}.`);
  res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': stats.size });
  await pipeline(createReadStream(file), res);
}

function list(ctx: TrackingContext, relative: string): Record<string, unknown> {
  const folder = fileFor(ctx, relative);
  if (!existsSync(folder) || !statSync(folder).isDirectory()) return {};
  const files = readdirSync(folder, { withFileTypes: true })
    .filter((e) => !e.name.endsWith('.partial'))
    .sort((a, b) => a.name.localeCompare(b.name))
    .map((e) => (e.isDirectory() ? { path: e.name, is_dir: true } : { path: e.name, is_dir: false, file_size: statSync(join(folder, e.name)).size }));
  return files.length ? { files } : {};
}

function remove(ctx: TrackingContext, relative: string): Record<string, unknown> {
  if (relative === '') throw invalidParameter('Refusing to delete the whole artifact root.');
  rmSync(fileFor(ctx, relative), { recursive: true, force: true });
  const match = RUN_ARTIFACT.exec(relative);
  if (match) ctx.artifacts.forget(match[1]!, match[2]!);
  return {};
}

/**
 * Serves one request under ARTIFACTS_PREFIX. Resolves to a JSON body to send, or undefined when the
 * response was already streamed (a download).
 */
export async function serveArtifacts(
  ctx: TrackingContext,
  req: IncomingMessage,
  res: ServerResponse,
  rawPath: string,
  query: URLSearchParams,
  maxUploadBytes: number,
): Promise<Record<string, unknown> | undefined> {
  const method = req.method ?? 'GET';
  const rest = rawPath.slice(ARTIFACTS_PREFIX.length);
  if (rest === '' || rest === '/') {
    if (method !== 'GET') throw new MlflowApiError('ENDPOINT_NOT_FOUND', `${method} ${ARTIFACTS_PREFIX} is not supported; use GET to list.`);
    return list(ctx, safeArtifactPath(query.get('path') ?? ''));
  }
  if (!rest.startsWith('/')) throw new MlflowApiError('ENDPOINT_NOT_FOUND', `No endpoint ${rawPath.slice(0, 200)}.`);
  const relative = safeArtifactPath(rest.slice(1));
  switch (method) {
    case 'PUT':
      await upload(ctx, req, relative, maxUploadBytes);
      return {};
    case 'GET':
      await download(ctx, res, relative);
      return undefined;
    case 'DELETE':
      return remove(ctx, relative);
    default:
      throw new MlflowApiError('ENDPOINT_NOT_FOUND', `${method} is not supported on artifacts (use PUT, GET or DELETE).`);
  }
}
