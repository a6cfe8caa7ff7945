import { z } from 'zod';

/** Every protocol line starts with this; anything else on stdout is ordinary output. */
export const PROTOCOL_PREFIX = '::mloop';

/** Longest protocol line accepted (a longer one is refused, so a runaway line cannot grow a buffer). */
export const MAX_PROTOCOL_LINE = 64 * 1024;

export type ProtocolRecord =
  | { readonly type: 'metric'; readonly name: string; readonly value: number; readonly step: number; readonly timestamp?: number }
  | { readonly type: 'param'; readonly name: string; readonly value: string }
  | { readonly type: 'tag'; readonly name: string; readonly value: string }
  | { readonly type: 'artifact'; readonly path: string }
  | { readonly type: 'model'; readonly name: string; readonly path: string };

export type ParsedLine =
  | { readonly kind: 'output' }
  | { readonly kind: 'record'; readonly record: ProtocolRecord }
  | { readonly kind: 'invalid'; readonly reason: string };

/** True when `line` is meant for mloop (even if it then turns out malformed). */
export function isProtocolLine(line: string): boolean {
  return line === PROTOCOL_PREFIX || line.startsWith(`${PROTOCOL_PREFIX} `);
}

/**
 * Parses one stdout line (without its newline). Never throws: a malformed protocol line comes
 * back as `invalid` with the reason, any other line as `output`.
 */
export function parseProtocolLine(rawLine: string): ParsedLine {
  const line = rawLine.endsWith('\r') ? rawLine.slice(0, -1) : rawLine;
  if (!isProtocolLine(line)) return { kind: 'output' };
  if (line.length > MAX_PROTOCOL_LINE) return { kind: 'invalid', reason: `the line is longer than ${MAX_PROTOCOL_LINE} characters` };
  const body = line.slice(PROTOCOL_PREFIX.length).trimStart();
  const typeMatch = /^(\S+)/.exec(body);
  if (!typeMatch) return { kind: 'invalid', reason: `no record type after ${PROTOCOL_PREFIX} (expected one of ${RECORD_TYPES.join(', ')})` };
  const type = typeMatch[1]!;
  const schema = Object.hasOwn(RECORD_SCHEMAS, type) ? RECORD_SCHEMAS[type as RecordType] : undefined;
  if (!schema) return { kind: 'invalid', reason: `unknown record type "${type}" (expected one of ${RECORD_TYPES.join(', ')})` };

  const fields = parseFields(body.slice(type.length));
  if (typeof fields === 'string') return { kind: 'invalid', reason: `${type}: ${fields}` };
  const result = schema.safeParse(fields);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    const field = issue.path[0];
    const reason =
      issue.code === 'unrecognized_keys'
        ? `unknown field${issue.keys.length > 1 ? 's' : ''} ${issue.keys.join(', ')} (${type} takes ${Object.keys(schema.shape).join(', ')})`
        : field !== undefined && fields[String(field)] === undefined
          ? `missing ${String(field)}=`
          : `${String(field ?? '')}: ${issue.message}`;
    return { kind: 'invalid', reason: `${type}: ${reason}` };
  }
  return { kind: 'record', record: { type, ...result.data } as ProtocolRecord };
}

/** Parses ` key=value key="quoted value"`; returns the reason as a string when malformed. */
function parseFields(text: string): Record<string, string> | string {
  const fields: Record<string, string> = Object.create(null) as Record<string, string>;
  let i = 0;
  for (;;) {
    while (text[i] === ' ' || text[i] === '\t') i++;
    if (i >= text.length) return fields;
    const keyMatch = /^([A-Za-z_][A-Za-z0-9_]*)=/.exec(text.slice(i, i + 64));
    if (!keyMatch) return `expected key=value at "${text.slice(i, i + 20)}"`;
    const key = keyMatch[1]!;
    i += keyMatch[0].length;
    let value = '';
    if (text[i] === '"') {
      i++;
      let closed = false;
      while (i < text.length) {
        const c = text[i]!;
        if (c === '"') {
          closed = true;
          i++;
          break;
        }
        if (c === '\\' && i + 1 < text.length) {
          const next = text[i + 1]!;
          value += next === 'n' ? '\n' : next === 't' ? '\t' : next === '"' || next === '\\' ? next : `\\${next}`;
          i += 2;
          continue;
        }
        value += c;
        i++;
      }
      if (!closed) return `the quoted value of ${key} has no closing "`;
      if (i < text.length && text[i] !== ' ' && text[i] !== '\t') return `expected a space after the closing " of ${key}`;
    } else {
      const start = i;
      while (i < text.length && text[i] !== ' ' && text[i] !== '\t') i++;
      value = text.slice(start, i);
      if (value.includes('"')) return `the value of ${key} contains " : quote the whole value ("…", with \\" inside)`;
    }
    if (key in fields) return `${key}= is given twice`;
    fields[key] = value;
  }
}

const NAME_LIMIT = 250;
const nameField = z
  .string()
  .min(1, { error: 'must not be empty' })
  .max(NAME_LIMIT, { error: `is longer than ${NAME_LIMIT} characters` });
const pathField = z
  .string()
  .min(1, { error: 'must not be empty' })
  .refine((p) => !p.includes('\0'), { error: 'contains a NUL character' });

