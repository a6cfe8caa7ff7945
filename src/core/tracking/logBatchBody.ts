import type { PackedMetrics } from './metricWriter';

// The ingest hot path's reader (issue 16): a plain runs/log-batch body (run_id, numeric metrics, no params or tags)
// read straight from the request's bytes into the writer's packed arrays, with no JSON.parse and no object per point.
// It accepts a strict subset of JSON: ASCII strings without escapes, known member names at most once each, numbers
// it converts exactly. Anything else (and every error) returns undefined, and the caller parses the body as before,
// so a body this reader takes gives the same stored points as JSON.parse + the field checks, and a body it does not
// take gives the same answer and the same error as ever.

/** A plain numeric log-batch, read from its body. */
export interface PackedLogBatch {
  readonly runId: string;
  readonly metrics: PackedMetrics;
}

const QUOTE = 0x22;
const COMMA = 0x2c;
const COLON = 0x3a;
const MINUS = 0x2d;
const PLUS = 0x2b;
const DOT = 0x2e;
const ZERO = 0x30;
const NINE = 0x39;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const BACKSLASH = 0x5c;

/** Numbers below 2^53 are exact in a double; a decimal mantissa under it times or over 10^k (k ≤ 22) rounds once. */
const EXACT_MANTISSA = 2 ** 53;
const POWERS_OF_TEN = Array.from({ length: 23 }, (_, k) => 10 ** k);

// Member names, as bytes, matched in place (no string made for them).
const nameBytes = (text: string): Uint8Array => Uint8Array.from(text, (c) => c.charCodeAt(0));
const RUN_ID = nameBytes('run_id');
const RUN_UUID = nameBytes('run_uuid');
const METRICS = nameBytes('metrics');
const PARAMS = nameBytes('params');
const TAGS = nameBytes('tags');
const KEY = nameBytes('key');
const VALUE = nameBytes('value');
const TIMESTAMP = nameBytes('timestamp');
const STEP = nameBytes('step');

/** What readNumber and readString leave: the end of the token, and for a string its start. */
let end = 0;
let stringStart = 0;

/**
 * The body's bytes and one 0 after them: every loop below stops at a byte it does not take, so the 0 ends each one
 * inside the array (no read past its end, where a typed array gives undefined and slows every read of the loop).
 */
let bytes = Buffer.allocUnsafeSlow(128 * 1024);
/**
 * `bytes` for the 32-bit reads of digits and member names. Such a read starts at the 0 that ends the body at the
 * latest (a read that holds the 0 ends the number or fails the name), so `bytes` keeps 3 bytes after that 0.
 */
let view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
const READ_PAST = 3;
/** The body as text (one byte a character: every byte the reader takes is ASCII), for Number() of the hard numbers. */
let bodyText = '';

const isWhitespace = (c: number): boolean => c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;

function skipWhitespace(b: Uint8Array, at: number): number {
  while (isWhitespace(b[at]!)) at++;
  return at;
}

/**
 * A string token at `at` (its opening quote): true with stringStart/end around its characters, false for anything this
 * reader does not take (an escape, a byte outside printable ASCII, no closing quote).
 */
function readString(b: Uint8Array, at: number): boolean {
  if (b[at] !== QUOTE) return false;
  const start = at + 1;
  for (let i = start; ; i++) {
    const c = b[i]!;
    if (c === QUOTE) {
      stringStart = start;
      end = i + 1;
      return true;
    }
    if (c < 0x20 || c >= 0x7f || c === BACKSLASH) return false;
  }
}

/** Whether the member name at `at` (its opening quote) is `expected`; then `end` is after its closing quote. */
function nameIs(b: Uint8Array, at: number, expected: Uint8Array): boolean {
  for (let i = 0; i < expected.length; i++) if (b[at + 1 + i] !== expected[i]) return false;
  if (b[at + 1 + expected.length] !== QUOTE) return false;
  end = at + 2 + expected.length;
  return true;
}

/**
 * The number of decimal digits at the start of the 4 bytes `word` (read little-endian: the first byte lowest), 0 to 4.
 * A byte is a digit when its high nibble is 3 and its low nibble at most 9 (adding 6 carries no low nibble above 9
 * into bit 4); no step carries from one byte into the next, so the lowest non-digit byte is the first set bit's.
 */
