import { z } from 'zod';
import { invalidParameter } from './errors';

// Proto JSON as the MLflow client writes it: int64 may be a number or a decimal string, doubles may be
// "NaN" / "Infinity" / "-Infinity", and GET requests carry every field as a query-string string.

const INT_TEXT = /^-?\d+$/;

/** An int64 field: a JSON number or a decimal string, within JavaScript's exact integer range. */
export const int64 = z.union([z.number(), z.string().regex(INT_TEXT, 'expected an integer')]).transform((v, ctx) => {
  const n = typeof v === 'number' ? v : Number(v);
  if (!Number.isSafeInteger(n)) {
    ctx.addIssue({ code: 'custom', message: `expected an integer between ${Number.MIN_SAFE_INTEGER} and ${Number.MAX_SAFE_INTEGER}` });
    return z.NEVER;
  }
  return n;
});

/** An int32 field (max_results and friends). */
export const int32 = int64.refine((n) => Math.abs(n) <= 2 ** 31 - 1, 'expected a 32-bit integer');

const SPECIAL_DOUBLES: Readonly<Record<string, number>> = { NaN: Number.NaN, Infinity: Number.POSITIVE_INFINITY, '-Infinity': Number.NEGATIVE_INFINITY };

/** A double field: a JSON number, a numeric string, or MLflow's "NaN" / "Infinity" / "-Infinity". */
export const double = z.union([z.number(), z.string()]).transform((v, ctx) => {
  if (typeof v === 'number') return v;
  const special = SPECIAL_DOUBLES[v];
  if (special !== undefined) return special;
  const n = v.trim() === '' ? Number.NaN : Number(v);
  if (Number.isNaN(n)) {
    ctx.addIssue({ code: 'custom', message: `expected a number, "NaN", "Infinity" or "-Infinity" (got ${JSON.stringify(v.slice(0, 40))})` });
    return z.NEVER;
  }
  return n;
});

/** A boolean field, also as the query-string words "true" / "false". */
export const bool = z.union([z.boolean(), z.enum(['true', 'false', 'True', 'False'])]).transform((v) => v === true || v === 'true' || v === 'True');

/** A repeated field; a query string with one value gives a single string, so accept that too. */
export const repeated = <T extends z.ZodType>(item: T) => z.union([z.array(item), item]).transform((v) => (Array.isArray(v) ? v : [v]) as z.output<T>[]);

export const keyValue = z.object({ key: z.string(), value: z.string().optional().default('') });
export type KeyValue = z.output<typeof keyValue>;

/** Parses a request with `schema`, turning zod's issues into one INVALID_PARAMETER_VALUE message. */
export function parseRequest<T extends z.ZodType>(schema: T, input: unknown): z.output<T> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const issues = result.error.issues.slice(0, 5).map((i) => `${i.path.length ? i.path.join('.') : 'request'}: ${i.message}`);
  throw invalidParameter(`Invalid request: ${issues.join('; ')}${result.error.issues.length > 5 ? ` (and ${result.error.issues.length - 5} more)` : ''}`);
}

/** JSON with MLflow's spelling of the non-finite doubles (plain JSON has no NaN or Infinity). */
export function toWireJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => {
    if (typeof v === 'number' && !Number.isFinite(v)) return Number.isNaN(v) ? 'NaN' : v > 0 ? 'Infinity' : '-Infinity';
    return v;
  });
}

/** Opaque page tokens: the offset of the next page, base64-encoded so clients do not build them. */
export function encodePageToken(offset: number): string {
  return Buffer.from(JSON.stringify({ offset }), 'utf8').toString('base64');
}

export function decodePageToken(token: string | undefined): number {
  if (!token) return 0;
  try {
    const parsed = JSON.parse(Buffer.from(token, 'base64').toString('utf8')) as { offset?: unknown };
    if (typeof parsed.offset === 'number' && Number.isSafeInteger(parsed.offset) && parsed.offset >= 0) return parsed.offset;
  } catch {
    // fall through to the error below
  }
  throw invalidParameter(`Invalid page token ${JSON.stringify(token.slice(0, 60))}: pass the next_page_token of the previous response unchanged.`);
}

/** One page of `rows` fetched with limit+1, with the token of the next page when there is one. */
export function page<T>(rows: T[], offset: number, limit: number): { items: T[]; nextPageToken: string | undefined } {
  const more = rows.length > limit;
  return { items: more ? rows.slice(0, limit) : rows, nextPageToken: more ? encodePageToken(offset + limit) : undefined };
}

// MLflow's name rules for metrics, params and tags: word characters, "/", ".", "-", " " and ":",
// and a name that a file system path would normalise to something else is refused.
const NAME_CHARS = /^[\p{L}\p{N}\p{M}_/.\- :]*$/u;
export const MAX_KEY_LENGTH = 250;
export const MAX_PARAM_VALUE_LENGTH = 6000;
export const MAX_TAG_VALUE_LENGTH = 8000;

function posixNormalize(path: string): string {
  const absolute = path.startsWith('/');
  const parts: string[] = [];
  for (const part of path.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..' && parts.length > 0 && parts[parts.length - 1] !== '..') parts.pop();
    else if (part === '..' && absolute) continue;
    else parts.push(part);
  }
  const joined = parts.join('/');
  return absolute ? `/${joined}` : joined || '.';
}

/** Why `name` is not a valid metric/param/tag name, or undefined when it is. */
export function nameProblem(kind: 'metric' | 'param' | 'tag', name: string): string | undefined {
  if (name.length === 0) return `${kind} name must not be empty`;
  if (name.length > MAX_KEY_LENGTH) return `${kind} name must be at most ${MAX_KEY_LENGTH} characters (got ${name.length})`;
  if (!NAME_CHARS.test(name)) {
    return `Invalid ${kind} name ${JSON.stringify(name.slice(0, 80))}: names may only contain alphanumerics, underscores (_), dashes (-), periods (.), spaces ( ), colons (:) and slashes (/)`;
  }
  const normal = posixNormalize(name);
  if (normal !== name || normal === '.' || normal.startsWith('..') || normal.startsWith('/')) {
    return `Invalid ${kind} name ${JSON.stringify(name.slice(0, 80))}: names may be treated as files and must not resolve to other names (this one resolves to ${JSON.stringify(normal)})`;
  }
  return undefined;
}

export function assertName(kind: 'metric' | 'param' | 'tag', name: string): void {
  const problem = nameProblem(kind, name);
  if (problem) throw invalidParameter(problem);
}
