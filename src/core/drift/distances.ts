import { assertComparable } from './ks';
/** Distances between two samples or two distributions; all pure, all O(n) or less. */

/** Empty bins are given this proportion before PSI takes logarithms (Evidently's value); not renormalized. */
export const PSI_EMPTY_BIN_PROPORTION = 1e-4;

/**
 * The first index j ≥ from with sorted[j] > x in an ascending sample (or its length), galloping from `from`
 * (1, 2, 4, … steps, then bisecting): a column of a few hundred distinct values over millions of rows costs a few
 * hundred logarithmic searches instead of a pass over every value, and a run of one costs one comparison.
 */
export function upperBoundFrom(sorted: Float64Array, from: number, x: number): number {
  const n = sorted.length;
  if (from >= n || sorted[from]! > x) return from;
  let lo = from; // sorted[lo] <= x
  let step = 1;
  let hi = from + 1;
  while (hi < n && sorted[hi]! <= x) {
    lo = hi;
    step *= 2;
    hi = lo + step;
  }
  if (hi > n) hi = n;
  while (hi - lo > 1) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid]! <= x) lo = mid;
    else hi = mid;
  }
  return hi;
}

/** The end of the run of values equal to sorted[i] in an ascending sample. */
export function runEnd(sorted: Float64Array, i: number): number {
  return upperBoundFrom(sorted, i, sorted[i]!);
}

/**
 * Wasserstein-1 distance between two ascending samples: ∫ |F_u − F_v| (scipy.stats.wasserstein_distance). One merge
 * pass: at each distinct value x (ascending), both sides step past their values equal to x — the same terms in the
 * same order whichever way they step.
 */
export function wasserstein1(u: Float64Array, v: Float64Array): number {
  const nu = u.length;
  const nv = v.length;
  assertComparable(u, v, 'the Wasserstein distance');
  let i = 0;
  let j = 0;
  let total = 0;
  let previous = Math.min(u[0]!, v[0]!);
  while (i < nu || j < nv) {
    const x = j >= nv || (i < nu && u[i]! <= v[j]!) ? u[i]! : v[j]!;
    total += Math.abs(i / nu - j / nv) * (x - previous);
    previous = x;
    const before = i + j;
    i = stepPast(u, i, x);
    j = stepPast(v, j, x);
    // NaN is never <= anything: a NaN inside an otherwise ascending sample would stop both walks for good
    if (i + j === before) throw new RangeError('the Wasserstein distance needs numbers; a sample holds NaN or an infinity');
  }
  return total;
}

/** Partial sums of the integer merge below this are exact doubles, and adding one more term below it stays exact. */
const EXACT_SUM = 2 ** 52;

/**
 * wasserstein1 of two ascending samples of scaled integers (u[i] / power, v[j] / power), computed exactly as an integer
 * and divided at the end: nu·nv·power·W = Σ |i·nv − j·nu| · (x − previous) over the merged values x, where i and j
 * count each side's values below x. The merge is branch-free (which side steps is a sign bit, not a jump: the order
 * of two samples of one distribution is a coin toss a branch predictor loses half the time), ~2× the double walk's
 * speed. The terms are exact integers; their sum is carried into a BigInt whenever it nears 2^53, so the result is the
 * exact value rounded three times (to a double, then two divisions). Undefined when the merge cannot be branch-free
 * (the samples span 2^31 or more) or the weights are not exact (nu·nv ≥ 2^53): the caller takes the double walk.
 */
