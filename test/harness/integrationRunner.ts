import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { screenshot } from './browser';
import { delay, logTail } from './codeServer';
import { HOST_LINE_MARKER, parseSuiteResult } from './hostConsole';
import type { SuiteResult } from './hostConsole';
import { RESTRICTED_MLOOP_YAML } from '../integration/restricted/fixture';
import { findRepoRoot, isEntryScript } from './paths';
import { createTempRun } from './tempWorkspace';
import { openWorkbench, saveAutomationLogs } from './workbench';
import type { AutomationExit, WorkbenchSession } from './workbench';

export interface IntegrationOptions {
  root: string;
  /** The page console, the workbench logs and a final screenshot go to `<resultsDir>/integration/`. */
  resultsDir: string;
  /** Whole-run limit; the default leaves room for a cold code-server start. */
  timeoutMs?: number;
  /**
   * Runs out/test/integration/restricted/index.js instead, in a folder that holds a hostile
   * mloop.yaml and is NOT trusted (workspace trust on, Restricted Mode); results in `integration-restricted/`.
   */
  restricted?: boolean;
}

const DEFAULT_TIMEOUT_MS = 15 * 60_000; // 51 tests, two real `mlflow server`s and real training; ~3.5 min idle, over 8 min on a loaded 2-core machine

/** The workbench's failed marketplace and sign-in lookups: expected offline, never the suite's fault. */
const OFFLINE_NOISE = /open-vsx\.org|ENOTFOUND|authentication provider/;

/**
 * Runs out/test/integration/index.js inside code-server's extension host (the test-electron
 * equivalent here) and reports its counts. A run that ends without its result line counts as
 * at least one failure, so a crash can never look like "0 passed, 0 failed".
 */
export async function runIntegration(opts: IntegrationOptions): Promise<SuiteResult> {
  const started = Date.now();
  const label = opts.restricted ? 'integration-restricted' : 'integration';
  const outDir = join(opts.resultsDir, label);
  const testsPath = join(opts.root, opts.restricted ? 'out/test/integration/restricted/index.js' : 'out/test/integration/index.js');
  for (const required of [join(opts.root, 'dist/extension.js'), testsPath]) {
    if (!existsSync(required)) {
      console.error(`integration: ${required} is missing; run the build first (npm run build)`);
      return { passed: 0, failed: 1 };
    }
  }

  const temp = createTempRun(label);
  if (opts.restricted) writeFileSync(join(temp.workspace, 'mloop.yaml'), RESTRICTED_MLOOP_YAML);
  let reported: SuiteResult | undefined;
  let session: WorkbenchSession | undefined;
  let failure: string | undefined;
  let exitCode: number | undefined;
  // errors the host logged: shown when the suite dies before reporting (a load error lands here)
  const hostErrors: string[] = [];
  try {
    session = await openWorkbench({
      root: opts.root,
      workspace: temp.workspace,
      runDir: temp.runDir,
      resultsDir: outDir,
      consoleLogName: 'console.log',
      extensionTestsPath: testsPath,
      ...(opts.restricted ? { workspaceTrust: 'restricted' as const } : {}),
      onConsoleLine: (line) => {
        if (line.level === 'ERR' && !OFFLINE_NOISE.test(line.text)) hostErrors.push(line.text);
        if (!line.text.startsWith(HOST_LINE_MARKER)) return;
        const text = line.text.slice(HOST_LINE_MARKER.length);
        // a test asked for a screenshot of the workbench as it is now (test/integration/support.ts screenshotNow)
        const shot = /^MLOOP_SCREENSHOT ([\w-]+)$/.exec(text.trim());
        if (shot && session)
          void screenshot(session.page, outDir, shot[1]!).catch((error: Error) => console.error(`integration: screenshot ${shot[1]} failed: ${error.message}`));
        process.stdout.write(`${text}\n`);
        reported = parseSuiteResult(text) ?? reported;
      },
    });
    const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const outcome = await Promise.race<AutomationExit | string>([
      session.automationExit,
      session.server.exited.then((code) => `code-server exited (code ${code}) before the suite finished`),
      delay(timeoutMs, { unref: true }).then(() => `the suite did not finish within ${Math.round(timeoutMs / 1000)} s`),
    ]);
    await session.drainConsole();
    if (typeof outcome === 'string') {
      failure = outcome;
    } else {
      exitCode = outcome.code;
      saveAutomationLogs(join(outDir, 'logs'), outcome.logs);
    }
    await screenshot(session.page, outDir, 'final').catch((error: Error) => {
      console.error(`integration: final screenshot failed: ${error.message}`);
    });
  } catch (error) {
    failure = error instanceof Error ? error.message : String(error);
  } finally {
    await session?.close();
  }

  const result: SuiteResult = reported ?? { passed: 0, failed: 0 };
  if (reported === undefined) failure ??= 'the suite ended without its MLOOP_SUITE_RESULT line (it crashed or never loaded)';
  if (exitCode !== undefined && exitCode !== 0 && result.failed === 0) {
    failure ??= `the workbench reported exit code ${exitCode} although no test failed (run() rejected)`;
  }
  if (failure !== undefined) {
    console.error(`integration: FAILED: ${failure}`);
    if (reported === undefined && hostErrors.length > 0) {
      console.error(
        `integration: last errors logged in the workbench:\n${hostErrors
          .slice(-5)
          .map((e) => e.split('\n').slice(0, 6).join('\n'))
          .join('\n---\n')}`,
      );
    }
    if (session !== undefined) console.error(`integration: code-server log tail:\n${logTail(session.server.logFile, 20)}`);
    console.error(`integration: kept ${temp.base} for inspection; page console and logs in ${outDir}`);
    result.failed = Math.max(result.failed, 1);
    result.failures = [...(result.failures ?? []), `${opts.restricted ? 'Restricted Mode: ' : ''}${failure.split('\n')[0]}`];
  } else {
    temp.dispose();
  }
  console.log(`integration: ${result.passed} passed, ${result.failed} failed in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return result;
}

if (isEntryScript('integrationRunner.js')) {
  const root = findRepoRoot();
  runIntegration({ root, resultsDir: join(root, 'test-results'), restricted: process.argv.includes('--restricted') }).then(
    (result) => {
      process.exitCode = result.failed > 0 ? 1 : 0;
    },
    (error: unknown) => {
      console.error(error);
      process.exitCode = 1;
    },
  );
}