function leadingDigits(word: number): number {
  const nonDigit = ((word & 0xf0f0f0f0) ^ 0x30303030) | (((word & 0x0f0f0f0f) + 0x06060606) & 0xf0f0f0f0);
  return nonDigit === 0 ? 4 : (31 - Math.clz32(nonDigit & -nonDigit)) >> 3;
}

/**
 * The value of the first `count` (1 to 4) digits of `word` (see leadingDigits): the digits are moved to the high bytes
 * (zeros below them are leading zeros), then paired and the pairs joined, in three integer steps and no loop.
 */
function digitsValue(word: number, count: number): number {
  let v = (word - 0x30303030) << (32 - 8 * count);
  v = (Math.imul(v, 10) + (v >>> 8)) & 0x00ff00ff;
  return (Math.imul(v, 100) + (v >>> 16)) & 0xffff;
}

/**
 * A JSON number at `at`, with `end` after it: its value, equal to JSON.parse's (a mantissa under 2^53 scaled by at most
 * 10^22 in one rounding, else Number() of the token, which JSON's grammar is a subset of), or NaN when the text is not a
 * JSON number. The digits are read 4 at a time (one 32-bit read, see leadingDigits): a digit at a time made each step
 * wait on the previous multiply. Reading 4 bytes past the last digit stays inside `bytes` (see packLogBatchBody).
 */
function readNumber(b: Uint8Array, at: number): number {
  const start = at;
  let c = b[at]!;
  const negative = c === MINUS;
  if (negative) c = b[++at]!;
  if (c === ZERO) {
    // JSON has no leading zeros
    c = b[at + 1]!;
    if (c >= ZERO && c <= NINE) return Number.NaN;
  } else if (c < ZERO || c > NINE) return Number.NaN;
  // the integer's digits, then the fraction's after one '.' (`fraction`: where its digits start); every step is exact
  // while the result stays under 2^53; one that is not leaves it at 2^53 or more (rounding keeps order), and then the
  // token's own text decides
  let mantissa = 0;
  let fraction = -1;
  for (;;) {
    const word = view.getInt32(at, true);
    const count = leadingDigits(word);
    if (count === 4) {
      // 4 digits: the next 4 bytes too, so that up to 8 digits take one step of the mantissa (the chain of
      // multiply-adds is what a digit costs); that read starts at the 0 after the body at the latest
      const next = view.getInt32(at + 4, true);
      const more = leadingDigits(next);
      const high = digitsValue(word, 4);
      mantissa = mantissa * POWERS_OF_TEN[4 + more]! + (more === 0 ? high : high * POWERS_OF_TEN[more]! + digitsValue(next, more));
      at += 4 + more;
      if (more === 4) continue;
    } else if (count > 0) {
      mantissa = mantissa * POWERS_OF_TEN[count]! + digitsValue(word, count);
      at += count;
    }
    if (b[at] !== DOT || fraction >= 0) break;
    fraction = ++at;
  }
  // a fraction needs a digit
  if (at === fraction) return Number.NaN;
  const scale = fraction < 0 ? 0 : fraction - at;
  c = b[at]!;
  let exponentPart = false;
  if (c === 0x65 || c === 0x45) {
    exponentPart = true;
    c = b[++at]!;
    if (c === PLUS || c === MINUS) c = b[++at]!;
    if (c < ZERO || c > NINE) return Number.NaN;
    do c = b[++at]!;
    while (c >= ZERO && c <= NINE);
  }
  end = at;
  if (exponentPart || mantissa >= EXACT_MANTISSA || scale < -22) return Number(bodyText.slice(start, at));
  const value = scale === 0 ? mantissa : mantissa / POWERS_OF_TEN[-scale]!;
  return negative ? -value : value;
}

// Per-body scratch, kept between bodies: the points in arrival order and which key each has.
let arrival = new Float64Array(3 * 1024);
let keyOfPoint = new Uint32Array(1024);
/** Open-addressed table from a key's bytes to its index in the batch (index + 1; 0 is empty), and the slots used. */
const KEY_SLOTS = 4096;
const keySlot = new Int32Array(KEY_SLOTS);
const usedSlots: number[] = [];
const keyStart: number[] = [];
const keyLength: number[] = [];

