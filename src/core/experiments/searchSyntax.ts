import { MlflowApiError } from '../tracking/errors';

// MLflow's search grammar, the one parser of mloop: the tracking endpoint (runs, experiments, registry,
// logged models), `mloop runs list --filter` and the Experiments Table all read filters through it.
// `<entity>.<key> <comparator> <value>` clauses joined by AND, e.g.
// metrics.rmse < 0.8 and params.model = 'tree' and tags.`mlflow.user` != 'ci' and attributes.status = 'FINISHED'

export type FilterEntity = 'metric' | 'param' | 'tag' | 'attribute' | 'dataset';
export type Comparator = '=' | '!=' | '<' | '<=' | '>' | '>=' | 'LIKE' | 'ILIKE' | 'IN' | 'NOT IN' | 'IS NULL' | 'IS NOT NULL';

/** One comparison; a filter is the conjunction of its clauses (MLflow has no OR). Columns are 1-based. */
export interface FilterClause {
  readonly entity: FilterEntity;
  readonly key: string;
  readonly comparator: Comparator;
  /** null for IS NULL / IS NOT NULL. */
  readonly value: string | number | readonly string[] | null;
  /** Where the clause's name starts and where its value starts (the comparator's column for IS NULL). */
  readonly column: number;
  readonly valueColumn: number;
  /** Whether the value was a quoted string (a number written as '1' stays text). */
  readonly quoted: boolean;
}

export interface OrderClause {
  readonly entity: FilterEntity;
  readonly key: string;
  readonly descending: boolean;
  readonly column: number;
}

/** A filter or order_by the grammar refuses: where (1-based column) and what was expected there. */
export class SearchSyntaxError extends MlflowApiError {
  constructor(
    readonly text: string,
    readonly column: number,
    readonly expected: string,
    what = 'filter',
  ) {
    super('INVALID_PARAMETER_VALUE', `Invalid ${what} ${JSON.stringify(text)} at column ${column}: ${expected}`);
    this.name = 'SearchSyntaxError';
  }
}

const ENTITY_PREFIXES: Readonly<Record<string, FilterEntity>> = {
  metric: 'metric',
  metrics: 'metric',
  param: 'param',
  params: 'param',
  parameter: 'param',
  parameters: 'param',
  tag: 'tag',
  tags: 'tag',
  attribute: 'attribute',
  attributes: 'attribute',
  attr: 'attribute',
  run: 'attribute',
  dataset: 'dataset',
  datasets: 'dataset',
};

