import { createReadStream, existsSync, openSync, readSync, closeSync, fstatSync } from 'node:fs';
import { isAbsolute, relative, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import type { Config } from '../config/schema';
import { scanDelimited } from '../datasets/csvScan';
import { listDatasetFiles } from '../datasets/files';
import type { CellValue } from '../datasets/readers';
import { ModelRepository } from '../store/models';
import { EvaluationError } from './evaluatorProcess';
import { explainPrediction, type ExplainOptions, type PredictionExplanation } from './explain';

/**
 * One prediction of a predictions log (the `current:` file monitoring reads, e.g. the example's serve.py
 * logs/predictions.jsonl): its place, the model that made it and the version that answered it, and the row as logged.
 */
export interface LoggedPrediction {
  /** Absolute path of the log file. */
  readonly file: string;
  /** 1-based line of the file (the header of a CSV log is line 1). */
  readonly line: number;
  readonly model: string;
  readonly version: number;
  /** The `request_id` field, else the request part of a serve.py id (`<request id>-<index>`), when the row has one. */
  readonly requestId?: string;
  /** The row's place among its request's rows (the --index of `mloop explain --request`). */
  readonly index?: number;
  readonly row: Readonly<Record<string, CellValue>>;
}

/** The log's own fields, not the model's: where the version and the request of a row are read from. */
export const LOG_FIELDS = { version: 'version', requestId: 'request_id', id: 'id', model: 'model' } as const;

const TEXT_LOG = /\.(jsonl|ndjson|csv|tsv|tab)$/i;
const isJsonLines = (file: string): boolean => /\.(jsonl|ndjson)$/i.test(file);

/** `file:line` as the messages name it (relative to the project when inside it). */
export function placeOf(projectRoot: string, file: string, line: number): string {
  const rel = relative(projectRoot, file);
  return `${rel && !rel.startsWith('..') && !isAbsolute(rel) ? rel : file}:${line}`;
}

/** The models whose predictions log (monitoring.<model>.current) is `file`, or every monitored model's logs. */
export async function predictionLogsOf(
  projectRoot: string,
  config: Config | undefined,
  only?: readonly string[],
): Promise<{ model: string; files: string[]; pattern: string }[]> {
  const out: { model: string; files: string[]; pattern: string }[] = [];
  for (const [model, monitoring] of Object.entries(config?.monitoring ?? {})) {
    if (only && !only.includes(model)) continue;
    const pattern = resolve(projectRoot, monitoring.current);
    const files = existsSync(pattern) || /[*?[\]{}]/.test(pattern) ? await listDatasetFiles(pattern).catch(() => [] as string[]) : [];
    out.push({ model, files: files.filter((f) => TEXT_LOG.test(f)), pattern });
  }
  return out;
}

/** The model a log file belongs to: the row's `model` field, else the monitoring entry whose `current:` covers the file. */
async function modelOfLog(
  projectRoot: string,
  config: Config | undefined,
  file: string,
  row: Readonly<Record<string, CellValue>>,
): Promise<string | undefined> {
  if (typeof row[LOG_FIELDS.model] === 'string' && row[LOG_FIELDS.model]) return row[LOG_FIELDS.model] as string;
  for (const log of await predictionLogsOf(projectRoot, config)) if (log.files.includes(resolve(file))) return log.model;
  return undefined;
}

/** A JSON-lines row as an object (undefined for a blank line). */
function jsonRow(text: string, where: string): Record<string, CellValue> | undefined {
  if (text.trim() === '') return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new EvaluationError(`${where}: the line is not JSON (${(error as Error).message})`);
  }
  if (!value || typeof value !== 'object' || Array.isArray(value)) throw new EvaluationError(`${where}: the line is not a JSON object of field → value`);
  return value as Record<string, CellValue>;
}

/** One delimited record as an object, typed as the readers type CSV cells (numerals → numbers, empty → null). */
async function delimitedRow(file: string, header: string, text: string, where: string): Promise<Record<string, CellValue> | undefined> {
  if (text.trim() === '') return undefined;
  const delimiter = /\.(tsv|tab)$/i.test(file) ? '\t' : ',';
  const chunks = (async function* () {
    yield Buffer.from(`${header}\n${text}\n`, 'utf8');
  })();
  for await (const batch of scanDelimited(chunks, { file, delimiter, batchRows: 2, maxRows: 2, checkHeader: () => undefined })) {
    if (batch.rows === 0) continue;
    return Object.fromEntries(Object.entries(batch.columns).map(([k, v]) => [k, v[0] ?? null]));
  }
  throw new EvaluationError(`${where}: no record on this line`);
}

/** The version that answered a logged row: its `version` field (a number, or digits as serve.py logs it). */
function versionOf(row: Readonly<Record<string, CellValue>>, where: string): number {
  const v = row[LOG_FIELDS.version];
  if (v === undefined || v === null || v === '')
    throw new EvaluationError(
      `${where}: the row has no "${LOG_FIELDS.version}" field: the version that answered it is needed to explain it (serve.py logs it from MLOOP_MODEL_VERSION)`,
    );
  const n = typeof v === 'number' ? v : typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < 1)
    throw new EvaluationError(`${where}: field "${LOG_FIELDS.version}" is ${JSON.stringify(v)}, not a registered version number`);
  return n;
}

