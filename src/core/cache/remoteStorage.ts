import { sign } from 'aws4';
import { randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, readFileSync } from 'node:fs';
import { copyFile, mkdir, readdir, readFile, rename, stat, unlink, writeFile } from 'node:fs/promises';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import type * as Https from 'node:https';
import type { request as HttpsRequest } from 'node:https';
/** node:https on first use: loading it loads TLS, ~20 ms of every CLI start that never calls it (issue 16). */
const httpsRequest: typeof HttpsRequest = ((...args: unknown[]) =>
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- a deferred load of a Node built-in
  (require('node:https') as typeof Https).request(...(args as Parameters<typeof HttpsRequest>))) as typeof HttpsRequest;
import { homedir } from 'node:os';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { z } from 'zod';
import type { remoteSchema } from '../config/schema';

export type RemoteConfig = z.output<typeof remoteSchema>;

/** A remote that cannot be reached or refuses; the message names the remote and the key, never a credential. */
export class RemoteError extends Error {
  override readonly name = 'RemoteError';
}

/** Where a team's cache lives: keys such as `objects/ab/cdef…` and `versions/<dataset>/<digest>.json`. */
export interface RemoteStorage {
  /** For messages: the folder, or s3://bucket/prefix (never credentials). */
  readonly location: string;
  exists(key: string): Promise<boolean>;
  /** Uploads a file; `onBytes` hears each chunk sent. `sha256` is the file's digest (S3 checks the payload against it). */
  putFile(key: string, file: string, sha256: string, onBytes?: (n: number) => void, signal?: AbortSignal): Promise<void>;
  putText(key: string, text: string): Promise<void>;
  /** Downloads into `dest` (a temporary file the caller verifies and renames); false when the key is absent. */
  getFile(key: string, dest: string, onBytes?: (n: number) => void, signal?: AbortSignal): Promise<boolean>;
  getText(key: string): Promise<string | undefined>;
  /** Keys that start with `prefix`. */
  list(prefix: string): Promise<string[]>;
}

/** The storage a `remote:` of mloop.yaml names (folder paths relative to the project). */
export function openRemote(config: RemoteConfig, projectRoot: string, env: Readonly<NodeJS.ProcessEnv> = process.env): RemoteStorage {
  const s3 = /^s3:\/\/([^/]+)\/?(.*)$/i.exec(config.url);
  if (s3) return new S3Storage({ bucket: s3[1]!, prefix: s3[2]!.replace(/\/+$/, ''), endpoint: config.endpoint_url, region: config.region, env });
  return new FolderStorage(isAbsolute(config.url) ? config.url : resolve(projectRoot, config.url));
}

class FolderStorage implements RemoteStorage {
  constructor(private readonly root: string) {}

  get location(): string {
    return this.root;
  }

  private path(key: string): string {
    return join(this.root, ...key.split('/'));
  }

  async exists(key: string): Promise<boolean> {
    return (await stat(this.path(key)).catch(() => undefined))?.isFile() ?? false;
  }

  async putFile(key: string, file: string, _sha256: string, onBytes?: (n: number) => void): Promise<void> {
    const target = this.path(key);
    await mkdir(dirname(target), { recursive: true });
    const tmp = `${target}.${randomBytes(6).toString('hex')}.part`;
    try {
      await copyFile(file, tmp);
      await rename(tmp, target); // a reader on the share never sees half an object
      onBytes?.((await stat(target)).size);
    } catch (error) {
      await unlink(tmp).catch(() => undefined);
      throw new RemoteError(`could not write ${key} to ${this.root}: ${(error as Error).message}`);
    }
  }

  async putText(key: string, text: string): Promise<void> {
    const target = this.path(key);
    await mkdir(dirname(target), { recursive: true });
    const tmp = `${target}.${randomBytes(6).toString('hex')}.part`;
    await writeFile(tmp, text);
    await rename(tmp, target);
  }

  async getFile(key: string, dest: string, onBytes?: (n: number) => void): Promise<boolean> {
    if (!(await this.exists(key))) return false;
    await copyFile(this.path(key), dest);
    onBytes?.((await stat(dest)).size);
    return true;
  }

  async getText(key: string): Promise<string | undefined> {
    return readFile(this.path(key), 'utf8').catch(() => undefined);
  }

  async list(prefix: string): Promise<string[]> {
    const keys: string[] = [];
    const walk = async (dir: string, rel: string): Promise<void> => {
      for (const entry of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
        const key = rel ? `${rel}/${entry.name}` : entry.name;
        if (entry.isDirectory()) await walk(join(dir, entry.name), key);
        else if (entry.isFile() && key.startsWith(prefix) && !key.endsWith('.part')) keys.push(key);
      }
    };
    // walk only below the last whole folder of the prefix
    const folder = prefix.includes('/') ? prefix.slice(0, prefix.lastIndexOf('/')) : '';
    await walk(folder ? this.path(folder) : this.root, folder);
    return keys.sort();
  }
}

