// The drift worker's whole job in `mloop monitor --once` (issue 17), in this thread and timed by its CPU: the reference
// read into samples (readReferenceSide), the fed batches collected per window (DriftFeed's own engine, as the worker
// runs it), then the comparison (every column's whole and window samples made, sorted, compared). The predictions are
// read before the clock starts, as the reading thread hands them over. Prints each phase's thread CPU per repeat and a
// digest of the comparison (every statistic to the bit): two builds that compute the same print the same digest.
// A/B: build this file from two source trees and run them alternately; DRIFT_BENCH_OUT=<file> writes the comparison.
// usage: node out/bench/monitoring/driftWorkerBench.js <project with mloop.yaml's layout> [repeats=3]
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readTypedBatches } from '../../src/core/datasets/readers';
import type { TypedColumn } from '../../src/core/datasets/typedCsv';
import { DriftFeed, readReferenceSide, type Comparison } from '../../src/core/drift/fedSide';
import { readSchema } from '../../src/core/datasets/readers';

const COLUMNS = [...Array.from({ length: 16 }, (_, i) => `x${i}`), 'channel', 'plan', 'age', 'tenure'];

async function main(): Promise<void> {
  const [project = '/tmp/mloop-bench-all/monitor1000000', repeatsText = '3'] = process.argv.slice(2);
  const predictions = join(project, 'logs/predictions.csv');
  const referencePath = join(project, 'reference.csv');
  const schema = await readSchema(predictions);
  const batches: { columns: TypedColumn[]; rows: number; first: number }[] = [];
  const names: string[] = [];
  const index = new Map<string, number>();
  let codes = new Int32Array(1 << 20);
  let rows = 0;
  for await (const batch of readTypedBatches(predictions, { columns: [...COLUMNS, 'time'], prefixes: { time: 10 }, decimals: COLUMNS })) {
    const time = batch.columns.time as Extract<TypedColumn, { kind: 'prefixes' }>;
    const monthOf = time.dictionary.map((day) => {
      const month = `${day.slice(0, 7)}-01`;
      let code = index.get(month);
      if (code === undefined) index.set(month, (code = names.push(month) - 1));
      return code;
    });
    if (rows + batch.rows > codes.length) {
      const grown = new Int32Array(codes.length * 2);
      grown.set(codes);
      codes = grown;
    }
    for (let i = 0; i < batch.rows; i++) codes[rows + i] = time.codes[i]! < 0 ? -1 : monthOf[time.codes[i]!]!;
    batches.push({ columns: COLUMNS.map((c) => batch.columns[c]!), rows: batch.rows, first: rows });
    rows += batch.rows;
  }
  const cpu = (): number => {
    const t = process.threadCpuUsage();
    return (t.user + t.system) / 1000;
  };
  for (let r = 0; r < Number(repeatsText); r++) {
    const t0 = cpu();
    const reference = await readReferenceSide(referencePath, { columns: COLUMNS });
    const t1 = cpu();
    const feed = new DriftFeed(COLUMNS, true, false);
    for (const b of batches) feed.push(b.columns, b.rows, { codes, names }, b.first);
    const t2 = cpu();
    const compared = feed.compare({ kind: 'side', side: reference }, { referencePath, currentName: predictions, excluded: ['time', 'predicted'] });
    feed.end(schema, []);
    const comparison = (await compared) as Comparison;
    const t3 = cpu();
    const json = JSON.stringify(comparison);
    const digest = createHash('sha256').update(json).digest('hex').slice(0, 16);
    if (process.env.DRIFT_BENCH_OUT) writeFileSync(process.env.DRIFT_BENCH_OUT, json);
    console.log(
      `repeat ${r + 1}: reference ${(t1 - t0).toFixed(0)} ms, collect ${(t2 - t1).toFixed(0)} ms, compare ${(t3 - t2).toFixed(0)} ms, ` +
        `total ${(t3 - t0).toFixed(0)} ms CPU · digest ${digest}`,
    );
  }
}

void main();
