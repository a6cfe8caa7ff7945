import { invalidParameter } from './errors';

// MLflow's search grammar: `<entity>.<key> <comparator> <value>` clauses joined by AND, e.g.
// metrics.rmse < 0.8 and params.model = 'tree' and tags."mlflow.user" != 'ci' and attributes.status = 'FINISHED'

export type FilterEntity = 'metric' | 'param' | 'tag' | 'attribute' | 'dataset';
export type Comparator = '=' | '!=' | '<' | '<=' | '>' | '>=' | 'LIKE' | 'ILIKE' | 'IN' | 'NOT IN';

export interface FilterClause {
  readonly entity: FilterEntity;
  readonly key: string;
  readonly comparator: Comparator;
  readonly value: string | number | readonly string[];
}

export interface OrderClause {
  readonly entity: FilterEntity;
  readonly key: string;
  readonly descending: boolean;
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
  constructor(readonly text: string) {}
  get done(): boolean {
    this.skipSpace();
    return this.pos >= this.text.length;
  }
  skipSpace(): void {
    while (this.pos < this.text.length && /\s/.test(this.text[this.pos]!)) this.pos++;
  }
  peek(): string {
    return this.text[this.pos] ?? '';
  }
  fail(what: string): never {
    throw invalidParameter(`Invalid filter ${JSON.stringify(this.text)}: ${what} at character ${this.pos + 1}`);
  }
  /** Consumes `word` (case-insensitive, whole word) when it comes next. */
  keyword(word: string): boolean {
    this.skipSpace();
    const slice = this.text.slice(this.pos, this.pos + word.length);
    const after = this.text[this.pos + word.length] ?? ' ';
    if (slice.toUpperCase() === word && /[\s('"]/.test(after)) {
      this.pos += word.length;
      return true;
    }
    return false;
  }
  quoted(): string {
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
    return this.fail(`unterminated ${quote}quoted text`);
  }
  bareWord(stop: RegExp): string {
    const start = this.pos;
    while (this.pos < this.text.length && !stop.test(this.text[this.pos]!)) this.pos++;
    return this.text.slice(start, this.pos);
  }
  identifier(): { entity: FilterEntity; key: string } {
    this.skipSpace();
    if (this.peek() === '"' || this.peek() === '`') return { entity: 'attribute', key: this.quoted() };
    const head = this.bareWord(/[\s.=!<>(),]/);
    if (!head) this.fail('expected a name such as metrics.loss, params.lr, tags.team or attributes.status');
    if (this.peek() !== '.') return { entity: 'attribute', key: head };
    const entity = ENTITY_PREFIXES[head.toLowerCase()];
    if (!entity) this.fail(`unknown entity "${head}" (use metrics., params., tags., attributes. or datasets.)`);
    this.pos++; // the dot
    const key = this.peek() === '"' || this.peek() === '`' ? this.quoted() : this.bareWord(/[\s=!<>(),]/);
    if (!key) this.fail(`expected a key after "${head}."`);
    return { entity, key };
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
    if (this.keyword('NOT')) {
      if (this.keyword('IN')) return 'NOT IN';
      this.fail('expected IN after NOT');
    }
    return this.fail('expected a comparator (=, !=, <, <=, >, >=, LIKE, ILIKE, IN, NOT IN)');
  }
  scalar(): string | number {
    this.skipSpace();
    const ch = this.peek();
    if (ch === "'" || ch === '"') return this.quoted();
    const word = this.bareWord(/[\s,)]/);
    if (/^[-+]?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?$/i.test(word)) return Number(word);
    return this.fail(`expected a quoted string or a number${word ? ` (got ${word})` : ''}`);
  }
  list(): string[] {
    this.skipSpace();
    if (this.peek() !== '(') this.fail('expected a parenthesised list after IN');
    this.pos++;
    const values: string[] = [];
    for (;;) {
      values.push(String(this.scalar()));
      this.skipSpace();
      if (this.peek() === ',') {
        this.pos++;
        continue;
      }
      if (this.peek() === ')') {
        this.pos++;
        return values;
      }
      this.fail('expected "," or ")" in the IN list');
    }
  }
}

/** Parses an MLflow filter string; an empty or missing filter is no clause. */
export function parseFilter(filter: string | undefined): FilterClause[] {
  if (!filter || filter.trim() === '') return [];
  const cursor = new Cursor(filter);
  const clauses: FilterClause[] = [];
  for (;;) {
    const { entity, key } = cursor.identifier();
    const comparator = cursor.comparator();
    const value = comparator === 'IN' || comparator === 'NOT IN' ? cursor.list() : cursor.scalar();
    clauses.push({ entity, key, comparator, value });
    if (cursor.done) return clauses;
    if (!cursor.keyword('AND')) cursor.fail('expected AND between clauses (OR is not supported by MLflow search)');
  }
}

/** Parses one `order_by` entry such as "metrics.rmse DESC" or "start_time". */
export function parseOrderBy(text: string): OrderClause {
  const cursor = new Cursor(text);
  const { entity, key } = cursor.identifier();
  let descending = false;
  if (cursor.keyword('DESC') || /^\s*desc\s*$/i.test(text.slice(cursor.pos))) {
    descending = true;
    cursor.pos = text.length;
  } else if (cursor.keyword('ASC') || /^\s*asc\s*$/i.test(text.slice(cursor.pos))) {
    cursor.pos = text.length;
  }
  if (!cursor.done) cursor.fail('expected ASC or DESC after the order key');
  return { entity, key, descending };
}

/** A SQL fragment with its bound arguments. */
export interface SqlPredicate {
  readonly sql: string;
  readonly args: readonly (string | number)[];
}

const NUMERIC: ReadonlySet<Comparator> = new Set(['=', '!=', '<', '<=', '>', '>=']);

/** A numeric comparison of `expr` (a SQL expression) with the clause's number. */
export function numericPredicate(expr: string, clause: FilterClause): SqlPredicate {
  if (!NUMERIC.has(clause.comparator) || typeof clause.value !== 'number') {
    throw invalidParameter(
      `Invalid filter on ${clause.entity} "${clause.key}": compare it with a number using =, !=, <, <=, > or >= (got ${clause.comparator} ${JSON.stringify(clause.value)})`,
    );
  }
  return { sql: `${expr} ${clause.comparator} ?`, args: [clause.value] };
}

/** MLflow's LIKE is case-sensitive; SQLite's is not, so case-sensitive patterns become GLOB. */
const likeToGlob = (pattern: string): string => pattern.replace(/[*?[\]%_]/g, (ch) => (ch === '%' ? '*' : ch === '_' ? '?' : ch === ']' ? ']' : `[${ch}]`));

/** A string comparison of `expr` with the clause's text (=, !=, LIKE, ILIKE, IN, NOT IN). */
export function stringPredicate(expr: string, clause: FilterClause): SqlPredicate {
  const { comparator, value } = clause;
  if (comparator === 'IN' || comparator === 'NOT IN') {
    const list = value as readonly string[];
    return { sql: `${expr} ${comparator} (${list.map(() => '?').join(', ')})`, args: list };
  }
  if (typeof value !== 'string') {
    throw invalidParameter(`Invalid filter on ${clause.entity} "${clause.key}": the value must be a quoted string (got ${String(value)})`);
  }
  switch (comparator) {
    case '=':
    case '!=':
      return { sql: `${expr} ${comparator} ?`, args: [value] };
    case 'LIKE':
      return { sql: `${expr} GLOB ?`, args: [likeToGlob(value)] };
    case 'ILIKE':
      return { sql: `${expr} LIKE ? ESCAPE '\\'`, args: [value] };
    default:
      throw invalidParameter(`Invalid filter on ${clause.entity} "${clause.key}": ${comparator} does not apply to text; use =, !=, LIKE, ILIKE, IN or NOT IN`);
  }
}