export function wasserstein1Scaled(u: Int32Array, v: Int32Array, power: number): number | undefined {
  const nu = u.length;
  const nv = v.length;
  if (nu === 0 || nv === 0) throw new RangeError('the Wasserstein distance needs values on both sides');
  const lowest = Math.min(u[0]!, v[0]!);
  if (Math.max(u[nu - 1]!, v[nv - 1]!) - lowest >= 2 ** 31 || nu * nv >= 2 ** 53) return undefined;
  const both = nu + nv;
  let i = 0;
  let j = 0;
  let d = 0; // i·nv − j·nu
  let previous = lowest;
  let low = 0; // the sum so far is high + low; low < EXACT_SUM between steps
  let high = 0n;
  while (i < nu && j < nv) {
    const a = u[i]!;
    const b = v[j]!;
    // 1 when a ≤ b (u steps), else 0: b − a fits 32 bits (the span is below 2^31), its sign bit says which
    const take = ((b - a) >>> 31) ^ 1;
    const x = b + take * (a - b);
    const weight = Math.abs(d);
    const gap = x - previous;
    previous = x;
    d += take * both - nu;
    i += take;
    j += 1 - take;
    const before = low;
    low = before + weight * gap;
    if (low >= EXACT_SUM) {
      high = carried(high, before, weight, gap);
      low = 0;
    }
  }
  // one side is through: the other's values left, each at its own weight
  const [rest, at, step] = i < nu ? [u, i, nv] : [v, j, -nu];
  for (let k = at; k < rest.length; k++) {
    const x = rest[k]!;
    const weight = Math.abs(d);
    const gap = x - previous;
    previous = x;
    d += step;
    const before = low;
    low = before + weight * gap;
    if (low >= EXACT_SUM) {
      high = carried(high, before, weight, gap);
      low = 0;
    }
  }
  return Number(high + BigInt(low)) / (nu * nv) / power;
}

// Calls on two values, either side through first, before any long one: V8 compiles the merge loop on the stack (OSR)
// in the first long call and enters that code again in later ones, where the code after the loop, which had never run
// when it was compiled, deopted it call after call (~20 times a 1M-row check comparing windows ahead, fedSide.ts);
// run here first, that code has its type feedback then (recorded from V8's ~8th call of a function on: 12 calls), and
// a gap of 2^30 makes its sums doubles from the start (not small integers that overflow later: a deopt more).
for (let k = 0; k < 6; k++) {
  wasserstein1Scaled(Int32Array.of(0), Int32Array.of(2 ** 30), 1);
  wasserstein1Scaled(Int32Array.of(2 ** 30), Int32Array.of(0), 1);
}

/**
 * A reference sample of scaled integers (ascending, at one scale) prepared for the Wasserstein distances of a windowed
 * check — every window and the whole column of one feature against it — where nu·nv·power·W is
 * Σ_{lo ≤ t < hi} |nv·#{u ≤ t} − nu·#{v ≤ t}| (what wasserstein1Scaled sums, term by term: between two merged values
 * the counts stand still). Between two neighbouring values of a window, #{v ≤ t} is a constant c, so nv·#{u ≤ t} − nu·c
 * changes sign once, at the K-th reference value (K = ⌈nu·c/nv⌉), and each side of it is an area under the
 * reference's counts: area(t) = Σ_{lo ≤ x < t} #{u ≤ x} = Σ_{u_i < t} (t − u_i) = r·(t − lo) − prefix[r] for any r
 * between #{u < t} and #{u ≤ t} (values equal to t add nothing), prefix[r] = Σ_{k < r} (u_k − lo). Exact integers
 * while nu·(hi − lo) < 2^53, so the sum is the merge's exact integer and the result the same to the bit. A window
 * costs a branch-free step per value of its own (#{u < t} read from `below`, a table over lo..hi) instead of the
 * merge's step per value of both sides.
 */
export class ScaledReferenceTable {
  private constructor(
    readonly values: Int32Array,
    readonly lo: number,
    readonly hi: number,
    private readonly prefix: Float64Array,
    /** below[k] = #{u < lo + k}, k in 0..hi − lo. */
    private readonly below: Int32Array,
  ) {}