/** The index of the key string just read among the batch's keys, adding it when new. */
function keyIndex(b: Uint8Array, keys: string[]): number {
  const from = stringStart;
  const length = end - 1 - from;
  let hash = length;
  for (let i = 0; i < length; i++) hash = Math.imul(hash ^ b[from + i]!, 0x01000193);
  let slot = (hash >>> 0) & (KEY_SLOTS - 1);
  for (;;) {
    const held = keySlot[slot]!;
    if (held === 0) break;
    const k = held - 1;
    if (keyLength[k] === length) {
      const other = keyStart[k]!;
      let same = true;
      for (let i = 0; i < length; i++) {
        if (b[from + i] !== b[other + i]) {
          same = false;
          break;
        }
      }
      if (same) return k;
    }
    slot = (slot + 1) & (KEY_SLOTS - 1);
  }
  const k = keys.length;
  keys.push(bodyText.slice(from, from + length));
  keyStart.push(from);
  keyLength.push(length);
  keySlot[slot] = k + 1;
  usedSlots.push(slot);
  return k;
}

const enum Field {
  None,
  Key,
  Value,
  Timestamp,
  Step,
}
const REQUIRED = (1 << Field.Key) | (1 << Field.Value);

/** Which member of a metric the name at `at` (its opening quote) is, with `end` after it; None for any other. */
function metricField(b: Uint8Array, at: number): Field {
  if (b[at] !== QUOTE) return Field.None;
  // the first letter tells the four names apart: one full comparison a member, not up to four
  switch (b[at + 1]) {
    case 0x6b:
      return nameIs(b, at, KEY) ? Field.Key : Field.None;
    case 0x76:
      return nameIs(b, at, VALUE) ? Field.Value : Field.None;
    case 0x74:
      return nameIs(b, at, TIMESTAMP) ? Field.Timestamp : Field.None;
    case 0x73:
      return nameIs(b, at, STEP) ? Field.Step : Field.None;
    default:
      return Field.None;
  }
}

/**
 * A member name with its punctuation, as the 32-bit words that cover it (read little-endian at 0, 4, … and at its
 * last 4 bytes, overlapping), compared a word at a time.
 */
interface Literal {
  readonly length: number;
  readonly offsets: Int32Array;
  readonly words: Int32Array;
}

function literal(text: string): Literal {
  const b = nameBytes(text);
  const offsets: number[] = [];
  for (let at = 0; at + 4 < b.length; at += 4) offsets.push(at);
  offsets.push(b.length - 4);
  const dv = new DataView(b.buffer);
  return { length: b.length, offsets: Int32Array.from(offsets), words: Int32Array.from(offsets, (at) => dv.getInt32(at, true)) };
}

// The members of a metric as the bench and compact JSON writers spell them, in this order and without spaces.
const KEY_FIRST = literal('{"key":');
const VALUE_NEXT = literal(',"value":');
const TIMESTAMP_NEXT = literal(',"timestamp":');
const STEP_NEXT = literal(',"step":');

/** Whether the bytes at `at` are `expected`. */
function bytesAre(at: number, expected: Literal): boolean {
  const { offsets, words } = expected;
  for (let i = 0; i < offsets.length; i++) if (view.getInt32(at + offsets[i]!, true) !== words[i]) return false;
  return true;
}

/**
 * readMetric for the common spelling `{"key":"…","value":…,"timestamp":…,"step":…}` (this order, no spaces): the same
 * reads and checks without the general loop's member dispatch. Its end offset, or -1 for any other spelling (or a
 * value it refuses), which readMetric then reads from the start the general way and accepts or refuses as before.
 */
function readCompactMetric(b: Uint8Array, at: number, i: number, keys: string[]): number {
  if (!bytesAre(at, KEY_FIRST) || !readString(b, at + KEY_FIRST.length)) return -1;
  const key = keyIndex(b, keys);
  if (!bytesAre(end, VALUE_NEXT)) return -1;
  const value = readNumber(b, end + VALUE_NEXT.length);
  if (value !== value || !bytesAre(end, TIMESTAMP_NEXT)) return -1;
  const timestamp = readNumber(b, end + TIMESTAMP_NEXT.length);
  if (!Number.isSafeInteger(timestamp) || !bytesAre(end, STEP_NEXT)) return -1;
  const step = readNumber(b, end + STEP_NEXT.length);
  if (!Number.isSafeInteger(step) || b[end] !== CLOSE_BRACE) return -1;
  keyOfPoint[i] = key;
  arrival[i * 3] = step;
  arrival[i * 3 + 1] = timestamp;
  arrival[i * 3 + 2] = value;
  return end + 1;
}

