// Activation of the extension in the real VS Code (code-server + Chromium, through test/harness): each run
// opens a fresh window (new user data, new copy of examples/weather, so `workspaceContains:mloop.yaml`
// activates mloop as a user would see it) and reads the line the extension logs to its output channel,
// "mloop <version> activated in <ms> ms". Prints every run, the median, min and max, and the load average.
// MLOOP_BENCH_ACTIVATION_RUNS (default 7) sets the number of windows.
import { cpSync, existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { delay } from '../../test/harness/codeServer';
import { findRepoRoot } from '../../test/harness/paths';
import { createTempRun } from '../../test/harness/tempWorkspace';
import { openWorkbench } from '../../test/harness/workbench';

const RUNS = Number(process.env.MLOOP_BENCH_ACTIVATION_RUNS ?? 7);
const ACTIVATED = /mloop (\S+) activated in ([\d.]+) ms \(workspace (\w+)\)/;
const TIMEOUT_MS = 180_000; // a cold code-server start on a loaded 2-core machine

interface Activation {
  readonly version: string;
  readonly ms: number;
  readonly trust: string;
  /** The per-feature split the extension logs next to the total ("activation phases (ms): …"). */
  readonly phases?: string;
}

/** The extension host writes the output channel to `<user data>/logs/<session>/…/mloop.log`; its name is VS Code's, so search. */
function findActivation(dir: string): Activation | undefined {
  if (!existsSync(dir)) return undefined;
  for (const entry of readdirSync(dir, { recursive: true }).map(String)) {
    if (!entry.endsWith('.log')) continue;
    const file = join(dir, entry);
    if (!statSync(file).isFile()) continue;
    const match = ACTIVATED.exec(readFileSync(file, 'utf8'));
    const phases = /activation phases \(ms\): (.*)/.exec(readFileSync(file, 'utf8'))?.[1];
    if (match) return { version: match[1]!, ms: Number(match[2]), trust: match[3]!, ...(phases ? { phases } : {}) };
  }
  return undefined;
}

async function measureOnce(root: string, run: number): Promise<Activation> {
  const temp = createTempRun('bench-activation');
  cpSync(join(root, 'examples', 'weather'), temp.workspace, { recursive: true });
  const session = await openWorkbench({
    root,
    workspace: temp.workspace,
    runDir: temp.runDir,
    resultsDir: join(root, 'test-results', 'bench-activation'),
    consoleLogName: `console-${run}.log`,
  });
  try {
    const deadline = Date.now() + TIMEOUT_MS;
    for (;;) {
      const found = findActivation(join(temp.runDir, 'ud', 'logs'));
      if (found) return found;
      if (Date.now() > deadline) throw new Error(`no "mloop … activated in … ms" line under ${temp.runDir} within ${TIMEOUT_MS / 1000} s`);
      await delay(250);
    }
  } finally {
    await session.close();
    temp.dispose();
  }
}

async function main(): Promise<void> {
  const root = findRepoRoot();
  if (!existsSync(join(root, 'dist', 'extension.js'))) throw new Error('dist/extension.js is missing; run the build first (npm run build)');
  const loadBefore = loadavg();
  const runs: Activation[] = [];
  for (let i = 1; i <= RUNS; i++) {
    const a = await measureOnce(root, i);
    runs.push(a);
    console.log(
      `run ${i}/${RUNS}: mloop ${a.version} activated in ${a.ms} ms (${a.trust}), load ${loadavg()[0]!.toFixed(1)}${a.phases ? `; ${a.phases}` : ''}`,
    );
  }
  const loadAfter = loadavg();
  const sorted = runs.map((r) => r.ms).sort((a, b) => a - b);
  const median = sorted.length % 2 ? sorted[(sorted.length - 1) / 2]! : (sorted[sorted.length / 2 - 1]! + sorted[sorted.length / 2]!) / 2;
  const fmt = (l: number[]): string => l.map((x) => x.toFixed(1)).join(' / ');
  console.log(
    `activation over ${runs.length} fresh windows: median ${median.toFixed(1)} ms, min ${sorted[0]!.toFixed(1)} ms, max ${sorted.at(-1)!.toFixed(1)} ms ` +
      `(runs in order: ${runs.map((r) => r.ms).join(' · ')})`,
  );
  console.log(
    `machine: ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, Node ${process.version}; load average (1/5/15 min) before ${fmt(loadBefore)}, after ${fmt(loadAfter)}`,
  );
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? (error.stack ?? error.message) : String(error));
  process.exitCode = 1;
});
