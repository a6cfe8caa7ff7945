import assert from 'node:assert/strict';
import { sortNumbers, sortNumbersCarrying } from '../../src/core/drift/sortNumbers';
import { IdIndex, type IdKey } from '../../src/core/monitoring/labels';
import { aucInfluence } from '../../src/core/monitoring/statistics';
import { seededRandom } from '../../src/core/sampling/seededRandom';

/**
 * The radix sort the drift collector and ROC AUC's influence values use must give exactly the order of the native
 * Float64Array sort (the monitoring reports are byte for byte the same as with it), above the size where it takes
 * over (16k values); and aucInfluence on a window that large must equal DeLong's components computed here by a
 * search of the sorted scores of the other class.
 */

const N = 50_000;

/** Values with every case the bit trick has to order: ±0, ±Infinity, subnormals, huge, negative, many ties. */
function awkward(n: number, seed: number): Float64Array {
  const random = seededRandom(seed);
  const special = [0, -0, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, 5e-324, -5e-324, Number.MAX_VALUE, -Number.MAX_VALUE, 1, -1];
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const r = random();
    if (r < 0.05) out[i] = special[Math.floor(random() * special.length)]!;
    else if (r < 0.4)
      out[i] = Math.round((random() - 0.5) * 200) / 100; // ties
    else out[i] = (random() - 0.5) * 10 ** Math.floor(random() * 40 - 20);
  }
  return out;
}

function assertSameOrder(actual: Float64Array, expected: Float64Array): void {
  assert.equal(actual.length, expected.length);
  for (let i = 0; i < expected.length; i++)
    if (!Object.is(actual[i], expected[i])) assert.fail(`position ${i}: ${actual[i]} where the native sort has ${expected[i]}`);
}

