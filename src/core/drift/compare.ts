import { DriftInputError, type DriftSide, type WindowedSide } from './collect';
import type { ColumnSample } from './columnSample';
import { computeDriftReport, type DriftOptions, type DriftReport } from './report';

/** What a drift check compares: the columns asked (without the excluded ones), and how. */
export interface CompareSpec {
  /** The reference's path and the current data's name, for messages. */
  readonly referencePath: string;
  readonly currentName: string;
  /** The time and prediction columns: never compared. */
  readonly excluded: readonly string[];
  /** The configured columns without the excluded ones (undefined: every column). */
  readonly columns?: readonly string[];
  readonly drift?: DriftOptions;
}

/** The drift of one window of the current data. */
export interface WindowComparison {
  readonly start: string;
  readonly rows: number;
  readonly dataset_drift: boolean;
  readonly drift_share: number;
  /** Per compared column: its score (≥ 1 = drifted). */
  readonly scores: Readonly<Record<string, number>>;
}

/** Both sides compared: the whole current data, then each of its windows. */
export function compareSides(reference: DriftSide, current: WindowedSide, spec: CompareSpec): { report: DriftReport; windows: WindowComparison[] } {
  if (reference.rows === 0) throw new DriftInputError(`the reference ${spec.referencePath} has no rows`);
  if (current.rows === 0) throw new DriftInputError(`the current data ${spec.currentName} has no rows`);
  const excluded = new Set(spec.excluded);
  const drop = (side: DriftSide): Map<string, ColumnSample> => new Map([...side.samples].filter(([name]) => !excluded.has(name)));
  const referenceSamples = drop(reference);
  const compare = (cur: DriftSide): DriftReport =>
    computeDriftReport(
      {
        reference: referenceSamples,
        current: drop(cur),
        referenceRows: reference.rows,
        currentRows: cur.rows,
        ...(spec.columns ? { columns: spec.columns } : {}),
      },
      spec.drift,
    );
  const report = compare(current);
  const windows = current.windows.map(({ start, side }) => {
    const r = compare(side);
    return {
      start,
      rows: side.rows,
      dataset_drift: r.dataset_drift,
      drift_share: r.drift_share,
      scores: Object.fromEntries(r.columns.filter((c) => c.status === 'ok').map((c) => [c.column, c.score])),
    };
  });
  return { report, windows };
}
