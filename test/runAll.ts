// Runs the three suites (unit in Node, integration inside a real VS Code, e2e driving its UI)
// and prints one bare summary line `N passed, N failed` that CI reads.
import { existsSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import Mocha from 'mocha';
import { runE2e } from './harness/e2eRunner';
import { runIntegration } from './harness/integrationRunner';

interface SuiteResult {
  readonly passed: number;
  readonly failed: number;
  /** Full titles and first error lines of the failed tests, repeated above the summary so a cut log still names them. */
  readonly failures?: readonly string[];
}

const root = resolve(__dirname, '..', '..');
const resultsDir = join(root, 'test-results');

/** A mocha suite of `*.test.js` bundles in out/test/<folder> (unit: core in Node; reliability: faults, fuzzing, bounds). */
async function runMochaFolder(folder: string, jobs = 1): Promise<SuiteResult> {
  // files in `jobs` worker processes (each with this process's --expose-gc); each file keeps its own temp dirs and ports
  const parallel = jobs > 1 ? { parallel: true, jobs } : {};
  const mocha = new Mocha({ ui: 'bdd', reporter: 'spec', timeout: 30_000, color: process.stdout.isTTY, ...parallel });
  const dir = join(root, 'out', 'test', folder);
  for (const file of readdirSync(dir)
    .filter((f) => f.endsWith('.test.js'))
    .sort())
    mocha.addFile(join(dir, file));
  await mocha.loadFilesAsync();
  const failures: string[] = [];
  return new Promise((done) => {
    const runner = mocha.run(() => done({ passed: runner.stats?.passes ?? 0, failed: runner.stats?.failures ?? 0, failures }));
    runner.on('fail', (test: Mocha.Runnable, error: Error) => {
      const first = String(error?.message ?? error)
        .split('\n')[0]
        ?.slice(0, 300);
      failures.push(`${test.fullTitle()} (${test.file ? test.file.replace(`${dir}/`, '') : '?'}): ${first}`);
    });
  });
}

/**
 * scripts/setup.sh with MLOOP_CODE_SERVER_IN_BACKGROUND=1 (npm test) installs code-server while the build, the checks
 * and the unit suite run; the suites that start it wait here for the install's exit status. A failed or vanished
 * install is an error naming its log, so the suite counts as failed rather than timing out somewhere else.
 */
async function codeServerInstalled(): Promise<void> {
  const tools = join(root, '.tools');
  const pending = join(tools, 'code-server-install.pending');
  const status = join(tools, 'code-server-install.status');
  const log = join(tools, 'code-server-install.log');
  if (!existsSync(pending)) return;
  const pid = Number(readFileSync(pending, 'utf8').trim());
  const tail = (): string => (existsSync(log) ? readFileSync(log, 'utf8').split('\n').slice(-20).join('\n') : '(no log)');
  const alive = (): boolean => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  const t0 = Date.now();
  if (!existsSync(status)) process.stdout.write('waiting for the code-server install that setup started in the background…\n');
  while (!existsSync(status)) {
    // the status is written right after the install exits: a dead installer without it was killed
    if (!alive() && !existsSync(status)) throw new Error(`the background code-server install (pid ${pid}) ended without a status; ${log}:\n${tail()}`);
    if (Date.now() - t0 > 20 * 60_000) throw new Error(`the background code-server install is still running after 20 minutes; ${log}:\n${tail()}`);
    await new Promise((r) => setTimeout(r, 1000));
  }
  const code = readFileSync(status, 'utf8').trim();
  if (code !== '0') throw new Error(`the background code-server install failed (exit ${code}); ${log}:\n${tail()}`);
  rmSync(pending, { force: true });
  process.stdout.write(`code-server installed in the background (waited ${((Date.now() - t0) / 1000).toFixed(1)} s)\n`);
}

const suites: Record<string, () => Promise<SuiteResult>> = {
  // most unit files wait on Python, servers and child processes: two workers keep both cores busy (MLOOP_TEST_JOBS=1: one)
  unit: () => runMochaFolder('unit', Number(process.env.MLOOP_TEST_JOBS ?? 2)),
  reliability: async () => {
    await codeServerInstalled();
    return runMochaFolder('reliability');
  },
  // the trusted suite, then the same host in an untrusted folder (Restricted Mode): one suite, two workbenches
  integration: async () => {
    await codeServerInstalled();
    const trusted = await runIntegration({ root, resultsDir });
    const restricted = await runIntegration({ root, resultsDir, restricted: true });
    return {
      passed: trusted.passed + restricted.passed,
      failed: trusted.failed + restricted.failed,
      failures: [...(trusted.failures ?? []), ...(restricted.failures ?? [])],
    };
  },
  e2e: async () => {
    await codeServerInstalled();
    return runE2e({ root, resultsDir });
  },
};

async function main(): Promise<number> {
  const requested = process.argv.slice(2).filter((a) => !a.startsWith('-'));
  const names = requested.length ? requested : Object.keys(suites);
  const unknown = names.filter((n) => !(n in suites));
  if (unknown.length) {
    process.stderr.write(`unknown suite(s): ${unknown.join(', ')} (known: ${Object.keys(suites).join(', ')})\n`);
    return 2;
  }
  const results: [string, SuiteResult, number][] = [];
  for (const name of names) {
    process.stdout.write(`\n=== ${name} ===\n`);
    const t0 = Date.now();
    let result: SuiteResult;
    try {
      result = await suites[name]!();
    } catch (error) {
      // a suite that cannot even start counts as a failure, never as nothing
      process.stdout.write(`${name}: could not run: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
      result = { passed: 0, failed: 1 };
    }
    results.push([name, result, Date.now() - t0]);
  }
  process.stdout.write('\n');
  for (const [name, r] of results) for (const f of r.failures ?? []) process.stdout.write(`FAILED ${name}: ${f}\n`);
  for (const [name, r, ms] of results) process.stdout.write(`${name.padEnd(12)} ${r.passed} passed, ${r.failed} failed  (${(ms / 1000).toFixed(1)} s)\n`);
  const passed = results.reduce((n, [, r]) => n + r.passed, 0);
  const failed = results.reduce((n, [, r]) => n + r.failed, 0);
  process.stdout.write(`${passed} passed, ${failed} failed\n`);
  return failed === 0 && passed > 0 ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`${String(error)}\n0 passed, 1 failed\n`);
    process.exit(1);
  },
);