  /**
   * The table of ascending `values` for integers in lo..hi (lo ≤ values[0], values[last] ≤ hi), laid in the buffers
   * when they have room; undefined when its areas would not be exact integers (nu · (hi − lo) ≥ 2^53) or
   * hi − lo ≥ 2^31.
   */
  static build(values: Int32Array, lo: number, hi: number, buffers: { prefix?: Float64Array; below?: Int32Array } = {}): ScaledReferenceTable | undefined {
    const nu = values.length;
    const span = hi - lo;
    if (nu === 0 || span >= 2 ** 31 || nu * span >= 2 ** 53 || values[0]! < lo || values[nu - 1]! > hi) return undefined;
    const prefix = buffers.prefix && buffers.prefix.length > nu ? buffers.prefix.subarray(0, nu + 1) : new Float64Array(nu + 1);
    let sum = 0;
    prefix[0] = 0;
    for (let i = 0; i < nu; i++) prefix[i + 1] = sum += values[i]! - lo;
    const below = buffers.below && buffers.below.length > span ? buffers.below.subarray(0, span + 1) : new Int32Array(span + 1);
    below.fill(0);
    for (let i = 0; i < nu; i++) {
      const k = values[i]! - lo + 1;
      if (k <= span) below[k]!++;
    }
    for (let k = 1; k <= span; k++) below[k]! += below[k - 1]!;
    return new ScaledReferenceTable(values, lo, hi, prefix, below);
  }

  /**
   * Whether wasserstein1Scaled(values, v) can be taken from the table: v lies inside lo..hi and nu·nv < 2^50 (the
   * weights exact, and ⌈nu·c/nv⌉ exact from one division: a quotient that is no integer lies 1/nv or more from one).
   */
  covers(first: number, last: number, nv: number): boolean {
    return first >= this.lo && last <= this.hi && this.values.length * nv < 2 ** 50;
  }

  /**
   * wasserstein1Scaled(this.values, v, power) for ascending integers v inside lo..hi (covers()): the same exact sum,
   * stretch by stretch between v's neighbouring values (a tie: a stretch of no width, which adds 0). On the stretch
   * a..b where #{v ≤ t} = c and f(t) = nv·#{u ≤ t} − nu·c, Σ|f| = Σf + 2·Σ_{a ≤ t < s} (−f) with s the K-th
   * reference value held to a..b; the ranks used for area(s) held to those of a and b are valid ones for s. Each part
   * is at most nu·nv·(b − a).
   */
  window(v: Int32Array, power: number): number {
    const nv = v.length;
    if (nv === 0) throw new RangeError('the Wasserstein distance needs values on both sides');
    const { values, prefix, below, lo } = this;
    const nu = values.length;
    const weights = nu * nv;
    // the sum so far is high + low; low sums the stretches since blockStart, each at most weights · its width, so
    // it stays an exact double while weights · (b − blockStart) < EXACT_SUM: carried into high only then (a test of
    // the stretch's end, not of the running sum: one on the sum at every step made such loops ~4× slower)
    const limit = EXACT_SUM / weights;
    let low = 0;
    let high = 0n;
    let blockStart = lo;
    let a = lo;
    let rankA = 0;
    let areaA = 0;
    for (let i = 0; i <= nv; i++) {
      const b = i < nv ? v[i]! : this.hi;
      const target = nu * i;
      const k = Math.ceil(target / nv); // K: the first count of reference values at which f ≥ 0
      const rankB = below[b - lo]!;
      const areaB = rankB * (b - lo) - prefix[rankB]!;
      const crossing = values[k > 0 ? k - 1 : 0]!;
      const s = crossing < a ? a : crossing > b ? b : crossing;
      const rankS = k - 1 < rankA ? rankA : k - 1 > rankB ? rankB : k - 1;
      const areaS = rankS * (s - lo) - prefix[rankS]!;
      if (b - blockStart >= limit) {
        high += BigInt(low);
        low = 0;
        blockStart = a;
      }
      const total = nv * (areaB - areaA) - target * (b - a);
      const negative = target * (s - a) - nv * (areaS - areaA);
      if (b - a < limit) low += total + 2 * negative;
      else {
        // a stretch too wide for exact doubles: in BigInts, and a new block after it
        high = stretchCarried(high, target, nv, b - a, s - a, areaS - areaA, areaB - areaA);
        blockStart = b;
      }
      a = b;
      rankA = rankB;
      areaA = areaB;
    }
    return Number(high + BigInt(low)) / weights / power;
  }

