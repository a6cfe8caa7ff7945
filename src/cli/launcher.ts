import { spawn } from 'node:child_process';
import * as nodeModule from 'node:module';

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

function relaunched(): boolean {
  const args = process.argv.slice(2);
  if (args.find((a) => !a.startsWith('-')) !== 'monitor' || !args.includes('--once')) return false;
  if (process.env.MLOOP_NO_RELAUNCH === '1' || process.env.MLOOP_RELAUNCHED === '1') return false;
  if (process.execArgv.some((a) => a.startsWith(SEMI_SPACE_FLAG)) || (process.env.NODE_OPTIONS ?? '').includes(SEMI_SPACE_FLAG)) return false;
  const child = spawn(process.execPath, [...process.execArgv, `${SEMI_SPACE_FLAG}=${MONITOR_SEMI_SPACE_MB}`, __filename, ...args], {
    stdio: 'inherit',
    env: { ...process.env, MLOOP_RELAUNCHED: '1' },
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