interface Credentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken?: string;
}

/**
 * S3 and S3-compatible servers over Node's HTTP client, each request signed with SigV4 by `aws4`. Objects stream
 * both ways (no object is held in memory). Credentials come from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY
 * (/ AWS_SESSION_TOKEN) or the AWS profile's shared credentials file; they are read when needed and never stored.
 */
class S3Storage implements RemoteStorage {
  private readonly bucket: string;
  private readonly prefix: string;
  private readonly endpoint: URL;
  /** Path-style (`host/bucket/key`) for an endpoint_url; virtual-hosted (`bucket.host/key`) on AWS. */
  private readonly pathStyle: boolean;
  private readonly region: string;
  private readonly env: Readonly<NodeJS.ProcessEnv>;
  private credentials: Credentials | undefined;

  constructor(options: { bucket: string; prefix: string; endpoint: string | undefined; region: string | undefined; env: Readonly<NodeJS.ProcessEnv> }) {
    this.bucket = options.bucket;
    this.prefix = options.prefix;
    this.env = options.env;
    this.region = options.region ?? options.env.AWS_REGION ?? options.env.AWS_DEFAULT_REGION ?? profileValue(options.env, 'config', 'region') ?? 'us-east-1';
    this.pathStyle = options.endpoint !== undefined;
    this.endpoint = new URL(options.endpoint ?? `https://s3.${this.region}.amazonaws.com`);
  }

  get location(): string {
    return `s3://${this.bucket}${this.prefix ? `/${this.prefix}` : ''}`;
  }

  private objectPath(key: string): string {
    const full = this.prefix ? `${this.prefix}/${key}` : key;
    const encoded = full.split('/').map(encodeURIComponent).join('/');
    return this.pathStyle ? `/${this.bucket}/${encoded}` : `/${encoded}`;
  }

  private creds(): Credentials {
    if (this.credentials) return this.credentials;
    const env = this.env;
    if (env.AWS_ACCESS_KEY_ID && env.AWS_SECRET_ACCESS_KEY) {
      this.credentials = {
        accessKeyId: env.AWS_ACCESS_KEY_ID,
        secretAccessKey: env.AWS_SECRET_ACCESS_KEY,
        ...(env.AWS_SESSION_TOKEN ? { sessionToken: env.AWS_SESSION_TOKEN } : {}),
      };
      return this.credentials;
    }
    const id = profileValue(env, 'credentials', 'aws_access_key_id');
    const secret = profileValue(env, 'credentials', 'aws_secret_access_key');
    if (!id || !secret)
      throw new RemoteError(
        `no AWS credentials for ${this.location}: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE (default "default") with keys in ~/.aws/credentials`,
      );
    const token = profileValue(env, 'credentials', 'aws_session_token');
    this.credentials = { accessKeyId: id, secretAccessKey: secret, ...(token ? { sessionToken: token } : {}) };
    return this.credentials;
  }

  /** One signed request; the response is handed over unread (the caller streams or drains it). */
  private send(
    method: string,
    path: string,
    options: { headers?: Record<string, string>; body?: NodeJS.ReadableStream | string; signal?: AbortSignal } = {},
  ): Promise<IncomingMessage> {
    const host = this.pathStyle ? this.endpoint.host : `${this.bucket}.${this.endpoint.host}`;
    const signed = sign(
      {
        host,
        path,
        method,
        service: 's3',
        region: this.region,
        headers: { 'X-Amz-Content-Sha256': 'UNSIGNED-PAYLOAD', ...options.headers },
        ...(typeof options.body === 'string' ? { body: options.body } : {}),
      },
      this.creds(),
    );
    const request = this.endpoint.protocol === 'http:' ? httpRequest : httpsRequest;
    return new Promise((done, fail) => {
      const req = request(
        {
          protocol: this.endpoint.protocol,
          hostname: this.pathStyle ? this.endpoint.hostname : `${this.bucket}.${this.endpoint.hostname}`,
          port: this.endpoint.port || undefined,
          method,
          path,
          headers: signed.headers as Record<string, string>,
          ...(options.signal ? { signal: options.signal } : {}),
        },
        done,
      );
      req.on('error', (error) => fail(new RemoteError(`${this.location}: ${method} failed: ${error.message}`)));
      if (options.body === undefined) req.end();
      else if (typeof options.body === 'string') req.end(options.body);
      else options.body.pipe(req);
    });
  }

  /** A refusal as the server words it (<Code>, <Message>), e.g. "403 AccessDenied: Access Denied". */
  private async failure(response: IncomingMessage, what: string): Promise<RemoteError> {
    const body = (await readBody(response)).slice(0, 4000);
    const code = /<Code>([^<]*)<\/Code>/.exec(body)?.[1];
    const message = /<Message>([^<]*)<\/Message>/.exec(body)?.[1];
    return new RemoteError(`${this.location}: ${what}: ${response.statusCode}${code ? ` ${code}` : ''}${message ? `: ${message}` : ''}`);
  }