/**
 * Reads one metric object at `at` (its opening brace) into point `i` of the scratch; the end offset, or -1 for a
 * metric the plain path does not take (see plainMetricBatch in runsApi.ts: a string key, a number value, integer
 * timestamp and step when present, no other member).
 */
function readMetric(b: Uint8Array, at: number, i: number, keys: string[], now: number): number {
  const plain = readCompactMetric(b, at, i, keys);
  if (plain >= 0) return plain;
  at = skipWhitespace(b, at + 1);
  let key = -1;
  let value = 0;
  let timestamp = now;
  let step = 0;
  let seen = 0;
  for (;;) {
    const field = metricField(b, at);
    if (field === Field.None || (seen & (1 << field)) !== 0) return -1;
    seen |= 1 << field;
    at = skipWhitespace(b, end);
    if (b[at] !== COLON) return -1;
    at = skipWhitespace(b, at + 1);
    if (field === Field.Key) {
      if (!readString(b, at)) return -1;
      key = keyIndex(b, keys);
    } else {
      const n = readNumber(b, at);
      // NaN: no JSON number there ("NaN" as a string, null, …); a timestamp and a step are integers
      if (n !== n || (field !== Field.Value && !Number.isSafeInteger(n))) return -1;
      if (field === Field.Value) value = n;
      else if (field === Field.Timestamp) timestamp = n;
      else step = n;
    }
    at = skipWhitespace(b, end);
    const c = b[at];
    if (c === CLOSE_BRACE) break;
    if (c !== COMMA) return -1;
    at = skipWhitespace(b, at + 1);
  }
  if ((seen & REQUIRED) !== REQUIRED) return -1;
  keyOfPoint[i] = key;
  arrival[i * 3] = step;
  arrival[i * 3 + 1] = timestamp;
  arrival[i * 3 + 2] = value;
  return at + 1;
}

/** An empty array at `at`: its end offset, or -1. */
function emptyArray(b: Uint8Array, at: number): number {
  if (b[at] !== OPEN_BRACKET) return -1;
  at = skipWhitespace(b, at + 1);
  return b[at] === CLOSE_BRACKET ? at + 1 : -1;
}

/**
 * The plain log-batch in `body`, packed as the writer takes it (points grouped by key, each key's in logging order),
 * or undefined when the body is anything else or holds more than `maxMetrics` metrics: the caller then parses it as
 * JSON and answers, or refuses it, as for any request.
 */
export function packLogBatchBody(body: Buffer | readonly Buffer[], maxMetrics: number): PackedLogBatch | undefined {
  // the request's chunks are copied here as they are, not joined into one buffer first: a body is copied once
  const chunks = Buffer.isBuffer(body) ? [body] : body;
  let length = 0;
  for (const chunk of chunks) length += chunk.length;
  if (bytes.length <= length + READ_PAST) {
    bytes = Buffer.allocUnsafeSlow(Math.max(length + 1 + READ_PAST, bytes.length * 2));
    view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  }
  let at = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, at);
    at += chunk.length;
  }
  bytes[length] = 0;
  bodyText = bytes.toString('latin1', 0, length);
  const keys: string[] = [];
  try {
    const n = readBatch(bytes, length, maxMetrics, keys);
    if (n < 0) return undefined;
    return { runId: runIdOfBody, metrics: group(n, keys) };
  } finally {
    for (const slot of usedSlots) keySlot[slot] = 0;
    usedSlots.length = 0;
    keyStart.length = 0;
    keyLength.length = 0;
    bodyText = '';
  }
}

let runIdOfBody = '';

const enum Member {
  None,
  RunId,
  RunUuid,
  Metrics,
  Params,
  Tags,
}