const SPECIAL_NUMBERS: Record<string, number> = {
  nan: Number.NaN,
  inf: Infinity,
  '+inf': Infinity,
  '-inf': -Infinity,
  infinity: Infinity,
  '+infinity': Infinity,
  '-infinity': -Infinity,
};
const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;
const numberField = z.string().transform((text, ctx) => {
  const special = Object.hasOwn(SPECIAL_NUMBERS, text.toLowerCase()) ? SPECIAL_NUMBERS[text.toLowerCase()] : undefined;
  if (special !== undefined) return special;
  if (!DECIMAL.test(text)) {
    ctx.addIssue({ code: 'custom', message: `"${text}" is not a number (write e.g. 0.25, 1e-3, nan, inf)` });
    return z.NEVER;
  }
  return Number(text);
});
const integerField = (what: string): z.ZodPipe<z.ZodString, z.ZodTransform<number, string>> =>
  z.string().transform((text, ctx) => {
    const n = Number(text);
    if (!/^[+-]?\d+$/.test(text) || !Number.isSafeInteger(n)) {
      ctx.addIssue({ code: 'custom', message: `"${text}" is not a whole number (${what})` });
      return z.NEVER;
    }
    return n;
  });

const RECORD_SCHEMAS = {
  metric: z.strictObject({
    name: nameField,
    value: numberField,
    step: integerField('the step').default(0),
    timestamp: integerField('milliseconds since 1970').optional(),
  }),
  param: z.strictObject({ name: nameField, value: z.string().max(6000, { error: 'is longer than 6000 characters' }) }),
  tag: z.strictObject({ name: nameField, value: z.string().max(8000, { error: 'is longer than 8000 characters' }) }),
  artifact: z.strictObject({ path: pathField }),
  model: z.strictObject({ name: nameField, path: pathField }),
};
type RecordType = keyof typeof RECORD_SCHEMAS;
const RECORD_TYPES = Object.keys(RECORD_SCHEMAS) as RecordType[];

export interface ProtocolSink {
  /** Ordinary output, byte-for-byte except that protocol lines are taken out. */
  onOutput(text: string): void;
  onRecord(record: ProtocolRecord, lineNumber: number): void;
  onInvalid(reason: string, lineNumber: number, line: string): void;
}

/**
 * Splits a child's stdout into protocol records and ordinary output as chunks arrive. Ordinary
 * output is passed on immediately (progress bars without newlines keep working); only a line that
 * starts like `::mloop` is held until its newline, and at most MAX_PROTOCOL_LINE of it.
 */
export class ProtocolLineSplitter {
  private pending = '';
  private atLineStart = true;
  private discarding = false;
  /** 1-based number of the stdout line being read. */
  private lineNumber = 1;

  constructor(private readonly sink: ProtocolSink) {}

  push(chunk: string): void {
    let out = '';
    let i = 0;
    const n = chunk.length;
    while (i < n) {
      if (this.discarding) {
        const nl = chunk.indexOf('\n', i);
        if (nl === -1) break;
        this.discarding = false;
        this.atLineStart = true;
        this.lineNumber++;
        i = nl + 1;
        continue;
      }
      const holding = this.pending !== '';
      if (!holding && !(this.atLineStart && chunk[i] === ':')) {
        // plain output up to the next line that starts with ':'
        const next = chunk.indexOf('\n:', i);
        const end = next === -1 ? n : next + 1;
        out += chunk.slice(i, end);
        this.countLines(chunk, i, end);
        this.atLineStart = chunk[end - 1] === '\n';
        i = end;
        continue;
      }
      const nl = chunk.indexOf('\n', i);
      const candidate = this.pending + chunk.slice(i, nl === -1 ? n : nl);
      const maybeProtocol = candidate.startsWith(`${PROTOCOL_PREFIX} `) || `${PROTOCOL_PREFIX} `.startsWith(candidate);
      if (!maybeProtocol) {
        out += candidate + (nl === -1 ? '' : '\n');
        this.pending = '';
        this.atLineStart = nl !== -1;
        if (nl !== -1) this.lineNumber++;
        i = nl === -1 ? n : nl + 1;
        continue;
      }
      if (nl === -1) {
        if (candidate.length > MAX_PROTOCOL_LINE) {
          this.sink.onInvalid(`the line is longer than ${MAX_PROTOCOL_LINE} characters`, this.lineNumber, candidate.slice(0, 80));
          this.pending = '';
          this.discarding = true;
        } else {
          this.pending = candidate;
          this.atLineStart = false;
        }
        break;
      }
      if (out) this.sink.onOutput(out);
      out = '';
      this.finishLine(candidate, '\n');
      this.pending = '';
      this.atLineStart = true;
      this.lineNumber++;
      i = nl + 1;
    }
    if (out) this.sink.onOutput(out);
  }

  /** The stream ended: a held line without a newline is still a line. */
  end(): void {
    if (this.pending !== '') this.finishLine(this.pending, '');
    this.pending = '';
  }

  private finishLine(line: string, newline: string): void {
    const parsed = parseProtocolLine(line);
    if (parsed.kind === 'record') this.sink.onRecord(parsed.record, this.lineNumber);
    else if (parsed.kind === 'invalid') this.sink.onInvalid(parsed.reason, this.lineNumber, line);
    else this.sink.onOutput(line + newline);
  }

  private countLines(text: string, from: number, to: number): void {
    for (let at = text.indexOf('\n', from); at !== -1 && at < to; at = text.indexOf('\n', at + 1)) this.lineNumber++;
  }
}
