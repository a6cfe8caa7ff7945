import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { ColumnCollector, type ColumnSample } from '../../src/core/drift/columnSample';
import { computeDriftReport, type ColumnDrift } from '../../src/core/drift/report';

// `auto` follows Evidently's defaults, so its Jensen–Shannon verdicts must be Evidently's on data that sits
// on both sides of the 0.1 threshold, including (0.1·√ln 2, 0.1) where a base-2 distance would call drift
// and Evidently would not (docs/decisions/drift-js-base.md).

const ROOT = resolve(__dirname, '../../..');
const PYTHON = process.env.MLOOP_TEST_PYTHON ?? 'python3';
const THRESHOLD = 0.1;
const BASE_2_THRESHOLD_ON_BASE_E = THRESHOLD * Math.sqrt(Math.LN2);

/** One column per shift k: categories a/b/c at 1000/700/300 in the reference; k rows move from a to c. */
function nearThresholdColumns(): { reference: Record<string, unknown[]>; current: Record<string, unknown[]> } {
  const reference: Record<string, unknown[]> = {};
  const current: Record<string, unknown[]> = {};
  const repeat = <T>(value: T, n: number): T[] => Array.from({ length: n }, () => value);
  for (let k = 160; k <= 264; k += 8) {
    reference[`text${k}`] = [...repeat('a', 1000), ...repeat('b', 700), ...repeat('c', 300)];
    current[`text${k}`] = [...repeat('a', 1000 - k), ...repeat('b', 700), ...repeat('c', 300 + k)];
    // numbers with ≤ 5 distinct values count as categories on both sides
    reference[`code${k + 2}`] = [...repeat(0, 1000), ...repeat(1, 700), ...repeat(2, 300)];
    current[`code${k + 2}`] = [...repeat(0, 1000 - k - 2), ...repeat(1, 700), ...repeat(2, 300 + k + 2)];
  }
  return { reference, current };
}

function mloopAuto(reference: Record<string, unknown[]>, current: Record<string, unknown[]>): Map<string, ColumnDrift> {
  const sample = (values: readonly unknown[]): ColumnSample => {
    const c = new ColumnCollector();
    for (const v of values) c.add(v);
    return c.finish();
  };
  const samples = (t: Record<string, unknown[]>) => new Map(Object.entries(t).map(([k, v]) => [k, sample(v)]));
  const report = computeDriftReport({ reference: samples(reference), current: samples(current), referenceRows: 2000, currentRows: 2000 });
  return new Map(report.columns.map((c) => [c.column, c]));
}

/** A python that can import evidently: MLOOP_TEST_EVIDENTLY_PYTHON (must work when set), else the checkout's .venv. */
function evidentlyPython(): string | undefined {
  const chosen = process.env.MLOOP_TEST_EVIDENTLY_PYTHON;
  const candidate = chosen ?? resolve(ROOT, '.venv/bin/python');
  if (!chosen && !existsSync(candidate)) return undefined;
  const probe = spawnSync(candidate, ['-c', 'import evidently'], { encoding: 'utf8' });
  if (probe.status === 0) return candidate;
  assert.ok(!chosen, `MLOOP_TEST_EVIDENTLY_PYTHON=${chosen} cannot import evidently: ${probe.stderr}`);
  return undefined;
}

describe('drift: Jensen–Shannon verdicts equal Evidently’s near the 0.1 threshold', function () {
  this.timeout(600_000);
  const { reference, current } = nearThresholdColumns();
  const mloop = mloopAuto(reference, current);

  it('auto picks Jensen–Shannon for categories above 1,000 rows, and its value is scipy’s jensenshannon (base e) with the same bins', () => {
    const names = Object.keys(reference);
    const cases = names.map((name) => {
      const counts = (values: readonly unknown[]): Record<string, number> => {
        const out: Record<string, number> = {};
        for (const v of values) out[String(v)] = (out[String(v)] ?? 0) + 1;
        return out;
      };
      return { kind: 'categorical', reference: counts(reference[name]!), current: counts(current[name]!) };
    });
    const r = spawnSync(PYTHON, [resolve(ROOT, 'test/drift/scipy_peer.py')], { input: JSON.stringify({ cases }), encoding: 'utf8' });
    assert.equal(r.status, 0, `scipy peer failed: ${r.stderr}`);
    const results = (JSON.parse(r.stdout) as { results: { js: number }[] }).results;
    let between = 0;
    let above = 0;
    names.forEach((name, i) => {
      const column = mloop.get(name)!;
      const expected = results[i]!.js;
      assert.equal(column.method, 'jensenshannon', name);
      assert.ok(Math.abs(column.statistic! - expected) <= 1e-12, `${name}: mloop ${column.statistic} vs scipy ${expected}`);
      assert.equal(column.drifted, expected >= THRESHOLD, `${name}: verdict at ${expected}`);
      if (expected > BASE_2_THRESHOLD_ON_BASE_E && expected < THRESHOLD) between++;
      if (expected >= THRESHOLD && expected < 0.13) above++;
    });
    // the data must test the threshold from both sides, including where base 2 would differ
    assert.ok(between >= 6 && above >= 6, `near-threshold columns: ${between} in (0.0833, 0.1), ${above} in [0.1, 0.13)`);
  });

  it('every column’s method, value and verdict are Evidently’s own (DataDriftPreset defaults)', function () {
    const python = evidentlyPython();
    // evidently (with pandas < 3) is not a CI dependency; the scipy test above pins the same formula there
    if (!python) this.skip();
    const r = spawnSync(python!, [resolve(ROOT, 'test/drift/evidently_peer.py')], {
      input: JSON.stringify({ reference, current }),
      encoding: 'utf8',
      maxBuffer: 1 << 26,
    });
    assert.equal(r.status, 0, `evidently peer failed: ${r.stderr}`);
    const evidently = (JSON.parse(r.stdout) as { columns: Record<string, { method: string; value: number; threshold: number; drifted: boolean }> }).columns;
    let between = 0;
    for (const name of Object.keys(reference)) {
      const e = evidently[name];
      const m = mloop.get(name)!;
      assert.ok(e, `Evidently scored ${name}`);
      assert.equal(e.method, 'Jensen-Shannon distance', `${name}: Evidently's method`);
      assert.equal(m.method, 'jensenshannon', `${name}: mloop's method`);
      assert.equal(m.threshold, e.threshold, `${name}: threshold`);
      assert.ok(Math.abs(m.statistic! - e.value) <= 1e-12, `${name}: mloop ${m.statistic} vs Evidently ${e.value}`);
      assert.equal(m.drifted, e.drifted, `${name}: mloop drifted=${m.drifted}, Evidently drifted=${e.drifted} at ${e.value}`);
      if (e.value > BASE_2_THRESHOLD_ON_BASE_E && e.value < THRESHOLD) between++;
    }
    assert.ok(between >= 6, `${between} columns between the base-2 and base-e thresholds`);
    assert.ok(Object.values(evidently).some((e) => e.drifted) && Object.values(evidently).some((e) => !e.drifted), 'both verdicts occur');
  });
});
