import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { compareProfiles, formatComparison } from '../../src/core/datasets/compare';
import { profileDataset } from '../../src/core/datasets/profile';
import { WEATHER } from './datasetFixtures';
import { tempDir } from './fixtures';

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
      const windy = rows.filter((r) => r >= '2014').map((r) => {
        const f = r.split(',');
        f[4] = String(Number(f[4]) + 1.5);
        return f.join(',');
      });
      writeFileSync(newer, [header, ...windy].join('\n'));
      const comparison = compareProfiles(await profileDataset(older), await profileDataset(newer));
      const r = spawnSync('python3', ['-c', REFERENCE, older, newer], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      const exact = JSON.parse(r.stdout) as Record<string, number>;

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
});
