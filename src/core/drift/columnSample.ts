/**
 * One column's values as the drift engine needs them, gathered from a stream of cells.
 *
 * Numbers are kept once, in a Float64Array (8 bytes a value) and sorted at the end: KS and Wasserstein
 * are exact on them and every binning is computed from them. Text is kept as counts per category.
 * Missing cells (null, '', NA, NaN, …) and infinities are counted and left out of every statistic.
 */
export type ColumnSample =
  | { readonly kind: 'numeric'; readonly sorted: Float64Array; readonly missing: number; readonly infinite: number }
  | { readonly kind: 'categorical'; readonly counts: ReadonlyMap<string, number>; readonly missing: number }
  /**
   * A reference known only as a histogram (e.g. from a stored dataset profile): PSI and Jensen–Shannon
   * use its edges as fixed bins; KS and Wasserstein need values and report the column skipped.
   */
  | { readonly kind: 'histogram'; readonly edges: readonly number[]; readonly counts: readonly number[]; readonly missing: number }
  | { readonly kind: 'unusable'; readonly reason: string; readonly missing: number };

/** Cells that mean "no value" in text files (pandas' default NA markers, the common ones). */
const MISSING_TEXT = new Set(['', 'na', 'n/a', 'nan', 'null', 'none', '#n/a', '<na>', '-nan', 'nil']);
const NUMBER_TEXT = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$|^[+-]?(inf|infinity)$/i;

/** Accumulates one column's cells; `finish()` decides the column's kind and sorts numbers. */
export class ColumnCollector {
  private numbers = new Float64Array(1024);
  private numberCount = 0;
  private readonly categories = new Map<string, number>();
  private textCount = 0;
  private firstText: string | undefined;
  private dates = 0;
  private missing = 0;
  private infinite = 0;

  get cells(): number {
    return this.numberCount + this.textCount + this.dates + this.missing + this.infinite;
  }

  /** A cell from a typed source (JSON, Parquet). */
  add(value: unknown): void {
    if (value === null || value === undefined) this.missing++;
    else if (typeof value === 'number') this.addNumber(value);
    else if (typeof value === 'bigint') this.addNumber(Number(value));
    else if (typeof value === 'string') this.addText(value);
    else if (typeof value === 'boolean') this.addCategory(String(value));
    else if (value instanceof Date) this.dates++;
    else this.addCategory(JSON.stringify(value));
  }

  /** A cell from a text source (CSV): numbers are recognised, NA markers are missing. */
  addText(text: string): void {
    const trimmed = text.trim();
    if (MISSING_TEXT.has(trimmed.toLowerCase())) this.missing++;
    else if (NUMBER_TEXT.test(trimmed)) this.addNumber(Number(trimmed.replace(/inf(inity)?$/i, 'Infinity')));
    else this.addCategory(text);
  }

  addNumber(value: number): void {
    if (Number.isNaN(value)) {
      this.missing++;
      return;
    }
    if (!Number.isFinite(value)) {
      this.infinite++;
      return;
    }
    if (this.numberCount === this.numbers.length) {
      const grown = new Float64Array(this.numbers.length * 2);
      grown.set(this.numbers);
      this.numbers = grown;
    }
    this.numbers[this.numberCount++] = value;
  }

  private addCategory(text: string): void {
    this.textCount++;
    this.firstText ??= text;
    this.categories.set(text, (this.categories.get(text) ?? 0) + 1);
  }

  finish(): ColumnSample {
    if (this.dates > 0 && this.numberCount + this.textCount === 0) {
      return { kind: 'unusable', reason: 'a date/time column: drift is not computed on time stamps (use it as the time column)', missing: this.missing };
    }
    if (this.textCount > 0 && this.numberCount + this.infinite > 0) {
      return {
        kind: 'unusable',
        reason: `mixed types: ${this.numberCount + this.infinite} numbers and ${this.textCount} text values (e.g. ${JSON.stringify(this.firstText)})`,
        missing: this.missing,
      };
    }
    if (this.textCount > 0) return { kind: 'categorical', counts: this.categories, missing: this.missing };
    const sorted = this.numbers.slice(0, this.numberCount).sort();
    this.numbers = new Float64Array(0);
    return { kind: 'numeric', sorted, missing: this.missing, infinite: this.infinite };
  }
}

/** Counts of each distinct value of an ascending sample, keyed by its text form. */
export function countsOfSorted(sorted: Float64Array): Map<string, number> {
  const counts = new Map<string, number>();
  for (let i = 0; i < sorted.length; ) {
    let j = i + 1;
    while (j < sorted.length && sorted[j] === sorted[i]) j++;
    counts.set(String(sorted[i]), j - i);
    i = j;
  }
  return counts;
}

/** Distinct values of an ascending sample, stopping once more than `limit` were seen. */
export function distinctOfSorted(sorted: Float64Array, limit: number, into = new Set<number>()): Set<number> {
  for (let i = 0; i < sorted.length && into.size <= limit; i++) into.add(sorted[i]!);
  return into;
}