  /**
   * wasserstein1Scaled(this.values, v, power) for the nv integers v that `counts` holds by value (counts[k] of
   * min + k), inside lo..hi (covers()): the same exact sum, walked value by value over lo..hi (a whole column of a
   * windowed check, its windows counted instead of merged and sorted). Each term is below nu·nv < 2^53: exact.
   */
  counted(counts: Int32Array, min: number, nv: number, power: number): number {
    const { values, below, lo } = this;
    const nu = values.length;
    const span = this.hi - lo;
    let low = 0;
    let high = 0n;
    const from = min - lo;
    const to = from + counts.length;
    // blocks of terms whose sum stays below EXACT_SUM (each term is below nu·nv), carried into high between blocks
    const block = Math.max(1, Math.floor(EXACT_SUM / (nu * nv)));
    const walk = { cv: 0 };
    for (let k0 = 0; k0 < span; k0 += block) {
      low = countedBlock(counts, below, from, to, nu, nv, k0, Math.min(span, k0 + block), walk);
      high += BigInt(low);
      low = 0;
    }
    return Number(high + BigInt(low)) / (nu * nv) / power;
  }
}

/**
 * One block of counted()'s sum: Σ |nv·below[k + 1] − nu·cv| over k0 ≤ k < k1, cv (in walk) the current counts summed
 * so far. A function of its own: as counted()'s inner loop, V8 compiled it on the stack (OSR) and threw that code
 * away at each block's exit.
 */
function countedBlock(
  counts: Int32Array,
  below: Int32Array,
  from: number,
  to: number,
  nu: number,
  nv: number,
  k0: number,
  k1: number,
  walk: { cv: number },
): number {
  let cv = walk.cv;
  let low = 0;
  for (let k = k0; k < k1; k++) {
    if (k >= from && k < to) cv += counts[k - from]!;
    low += Math.abs(nv * below[k + 1]! - nu * cv); // below[k + 1] = #{u ≤ lo + k}
  }
  walk.cv = cv;
  return low;
}

/** high + the stretch's sum (ScaledReferenceTable.window) in BigInts: Σf + 2·(nu·c·(s − a) − nv·Δarea below s). */
function stretchCarried(high: bigint, target: number, nv: number, width: number, below: number, areaBelow: number, areaAll: number): bigint {
  const t = BigInt(target);
  const n = BigInt(nv);
  return high + n * BigInt(areaAll) - t * BigInt(width) + 2n * (t * BigInt(below) - n * BigInt(areaBelow));
}

/** high + before + weight · gap, exactly (a term of 2^53 or more is no exact double). */
function carried(high: bigint, before: number, weight: number, gap: number): bigint {
  return high + BigInt(before) + BigInt(weight) * BigInt(gap);
}

/**
 * A reference sample prepared once for many Wasserstein distances against it (every window of a check, then the whole
 * current sample): its sorted values, and — made on first need — their prefix sums in double-double (sum of the first
 * k values = high[k] + low[k], to about 2⁻¹⁰⁶ relative), so that the integral over a stretch holding many reference
 * values costs a few operations instead of a walk over them.
 */
export class WassersteinReference {
  private high: Float64Array | undefined;
  private low: Float64Array | undefined;

  constructor(readonly sorted: Float64Array) {}

  /**
   * count · x − Σ sorted[from..to), to about one rounding of the result: the product exact as two numbers (Dekker's
   * split; count is an integer below 2^53) and the prefix sums' two words carried until the last addition.
   */
  countTimesMinusSum(count: number, x: number, from: number, to: number): number {
    if (!this.high) this.prefix();
    const high = this.high!;
    const low = this.low!;
    const ph = count * x;
    let c = 134217729 * count; // 2^27 + 1
    const ch = c - (c - count);
    const cl = count - ch;
    c = 134217729 * x;
    const xh = c - (c - x);
    const xl = x - xh;
    const pl = ch * xh - ph + ch * xl + cl * xh + cl * xl; // ph + pl = count · x exactly
    // (ph − high[to]) + high[from], each addition's error kept (two-sum)
    const ht = -high[to]!;
    const a = ph + ht;
    let bp = a - ph;
    const ea = ph - (a - bp) + (ht - bp);
    const hf = high[from]!;
    const b = a + hf;
    bp = b - a;
    const eb = a - (b - bp) + (hf - bp);
    return b + (ea + eb + pl - low[to]! + low[from]!);
  }

