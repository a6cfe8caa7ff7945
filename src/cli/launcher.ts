import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import * as nodeModule from 'node:module';
import { join } from 'node:path';
import { ESTIMATE_YOUNG_GENERATION_MB, FEED_YOUNG_GENERATION_MB, startSpares } from '../core/drift/spareWorkers';

/**
 * `mloop monitor` runs with a small V8 young generation: its reads of millions of rows make short-lived objects by
 * the million, and V8's default new space (it grows to tens of MB a semi-space) made ~140 MB of `mloop monitor
 * --once`'s peak on 1M predictions (BENCHMARKS.md, issue 17) at the same CPU. The size of the young generation can
 * only be set when the process starts, so this launcher starts the CLI again as a child with the flag (stdio shared,
 * signals passed on, its exit code or signal taken over). Only for `--once` (a run of `--every` keeps its
 * own Ctrl-C handling in one process); not when the flag is given already (node's own options or NODE_OPTIONS),
 * nor with MLOOP_NO_RELAUNCH=1.
 */
const MONITOR_SEMI_SPACE_MB = 2;
const SEMI_SPACE_FLAG = '--max-semi-space-size';
/**
 * glibc's malloc, as the relaunched child's environment sets it (read once, when the process starts; other C
 * libraries ignore these). By default glibc raises its mmap threshold to the size of each large block freed (up to
 * 32 MB), so the column buffers of a million-row check, freed and made again read after read and by three threads,
 * end up carved from its arenas, which keep the freed space: ~90 MB of `mloop monitor --once`'s 1M-row peak
 * (docs/benchmarks-history.md, session 23). A fixed threshold keeps blocks from 256 KB up mapped on their own and
 * returned when freed; two arenas (the main thread's and one the workers share) keep less idle space than one a
 * thread. A value the user set stays.
 */
const MONITOR_MALLOC_ENV: Readonly<Record<string, string>> = { MALLOC_MMAP_THRESHOLD_: '262144', MALLOC_ARENA_MAX: '2' };
/** Names the malloc variables the launcher set, so that the child removes them before it runs anything (on_alert commands). */
const MALLOC_SET_BY_LAUNCHER = 'MLOOP_MALLOC_ENV';

/**
 * The check's CBPE and drift feed threads, started before the CLI is loaded: their start-up runs on the second core
 * while this thread loads the CLI and reads mloop.yaml (src/core/drift/spareWorkers.ts). MLOOP_NO_SPARES=1: not.
 */
function startMonitorSpares(): void {
  const file = join(__dirname, 'driftWorker.js');
  if (process.env.MLOOP_NO_SPARES === '1' || !existsSync(file)) return;
  startSpares(file, [
    { kind: 'estimate', youngMb: ESTIMATE_YOUNG_GENERATION_MB },
    { kind: 'feed', youngMb: FEED_YOUNG_GENERATION_MB },
  ]);
}

function relaunched(): boolean {
  const args = process.argv.slice(2);
  if (args.find((a) => !a.startsWith('-')) !== 'monitor' || !args.includes('--once')) return false;
  if (process.env.MLOOP_RELAUNCHED === '1') {
    // glibc has read them: what this process starts (an on_alert command) gets the user's environment
    for (const name of (process.env[MALLOC_SET_BY_LAUNCHER] ?? '').split(',')) if (name in MONITOR_MALLOC_ENV) delete process.env[name];
    delete process.env[MALLOC_SET_BY_LAUNCHER];
    startMonitorSpares();
    return false;
  }
  if (process.env.MLOOP_NO_RELAUNCH === '1') return false;
  if (process.execArgv.some((a) => a.startsWith(SEMI_SPACE_FLAG)) || (process.env.NODE_OPTIONS ?? '').includes(SEMI_SPACE_FLAG)) return false;
  const malloc = Object.entries(MONITOR_MALLOC_ENV).filter(([name]) => process.env[name] === undefined);
  const child = spawn(process.execPath, [...process.execArgv, `${SEMI_SPACE_FLAG}=${MONITOR_SEMI_SPACE_MB}`, __filename, ...args], {
    stdio: 'inherit',
    env: {
      ...process.env,
      ...Object.fromEntries(malloc),
      ...(malloc.length > 0 ? { [MALLOC_SET_BY_LAUNCHER]: malloc.map(([name]) => name).join(',') } : {}),
      MLOOP_RELAUNCHED: '1',
    },
  });
  // a signal to this process goes on to the child (after Ctrl-C both have it: --once stops at the first either way)
  const forward = (signal: NodeJS.Signals): void => void child.kill(signal);
  process.on('SIGINT', forward);
  process.on('SIGTERM', forward);
  process.on('SIGHUP', forward);
  child.on('error', (error) => {
    process.stderr.write(`mloop: cannot start ${process.execPath}: ${error.message}\n`);
    process.exitCode = 1;
  });
  child.on('exit', (code, signal) => {
    if (signal) {
      process.removeAllListeners(signal);
      process.kill(process.pid, signal);
    } else process.exitCode = code ?? 1;
  });
  return true;
}

// dist/cli.js: turns on Node's compile cache, then loads the CLI (dist/cli/main.mjs, an ES module split by esbuild into
// one chunk per command group, so a command compiles and runs only its own code; issue 16). The cache must be on before
// the CLI's code is compiled, hence this separate small file. NODE_DISABLE_COMPILE_CACHE=1 turns it off (Node's switch).
if (!relaunched()) loadCli();

function loadCli(): void {
  const enableCompileCache = (nodeModule as { enableCompileCache?: () => unknown }).enableCompileCache;
  if (enableCompileCache && !process.env.NODE_DISABLE_COMPILE_CACHE) {
    try {
      enableCompileCache();
    } catch {
      // a read-only temp folder: run without the cache
    }
  }
  const entry = './cli/main.mjs'; // a variable: esbuild leaves the import to Node, relative to this file
  import(entry).catch((error: unknown) => {
    process.stderr.write(`mloop: cannot load ${entry}: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  });
}
