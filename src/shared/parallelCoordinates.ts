// Geometry of a parallel-coordinates plot, with no DOM: one vertical axis per param (and the metric last),
// one polyline per run. Kept here (plain data in, plain data out) so a unit test checks where lines go.

/** An axis as the page receives it: numbers, or category indices into `categories`; null where the run has none. */
export interface ParallelAxisInput {
  readonly key: string;
  readonly kind: 'numeric' | 'categorical';
  readonly values: readonly (number | null)[];
  readonly categories?: readonly string[];
}

export interface ParallelAxis {
  readonly key: string;
  /** The axis' x in pixels. */
  readonly x: number;
  /** Labels along the axis: its value and its y in pixels. */
  readonly ticks: readonly { readonly label: string; readonly y: number }[];
}

export interface ParallelLayout {
  readonly axes: readonly ParallelAxis[];
  /** Per run, its point on each axis (null: the run has no value there, the line breaks). */
  readonly lines: readonly (readonly ({ readonly x: number; readonly y: number } | null)[])[];
}

export interface ParallelBox {
  readonly width: number;
  readonly height: number;
  /** Space left around the plot for labels. */
  readonly margin: number;
}

const formatTick = (v: number): string => (Math.abs(v) >= 1e4 || (v !== 0 && Math.abs(v) < 1e-3) ? v.toExponential(2) : String(Number(v.toPrecision(4))));

/** Where each run crosses each axis: numeric axes span their min..max (bottom..top), categories are spread evenly. */
export function parallelLayout(axes: readonly ParallelAxisInput[], box: ParallelBox): ParallelLayout {
  const { width, height, margin } = box;
  const top = margin;
  const bottom = height - margin;
  const step = axes.length > 1 ? (width - 2 * margin) / (axes.length - 1) : 0;
  const scales = axes.map((axis, a) => {
    const x = axes.length > 1 ? margin + a * step : width / 2;
    if (axis.kind === 'categorical') {
      const n = axis.categories?.length ?? 0;
      const y = (v: number): number => (n <= 1 ? (top + bottom) / 2 : bottom - (v / (n - 1)) * (bottom - top));
      return { x, y, ticks: (axis.categories ?? []).map((label, v) => ({ label, y: y(v) })) };
    }
    const present = axis.values.filter((v): v is number => v !== null);
    const min = present.length ? Math.min(...present) : 0;
    const max = present.length ? Math.max(...present) : 0;
    const y = (v: number): number => (max === min ? (top + bottom) / 2 : bottom - ((v - min) / (max - min)) * (bottom - top));
    const ticks =
      max === min
        ? [{ label: formatTick(min), y: y(min) }]
        : [0, 0.5, 1].map((f) => ({ label: formatTick(min + f * (max - min)), y: y(min + f * (max - min)) }));
    return { x, y, ticks };
  });
  const runs = axes[0]?.values.length ?? 0;
  const lines = Array.from({ length: runs }, (_, r) =>
    axes.map((axis, a) => {
      const v = axis.values[r];
      return v === null || v === undefined ? null : { x: scales[a]!.x, y: scales[a]!.y(v) };
    }),
  );
  return { axes: axes.map((axis, a) => ({ key: axis.key, x: scales[a]!.x, ticks: scales[a]!.ticks })), lines };
}

/** SVG path data of one run's line: a new segment after each missing value. */
export function linePath(points: readonly ({ readonly x: number; readonly y: number } | null)[]): string {
  let d = '';
  let pen = false;
  for (const p of points) {
    if (!p) {
      pen = false;
      continue;
    }
    d += `${pen ? 'L' : 'M'}${p.x.toFixed(1)},${p.y.toFixed(1)}`;
    pen = true;
  }
  return d;
}
