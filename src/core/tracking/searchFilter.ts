import type { Comparator, FilterClause } from '../experiments/searchSyntax';
import { invalidParameter } from './errors';

// SQL for the clauses of MLflow's search grammar (parsed by src/core/experiments/searchSyntax.ts).

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
  if (comparator === 'IS NULL' || comparator === 'IS NOT NULL') return { sql: `${expr} ${comparator}`, args: [] };
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