  private prefix(): void {
    const n = this.sorted.length;
    const high = new Float64Array(n + 1);
    const low = new Float64Array(n + 1);
    let h = 0;
    let l = 0;
    for (let i = 0; i < n; i++) {
      const x = this.sorted[i]!;
      const s = h + x;
      const bp = s - h;
      const e = h - (s - bp) + (x - bp); // two-sum: h + x = s + e exactly
      l += e;
      h = s + l; // renormalize
      l = l - (h - s);
      high[i + 1] = h;
      low[i + 1] = l;
    }
    this.high = high;
    this.low = low;
  }
}

/**
 * Stretches with at most this many distinct reference values inside are walked value by value (the merge's terms). A
 * window at least a quarter of the reference's size walks every stretch: then most stretches hold a value or two,
 * the walk costs what the merge costs, the result is the merge's to the bit, and no prefix sums are made.
 */
const WALK_LIMIT = 4;
export const DENSE_WINDOW = 4;

/**
 * wasserstein1(reference.sorted, v) in O(d · (WALK_LIMIT + log n)) for a window of d distinct values against a
 * reference of n > DENSE_WINDOW · |v| values, instead of the merge walk's O(n + |v|) (a larger window is merged). Between consecutive window values a < b the window's
 * CDF G is constant g = k/|v|, and ∫_a^b |F_ref − g| is a walk over the reference values in (a, b) while they are few
 * — the merge walk's very terms in its order, so the result is the same bits when every stretch is short — or, past
 * WALK_LIMIT distinct values, computed from the prefix sums: F_ref is monotone, so it crosses g once, at the reference
 * value of index ⌊k·n/|v|⌋ (F_ref(x) ≤ g exactly while #{r ≤ x}·|v| ≤ k·n); below the crossing the integrand is
 * g − F_ref, above it F_ref − g, and each side's ∫ F_ref is a count times an end minus a prefix-sum difference,
 * taken in double-double so that nothing cancels.
 */
export function wasserstein1Against(reference: WassersteinReference, v: Float64Array): number {
  const u = reference.sorted;
  const nu = u.length;
  const nv = v.length;
  assertComparable(u, v, 'the Wasserstein distance');
  let i = 0; // reference values < the current point (≤ previous)
  let j = 0;
  let total = 0;
  let previous = Math.min(u[0]!, v[0]!);
  const limit = nu <= DENSE_WINDOW * nv ? Infinity : WALK_LIMIT;
  // each stretch runs from the previous window value (or the start) to the next window value b, at the level j/nv
  while (j < nv) {
    const b = v[j]!;
    let steps = 0;
    // walk the reference values below b while they are few
    while (i < nu && u[i]! < b && steps < limit) {
      const x = u[i]!;
      total += Math.abs(i / nu - j / nv) * (x - previous);
      previous = x;
      const next = stepPast(u, i, x);
      if (next === i) throw new RangeError('the Wasserstein distance needs numbers; a sample holds NaN or an infinity');
      i = next;
      steps++;
    }
    if (i < nu && u[i]! < b) {
      // many more: the rest of the stretch [previous, b) at once
      const hi = lowerBoundFrom(u, i, b);
      total += stretchIntegral(reference, previous, b, i, hi, j, nv);
      i = hi;
      previous = b;
    }
    // the point b itself: the same term as the merge walk's, then both sides step past b
    total += Math.abs(i / nu - j / nv) * (b - previous);
    previous = b;
    const before = i + j;
    i = stepPast(u, i, b);
    j = stepPast(v, j, b);
    if (i + j === before) throw new RangeError('the Wasserstein distance needs numbers; a sample holds NaN or an infinity');
  }
  // right of the window's last value, G = 1
  let steps = 0;
  while (i < nu && steps < limit) {
    const x = u[i]!;
    total += Math.abs(i / nu - 1) * (x - previous);
    previous = x;
    const next = stepPast(u, i, x);
    if (next === i) throw new RangeError('the Wasserstein distance needs numbers; a sample holds NaN or an infinity');
    i = next;
    steps++;
  }
  if (i < nu) {
    // ∫_previous^∞ (1 − F) = Σ_{k ≥ i} (u[k] − previous) / nu
    total += -reference.countTimesMinusSum(nu - i, previous, i, nu) / nu;
  }
  // a NaN inside an unsorted sample can hide in a stretch summed at once: it shows in the sum
  if (Number.isNaN(total)) throw new RangeError('the Wasserstein distance needs numbers; a sample holds NaN or an infinity');
  return total;
}

