// CPU of one thread reading the predictions log with readTypedBatches, for a given set of columns: what splitting the
// log's columns between two threads would cost each. Not a benchmark: a probe. `check`: the columns and forms the
// check's shared read asks for (readPredictionLog with the drift feed: ids, the time column's day, the features as
// decimals); MLOOP_NO_SCAN_KERNEL=1 reads it without the record kernel.
// build: bash scripts/with-node.sh npx esbuild bench/monitoring/readProbe.ts --bundle --platform=node --outfile=out/bench/monitoring/readProbe.js
// usage: node out/bench/monitoring/readProbe.js <file.csv> <all|monitor|drift|check|none> [repeats]
import { readSchema, readTypedBatches } from '../../src/core/datasets/readers';

async function main(): Promise<void> {
  const [file, which = 'all', repeats = '1'] = process.argv.slice(2);
  const schema = await readSchema(file!);
  const names = schema.columns.map((c) => c.name);
  const monitor = ['id', 'time', 'predicted', 'proba_0', 'proba_1', 'sex', 'island'];
  const features = names.filter((n) => !monitor.includes(n) && n !== 'label');
  const columns =
    which === 'all'
      ? names
      : which === 'monitor'
        ? monitor
        : which === 'drift'
          ? names.filter((n) => !monitor.includes(n) || n === 'time')
          : which === 'check'
            ? [...monitor, ...features]
            : ['id'];
  const forms = which === 'check' ? { decimals: features, ids: ['id'] } : {};
  for (let r = 0; r < Number(repeats); r++) {
    const u0 = process.cpuUsage();
    const t0 = performance.now();
    let rows = 0;
    for await (const batch of readTypedBatches(file!, { columns, prefixes: { time: 10 }, ...forms })) rows += batch.rows;
    const u = process.cpuUsage(u0);
    console.log(
      `${which} (${columns.length} cols): ${rows} rows, ${((u.user + u.system) / 1e3).toFixed(0)} ms CPU, ${(performance.now() - t0).toFixed(0)} ms wall`,
    );
  }
}
void main();
