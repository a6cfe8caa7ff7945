// Where `mloop monitor`'s peak memory goes: one model's checks in process, with parts switched off, printing the peak
// RSS (getrusage) and the main thread's V8 heap after each phase. Not a benchmark: a probe for profiling.
// usage: node out/bench/monitoring/memProbe.js <project made by make_data.py> [drift|nodrift]
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { loadConfig } from '../../src/core/config/loadConfig';
import type { ModelMonitoring } from '../../src/core/drift/monitoringSchema';
import { monitorModel } from '../../src/core/monitoring/monitor';

const project = resolve(process.argv[2] ?? '.');
const mode = process.argv[3] ?? 'drift';

async function main(): Promise<void> {
  const file = join(project, 'mloop.yaml');
  const config = loadConfig(readFileSync(file, 'utf8'), file).config as { monitoring: Record<string, ModelMonitoring> };
  const [model, monitoring] = Object.entries(config.monitoring)[0]!;
  const timer = setInterval(() => {
    const m = process.memoryUsage();
    console.error(
      `rss ${(m.rss / 1e6).toFixed(0)} MB heap ${(m.heapUsed / 1e6).toFixed(0)}/${(m.heapTotal / 1e6).toFixed(0)} MB external ${(m.external / 1e6).toFixed(0)} MB arrayBuffers ${(m.arrayBuffers / 1e6).toFixed(0)} MB`,
    );
  }, 500);
  const started = performance.now();
  const r = await monitorModel({ model, monitoring, baseDir: project, drift: mode === 'drift' });
  clearInterval(timer);
  console.log(JSON.stringify({ ms: Math.round(performance.now() - started), peakMb: Math.round(process.resourceUsage().maxRSS / 1024), errors: r.errors }));
}

void main();
