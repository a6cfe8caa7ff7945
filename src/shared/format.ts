/** A metric value in a tree row or tooltip: integers as they are, others to 4 significant digits. */
export function formatMetric(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  return Number.isInteger(value) ? String(value) : value.toPrecision(4);
}

/** A compact number for tables and chart axes: integers grouped, others to 6 significant digits. */
export function formatNumber(value: number | null | undefined): string {
  if (value === null || value === undefined) return 'NaN';
  if (!Number.isFinite(value)) return String(value);
  if (Number.isInteger(value) && Math.abs(value) < 1e15) return value.toLocaleString('en-US');
  const abs = Math.abs(value);
  return abs !== 0 && (abs < 1e-4 || abs >= 1e9) ? value.toExponential(4) : String(Number(value.toPrecision(6)));
}

/** A difference between two values, to 3 significant digits: -0.00273224 reads -0.00273. */
export function formatDelta(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  if (Number.isInteger(value)) return value.toLocaleString('en-US');
  return formatNumber(Number(value.toPrecision(3)));
}
