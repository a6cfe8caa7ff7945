import { readBatches, readSchema, ISO_DATETIME, type CellValue, type DatasetSchema, type ReadOptions } from './readers';
import type { ColumnRule, DatasetRules } from './rulesSchema';

/** How many offending rows a report quotes per failed rule. */
export const EXAMPLE_ROWS = 5;

export type RuleName = 'type' | 'nullable' | 'min' | 'max' | 'allowed' | 'unique' | 'rows.min' | 'rows.max' | 'schema' | 'column';

export interface RuleFailure {
  /** Absent for dataset-level rules (rows, schema). */
  readonly column?: string;
  readonly rule: RuleName;
  readonly message: string;
  /** How many rows break the rule (0 for dataset-level rules). */
  readonly offendingRows: number;
  /** The first offending rows: 1-based data row number (a CSV's line is row + 1) and the value. */
  readonly examples: { readonly row: number; readonly value: CellValue }[];
}

export interface ValidationReport {
  readonly path: string;
  readonly rows: number;
  readonly passed: boolean;
  readonly failures: RuleFailure[];
}

interface ColumnCheck {
  readonly name: string;
  readonly rule: ColumnRule;
  readonly failures: Map<RuleName, { count: number; examples: { row: number; value: CellValue }[]; message: string }>;
  readonly seen?: Set<CellValue>;
  readonly allowed?: Set<CellValue>;
}

/**
 * Checks a dataset against its rules in one streaming pass. `previousSchema` is the schema of the version
 * before (for `schema: match_previous`; a first version passes). Read errors propagate as DatasetReadError.
 */
export async function validateDataset(
  path: string,
  rules: DatasetRules,
  options: Omit<ReadOptions, 'maxRows' | 'columns'> & { previousSchema?: DatasetSchema; schema?: DatasetSchema } = {},
): Promise<ValidationReport> {
  const failures: RuleFailure[] = [];
  const schema = options.schema ?? (await readSchema(path, options));
  const present = new Set(schema.columns.map((c) => c.name));
  const checks: ColumnCheck[] = [];
  for (const [name, rule] of Object.entries(rules.columns ?? {})) {
    if (!present.has(name)) {
      failures.push({
        column: name,
        rule: 'column',
        message: `column "${name}" has rules but is not in the data (columns: ${[...present].join(', ')})`,
        offendingRows: 0,
        examples: [],
      });
      continue;
    }
    checks.push({
      name,
      rule,
      failures: new Map(),
      ...(rule.unique ? { seen: new Set<CellValue>() } : {}),
      ...(rule.allowed ? { allowed: new Set<CellValue>(rule.allowed) } : {}),
    });
  }
  if (rules.schema === 'match_previous' && options.previousSchema) {
    const diff = compareSchemas(options.previousSchema, schema);
    for (const line of diff) failures.push({ rule: 'schema', message: `schema differs from the previous version: ${line}`, offendingRows: 0, examples: [] });
  }

  let rows = 0;
  const wanted = checks.map((c) => c.name);
  const note = (check: ColumnCheck, rule: RuleName, row: number, value: CellValue, message: string): void => {
    let f = check.failures.get(rule);
    if (!f) check.failures.set(rule, (f = { count: 0, examples: [], message }));
    f.count++;
    if (f.examples.length < EXAMPLE_ROWS) f.examples.push({ row, value });
  };
  for await (const batch of readBatches(path, { ...options, ...(wanted.length ? { columns: wanted } : { columns: [schema.columns[0]?.name ?? ''] }) })) {
    for (const check of checks) {
      const values = batch.columns[check.name] ?? new Array<CellValue>(batch.rows).fill(null);
      const { rule } = check;
      for (let i = 0; i < values.length; i++) {
        const v = values[i]!;
        const row = batch.rowOffset + i + 1;
        if (v === null) {
          if (rule.nullable === false) note(check, 'nullable', row, v, 'null values in a column declared nullable: false');
          continue;
        }
        if (rule.type && !hasType(v, rule.type)) note(check, 'type', row, v, `values that are not of type ${rule.type}`);
        if (typeof v === 'number') {
          if (rule.min !== undefined && v < rule.min) note(check, 'min', row, v, `values below min ${rule.min}`);
          if (rule.max !== undefined && v > rule.max) note(check, 'max', row, v, `values above max ${rule.max}`);
        } else if ((rule.min !== undefined || rule.max !== undefined) && !rule.type) {
          note(check, 'type', row, v, 'non-numeric values in a column with min/max');
        }
        if (check.allowed && !check.allowed.has(v)) note(check, 'allowed', row, v, `values outside allowed [${rule.allowed!.join(', ')}]`);
        if (check.seen) {
          if (check.seen.has(v)) note(check, 'unique', row, v, 'duplicate values in a column declared unique');
          else check.seen.add(v);
        }
      }
    }
    rows += batch.rows;
  }
  for (const check of checks) {
    for (const [rule, f] of check.failures) {
      failures.push({
        column: check.name,
        rule,
        message: `${check.name}: ${f.count} row${f.count === 1 ? '' : 's'} with ${f.message}`,
        offendingRows: f.count,
        examples: f.examples,
      });
    }
  }
  if (rules.rows?.min !== undefined && rows < rules.rows.min)
    failures.push({ rule: 'rows.min', message: `${rows} rows, fewer than rows.min ${rules.rows.min}`, offendingRows: 0, examples: [] });
  if (rules.rows?.max !== undefined && rows > rules.rows.max)
    failures.push({ rule: 'rows.max', message: `${rows} rows, more than rows.max ${rules.rows.max}`, offendingRows: 0, examples: [] });
  return { path, rows, passed: failures.length === 0, failures };
}

function hasType(v: CellValue, type: NonNullable<ColumnRule['type']>): boolean {
  switch (type) {
    case 'number':
      return typeof v === 'number';
    case 'boolean':
      return typeof v === 'boolean';
    case 'datetime':
      return typeof v === 'string' && ISO_DATETIME.test(v);
    case 'string':
      return true; // any non-null value reads as text
  }
}

/** Human-readable schema differences from `before` to `after` (empty when equal). */
export function compareSchemas(before: DatasetSchema, after: DatasetSchema): string[] {
  const a = new Map(before.columns.map((c) => [c.name, c.type]));
  const b = new Map(after.columns.map((c) => [c.name, c.type]));
  const out: string[] = [];
  for (const [name, type] of a) {
    if (!b.has(name)) out.push(`column "${name}" (${type}) removed`);
    else if (b.get(name) !== type) out.push(`column "${name}" changed type ${type} → ${b.get(name)}`);
  }
  for (const [name, type] of b) if (!a.has(name)) out.push(`column "${name}" (${type}) added`);
  return out;
}

/** The report as text, one failure per line with its first rows. */
export function formatValidationReport(name: string, report: ValidationReport): string {
  if (report.passed) return `✓ ${name}: ${report.rows.toLocaleString('en-US')} rows, all rules pass`;
  const lines = [`✗ ${name}: ${report.failures.length} rule${report.failures.length === 1 ? '' : 's'} failed (${report.rows.toLocaleString('en-US')} rows)`];
  for (const f of report.failures) {
    lines.push(`  ${f.column ?? '(dataset)'} · ${f.rule}: ${f.message}`);
    if (f.examples.length) lines.push(`    first rows: ${f.examples.map((e) => `row ${e.row} = ${JSON.stringify(e.value)}`).join(', ')}`);
  }
  return lines.join('\n');
}