/** The request of a row: its `request_id`, else the request part of a serve.py id `<request id>-<index>`. */
function requestOf(row: Readonly<Record<string, CellValue>>): { requestId?: string; index?: number } {
  const rid = row[LOG_FIELDS.requestId];
  if (typeof rid === 'string' && rid) return { requestId: rid };
  const id = row[LOG_FIELDS.id];
  const m = typeof id === 'string' ? /^(.+)-(\d+)$/.exec(id) : null;
  return m ? { requestId: m[1]!, index: Number(m[2]) } : {};
}

/**
 * The prediction at `line` (1-based) of a predictions log; `text` is that line when the caller has it (the editor's
 * document), else it is read from the file. Fails naming the file, the line and the missing field.
 */
export async function loggedPredictionAt(options: {
  readonly projectRoot: string;
  readonly config: Config | undefined;
  readonly file: string;
  readonly line: number;
  /** The file's lines when the caller has them (an open editor), else the file is read. */
  readonly lines?: readonly string[];
}): Promise<LoggedPrediction> {
  const file = resolve(options.file);
  const where = placeOf(options.projectRoot, file, options.line);
  if (!TEXT_LOG.test(file)) throw new EvaluationError(`${where}: a predictions log is JSON lines (.jsonl) or CSV/TSV; this file is neither`);
  const lines = options.lines ?? (await readLines(file, options.line));
  const text = lines[options.line - 1];
  if (text === undefined) throw new EvaluationError(`${where}: the file has ${lines.length} line(s)`);
  let row: Record<string, CellValue> | undefined;
  if (isJsonLines(file)) row = jsonRow(text, where);
  else {
    if (options.line === 1) throw new EvaluationError(`${where}: this is the header of the CSV log: put the cursor on a prediction's line`);
    row = await delimitedRow(file, lines[0] ?? '', text, where);
  }
  if (!row) throw new EvaluationError(`${where}: the line is empty`);
  const model = await modelOfLog(options.projectRoot, options.config, file, row);
  if (!model)
    throw new EvaluationError(
      `${where}: no model's predictions log in mloop.yaml covers this file (monitoring.<model>.current), and the row has no "${LOG_FIELDS.model}" field`,
    );
  const version = versionOf(row, where);
  const request = requestOf(row);
  // a request_id without an id-derived index: the row's place among that request's lines before it
  let index = request.index;
  if (request.requestId !== undefined && index === undefined) {
    index = 0;
    for (let i = options.line - 2; i >= (isJsonLines(file) ? 0 : 1); i--) {
      if (!lines[i]!.includes(request.requestId)) continue;
      const other = isJsonLines(file) ? jsonRowOrUndefined(lines[i]!) : await delimitedRow(file, lines[0] ?? '', lines[i]!, where).catch(() => undefined);
      if (other?.[LOG_FIELDS.requestId] === request.requestId) index++;
    }
  }
  return { file, line: options.line, model, version, ...(request.requestId !== undefined ? { requestId: request.requestId, index } : {}), row };
}

const jsonRowOrUndefined = (text: string): Record<string, CellValue> | undefined => {
  try {
    const v = JSON.parse(text) as unknown;
    return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, CellValue>) : undefined;
  } catch {
    return undefined;
  }
};

/** The first `upTo` lines of a file (all of them when it is shorter). */
async function readLines(file: string, upTo: number): Promise<string[]> {
  const out: string[] = [];
  const input = createReadStream(file, { encoding: 'utf8' });
  const reader = createInterface({ input, crlfDelay: Number.POSITIVE_INFINITY });
  try {
    for await (const line of reader) {
      out.push(line);
      if (out.length >= upTo) break;
    }
  } catch (error) {
    throw new EvaluationError(`${file}: cannot read it (${(error as Error).message})`);
  } finally {
    reader.close();
    input.destroy();
  }
  return out;
}

/**
 * Row `index` (default 0) of request `requestId` in the predictions logs of `models` (default every monitored model):
 * the line whose `request_id` is the id (the index-th of them), or whose serve.py id is `<request id>-<index>`.
 * Undefined when no log has it. The logs are read line by line; a line is parsed only when it contains the id.
 */
