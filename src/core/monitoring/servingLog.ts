import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { quantileSorted } from '../datasets/profile';

/**
 * The serving log (docs/monitoring.md, "Service health"): one JSON line per request,
 * `{"ts": <ms since the epoch>, "version": 2, "latency_ms": 3.1, "status": 200}` (request_id optional). The gateway
 * and the example's serve.py write it. A line that is not this shape is counted and skipped: a log written while it
 * is read ends in half a line.
 */
export interface ServingEntry {
  readonly ts: number;
  readonly version: number | null;
  readonly latencyMs: number;
  readonly status: number;
  /** Behind the gateway: the private port (the replica) that answered. */
  readonly upstreamPort?: number;
}

/** Latency, errors and request rate of one stretch of the log (all versions, or one). */
export interface ServingStats {
  readonly requests: number;
  /** Requests per second over the whole window (a version started inside the window shows a lower rate than it serves). */
  readonly request_rate: number;
  /** Share of requests answered with a status ≥ 500 (null without requests). */
  readonly error_rate: number | null;
  readonly errors: number;
  /** Latency percentiles in milliseconds, linear interpolation between order statistics (numpy's default). */
  readonly p50_ms: number | null;
  readonly p95_ms: number | null;
  readonly p99_ms: number | null;
}

export interface ServingWindow {
  readonly from: number;
  readonly to: number;
  readonly all: ServingStats;
  /** Per version that answered (null: no version could take the request). */
  readonly versions: readonly ({ readonly version: number | null } & ServingStats)[];
  /** Lines in the window that are not a serving entry. */
  readonly skipped: number;
}

const CHUNK = 1 << 20;

/** One line of the serving log as written (docs/deploy.md, "Serving log"); the canary analysis also reads `predictions`. */
export interface ServingLine {
  readonly ts: number;
  readonly request_id?: string;
  readonly version: number | null;
  /** The gateway's: the private port that answered (tells apart two arms of one version in an A/A test). */
  readonly upstream_port?: number;
  readonly latency_ms: number;
  readonly status: number;
  readonly predictions?: readonly (string | number | boolean)[];
}

/** The one parser of a serving-log line (service health, the Rollout panel, the canary analysis): undefined for a torn or foreign line. */
export function parseServingLine(line: string): ServingLine | undefined {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (value === null || typeof value !== 'object') return undefined;
  const v = value as Record<string, unknown>;
  if (typeof v.ts !== 'number' || typeof v.latency_ms !== 'number' || typeof v.status !== 'number' || !Number.isFinite(v.latency_ms)) return undefined;
  const predictions = Array.isArray(v.predictions)
    ? v.predictions.filter(
        (p): p is string | number | boolean => typeof p === 'string' || typeof p === 'boolean' || (typeof p === 'number' && Number.isFinite(p)),
      )
    : undefined;
  return {
    ts: v.ts,
    ...(typeof v.request_id === 'string' ? { request_id: v.request_id } : {}),
    version: typeof v.version === 'number' ? v.version : null,
    ...(typeof v.upstream_port === 'number' ? { upstream_port: v.upstream_port } : {}),
    latency_ms: v.latency_ms,
    status: v.status,
    ...(predictions ? { predictions } : {}),
  };
}

function entryOf(line: string): ServingEntry | undefined {
  const parsed = parseServingLine(line);
  return (
    parsed && {
      ts: parsed.ts,
      version: parsed.version,
      latencyMs: parsed.latency_ms,
      status: parsed.status,
      ...(parsed.upstream_port !== undefined ? { upstreamPort: parsed.upstream_port } : {}),
    }
  );
}

/**
 * The entries with from ≤ ts ≤ to, reading the file backwards from its end in 1 MB chunks and stopping at the
 * first line older than `from` — a log of months costs what its last window costs. Assumes lines are appended in
 * time order (a few out of order near the edge are tolerated: reading stops only after a whole chunk is older).
 */
export function readServingWindow(path: string, from: number, to: number): { entries: ServingEntry[]; skipped: number } {
  const fd = openSync(path, 'r');
  const entries: ServingEntry[] = [];
  let skipped = 0;
  try {
    let position = fstatSync(fd).size;
    let carry = '';
    while (position > 0) {
      const length = Math.min(CHUNK, position);
      position -= length;
      const buffer = Buffer.allocUnsafe(length);
      readSync(fd, buffer, 0, length, position);
      const text = buffer.toString('utf8') + carry;
      const lines = text.split('\n');
      // the first piece may be the end of a line that started in the previous chunk
      carry = position > 0 ? lines.shift()! : '';
      let newest = -Infinity;
      for (let i = lines.length - 1; i >= 0; i--) {
        const line = lines[i]!.trim();
        if (!line) continue;
        const entry = entryOf(line);
        if (!entry) {
          skipped++;
          continue;
        }
        newest = Math.max(newest, entry.ts);
        if (entry.ts >= from && entry.ts <= to) entries.push(entry);
      }
      if (newest < from) break;
    }
    if (carry.trim()) {
      const entry = entryOf(carry.trim());
      if (!entry) skipped++;
      else if (entry.ts >= from && entry.ts <= to) entries.push(entry);
    }
  } finally {
    closeSync(fd);
  }
  entries.reverse();
  return { entries, skipped };
}

/** numpy.percentile's default (linear): position q·(n−1) between the sorted values; null without values. */
export function percentile(sorted: Float64Array, q: number): number | null {
  return sorted.length === 0 ? null : quantileSorted(sorted, q);
}

export function servingStats(entries: readonly ServingEntry[], seconds: number): ServingStats {
  const latencies = Float64Array.from(entries, (e) => e.latencyMs).sort();
  const errors = entries.reduce((n, e) => n + (e.status >= 500 ? 1 : 0), 0);
  return {
    requests: entries.length,
    request_rate: seconds > 0 ? entries.length / seconds : 0,
    error_rate: entries.length ? errors / entries.length : null,
    errors,
    p50_ms: percentile(latencies, 0.5),
    p95_ms: percentile(latencies, 0.95),
    p99_ms: percentile(latencies, 0.99),
  };
}

/** Stats of the log over [from, to]: all requests and per version. */
export function servingWindow(path: string, from: number, to: number): ServingWindow {
  const { entries, skipped } = readServingWindow(path, from, to);
  const seconds = (to - from) / 1000;
  const byVersion = new Map<number | null, ServingEntry[]>();
  for (const e of entries) {
    const list = byVersion.get(e.version);
    if (list) list.push(e);
    else byVersion.set(e.version, [e]);
  }
  return {
    from,
    to,
    all: servingStats(entries, seconds),
    versions: [...byVersion.entries()].sort((a, b) => (a[0] ?? -1) - (b[0] ?? -1)).map(([version, list]) => ({ version, ...servingStats(list, seconds) })),
    skipped,
  };
}
