// The drift thread's collecting of fed numbers: addNumber per value (as before) vs addNumbers over a run of rows, on
// the numeric columns of a predictions log, interleaved; thread CPU per pass, and the finished samples compared bit
// for bit. usage: node out/bench/monitoring/collectBench.js <predictions.csv> [repeats=5] [rows=1000000]
import { readSchema, readTypedBatches } from '../../src/core/datasets/readers';
import { ColumnCollector } from '../../src/core/drift/columnSample';

const WINDOW_ROWS = 83_334; // a monthly window of the 1M fixture

async function main(): Promise<void> {
  const [file, repeatsText = '5', rowsText = '1000000'] = process.argv.slice(2);
  const schema = await readSchema(file!);
  const numeric = schema.columns.filter((c) => c.type === 'number' && !['id', 'predicted', 'proba_0', 'proba_1'].includes(c.name)).map((c) => c.name);
  const columns = new Map<string, Float64Array[]>(numeric.map((n) => [n, []]));
  let rows = 0;
  for await (const batch of readTypedBatches(file!, { columns: numeric, maxRows: Number(rowsText) })) {
    for (const name of numeric) {
      const c = batch.columns[name]!;
      if (c.kind === 'numbers') columns.get(name)!.push(c.values);
    }
    rows += batch.rows;
  }
  const collect = (perValue: boolean): { ms: number; samples: Float64Array[] } => {
    const t0 = process.threadCpuUsage();
    const samples: Float64Array[] = [];
    for (const batches of columns.values()) {
      const parts: ColumnCollector[] = [];
      let row = 0;
      for (const values of batches) {
        // rows in windows of WINDOW_ROWS, in runs, as a time-ordered log feeds them
        for (let i = 0; i < values.length; ) {
          const k = Math.floor(row / WINDOW_ROWS);
          const end = Math.min(values.length, i + (WINDOW_ROWS - (row % WINDOW_ROWS)));
          const target = (parts[k] ??= new ColumnCollector());
          target.reserve(end - i);
          if (perValue) for (let j = i; j < end; j++) target.addNumber(values[j]!);
          else target.addNumbers(values, i, end);
          row += end - i;
          i = end;
        }
      }
      for (const part of parts) {
        const s = part.finish();
        if (s.kind === 'numeric') samples.push(s.sorted);
      }
    }
    const u = process.threadCpuUsage(t0);
    return { ms: (u.user + u.system) / 1e3, samples };
  };
  const times = { perValue: [] as number[], runs: [] as number[] };
  for (let r = 0; r < Number(repeatsText); r++) {
    const a = collect(true);
    const b = collect(false);
    const same =
      a.samples.length === b.samples.length &&
      a.samples.every((s, k) =>
        Buffer.from(s.buffer, s.byteOffset, s.byteLength).equals(Buffer.from(b.samples[k]!.buffer, b.samples[k]!.byteOffset, b.samples[k]!.byteLength)),
      );
    if (!same) throw new Error('addNumbers gave other samples than addNumber');
    times.perValue.push(a.ms);
    times.runs.push(b.ms);
    console.log(
      `repeat ${r + 1}: addNumber ${a.ms.toFixed(0)} ms, addNumbers ${b.ms.toFixed(0)} ms CPU (collect + finish, ${numeric.length} columns × ${rows} rows; samples identical)`,
    );
  }
  const median = (xs: number[]): number => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;
  console.log(`median: addNumber ${median(times.perValue).toFixed(0)} ms, addNumbers ${median(times.runs).toFixed(0)} ms`);
}
void main();
