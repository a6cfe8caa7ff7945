import type { MetricAggregate, RunTable } from './runTable';

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
  /** A metric column showing its minimum or maximum over the run's history (absent: the latest value). */
  readonly aggregate?: 'min' | 'max';
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
const COMMIT_COLUMN: RunTableColumn = { id: 'commit', label: 'Commit', group: 'attribute', numeric: false };

/** Status, name, start, duration, then every param, every metric (latest value) and every tag but MLflow's own (mlflow.*). */
export function runTableColumns(table: RunTable): RunTableColumn[] {
  return runTableColumnsOfKeys({
    commit: table.commits.some((c) => c !== null),
    params: [...table.params.keys()],
    metrics: [...table.metrics.keys()],
    tags: [...table.tags.keys()],
  });
}

/** The columns of a table whose runs have these keys (and a commit, if any has one): what `runTableColumns` gives. */
export function runTableColumnsOfKeys(has: {
  readonly commit: boolean;
  readonly params: readonly string[];
  readonly metrics: readonly string[];
  readonly tags: readonly string[];
}): RunTableColumn[] {
  const keys = (list: readonly string[]): string[] => [...list].sort((a, b) => a.localeCompare(b));
  return [
    ...ATTRIBUTE_COLUMNS,
    ...(has.commit ? [COMMIT_COLUMN] : []),
    ...keys(has.params).map((k) => ({ id: `params.${k}`, label: k, group: 'param' as const, orderKey: `params.${quoted(k)}`, numeric: false })),
    ...keys(has.metrics).map((k) => ({ id: `metrics.${k}`, label: k, group: 'metric' as const, orderKey: `metrics.${quoted(k)}`, numeric: true })),
    ...keys(has.tags)
      .filter((k) => !k.startsWith('mlflow.'))
      .map((k) => ({ id: `tags.${k}`, label: k, group: 'tag' as const, orderKey: `tags.${quoted(k)}`, numeric: false })),
  ];
}

/** How the user arranged the columns: their order, the hidden ones, the pinned ones and each metric's min/max. */
export interface ColumnLayout {
  /** Column ids in the order the user put them; columns not listed follow in their natural order. */
  readonly order: readonly string[];
  readonly hidden: readonly string[];
  /** Shown first, in this order, and kept at the left while scrolling. */
  readonly pinned: readonly string[];
  /** `metrics.<key>` → min or max over the history (absent or last: the latest value). */
  readonly aggregates: Readonly<Record<string, MetricAggregate>>;
}

/** `metrics.<key>` → the metric key → min/max map `withMetricAggregates` reads. */
export const metricAggregates = (layout: ColumnLayout): Record<string, MetricAggregate> =>
  Object.fromEntries(
    Object.entries(layout.aggregates)
      .filter(([id, aggregate]) => id.startsWith('metrics.') && aggregate !== 'last')
      .map(([id, aggregate]) => [id.slice('metrics.'.length), aggregate]),
  );

/**
 * The columns to show, in display order (pinned first, then the user's order, then the rest as they come), and
 * the hidden ones (for the column chooser). A pinned column is shown even if hidden. Ids of columns the
 * table no longer has are ignored, so a saved layout survives runs coming and going.
 */
export function arrangeColumns(columns: readonly RunTableColumn[], layout: ColumnLayout): { shown: RunTableColumn[]; hidden: RunTableColumn[] } {
  const byId = new Map(columns.map((c) => [c.id, c]));
  const labelled = (c: RunTableColumn): RunTableColumn => {
    const aggregate = c.group === 'metric' ? layout.aggregates[c.id] : undefined;
    return aggregate === 'min' || aggregate === 'max' ? { ...c, aggregate, label: `${c.label} (${aggregate})` } : c;
  };
  const position = new Map(layout.order.map((id, n) => [id, n]));
  const natural = new Map(columns.map((c, n) => [c.id, n]));
  const rank = (c: RunTableColumn): number => position.get(c.id) ?? layout.order.length + natural.get(c.id)!;
  const pinned = layout.pinned.flatMap((id) => (byId.has(id) ? [byId.get(id)!] : []));
  const rest = columns.filter((c) => !layout.pinned.includes(c.id)).sort((a, b) => rank(a) - rank(b));
  const hidden = new Set(layout.hidden);
  return {
    shown: [...pinned, ...rest.filter((c) => !hidden.has(c.id))].map(labelled),
    hidden: rest.filter((c) => hidden.has(c.id)).map(labelled),
  };
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
        case 'commit':
          return table.commits[i] ?? null;
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
export function runTableCsv(table: RunTable, rows: ArrayLike<number>, columns: readonly RunTableColumn[], header = true): string {
  const lines = header ? [['run_id', ...columns.map((c) => c.id)].map(csvField).join(',')] : [];
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
  return lines.length ? `${lines.join('\r\n')}\r\n` : '';
}

// --- groups -----------------------------------------------------------------------------------------

/** What the table groups rows by: nothing, the experiment, the sweep the run is a trial of, or the git commit. */
export const RUN_GROUPINGS = ['none', 'experiment', 'sweep', 'commit'] as const;
export type RunGrouping = (typeof RUN_GROUPINGS)[number];

/** The tag a sweep puts on each trial, and the one it puts on its best trial (src/core/experiments/sweeps.ts). */
const SWEEP_TAG = 'mloop.sweep';
const BEST_TAG = 'mloop.sweep.best';

/** Row i's group under `grouping` (null: in none, e.g. a run that is no sweep's trial). */
export function runGroupKey(table: RunTable, i: number, grouping: RunGrouping): string | null {
  switch (grouping) {
    case 'experiment':
      return String(table.experimentIds[i]);
    case 'sweep':
      return table.tags.get(SWEEP_TAG)?.[i] ?? null;
    case 'commit':
      return table.commits[i] ?? null;
    default:
      return null;
  }
}

/** Whether row i is the best trial of its sweep (tagged when the sweep ended). */
export const isBestTrial = (table: RunTable, i: number): boolean => table.tags.get(BEST_TAG)?.[i] === 'true';

/**
 * The rows with each group's rows together: groups in the order their first row has in `rows` (so the group
 * holding the best row by the current order comes first), rows in their order inside a group, rows in no group last.
 */
export function groupRows(table: RunTable, rows: Int32Array, grouping: RunGrouping): Int32Array {
  if (grouping === 'none') return rows;
  const groups = new Map<string | null, number[]>();
  for (const i of rows) {
    const key = runGroupKey(table, i, grouping);
    let members = groups.get(key);
    if (!members) groups.set(key, (members = []));
    members.push(i);
  }
  const ungrouped = groups.get(null) ?? [];
  groups.delete(null);
  return Int32Array.from([...[...groups.values()].flat(), ...ungrouped]);
}