/** Which member of the body the name at `at` (its opening quote) is, with `end` after it; None for any other. */
function topMember(b: Uint8Array, at: number): Member {
  if (b[at] !== QUOTE) return Member.None;
  if (nameIs(b, at, RUN_ID)) return Member.RunId;
  if (nameIs(b, at, RUN_UUID)) return Member.RunUuid;
  if (nameIs(b, at, METRICS)) return Member.Metrics;
  if (nameIs(b, at, PARAMS)) return Member.Params;
  if (nameIs(b, at, TAGS)) return Member.Tags;
  return Member.None;
}

/** The number of metrics read into the scratch, or -1 for a body the fast path does not take. */
function readBatch(b: Uint8Array, length: number, maxMetrics: number, keys: string[]): number {
  let at = skipWhitespace(b, 0);
  if (b[at] !== OPEN_BRACE) return -1;
  at = skipWhitespace(b, at + 1);
  let runId: string | undefined;
  let runUuid: string | undefined;
  let n = -1;
  let seenParams = false;
  let seenTags = false;
  const now = Date.now();
  for (;;) {
    const member = topMember(b, at);
    if (member === Member.None) return -1;
    at = skipWhitespace(b, end);
    if (b[at] !== COLON) return -1;
    at = skipWhitespace(b, at + 1);
    const isRunId = member === Member.RunId;
    const isRunUuid = member === Member.RunUuid;
    const isMetrics = member === Member.Metrics;
    const isParams = member === Member.Params;
    const isTags = member === Member.Tags;
    if (isRunId || isRunUuid) {
      if ((isRunUuid ? runUuid : runId) !== undefined || !readString(b, at)) return -1;
      const text = bodyText.slice(stringStart, end - 1);
      if (isRunUuid) runUuid = text;
      else runId = text;
      at = end;
    } else if (isMetrics) {
      if (n >= 0 || b[at] !== OPEN_BRACKET) return -1;
      n = 0;
      at = skipWhitespace(b, at + 1);
      if (b[at] === CLOSE_BRACKET) at++;
      else {
        for (;;) {
          if (n === maxMetrics || b[at] !== OPEN_BRACE) return -1;
          if (n === keyOfPoint.length) {
            const grown = new Float64Array(arrival.length * 2);
            grown.set(arrival);
            arrival = grown;
            const keysGrown = new Uint32Array(keyOfPoint.length * 2);
            keysGrown.set(keyOfPoint);
            keyOfPoint = keysGrown;
          }
          at = readMetric(b, at, n, keys, now);
          if (at < 0) return -1;
          n++;
          at = skipWhitespace(b, at);
          if (b[at] === CLOSE_BRACKET) {
            at++;
            break;
          }
          if (b[at] !== COMMA) return -1;
          at = skipWhitespace(b, at + 1);
        }
      }
    } else if (isParams || isTags) {
      if (isTags ? seenTags : seenParams) return -1;
      if (isTags) seenTags = true;
      else seenParams = true;
      at = emptyArray(b, at);
      if (at < 0) return -1;
    } else return -1;
    at = skipWhitespace(b, at);
    if (b[at] === CLOSE_BRACE) break;
    if (b[at] !== COMMA) return -1;
    at = skipWhitespace(b, at + 1);
  }
  if (skipWhitespace(b, at + 1) !== length || n < 0) return -1;
  // runIdOf: run_id, else the deprecated run_uuid; neither (or both empty) goes the slow way and gets its error there
  const id = runId || runUuid;
  if (!id) return -1;
  runIdOfBody = id;
  return n;
}
/** The scratch's n points grouped by key (a counting sort: each key's points keep their order). */
function group(n: number, keys: string[]): PackedMetrics {
  const starts = new Uint32Array(keys.length + 1);
  for (let i = 0; i < n; i++) starts[keyOfPoint[i]! + 1]!++;
  for (let k = 0; k < keys.length; k++) starts[k + 1]! += starts[k]!;
  const fill = starts.slice(0, keys.length);
  const triples = new Float64Array(n * 3);
  for (let i = 0; i < n; i++) {
    const at = fill[keyOfPoint[i]!]!++ * 3;
    triples[at] = arrival[i * 3]!;
    triples[at + 1] = arrival[i * 3 + 1]!;
    triples[at + 2] = arrival[i * 3 + 2]!;
  }
  return { keys, starts, triples };
}