class Cursor {
  pos = 0;
  constructor(
    readonly text: string,
    readonly what: string,
  ) {}
  get done(): boolean {
    this.skipSpace();
    return this.pos >= this.text.length;
  }
  get column(): number {
    return this.pos + 1;
  }
  skipSpace(): void {
    while (this.pos < this.text.length && /\s/.test(this.text[this.pos]!)) this.pos++;
  }
  peek(): string {
    return this.text[this.pos] ?? '';
  }
  /** What stands at the cursor, for "expected X, got Y". */
  found(): string {
    if (this.pos >= this.text.length) return 'the end of the text';
    return JSON.stringify(this.text.slice(this.pos).split(/\s/)[0]!.slice(0, 24));
  }
  fail(expected: string, at = this.pos): never {
    throw new SearchSyntaxError(this.text, at + 1, expected, this.what);
  }
  expect(expected: string): never {
    this.skipSpace();
    return this.fail(`expected ${expected}, found ${this.found()}`);
  }
  /** Consumes `word` (case-insensitive, whole word) when it comes next. */
  keyword(word: string): boolean {
    this.skipSpace();
    const slice = this.text.slice(this.pos, this.pos + word.length);
    const after = this.text[this.pos + word.length] ?? ' ';
    if (slice.toUpperCase() === word && /[\s('"`]/.test(after)) {
      this.pos += word.length;
      return true;
    }
    return false;
  }
  quoted(): string {
    const start = this.pos;
    const quote = this.text[this.pos]!;
    let out = '';
    this.pos++;
    while (this.pos < this.text.length) {
      const ch = this.text[this.pos]!;
      if (ch === quote) {
        if (this.text[this.pos + 1] === quote) {
          out += quote;
          this.pos += 2;
          continue;
        }
        this.pos++;
        return out;
      }
      if (ch === '\\' && this.pos + 1 < this.text.length) {
        out += this.text[this.pos + 1];
        this.pos += 2;
        continue;
      }
      out += ch;
      this.pos++;
    }
    return this.fail(`expected the closing ${quote} of the text opened here`, start);
  }
  bareWord(stop: RegExp): string {
    const start = this.pos;
    while (this.pos < this.text.length && !stop.test(this.text[this.pos]!)) this.pos++;
    return this.text.slice(start, this.pos);
  }
  isQuote(): boolean {
    return this.peek() === '"' || this.peek() === '`';
  }
  identifier(): { entity: FilterEntity; key: string; column: number } {
    this.skipSpace();
    const column = this.column;
    if (this.isQuote()) return { entity: 'attribute', key: this.quoted(), column };
    const head = this.bareWord(/[\s.=!<>(),'"`]/);
    if (!head) this.expect('a name such as metrics.accuracy, params.max_depth, tags.team or attributes.status');
    if (this.peek() !== '.') return { entity: 'attribute', key: head, column };
    const entity = ENTITY_PREFIXES[head.toLowerCase()];
    if (!entity) this.fail(`expected metrics., params., tags., attributes. or datasets., found "${head}."`, column - 1);
    this.pos++; // the dot
    const key = this.isQuote() ? this.quoted() : this.bareWord(/[\s=!<>(),'"]/);
    if (!key) this.expect(`a key after "${head}." (quote names with spaces in backticks: ${head}.\`my key\`)`);
    return { entity, key, column };
  }
  comparator(): Comparator {
    this.skipSpace();
    for (const op of ['<=', '>=', '!=', '<>', '=', '<', '>'] as const) {
      if (this.text.startsWith(op, this.pos)) {
        this.pos += op.length;
        return op === '<>' ? '!=' : op;
      }
    }
    if (this.keyword('LIKE')) return 'LIKE';
    if (this.keyword('ILIKE')) return 'ILIKE';
    if (this.keyword('IN')) return 'IN';
    if (this.keyword('IS')) {
      const not = this.keyword('NOT');
      if (this.keyword('NULL')) return not ? 'IS NOT NULL' : 'IS NULL';
      this.expect('NULL after IS');
    }
    if (this.keyword('NOT')) {
      if (this.keyword('IN')) return 'NOT IN';
      this.expect('IN after NOT');
    }
    return this.expect('a comparator (=, !=, <, <=, >, >=, LIKE, ILIKE, IN, NOT IN, IS NULL)');
  }
  scalar(): { value: string | number; quoted: boolean } {
    this.skipSpace();
    const ch = this.peek();
    if (ch === "'" || ch === '"') return { value: this.quoted(), quoted: true };
    const start = this.pos;
    const word = this.bareWord(/[\s,)]/);
    if (/^[-+]?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?$/i.test(word)) return { value: Number(word), quoted: false };
    this.pos = start;
    return this.expect("a value: a quoted string such as 'FINISHED' or a number");
  }
  list(): string[] {
    this.skipSpace();
    if (this.peek() !== '(') this.expect("a parenthesised list after IN, such as ('a', 'b')");
    this.pos++;
    const values: string[] = [];
    for (;;) {
      values.push(String(this.scalar().value));
      this.skipSpace();
      if (this.peek() === ',') {
        this.pos++;
        continue;
      }
      if (this.peek() === ')') {
        this.pos++;
        return values;
      }
      this.expect('"," or ")" in the IN list');
    }
  }
}

/** Parses an MLflow filter string; an empty or missing filter is no clause. */
export function parseFilter(filter: string | undefined): FilterClause[] {
  if (!filter || filter.trim() === '') return [];
  const cursor = new Cursor(filter, 'filter');
  const clauses: FilterClause[] = [];
  for (;;) {
    const { entity, key, column } = cursor.identifier();
    const comparator = cursor.comparator();
    cursor.skipSpace();
    const valueColumn = cursor.column;
    if (comparator === 'IS NULL' || comparator === 'IS NOT NULL') {
      clauses.push({ entity, key, comparator, value: null, column, valueColumn, quoted: false });
    } else if (comparator === 'IN' || comparator === 'NOT IN') {
      clauses.push({ entity, key, comparator, value: cursor.list(), column, valueColumn, quoted: true });
    } else {
      const { value, quoted } = cursor.scalar();
      clauses.push({ entity, key, comparator, value, column, valueColumn, quoted });
    }
    if (cursor.done) return clauses;
    if (!cursor.keyword('AND')) {
      if (cursor.keyword('OR')) cursor.fail('expected AND: MLflow search has no OR', cursor.pos - 2);
      cursor.expect('AND between clauses');
    }
  }
}

/** Parses one `order_by` entry such as "metrics.rmse DESC" or "start_time". */
export function parseOrderBy(text: string): OrderClause {
  const cursor = new Cursor(text, 'order_by');
  const { entity, key, column } = cursor.identifier();
  let descending = false;
  if (cursor.keyword('DESC') || /^\s*desc\s*$/i.test(text.slice(cursor.pos))) {
    descending = true;
    cursor.pos = text.length;
  } else if (cursor.keyword('ASC') || /^\s*asc\s*$/i.test(text.slice(cursor.pos))) {
    cursor.pos = text.length;
  }
  if (!cursor.done) cursor.expect('ASC or DESC after the order key');
  return { entity, key, descending, column };
}

/** Several order_by entries separated by commas ("metrics.acc DESC, params.lr"), as the CLI and the table take them. */
export function parseOrderByList(text: string | undefined): OrderClause[] {
  if (!text || text.trim() === '') return [];
  const out: OrderClause[] = [];
  let offset = 0;
  for (const part of text.split(',')) {
    try {
      if (part.trim() === '') throw new SearchSyntaxError(part, 1, 'expected an order key such as metrics.accuracy DESC', 'order_by');
      const clause = parseOrderBy(part);
      out.push({ ...clause, column: clause.column + offset });
    } catch (error) {
      if (error instanceof SearchSyntaxError) throw new SearchSyntaxError(text, error.column + offset, error.expected, 'order_by');
      throw error;
    }
    offset += part.length + 1;
  }
  return out;
}

// --- what searching runs accepts (MLflow's SearchUtils rules), checked with the clause's column ------

/** Run attributes by their MLflow names (and aliases); numeric ones compare with numbers. */
export const RUN_ATTRIBUTES: Readonly<Record<string, { readonly name: string; readonly numeric: boolean }>> = {
  status: { name: 'status', numeric: false },
  run_name: { name: 'run_name', numeric: false },
  'run name': { name: 'run_name', numeric: false },
  'Run name': { name: 'run_name', numeric: false },
  'Run Name': { name: 'run_name', numeric: false },
  run_id: { name: 'run_id', numeric: false },
  user_id: { name: 'user_id', numeric: false },
  artifact_uri: { name: 'artifact_uri', numeric: false },
  start_time: { name: 'start_time', numeric: true },
  end_time: { name: 'end_time', numeric: true },
  created: { name: 'start_time', numeric: true },
  Created: { name: 'start_time', numeric: true },
};

const NUMERIC_COMPARATORS: ReadonlySet<Comparator> = new Set(['=', '!=', '<', '<=', '>', '>=']);
// IN / NOT IN on params, tags and every text attribute go beyond MLflow (which takes lists for run_id only)
const TEXT_COMPARATORS: ReadonlySet<Comparator> = new Set(['=', '!=', 'LIKE', 'ILIKE', 'IN', 'NOT IN', 'IS NULL', 'IS NOT NULL']);
const ATTRIBUTE_TEXT_COMPARATORS: ReadonlySet<Comparator> = new Set(['=', '!=', 'LIKE', 'ILIKE', 'IN', 'NOT IN']);
const DATASET_KEYS = new Set(['name', 'digest', 'context']);

const list = (set: ReadonlySet<string>): string => [...set].join(', ');

/** Checks a parsed run filter against MLflow's rules for runs; the error points at the clause. */
export function checkRunFilter(text: string, clauses: readonly FilterClause[]): void {
  const fail = (column: number, expected: string): never => {
    throw new SearchSyntaxError(text, column, expected);
  };
  for (const c of clauses) {
    const name = `${c.entity === 'attribute' ? 'attributes' : `${c.entity}s`}.${c.key}`;
    const allowed = (set: ReadonlySet<Comparator>): void => {
      if (!set.has(c.comparator)) fail(c.column, `${name} takes ${list(set)}, not ${c.comparator}`);
    };
    switch (c.entity) {
      case 'metric':
        allowed(NUMERIC_COMPARATORS);
        if (typeof c.value !== 'number') fail(c.valueColumn, `expected a number to compare ${name} with, found a quoted string`);
        break;
      case 'param':
      case 'tag':
        allowed(TEXT_COMPARATORS);
        if (typeof c.value === 'number') fail(c.valueColumn, `expected a quoted string for ${name}, such as '8'`);
        if (typeof c.value === 'string' && !c.quoted) fail(c.valueColumn, `expected a quoted string for ${name}, such as '${c.value}'`);
        break;
      case 'attribute': {
        const attribute = RUN_ATTRIBUTES[c.key];
        if (!attribute) fail(c.column, `expected a run attribute (status, run_name, run_id, user_id, artifact_uri, start_time, end_time), found "${c.key}"`);
        if (attribute!.numeric) {
          allowed(NUMERIC_COMPARATORS);
          if (typeof c.value !== 'number') fail(c.valueColumn, `expected a number (milliseconds since 1970) for ${name}`);
        } else {
          allowed(ATTRIBUTE_TEXT_COMPARATORS);
          if ((c.comparator === 'IN' || c.comparator === 'NOT IN') && attribute!.name !== 'run_id')
            if (typeof c.value === 'number' || (typeof c.value === 'string' && !c.quoted))
              fail(c.valueColumn, `expected a quoted string for ${name}, such as 'FINISHED'`);
        }
        break;
      }
      case 'dataset':
        if (!DATASET_KEYS.has(c.key)) fail(c.column, `expected datasets.name, datasets.digest or datasets.context, found "${c.key}"`);
        allowed(ATTRIBUTE_TEXT_COMPARATORS);
        if (typeof c.value === 'number') fail(c.valueColumn, `expected a quoted string for ${name}`);
        break;
    }
  }
}

/** Checks run order keys: attributes must exist, datasets cannot order, no key twice. */
export function checkRunOrder(text: string, order: readonly OrderClause[]): void {
  const seen = new Set<string>();
  for (const o of order) {
    if (o.entity === 'dataset') throw new SearchSyntaxError(text, o.column, 'runs cannot be ordered by a dataset field', 'order_by');
    if (o.entity === 'attribute' && !RUN_ATTRIBUTES[o.key]) {
      throw new SearchSyntaxError(
        text,
        o.column,
        `expected a run attribute (status, run_name, run_id, user_id, start_time, end_time), found "${o.key}"`,
        'order_by',
      );
    }
    const id = `${o.entity}.${o.entity === 'attribute' ? RUN_ATTRIBUTES[o.key]!.name : o.key}`;
    if (seen.has(id)) throw new SearchSyntaxError(text, o.column, `${id} appears twice in the order`, 'order_by');
    seen.add(id);
  }
}
