import { readBatches, readSchema, type CellValue, type DatasetFileFormat, type DatasetSchema } from './readers';

export interface PreviewPage {
  readonly schema: DatasetSchema;
  /** 0-based index of the first row of this page. */
  readonly offset: number;
  /** Row-major, in schema column order. */
  readonly rows: CellValue[][];
  /** True when rows exist after this page. */
  readonly hasMore: boolean;
}

/**
 * Rows [offset, offset + limit) of a dataset, read lazily: only as far into the file as the page
 * needs (a Parquet file is read from its footer and first row group, never whole).
 */
export async function previewRows(
  path: string,
  options: { offset?: number; limit: number; format?: DatasetFileFormat; signal?: AbortSignal },
): Promise<PreviewPage> {
  const offset = Math.max(0, options.offset ?? 0);
  const common = { ...(options.format ? { format: options.format } : {}), ...(options.signal ? { signal: options.signal } : {}) };
  const schema = await readSchema(path, common);
  const names = schema.columns.map((c) => c.name);
  const rows: CellValue[][] = [];
  const want = offset + options.limit + 1; // one more row tells whether there is a next page
  let seen = 0;
  for await (const batch of readBatches(path, { ...common, maxRows: want, batchRows: Math.min(10_000, want) })) {
    for (let i = 0; i < batch.rows; i++, seen++) {
      if (seen < offset || rows.length > options.limit) continue;
      rows.push(names.map((n) => batch.columns[n]?.[i] ?? null));
    }
  }
  const hasMore = rows.length > options.limit;
  return { schema, offset, rows: rows.slice(0, options.limit), hasMore };
}
