// The drift thread's collecting of fed numbers: addNumbers over a run of rows of doubles (as before session 25) vs
// addDecimals over the same rows read as exact decimals (the typed reader's 'decimals' columns), on the numeric columns
// of a predictions log, interleaved; thread CPU per pass, and the finished samples compared bit for bit.
// usage: node out/bench/monitoring/collectBench.js <predictions.csv> [repeats=5] [rows=1000000]
import { readSchema, readTypedBatches } from '../../src/core/datasets/readers';
import { ColumnCollector } from '../../src/core/drift/columnSample';
import type { TypedColumn } from '../../src/core/datasets/typedCsv';

const WINDOW_ROWS = 83_334; // a monthly window of the 1M fixture

async function main(): Promise<void> {
  const [file, repeatsText = '5', rowsText = '1000000'] = process.argv.slice(2);
  const schema = await readSchema(file!);
  const numeric = schema.columns.filter((c) => c.type === 'number' && !['id', 'predicted', 'proba_0', 'proba_1'].includes(c.name)).map((c) => c.name);
  const read = async (decimals: boolean): Promise<{ rows: number; columns: Map<string, TypedColumn[]> }> => {
    const columns = new Map<string, TypedColumn[]>(numeric.map((n) => [n, []]));
    let rows = 0;
    for await (const batch of readTypedBatches(file!, { columns: numeric, maxRows: Number(rowsText), ...(decimals ? { decimals: numeric } : {}) })) {
      for (const name of numeric) columns.get(name)!.push(batch.columns[name]!);
      rows += batch.rows;
    }
    return { rows, columns };
  };
  const plain = await read(false);
  const exact = await read(true);
  const rows = plain.rows;
  const kinds = [...exact.columns.values()].flat().reduce((n, c) => n + (c.kind === 'decimals' ? 1 : 0), 0);
  console.log(`${kinds} of ${[...exact.columns.values()].flat().length} batch columns read as decimals`);
  const collect = (asDecimals: boolean): { ms: number; samples: Float64Array[] } => {
    const columns = (asDecimals ? exact : plain).columns;
    const t0 = process.threadCpuUsage();
    const samples: Float64Array[] = [];
    for (const batches of columns.values()) {
      const parts: ColumnCollector[] = [];
      let row = 0;
      for (const column of batches) {
        const values = column.kind === 'numbers' || column.kind === 'decimals' ? column.values : new Float64Array(0);
        // rows in windows of WINDOW_ROWS, in runs, as a time-ordered log feeds them
        for (let i = 0; i < values.length; ) {
          const k = Math.floor(row / WINDOW_ROWS);
          const end = Math.min(values.length, i + (WINDOW_ROWS - (row % WINDOW_ROWS)));
          const target = (parts[k] ??= new ColumnCollector());
          target.reserve(end - i);
          if (column.kind === 'decimals') target.addDecimals(column.values, column.scale, i, end);
          else if (column.kind === 'numbers') target.addNumbers(column.values, i, end);
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
  const times = { numbers: [] as number[], decimals: [] as number[] };
  for (let r = 0; r < Number(repeatsText); r++) {
    const a = collect(false);
    const b = collect(true);
    const same =
      a.samples.length === b.samples.length &&
      a.samples.every((s, k) =>
        Buffer.from(s.buffer, s.byteOffset, s.byteLength).equals(Buffer.from(b.samples[k]!.buffer, b.samples[k]!.byteOffset, b.samples[k]!.byteLength)),
      );
    if (!same) throw new Error('addDecimals gave other samples than addNumbers');
    times.numbers.push(a.ms);
    times.decimals.push(b.ms);
    console.log(
      `repeat ${r + 1}: addNumbers ${a.ms.toFixed(0)} ms, addDecimals ${b.ms.toFixed(0)} ms CPU (collect + finish, ${numeric.length} columns × ${rows} rows; samples identical)`,
    );
  }
  const median = (xs: number[]): number => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;
  console.log(`median: addNumbers ${median(times.numbers).toFixed(0)} ms, addDecimals ${median(times.decimals).toFixed(0)} ms`);
}
void main();