describe('monitoring: the radix sort of numbers', () => {
  it('gives exactly the native sort order (±0, ±Infinity, subnormals, ties), above and below the radix size', () => {
    for (const [n, seed] of [
      [N, 1],
      [100_003, 2],
      [1000, 3],
    ] as const) {
      const values = awkward(n, seed);
      const expected = values.slice().sort();
      assertSameOrder(sortNumbers(values), expected);
    }
    // a subarray (a collector's numbers) sorts in place within its buffer, the rest untouched
    const buffer = awkward(N + 10, 4);
    const head = buffer.slice(0, 5);
    const tail = buffer.slice(N + 5);
    const part = buffer.subarray(5, N + 5);
    const expected = part.slice().sort();
    sortNumbers(part);
    assertSameOrder(part, expected);
    assertSameOrder(buffer.subarray(0, 5), head);
    assertSameOrder(buffer.subarray(N + 5), tail);
    // NaN (either sign bit) goes last, as the native sort puts it
    const withNaN = awkward(N, 5);
    withNaN[17] = Number.NaN;
    new DataView(withNaN.buffer).setFloat64(8 * 99, Number.NaN, true);
    new Uint8Array(withNaN.buffer)[8 * 99 + 7]! |= 0x80; // a NaN with its sign bit set
    const nanExpected = withNaN.slice().sort();
    assertSameOrder(sortNumbers(withNaN), nanExpected);
    assert.ok(Number.isNaN(withNaN[N - 1]!) && Number.isNaN(withNaN[N - 2]!));
  });

  it('carries an index with each value, stably; refuses (moving nothing) when it cannot radix-sort', () => {
    const original = awkward(N, 6);
    const values = original.slice();
    const index = Uint32Array.from({ length: N }, (_, i) => i);
    assert.equal(sortNumbersCarrying(values, index), true);
    assertSameOrder(values, original.slice().sort());
    for (let i = 0; i < N; i++) {
      assert.ok(Object.is(values[i], original[index[i]!]), `position ${i} carries index ${index[i]}`);
      if (i > 0 && Object.is(values[i], values[i - 1])) assert.ok(index[i]! > index[i - 1]!, `ties keep their order at ${i}`);
    }
    assert.equal(new Set(index).size, N);
    const small = awkward(100, 7);
    const smallIndex = Uint32Array.from({ length: 100 }, (_, i) => i);
    const before = small.slice();
    assert.equal(sortNumbersCarrying(small, smallIndex), false);
    assertSameOrder(small, before);
    const nan = awkward(N, 8);
    nan[3] = Number.NaN;
    assert.equal(
      sortNumbersCarrying(
        nan,
        Uint32Array.from({ length: N }, (_, i) => i),
      ),
      false,
    );
  });

  it('sorts sizes around its threshold, keys sharing digits (one value, scores in [0, 1], integers) and refuses a late NaN leaving every bit as it was', () => {
    const random = seededRandom(10);
    const cases: Float64Array[] = [];
    for (const n of [0, 1, 2, 16_383, 16_384, 16_385, 67_000]) cases.push(awkward(n, n + 11));
    cases.push(new Float64Array(20_000).fill(-0.25)); // every digit shared: nothing moves
    const nearlyShared = new Float64Array(20_000).fill(0.5); // two keys differ from the rest in their lowest digit only
    nearlyShared[19_000] = 0.49999999999999994;
    nearlyShared[7] = 0.5000000000000001;
    cases.push(nearlyShared);
    const mixedZeros = new Float64Array(20_000); // only the sign differs: −0 before +0 in their order
    for (let i = 0; i < mixedZeros.length; i++) mixedZeros[i] = random() < 0.5 ? -0 : 0;
    cases.push(mixedZeros);
    cases.push(Float64Array.from({ length: 70_000 }, () => random())); // probabilities: the high digits mostly shared
    cases.push(Float64Array.from({ length: 30_000 }, () => Math.round(random() * 1e6) / 1e6)); // six decimals, ties
    cases.push(Float64Array.from({ length: 40_000 }, () => Math.floor(random() * 50) - 25)); // few integers
    cases.push(Float64Array.from({ length: 25_000 }, () => (random() < 0.5 ? 1 : -1) * random() * 1e-310)); // subnormals
    for (const values of cases) {
      const expected = values.slice().sort();
      const index = Uint32Array.from({ length: values.length }, (_, i) => i);
      const original = values.slice();
      const carried = sortNumbersCarrying(values, index);
      if (!carried) values.sort(); // below the threshold: refused with nothing moved (checked above)
      assertSameOrder(values, expected);
      if (carried)
        for (let i = 0; i < values.length; i++) {
          assert.ok(Object.is(values[i], original[index[i]!]), `n ${values.length}: position ${i} carries index ${index[i]}`);
          if (i > 0 && Object.is(values[i], values[i - 1])) assert.ok(index[i]! > index[i - 1]!, `ties keep their order at ${i}`);
        }
      assertSameOrder(sortNumbers(original), expected); // the same again without carrying
    }
    // a NaN late in the array: refused, and the array comes back bit for bit
    const late = awkward(N, 12);
    late[N - 2] = Number.NaN;
    const bits = new Uint8Array(late.buffer).slice();
    assert.equal(
      sortNumbersCarrying(
        late,
        Uint32Array.from({ length: N }, (_, i) => i),
      ),
      false,
    );
    assert.deepEqual(new Uint8Array(late.buffer), bits);
  });

  it("ROC AUC's influence values on a 50k window equal DeLong's components found by a search of the other class", () => {
    const random = seededRandom(9);
    const n = 60_000;
    const scores = new Float64Array(n);
    const truth = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      truth[i] = random() < 0.3 ? 1 : 0;
      scores[i] = Math.round((random() + truth[i]! * 0.4) * 1000) / 1000; // ties within and across the classes
    }
    // the window: every row but the first 10,000 of the even ones (not 0..n-1 in order)
    const rows = Uint32Array.from(Array.from({ length: n }, (_, i) => i).filter((i) => i % 2 === 1 || i >= 20_000));
    assert.ok(rows.length > 16_384);
    const got = aucInfluence(scores, rows, (r) => truth[r] === 1);
    const pos = [...rows].filter((r) => truth[r] === 1).map((r) => scores[r]!);
    const neg = [...rows].filter((r) => truth[r] === 0).map((r) => scores[r]!);
    const sortedPos = pos.slice().sort((a, b) => a - b);
    const sortedNeg = neg.slice().sort((a, b) => a - b);
    /** How many of `sorted` are < x, and how many equal it. */
    const below = (sorted: number[], x: number): { less: number; equal: number } => {
      let lo = 0;
      let hi = sorted.length;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (sorted[mid]! < x) lo = mid + 1;
        else hi = mid;
      }
      let end = lo;
      while (end < sorted.length && sorted[end] === x) end++;
      return { less: lo, equal: end - lo };
    };
    let auc = 0;
    const m = pos.length;
    const k = neg.length;
    const expectedPsi: number[] = [];
    const v10 = (x: number): number => {
      const b = below(sortedNeg, x);
      return (b.less + b.equal / 2) / k;
    };
    const v01 = (x: number): number => {
      const b = below(sortedPos, x);
      return (m - b.less - b.equal / 2) / m;
    };
    for (const x of pos) auc += v10(x) / m;
    for (const r of rows) {
      const x = scores[r]!;
      expectedPsi.push(truth[r] === 1 ? (v10(x) - auc) * (rows.length / Math.sqrt(m * (m - 1))) : (v01(x) - auc) * (rows.length / Math.sqrt(k * (k - 1))));
    }
    assert.ok(Math.abs(got.value - auc) < 1e-12, `${got.value} vs ${auc}`);
    assert.equal(got.psi.length, rows.length);
    for (let i = 0; i < rows.length; i++) assert.ok(Math.abs(got.psi[i]! - expectedPsi[i]!) < 1e-9, `psi of position ${i}: ${got.psi[i]} vs ${expectedPsi[i]}`);
  });
});

