import type { RunTable } from './runTable';

// What the Experiments Table shows of a run table: its columns (MLflow names, so a header click is an
// order key the one parser reads), the cells of a row, and the CSV of the rows in view.

export interface RunTableColumn {
  /** `attributes.status`, `params.<key>`, `metrics.<key>`, `tags.<key>`, or `duration`. */
  readonly id: string;
  readonly label: string;
  readonly group: 'attribute' | 'param' | 'metric' | 'tag';
  /** The MLflow order key that sorts by this column; absent when MLflow cannot order by it. */
  readonly orderKey?: string;
  readonly numeric: boolean;
}

export type Cell = string | number | null;

/** A key inside backticks, as the parser reads it (a backtick in the key is doubled). */
const quoted = (key: string): string => `\`${key.replace(/`/g, '``')}\``;

const ATTRIBUTE_COLUMNS: readonly RunTableColumn[] = [
  { id: 'attributes.status', label: 'Status', group: 'attribute', orderKey: 'attributes.status', numeric: false },
  { id: 'attributes.run_name', label: 'Name', group: 'attribute', orderKey: 'attributes.run_name', numeric: false },
  { id: 'attributes.start_time', label: 'Started', group: 'attribute', orderKey: 'attributes.start_time', numeric: true },
  { id: 'duration', label: 'Duration', group: 'attribute', numeric: true },
];

/** Status, name, start, duration, then every param, every metric (latest value) and every tag but MLflow's own (mlflow.*). */
export function runTableColumns(table: RunTable): RunTableColumn[] {
  const keys = (map: ReadonlyMap<string, unknown>): string[] => [...map.keys()].sort((a, b) => a.localeCompare(b));
  return [
    ...ATTRIBUTE_COLUMNS,
    ...keys(table.params).map((k) => ({ id: `params.${k}`, label: k, group: 'param' as const, orderKey: `params.${quoted(k)}`, numeric: false })),
    ...keys(table.metrics).map((k) => ({ id: `metrics.${k}`, label: k, group: 'metric' as const, orderKey: `metrics.${quoted(k)}`, numeric: true })),
    ...keys(table.tags)
      .filter((k) => !k.startsWith('mlflow.'))
      .map((k) => ({ id: `tags.${k}`, label: k, group: 'tag' as const, orderKey: `tags.${quoted(k)}`, numeric: false })),
  ];
}

/** The value of one column for row `i`; NaN and infinities as text (they do not survive JSON). */
export function runTableCell(table: RunTable, i: number, column: RunTableColumn): Cell {
  switch (column.group) {
    case 'param':
      return table.params.get(column.id.slice('params.'.length))?.[i] ?? null;
    case 'tag':
      return table.tags.get(column.id.slice('tags.'.length))?.[i] ?? null;
    case 'metric': {
      const metric = table.metrics.get(column.id.slice('metrics.'.length));
      if (!metric?.present[i]) return null;
      const value = metric.values[i]!;
      return Number.isFinite(value) ? value : String(value);
    }
    default:
      switch (column.id) {
        case 'attributes.status':
          return table.statuses[i]!;
        case 'attributes.run_name':
          return table.names[i]!;
        case 'attributes.start_time':
          return table.startTimes[i]!;
        case 'duration': {
          const end = table.endTimes[i];
          return end == null ? null : end - table.startTimes[i]!;
        }
        default:
          return null;
      }
  }
}

const csvField = (value: string): string => (/[",\r\n]/.test(value) || /^\s|\s$/.test(value) ? `"${value.replace(/"/g, '""')}"` : value);

/** RFC 4180 CSV of the rows in their order: run_id first, then each column by its id; times in ISO 8601, durations in ms. */
export function runTableCsv(table: RunTable, rows: ArrayLike<number>, columns: readonly RunTableColumn[]): string {
  const lines = [['run_id', ...columns.map((c) => c.id)].map(csvField).join(',')];
  for (let n = 0; n < rows.length; n++) {
    const i = rows[n]!;
    const cells = columns.map((c) => {
      const v = runTableCell(table, i, c);
      if (v === null) return '';
      if (c.id === 'attributes.start_time') return new Date(v as number).toISOString();
      return csvField(String(v));
    });
    lines.push([table.runIds[i]!, ...cells].join(','));
  }
  return `${lines.join('\r\n')}\r\n`;
}
