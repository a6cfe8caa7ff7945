import { z } from 'zod';
import { COLUMN_WIDTH_MAX, COLUMN_WIDTH_MIN } from '../shared/panels';
import { runIdSchema, webviewErrorSchema } from './common';

/** A column: `attributes.status`, `params.<key>`, `metrics.<key>` or `tags.<key>` (MLflow's names; `orderBy` is what sorting by it sends). */
export const tableColumnSchema = z.object({
  id: z.string(),
  label: z.string(),
  group: z.enum(['attribute', 'param', 'metric', 'tag']),
  /** The order key for this column (MLflow syntax, key quoted in backticks); absent: not sortable. */
  orderKey: z.string().optional(),
  numeric: z.boolean(),
  /** A metric column showing its minimum or maximum over each run's history (absent: the latest value). */
  aggregate: z.enum(['min', 'max']).optional(),
});
export type TableColumn = z.infer<typeof tableColumnSchema>;

/**
 * One run; `cells` follow the columns (null: the run has no such value), or, when its message has a `cellWindow`,
 * only the columns of that window. NaN and infinities arrive as text.
 */
export const tableRowSchema = z.object({
  runId: runIdSchema,
  cells: z.array(z.union([z.string(), z.number(), z.null()])),
  /** The row's group label when the table is grouped (absent: in no group). */
  group: z.string().optional(),
  /** The best trial of its sweep. */
  best: z.literal(true).optional(),
});
export type TableRow = z.infer<typeof tableRowSchema>;

/** A filter or order the parser refused: the message and the 1-based column in the text. */
export const queryErrorSchema = z.object({ field: z.enum(['filter', 'orderBy']), message: z.string(), column: z.number().int().positive() });
export type QueryError = z.infer<typeof queryErrorSchema>;

/**
 * The columns whose cells a page of rows carries (only those in view and near it cross to the page): the `pinned`
 * first columns, then columns `start` to `end` (excluded), as indexes into the load's columns.
 */
export interface CellWindow {
  readonly pinned: number;
  readonly start: number;
  readonly end: number;
}

/** The columns the page draws and those near them (indexes into the load's columns, `end` excluded): their cells are sent. */
const columnRangeSchema = z
  .object({ start: z.number().int().nonnegative().max(100_000), end: z.number().int().nonnegative().max(100_000) })
  .strict()
  .refine((r) => r.end >= r.start, 'end before start');
export type ColumnRange = z.infer<typeof columnRangeSchema>;

export const tableQuerySchema = z.object({
  filter: z.string().max(10_000),
  /** MLflow order keys separated by commas, e.g. "metrics.`accuracy` DESC". */
  orderBy: z.string().max(10_000),
});
export type TableQuery = z.infer<typeof tableQuerySchema>;

const columnIds = (max: number) => z.array(z.string().max(1000)).max(max);

/**
 * Group rows by experiment, sweep or commit; pinned columns (ids) stay at the left while scrolling; the user's
 * column order, hidden columns and each metric column's value (last, min or max). Remembered per workspace;
 * a layout saved before order/hidden/aggregates existed reads with them empty.
 */
export const tableLayoutSchema = z.object({
  grouping: z.enum(['none', 'experiment', 'sweep', 'commit']),
  pinned: columnIds(100),
  order: columnIds(5000).default([]),
  hidden: columnIds(5000).default([]),
  aggregates: z
    .record(z.string().max(1000), z.enum(['last', 'min', 'max']))
    .refine((r) => Object.keys(r).length <= 5000, 'at most 5000 metric columns')
    .default({}),
  /** Column widths (px) the user set by dragging a header's edge or with Set Column Width… (absent: the default width). */
  widths: z
    .record(z.string().max(1000), z.number().int().min(COLUMN_WIDTH_MIN).max(COLUMN_WIDTH_MAX))
    .refine((r) => Object.keys(r).length <= 5000, 'at most 5000 column widths')
    .optional(),
});
export type TableLayout = z.infer<typeof tableLayoutSchema>;

// ---- host → webview ----