describe('monitoring: the id index of the label join', () => {
  /** Every set and get of `ids` (in this order) against a Map of the same keys: same answers, same size. */
  function sameAsMap(ids: readonly IdKey[], probes: readonly IdKey[]): void {
    const index = new IdIndex();
    const map = new Map<IdKey, number>();
    ids.forEach((id, row) => {
      assert.equal(index.get(id), map.get(id), `get ${String(id)} before its set`);
      index.set(id, row);
      map.set(id, row);
    });
    assert.equal(index.size, map.size);
    for (const id of [...ids, ...probes]) assert.equal(index.get(id), map.get(id), `get ${String(id)}`);
  }

  it('answers as a Map does: sequence numbers (kept dense), then ids that break the sequence, text ids, −0, fractions', () => {
    const sequence = Array.from({ length: 200_000 }, (_, i) => 10_000_000 + i);
    // in order, with a repeat (a re-set keeps one entry)
    sameAsMap([...sequence, 10_000_005], [9_999_999, 10_200_000, 10_000_000.5, -1, 0, '10000001']);
    // shuffled: the same sequence arriving out of order
    const random = seededRandom(3);
    const shuffled = sequence.slice();
    for (let i = shuffled.length - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1));
      [shuffled[i], shuffled[j]] = [shuffled[j]!, shuffled[i]!];
    }
    sameAsMap(shuffled, [9_999_999, 10_200_000]);
    // a dense start, then an id below the first, a fraction, a far one, text: every id moves into the table
    sameAsMap([...sequence.slice(0, 50_000), 5, 10_000_000.25, 1e15, 'a7', -0, 0, 2 ** 60, ...sequence.slice(50_000, 60_000)], [10_060_000, 'a8', 4]);
    // sparse from the start (every 1000th): too many slots an id, the table takes over
    sameAsMap(
      Array.from({ length: 100_000 }, (_, i) => i * 1000),
      [1, 999_000, 100_000_000],
    );
    // −0 first: 0 is the same id
    const index = new IdIndex();
    index.set(-0, 4);
    assert.equal(index.get(0), 4);
    index.set(1, 5);
    assert.equal(index.size, 2);
  });
});