/**
 * ∫_a^b |F(x) − k/nv| dx where F is the reference's CDF and the reference values inside [a, b) are u[lo..hi), all
 * > a (lo values are ≤ a, none of them lies in the stretch), and F = lo/nu at a.
 */
function stretchIntegral(reference: WassersteinReference, a: number, b: number, lo: number, hi: number, k: number, nv: number): number {
  const u = reference.sorted;
  const nu = u.length;
  // F(x) ≤ g exactly while #{u ≤ x} ≤ cross, cross = ⌊k·nu/nv⌋ (integers: k·nu < 2^53)
  const kn = k * nu;
  let cross = Math.floor(kn / nv);
  while ((cross + 1) * nv <= kn) cross++;
  while (cross * nv > kn) cross--;
  // the split point s: the crossing value u[cross] when it lies in the stretch, else an end
  const split = cross < lo ? lo : cross >= hi ? hi : cross;
  const s = cross < lo ? a : cross >= hi ? b : u[cross]!;
  let result = 0;
  if (s > a) {
    // below: ∫_a^s (g − F) = (k·nu − lo·nv)/(nu·nv) · (s − a) − (1/nu) Σ_{lo ≤ t < split} (s − u[t])
    result += ((kn - lo * nv) / (nu * nv)) * (s - a) - reference.countTimesMinusSum(split - lo, s, lo, split) / nu;
  }
  if (s < b) {
    // above: ∫_s^b (F − g) = (split·nv − k·nu)/(nu·nv) · (b − s) + (1/nu) Σ_{split ≤ t < hi} (b − u[t])
    result += ((split * nv - kn) / (nu * nv)) * (b - s) + reference.countTimesMinusSum(hi - split, b, split, hi) / nu;
  }
  return result;
}

/** The first index j ≥ from with sorted[j] ≥ x (or the length), galloping from `from`. */
function lowerBoundFrom(sorted: Float64Array, from: number, x: number): number {
  const n = sorted.length;
  if (from >= n || sorted[from]! >= x) return from;
  let lo = from; // sorted[lo] < x
  let step = 1;
  let hi = from + 1;
  while (hi < n && sorted[hi]! < x) {
    lo = hi;
    step *= 2;
    hi = lo + step;
  }
  if (hi > n) hi = n;
  while (hi - lo > 1) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid]! < x) lo = mid;
    else hi = mid;
  }
  return hi;
}

/**
 * upperBoundFrom(sorted, from, x) for x ≥ sorted[from − 1]: a few single steps first (a run of one, the usual case of a
 * continuous column, costs one comparison and no search), then galloping (a long run of one value, a column of few
 * distinct values).
 */
function stepPast(sorted: Float64Array, from: number, x: number): number {
  const n = sorted.length;
  const stop = Math.min(n, from + 4);
  let k = from;
  while (k < stop && sorted[k]! <= x) k++;
  return k < stop || k >= n ? k : upperBoundFrom(sorted, k, x);
}