export type ExperimentsTableHostMessage =
  | {
      readonly type: 'load';
      /** Bumped on every new result: a page of rows for an older one is dropped. */
      readonly version: number;
      readonly scope: string;
      /** The experiment the table holds (absent: every experiment), for the page's saved state. */
      readonly experimentId?: number;
      /** In display order: the pinned ones first. */
      readonly columns: readonly TableColumn[];
      /** The columns the user hid (the column chooser lists them to show again). */
      readonly hiddenColumns: readonly TableColumn[];
      /** The MLflow server the rows come from (absent: the workspace store). Its filter and order run on the server. */
      readonly server?: string;
      /** Remote: more rows may follow `matched` (the server's pages are read as the table scrolls). */
      readonly more?: boolean;
      readonly layout: TableLayout;
      readonly total: number;
      readonly matched: number;
      readonly query: TableQuery;
      readonly error?: QueryError;
      readonly offset: number;
      readonly rows: readonly TableRow[];
      /** The columns the rows' cells are of (absent: every column). */
      readonly cellWindow?: CellWindow;
      /** The first screen: rows of the default order read with SQL while every run is read for sort and filter (a full load follows). */
      readonly partial?: true;
      /**
       * The answer to a query, by stage (ms since the epoch, host clock): the query received, its rows found (SQL or
       * the whole table's search), and this message built. The page adds its own stages (paintedBench.ts reads them).
       */
      readonly trace?: { readonly received: number; readonly searched: number; readonly built: number };
      /** Scroll this column into view (the table opened at a column: `mloop.runs.openTable` with `column`). */
      readonly column?: string;
    }
  | {
      readonly type: 'rows';
      readonly version: number;
      readonly offset: number;
      readonly rows: readonly TableRow[];
      /** The columns the rows' cells are of (absent: every column); cells of other columns already on the page stay. */
      readonly cellWindow?: CellWindow;
      /** Remote: the rows known so far and whether the server has more. */
      readonly matched?: number;
      readonly more?: boolean;
    }
  | { readonly type: 'queryError'; readonly query: TableQuery; readonly error: QueryError }
  /** Select this run (clicked in the plots) and scroll to its row. */
  | { readonly type: 'reveal'; readonly runId: string; readonly index: number }
  /** Scroll this column into view (Go to Column…): the page asks for the cells it lacks there. */
  | { readonly type: 'showColumn'; readonly column: string }
  /** Set Column Width…: a width in px, or fit the column to what it shows. The page saves it with the layout. */
  | { readonly type: 'columnWidth'; readonly column: string; readonly width: number | 'fit' };

// ---- webview → host ----

export const experimentsTableWebviewMessageSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('ready') }).strict(),
  z.object({ type: z.literal('query'), query: tableQuerySchema, columns: columnRangeSchema.optional() }).strict(),
  z
    .object({
      type: z.literal('rows'),
      version: z.number().int().nonnegative(),
      offset: z.number().int().nonnegative(),
      count: z.number().int().min(1).max(1000),
      /** The columns wanted (the pinned ones come too); absent: the window last asked for. */
      columns: columnRangeSchema.optional(),
    })
    .strict(),
  z.object({ type: z.literal('plot'), runIds: z.array(runIdSchema).min(1).max(500) }).strict(),
  z.object({ type: z.literal('compare'), runIds: z.array(runIdSchema).min(2).max(500) }).strict(),
  /** Reproduce Run on the one selected run (the same command as the Runs view's). */
  z.object({ type: z.literal('reproduce'), runId: runIdSchema }).strict(),
  z.object({ type: z.literal('exportCsv') }).strict(),
  /** Register the selected run's model as a new version (the Models view's Register Model from Run). */
  z.object({ type: z.literal('register'), runId: runIdSchema }).strict(),
  /** Delete the selected runs (the host asks to confirm; audited). */
  z.object({ type: z.literal('delete'), runIds: z.array(runIdSchema).min(1).max(5000) }).strict(),
  /** Copy one cell's text to the clipboard (the page has no clipboard access of its own in every host). */
  z.object({ type: z.literal('copy'), text: z.string().max(100_000) }).strict(),
  z.object({ type: z.literal('layout'), layout: tableLayoutSchema, columns: columnRangeSchema.optional() }).strict(),
  /** Plots across the selected runs (none selected: every run in the table's scope). */
  z.object({ type: z.literal('plots'), runIds: z.array(runIdSchema).max(5000) }).strict(),
  /** A result is on screen (posted after the frame that drew it): its version, and the ms since the page asked for it. */
  z
    .object({
      type: z.literal('painted'),
      version: z.number().int().nonnegative(),
      partial: z.boolean(),
      requestMs: z.number().nonnegative().max(3_600_000).optional(),
    })
    .strict(),
  /**
   * The columns in the page's DOM after its horizontal window moved (only those in view are rendered): the header's
   * column ids left to right, and the cells of the first row drawn (posted after the frame that drew them).
   */
  z
    .object({
      type: z.literal('columnsInView'),
      version: z.number().int().nonnegative(),
      header: z.array(z.string().max(1000)).max(10_000),
      cells: z.number().int().nonnegative(),
      /** Columns whose first row's cell does not start where their header does. */
      misaligned: z.number().int().nonnegative(),
      /** Cells drawn in the rows in view whose value has not arrived yet (asked for; blank meanwhile). */
      missing: z.number().int().nonnegative().optional(),
      /** The header cells' drawn widths (px), and the first row's cells' text, in the header's order. */
      widths: z.array(z.number().nonnegative()).max(10_000).optional(),
      texts: z.array(z.string().max(1000)).max(10_000).optional(),
    })
    .strict(),
  webviewErrorSchema,
]);
export type ExperimentsTableWebviewMessage = z.infer<typeof experimentsTableWebviewMessageSchema>;

/** What the page keeps across reloads: the scope and the query. */
export const experimentsTableViewStateSchema = z.object({
  experimentId: z.number().int().nonnegative().optional(),
  query: tableQuerySchema,
});
export type ExperimentsTableViewState = z.infer<typeof experimentsTableViewStateSchema>;
