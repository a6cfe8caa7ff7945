import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { compareProfiles, formatComparison } from '../../src/core/datasets/compare';
import { profileDataset } from '../../src/core/datasets/profile';
import { WEATHER } from './datasetFixtures';
import { tempDir } from './fixtures';
import { pythonJsonSync } from '../support/python';

/** scipy's exact two-sample KS and pandas' total variation on the same two files. */
const REFERENCE = `
import json, sys, pandas as pd
from scipy.stats import ks_2samp
a, b = pd.read_csv(sys.argv[1]), pd.read_csv(sys.argv[2])
out = {}
for c in ["precipitation", "temp_max", "temp_min", "wind"]:
    out[c] = float(ks_2samp(a[c].dropna(), b[c].dropna()).statistic)
pa, pb = a["weather"].value_counts(normalize=True), b["weather"].value_counts(normalize=True)
out["weather"] = float(pa.sub(pb, fill_value=0).abs().sum() / 2)
print(json.dumps(out))
`;

describe('datasets: comparing two versions from their stored profiles', function () {
  this.timeout(60_000);

  it('KS from the stored percentiles is within 0.02 of scipy on the same data; categories give pandas’ total variation exactly', async () => {
    const { dir, cleanup } = tempDir();
    try {
      // two "versions": 2012–2013 and 2014–2015 of the Seattle weather, the second with every wind value +1.5
      const [header, ...rows] = readFileSync(WEATHER, 'utf8').trim().split('\n');
      const older = join(dir, 'older.csv');
      const newer = join(dir, 'newer.csv');
      writeFileSync(older, [header, ...rows.filter((r) => r < '2014')].join('\n'));
      const windy = rows
        .filter((r) => r >= '2014')
        .map((r) => {
          const f = r.split(',');
          f[4] = String(Number(f[4]) + 1.5);
          return f.join(',');
        });
      writeFileSync(newer, [header, ...windy].join('\n'));
      const comparison = compareProfiles(await profileDataset(older), await profileDataset(newer));
      const exact = pythonJsonSync<Record<string, number>>({ args: ['-c', REFERENCE, older, newer] });

      assert.deepEqual(comparison.rows, { before: 731, after: 730 });
      assert.deepEqual(comparison.schemaChanges, []);
      for (const [column, expected] of Object.entries(exact)) {
        const shift = comparison.columns.find((c) => c.column === column);
        assert.ok(shift && shift.shift !== null, column);
        if (column === 'weather') {
          assert.equal(shift.measure, 'tvd');
          assert.ok(Math.abs(shift.shift! - expected) < 1e-12, `weather TVD ${shift.shift} vs pandas ${expected}`);
        } else {
          assert.equal(shift.measure, 'ks');
          assert.ok(Math.abs(shift.shift! - expected) < 0.02, `${column} KS ${shift.shift} vs scipy ${expected}`);
        }
      }
      assert.equal(comparison.columns[0]!.column, 'wind', 'the shifted column comes first');
      assert.ok(comparison.columns[0]!.shift! > 0.3);
      assert.match(formatComparison('t', comparison), /\| wind \| number \| 0\.\d{3} \| KS \(from percentiles\) \| 0\.0% → 0\.0% \| 3\.\d+ → 4\.\d+ \|/);
    } finally {
      cleanup();
    }
  });

  it('names added, removed and retyped columns', async () => {
    const { dir, cleanup } = tempDir();
    try {
      writeFileSync(join(dir, 'a.csv'), 'id,score,label\n1,0.5,x\n2,0.7,y\n');
      writeFileSync(join(dir, 'b.csv'), 'id,score,extra\n1,high,3\n2,low,4\n');
      const c = compareProfiles(await profileDataset(join(dir, 'a.csv')), await profileDataset(join(dir, 'b.csv')));
      assert.deepEqual(c.schemaChanges, ['column "score" changed type number → string', 'column "label" (string) removed', 'column "extra" (number) added']);
      assert.equal(c.columns.find((x) => x.column === 'score')?.measure, 'none');
      assert.equal(c.columns.find((x) => x.column === 'id')?.shift, 0);
    } finally {
      cleanup();
    }
  });

  it('a datetime column reports its time range moving (seattle-weather by year), checked against pandas', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const [header, ...rows] = readFileSync(WEATHER, 'utf8').trim().split('\n');
      const write = (name: string, keep: (r: string) => boolean): string => {
        const file = join(dir, name);
        writeFileSync(file, [header, ...rows.filter(keep)].join('\n'));
        return file;
      };
      const y2012 = write('2012.csv', (r) => r.startsWith('2012'));
      const y2013 = write('2013.csv', (r) => r.startsWith('2013'));
      const y2012to13 = write('2012-13.csv', (r) => r < '2014');
      const y2013to15 = write('2013-15.csv', (r) => r >= '2013');
      // independent: pandas' min/max of the parsed dates, the moves in days and the overlap of the ranges
      const script = `
import json, sys, pandas as pd
def rng(p):
    d = pd.to_datetime(pd.read_csv(p)["date"])
    return d.min(), d.max()
out = []
for a, b in zip(sys.argv[1::2], sys.argv[2::2]):
    (b0, b1), (a0, a1) = rng(a), rng(b)
    inside = max(pd.Timedelta(0), min(a1, b1) - max(a0, b0))
    union = max(a1, b1) - min(a0, b0)
    out.append({"startDays": (a0 - b0).days, "endDays": (a1 - b1).days, "inside": inside / (a1 - a0), "shift": 1 - inside / union, "min": str(a0.date()), "max": str(a1.date())})
print(json.dumps(out))
`;
      const pairs: [string, string][] = [
        [y2012, y2013],
        [y2012, y2012to13],
        [y2012to13, y2013to15],
        [y2013, y2013],
      ];
      const expected = pythonJsonSync<{ startDays: number; endDays: number; inside: number; shift: number; min: string; max: string }[]>({
        args: ['-c', script, ...pairs.flat()],
      });
      const profiles = new Map<string, Awaited<ReturnType<typeof profileDataset>>>();
      for (const f of [y2012, y2013, y2012to13, y2013to15]) profiles.set(f, await profileDataset(f));
      for (const [i, [before, after]] of pairs.entries()) {
        const c = compareProfiles(profiles.get(before)!, profiles.get(after)!);
        const date = c.columns.find((x) => x.column === 'date');
        const want = expected[i]!;
        assert.equal(date?.measure, 'range', `pair ${i}: the date column is compared, not skipped`);
        assert.ok(date.range);
        assert.deepEqual(date.range.after, { min: want.min, max: want.max });
        assert.equal(date.range.startDays, want.startDays, `pair ${i} start`);
        assert.equal(date.range.endDays, want.endDays, `pair ${i} end`);
        assert.ok(Math.abs(date.range.afterInsideBefore - want.inside) < 1e-12, `pair ${i} inside ${date.range.afterInsideBefore} vs ${want.inside}`);
        assert.ok(Math.abs(date.shift! - want.shift) < 1e-12, `pair ${i} shift ${date.shift} vs ${want.shift}`);
        assert.equal(c.columns.at(-1)!.column, 'date', 'a moved time range is listed after the distribution shifts');
      }
      const disjoint = compareProfiles(profiles.get(y2012)!, profiles.get(y2013)!);
      assert.equal(disjoint.columns.find((x) => x.column === 'date')!.shift, 1, 'one year after the other: disjoint ranges');
      assert.equal(compareProfiles(profiles.get(y2013)!, profiles.get(y2013)!).columns.find((x) => x.column === 'date')!.shift, 0);
      const text = formatComparison('2012 → 2013', disjoint);
      assert.match(text, /\| date \| datetime \| 1\.000 \| time range \(1 − overlap\/union\) \|/);
      assert.match(
        text,
        /## Time ranges[\s\S]*\| date \| 2012-01-01 → 2012-12-31 \| 2013-01-01 → 2013-12-31 \| \+366 d \| \+365 d \| 365 d → 364 d \| 0\.0% \|/,
      );
    } finally {
      cleanup();
    }
  });
});