/** Population standard deviation (ddof = 0) of an ascending sample, two-pass for accuracy; each run of equal values counted at once. */
export function populationStd(values: Float64Array | Int32Array, power = 1): number {
  const n = values.length;
  // ascending integers stand for values[i] / power, the doubles a plain sample holds (a −0 as 0: no sum or square
  // here tells them apart), run for run the same, so the same result to the bit without laying them out
  const ints = values instanceof Int32Array ? values : undefined;
  const doubles = values instanceof Float64Array ? values : undefined;
  const end = (i: number): number => {
    if (doubles) return runEnd(doubles, i);
    let j = i + 1;
    while (j < n && ints![j] === ints![i]) j++;
    return j;
  };
  let sum = 0;
  for (let i = 0; i < n; ) {
    const j = end(i);
    sum += (values[i]! / power) * (j - i);
    i = j;
  }
  const mean = sum / n;
  let squares = 0;
  let compensation = 0;
  for (let i = 0; i < n; ) {
    const j = end(i);
    const d = values[i]! / power - mean;
    squares += d * d * (j - i);
    compensation += d * (j - i);
    i = j;
  }
  return Math.sqrt((squares - (compensation * compensation) / n) / n);
}

/** Proportions of each count in its total; an all-zero vector stays zero. */
export function proportions(counts: readonly number[]): number[] {
  const total = counts.reduce((a, b) => a + b, 0);
  return counts.map((c) => (total > 0 ? c / total : 0));
}

/**
 * Population stability index Σ (c − r) · ln(c / r) over bins, where a zero proportion on either side is
 * replaced by PSI_EMPTY_BIN_PROPORTION first (so an empty bin adds a large but finite term).
 */
export function populationStabilityIndex(referenceCounts: readonly number[], currentCounts: readonly number[]): number {
  const r = proportions(referenceCounts);
  const c = proportions(currentCounts);
  let psi = 0;
  for (let i = 0; i < r.length; i++) {
    const ri = r[i] === 0 ? PSI_EMPTY_BIN_PROPORTION : r[i]!;
    const ci = c[i] === 0 ? PSI_EMPTY_BIN_PROPORTION : c[i]!;
    psi += (ci - ri) * Math.log(ci / ri);
  }
  return psi;
}

/**
 * Jensen–Shannon distance in natural log, scipy's default base (scipy.spatial.distance.jensenshannon(p, q)),
 * because Evidently's `jensenshannon` test and its 0.1 threshold use that scale (docs/decisions/drift-js-base.md):
 * the square root of the mean Kullback–Leibler divergence of p and q from their mixture; 0 = same,
 * √ln 2 ≈ 0.8326 = disjoint. Empty bins need no smoothing.
 */
export function jensenShannonDistance(referenceCounts: readonly number[], currentCounts: readonly number[]): number {
  const p = proportions(referenceCounts);
  const q = proportions(currentCounts);
  let divergence = 0;
  for (let i = 0; i < p.length; i++) {
    const m = (p[i]! + q[i]!) / 2;
    if (p[i]! > 0) divergence += p[i]! * Math.log(p[i]! / m);
    if (q[i]! > 0) divergence += q[i]! * Math.log(q[i]! / m);
  }
  return Math.sqrt(Math.max(0, divergence / 2));
}

/**
 * Pearson's chi-square test of independence on the 2 × k table [reference counts; current counts]
 * (scipy.stats.chi2_contingency(table, correction=False)): categories absent from both sides must
 * not be passed. Returns the statistic and degrees of freedom k − 1.
 */
export function chiSquareContingency(referenceCounts: readonly number[], currentCounts: readonly number[]): { statistic: number; dof: number } {
  const k = referenceCounts.length;
  const nRef = referenceCounts.reduce((a, b) => a + b, 0);
  const nCur = currentCounts.reduce((a, b) => a + b, 0);
  const total = nRef + nCur;
  let statistic = 0;
  for (let i = 0; i < k; i++) {
    const column = referenceCounts[i]! + currentCounts[i]!;
    const expectedRef = (nRef * column) / total;
    const expectedCur = (nCur * column) / total;
    statistic += (referenceCounts[i]! - expectedRef) ** 2 / expectedRef + (currentCounts[i]! - expectedCur) ** 2 / expectedCur;
  }
  return { statistic, dof: k - 1 };
}