  async exists(key: string): Promise<boolean> {
    const response = await this.send('HEAD', this.objectPath(key));
    response.resume();
    if (response.statusCode === 200) return true;
    if (response.statusCode === 404) return false;
    throw await this.failure(response, `HEAD ${key}`);
  }

  async putFile(key: string, file: string, sha256: string, onBytes?: (n: number) => void, signal?: AbortSignal): Promise<void> {
    const size = (await stat(file)).size;
    const source = createReadStream(file).pipe(counting(onBytes));
    // the digest as the signed payload hash: the server refuses bytes that do not hash to it
    const response = await this.send('PUT', this.objectPath(key), {
      headers: { 'Content-Length': String(size), 'X-Amz-Content-Sha256': sha256, 'Content-Type': 'application/octet-stream' },
      body: source,
      ...(signal ? { signal } : {}),
    });
    if (response.statusCode !== 200) throw await this.failure(response, `PUT ${key}`);
    response.resume();
  }

  async putText(key: string, text: string): Promise<void> {
    const response = await this.send('PUT', this.objectPath(key), {
      headers: { 'Content-Type': 'application/json', 'Content-Length': String(Buffer.byteLength(text)) },
      body: text,
    });
    if (response.statusCode !== 200) throw await this.failure(response, `PUT ${key}`);
    response.resume();
  }

  async getFile(key: string, dest: string, onBytes?: (n: number) => void, signal?: AbortSignal): Promise<boolean> {
    const response = await this.send('GET', this.objectPath(key), signal ? { signal } : {});
    if (response.statusCode === 404) {
      response.resume();
      return false;
    }
    if (response.statusCode !== 200) throw await this.failure(response, `GET ${key}`);
    await pipeline(response, counting(onBytes), createWriteStream(dest), ...(signal ? [{ signal }] : []));
    return true;
  }

  async getText(key: string): Promise<string | undefined> {
    const response = await this.send('GET', this.objectPath(key));
    if (response.statusCode === 404) {
      response.resume();
      return undefined;
    }
    if (response.statusCode !== 200) throw await this.failure(response, `GET ${key}`);
    return readBody(response);
  }

  async list(prefix: string): Promise<string[]> {
    const full = this.prefix ? `${this.prefix}/${prefix}` : prefix;
    const keys: string[] = [];
    let token: string | undefined;
    do {
      const query = new URLSearchParams({ 'list-type': '2', prefix: full, ...(token ? { 'continuation-token': token } : {}) });
      // SigV4 wants the query in canonical order with %20 for spaces
      const qs = [...query.entries()]
        .sort(([a], [b]) => (a < b ? -1 : 1))
        .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`)
        .join('&');
      const response = await this.send('GET', `${this.pathStyle ? `/${this.bucket}` : '/'}?${qs}`);
      if (response.statusCode !== 200) throw await this.failure(response, `LIST ${prefix}`);
      const body = await readBody(response);
      for (const m of body.matchAll(/<Key>([^<]*)<\/Key>/g)) {
        const key = decodeXml(m[1]!);
        keys.push(this.prefix ? key.slice(this.prefix.length + 1) : key);
      }
      token = /<IsTruncated>true<\/IsTruncated>/.test(body)
        ? decodeXml(/<NextContinuationToken>([^<]*)<\/NextContinuationToken>/.exec(body)?.[1] ?? '')
        : undefined;
    } while (token);
    return keys.sort();
  }
}

function counting(onBytes: ((n: number) => void) | undefined): Transform {
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      onBytes?.(chunk.length);
      callback(null, chunk);
    },
  });
}

async function readBody(response: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of response) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

const decodeXml = (s: string): string =>
  s.replace(/&(amp|lt|gt|quot|apos);/g, (_m, e: string) => ({ amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" })[e as 'amp']!);

/** A value of the AWS profile (AWS_PROFILE, else "default") in the shared `credentials` or `config` file. */
function profileValue(env: Readonly<NodeJS.ProcessEnv>, file: 'credentials' | 'config', key: string): string | undefined {
  const path =
    file === 'credentials'
      ? (env.AWS_SHARED_CREDENTIALS_FILE ?? join(homedir(), '.aws', 'credentials'))
      : (env.AWS_CONFIG_FILE ?? join(homedir(), '.aws', 'config'));
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
  const profile = env.AWS_PROFILE ?? 'default';
  const wanted = file === 'config' && profile !== 'default' ? `profile ${profile}` : profile;
  let section: string | undefined;
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    const header = /^\[\s*(.+?)\s*\]$/.exec(line);
    if (header) section = header[1];
    else if (section === wanted) {
      const m = /^([A-Za-z0-9_]+)\s*=\s*(.*)$/.exec(line);
      if (m && m[1]!.toLowerCase() === key) return m[2]!.trim();
    }
  }
  return undefined;
}
