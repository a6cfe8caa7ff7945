import { z } from 'zod';

// Plugged into src/core/config/schema.ts as the `rules` of a dataset; descriptions become editor hovers.

const bound = z.number({ error: 'expected a number' });

export const COLUMN_TYPES = ['number', 'string', 'boolean', 'datetime'] as const;

export const columnRuleSchema = z
  .strictObject({
    type: z.enum(COLUMN_TYPES).optional().describe('Every non-null value has this type: number, string, boolean or datetime (ISO 8601).'),
    nullable: z.boolean().optional().describe('false: the column may not contain nulls (empty cells, NA, null).'),
    min: bound.optional().describe('Smallest allowed value (numbers).'),
    max: bound.optional().describe('Largest allowed value (numbers).'),
    allowed: z
      .array(z.union([z.string(), z.number(), z.boolean()]))
      .min(1)
      .optional()
      .describe('The only values allowed (nulls are governed by nullable).'),
    unique: z.boolean().optional().describe('true: no value appears twice.'),
  })
  .describe('Rules for one column.');

export const datasetRulesSchema = z
  .strictObject({
    rows: z
      .strictObject({
        min: z.number().int().nonnegative().optional().describe('At least this many rows.'),
        max: z.number().int().nonnegative().optional().describe('At most this many rows.'),
      })
      .optional()
      .describe('Row-count bounds.'),
    schema: z
      .literal('match_previous', { error: 'schema accepts only "match_previous"' })
      .optional()
      .describe('match_previous: the column names and types must equal those of the previous version.'),
    columns: z.record(z.string().min(1), columnRuleSchema).optional().describe('Rules per column, by column name.'),
  })
  .describe(
    'Validation rules checked by "mloop validate" and before a pipeline that reads this dataset may start (column types, nullability, ranges, allowed values, uniqueness, row counts, schema).',
  );

export type DatasetRules = z.output<typeof datasetRulesSchema>;
export type ColumnRule = z.output<typeof columnRuleSchema>;
