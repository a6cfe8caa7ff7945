import { kolmogorovSf } from './kolmogorov';

/** scipy's 'auto': exact when both samples have at most this many values. */
const MAX_EXACT_N = 10_000;

export interface KsResult {
  /** sup |F_ref − F_cur| over all observed values. */
  readonly statistic: number;
  readonly pValue: number;
  /** Which p-value was computed: the exact lattice-path count, or kstwo.sf(D, round(mn/(m+n))). */
  readonly pMethod: 'exact' | 'asymptotic';
}

/**
 * Two-sided two-sample Kolmogorov–Smirnov test on two ascending, NaN-free samples, with the p-value
 * scipy.stats.ks_2samp(method='auto') gives: exact (Hodges' inside method, Viehmann's 1 − p recursion)
 * when max(n1, n2) ≤ 10,000, else the one-sample Kolmogorov distribution at n = round(n1·n2/(n1+n2)).
 * Ties are handled as the ECDFs' right limits (searchsorted side='right'). O(n1 + n2).
 */
export function ksTwoSample(reference: Float64Array, current: Float64Array): KsResult {
  const n1 = reference.length;
  const n2 = current.length;
  if (n1 === 0 || n2 === 0) throw new RangeError('the Kolmogorov–Smirnov test needs values on both sides');
  const d = ksStatistic(reference, current);
  if (Math.max(n1, n2) <= MAX_EXACT_N) {
    const exact = exactPValue(n1, n2, d);
    if (exact) return exact;
  }
  const [m, n] = n1 >= n2 ? [n1, n2] : [n2, n1];
  const en = (m * n) / (m + n);
  return { statistic: d, pValue: Math.min(1, Math.max(0, kolmogorovSf(roundHalfEven(en), d))), pMethod: 'asymptotic' };
}

/** max(max(F1 − F2), clip(−min(F1 − F2), 0, 1)) evaluated at every observed value, as scipy does. */
export function ksStatistic(reference: Float64Array, current: Float64Array): number {
  const n1 = reference.length;
  const n2 = current.length;
  assertComparable(reference, current, 'the Kolmogorov–Smirnov test');
  let i = 0;
  let j = 0;
  let maxDiff = -Infinity;
  let minDiff = Infinity;
  while (i < n1 || j < n2) {
    const v = j >= n2 || (i < n1 && reference[i]! <= current[j]!) ? reference[i]! : current[j]!;
    const before = i + j;
    while (i < n1 && reference[i]! <= v) i++;
    while (j < n2 && current[j]! <= v) j++;
    // NaN is never <= anything: a NaN inside an otherwise ascending sample would stop both walks for good
    if (i + j === before) throw new RangeError(`the Kolmogorov–Smirnov test needs numbers; a sample holds NaN or an infinity`);
    const diff = i / n1 - j / n2;
    if (diff > maxDiff) maxDiff = diff;
    if (diff < minDiff) minDiff = diff;
  }
  const minS = Math.min(1, Math.max(0, -minDiff));
  return minS > maxDiff ? minS : maxDiff;
}

/**
 * The two-sample statistics walk ascending samples of finite numbers. Their ends tell: a sort puts NaN last and the
 * infinities first or last. Readers count NaN and the infinities as missing, so this only fails on a caller's bug —
 * with an error instead of a walk that never ends (NaN is not <= itself) or a statistic made up from ∞ − ∞.
 */
export function assertComparable(a: Float64Array, b: Float64Array, what: string): void {
  if (a.length === 0 || b.length === 0) throw new RangeError(`${what} needs values on both sides`);
  if (!(Number.isFinite(a[0]) && Number.isFinite(a[a.length - 1]) && Number.isFinite(b[0]) && Number.isFinite(b[b.length - 1])))
    throw new RangeError(`${what} needs numbers; a sample holds NaN or an infinity`);
}

function exactPValue(n1: number, n2: number, d: number): KsResult | undefined {
  const g = gcd(n1, n2);
  const lcm = (n1 / g) * n2;
  const h = roundHalfEven(d * lcm);
  const statistic = h / lcm;
  if (h === 0) return { statistic, pValue: 1, pMethod: 'exact' };
  const p = n1 === n2 ? outsideSquare(n1, h) : outerProbabilityInside(n1, n2, g, h);
  if (!(p >= 0 && p <= 1)) return undefined; // numerical failure: scipy falls back to the asymptotic form
  return { statistic, pValue: p, pMethod: 'exact' };
}

/** n1 = n2 = n: the proportion of lattice paths that leave the band |x − y| < h (reflection sum). */
function outsideSquare(n: number, h: number): number {
  let total = 0;
  for (let k = Math.floor(n / h); k >= 0; k--) {
    let p1 = 1;
    for (let j = 0; j < h; j++) p1 = ((n - k * h - j) * p1) / (n + k * h + j + 1);
    total = p1 * (1 - total);
  }
  return 2 * total;
}

/**
 * 1 − (share of lattice paths from (0,0) to (m,n) staying strictly inside |x/m − y/n| < h/lcm),
 * one column at a time over a sliding window, in the form that computes 1 − p directly.
 */
function outerProbabilityInside(a: number, b: number, g: number, h: number): number {
  const [m, n] = a >= b ? [a, b] : [b, a];
  const mg = m / g;
  const ng = n / g;
  let minJ = 0;
  let maxJ = Math.min(Math.ceil(h / mg), n + 1);
  let curLen = maxJ - minJ;
  const column = new Float64Array(Math.min(2 * maxJ + 2, n + 1)).fill(1);
  column.fill(0, minJ, maxJ);
  for (let i = 1; i <= m; i++) {
    const lastMinJ = minJ;
    const lastLen = curLen;
    minJ = Math.min(Math.max(Math.floor((ng * i - h) / mg) + 1, 0), n);
    maxJ = Math.min(Math.ceil((ng * i + h) / mg), n + 1);
    if (maxJ <= minJ) return 1;
    let value = minJ === 0 ? 0 : 1;
    for (let jj = 0; jj < maxJ - minJ; jj++) {
      const j = jj + minJ;
      value = (column[jj + minJ - lastMinJ]! * i + value * j) / (i + j);
      column[jj] = value;
    }
    curLen = maxJ - minJ;
    if (lastLen > curLen) column.fill(1, maxJ - minJ, maxJ - minJ + (lastLen - curLen));
  }
  return column[maxJ - minJ - 1]!;
}

function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
}

/** numpy's round: halves go to the even neighbour. */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}
