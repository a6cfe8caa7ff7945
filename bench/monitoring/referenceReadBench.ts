// The fed drift check's reference read: collectSide (cells) vs readReferenceSide (typed reader + fed collector), on
// the same file and columns, interleaved; thread CPU per read, and the two sides compared (samples and their order).
// usage: node out/bench/monitoring/referenceReadBench.js <project made by make_data.py> [repeats=5]
import { isDeepStrictEqual } from 'node:util';
import { join } from 'node:path';
import { collectSide } from '../../src/core/drift/collect';
import { readReferenceSide } from '../../src/core/drift/fedSide';

async function main(): Promise<void> {
  const [project = '.', repeatsText = '5'] = process.argv.slice(2);
  const file = join(project, 'reference.csv');
  const columns = [...Array.from({ length: 16 }, (_, k) => `x${k}`), 'channel', 'plan', 'age', 'tenure'];
  const cpu = async <T>(read: () => Promise<T>): Promise<{ ms: number; side: T }> => {
    const t0 = process.threadCpuUsage();
    const side = await read();
    const u = process.threadCpuUsage(t0);
    return { ms: (u.user + u.system) / 1e3, side };
  };
  const cells: number[] = [];
  const typed: number[] = [];
  for (let r = 0; r < Number(repeatsText); r++) {
    const a = await cpu(() => collectSide(file, { columns }));
    const b = await cpu(() => readReferenceSide(file, { columns }));
    if (!isDeepStrictEqual(a.side, b.side) || !isDeepStrictEqual([...a.side.samples.keys()], [...b.side.samples.keys()]))
      throw new Error('readReferenceSide gave another side than collectSide');
    cells.push(a.ms);
    typed.push(b.ms);
    console.log(
      `repeat ${r + 1}: collectSide ${a.ms.toFixed(0)} ms, readReferenceSide ${b.ms.toFixed(0)} ms CPU (${a.side.rows} rows × ${columns.length} columns; sides identical)`,
    );
  }
  const median = (xs: number[]): number => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;
  console.log(`median: collectSide ${median(cells).toFixed(0)} ms, readReferenceSide ${median(typed).toFixed(0)} ms`);
}
void main();