export async function findLoggedRequest(options: {
  readonly projectRoot: string;
  readonly config: Config | undefined;
  readonly requestId: string;
  readonly index?: number;
  readonly models?: readonly string[];
}): Promise<LoggedPrediction | undefined> {
  const wanted = options.index ?? 0;
  const byId = `${options.requestId}-${wanted}`;
  for (const log of await predictionLogsOf(options.projectRoot, options.config, options.models)) {
    for (const file of log.files) {
      const json = isJsonLines(file);
      let header: string | undefined;
      let lineNo = 0;
      let seen = 0;
      let found: number | undefined;
      const input = createReadStream(file, { encoding: 'utf8' });
      const reader = createInterface({ input, crlfDelay: Number.POSITIVE_INFINITY });
      try {
        for await (const text of reader) {
          lineNo++;
          if (!json && lineNo === 1) header = text;
          if (!text.includes(options.requestId)) continue;
          const row = json
            ? jsonRowOrUndefined(text)
            : await delimitedRow(file, header ?? '', text, placeOf(options.projectRoot, file, lineNo)).catch(() => undefined);
          if (!row) continue;
          if (row[LOG_FIELDS.requestId] === options.requestId) {
            if (seen++ === wanted) found = lineNo;
          } else if (row[LOG_FIELDS.id] === byId) found = lineNo;
          if (found !== undefined) break;
        }
      } finally {
        reader.close();
        input.destroy();
      }
      if (found === undefined) continue;
      // the found line read again with its place (index, version checks, file:line in messages)
      return loggedPredictionAt({ projectRoot: options.projectRoot, config: options.config, file, line: found });
    }
  }
  return undefined;
}

/** A recently logged request: for the quick pick of Explain Request…. */
export interface RecentRequest {
  readonly requestId: string;
  readonly model: string;
  readonly version: CellValue;
  readonly rows: number;
  readonly prediction: CellValue;
  readonly ts: CellValue;
  readonly file: string;
}

/** The latest requests of the predictions logs (from the last 256 KiB of each JSON-lines log), newest first. */
export async function recentLoggedRequests(projectRoot: string, config: Config | undefined, limit = 50): Promise<RecentRequest[]> {
  const out: RecentRequest[] = [];
  for (const log of await predictionLogsOf(projectRoot, config)) {
    for (const file of log.files.filter(isJsonLines)) {
      const byRequest = new Map<string, RecentRequest & { rows: number }>();
      for (const text of tailLines(file, 256 * 1024)) {
        const row = jsonRowOrUndefined(text);
        if (!row) continue;
        const { requestId } = requestOf(row);
        if (requestId === undefined) continue;
        const known = byRequest.get(requestId);
        if (known) known.rows++;
        else
          byRequest.set(requestId, {
            requestId,
            model: log.model,
            version: row[LOG_FIELDS.version] ?? null,
            rows: 1,
            prediction: row.prediction ?? null,
            ts: row.ts ?? null,
            file,
          });
      }
      out.push(...[...byRequest.values()].reverse());
    }
  }
  return out.sort((a, b) => Number(b.ts ?? 0) - Number(a.ts ?? 0)).slice(0, limit);
}

/** The whole lines of the last `bytes` of a file. */
function tailLines(file: string, bytes: number): string[] {
  const fd = openSync(file, 'r');
  try {
    const size = fstatSync(fd).size;
    const start = Math.max(0, size - bytes);
    const buf = Buffer.alloc(size - start);
    readSync(fd, buf, 0, buf.length, start);
    const lines = buf.toString('utf8').split('\n');
    if (start > 0) lines.shift();
    return lines.filter((l) => l.trim() !== '');
  } finally {
    closeSync(fd);
  }
}

/** Where an explanation of a logged prediction came from (the panel and `mloop explain --json` show it). */
export interface LoggedExplanation extends PredictionExplanation {
  readonly source: { readonly kind: 'predictions_log'; readonly file: string; readonly line: number; readonly request_id?: string; readonly index?: number };
}

/**
 * A logged prediction explained by the version that answered it (the row's `version`, not the current champion),
 * in the project's Python like `mloop explain --row`. Fails naming the file and line when the version is gone or the
 * row lacks a feature.
 */
export async function explainLoggedPrediction(options: Omit<ExplainOptions, 'model' | 'row'>, logged: LoggedPrediction): Promise<LoggedExplanation> {
  const where = placeOf(options.projectRoot, logged.file, logged.line);
  const models = new ModelRepository(options.store);
  const model = models.byName(logged.model);
  if (!model) throw new EvaluationError(`${where}: model ${logged.model} is not in the registry`);
  if (!models.version(model.modelId, logged.version))
    throw new EvaluationError(
      `${where}: ${logged.model} v${logged.version} (field "${LOG_FIELDS.version}") is not in the registry any more: it cannot be explained`,
    );
  let explanation: PredictionExplanation;
  try {
    explanation = await explainPrediction({ ...options, model: { modelName: logged.model, version: logged.version }, row: logged.row });
  } catch (error) {
    if (error instanceof EvaluationError && error.kind === 'missing_features') throw new EvaluationError(`${where}: ${error.message}`, error.kind);
    throw error;
  }
  return {
    ...explanation,
    source: {
      kind: 'predictions_log',
      file: logged.file,
      line: logged.line,
      ...(logged.requestId !== undefined ? { request_id: logged.requestId, index: logged.index ?? 0 } : {}),
    },
  };
}
