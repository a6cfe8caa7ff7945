import { existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import Mocha from 'mocha';
import type { Page } from 'playwright-core';
import type { E2eContext } from '../e2e/context';
import { registerDatasetsSuite } from '../e2e/datasets.e2e';
import { registerRegistrySuite } from '../e2e/registry.e2e';
import { registerEvaluationSuite } from '../e2e/evaluation.e2e';
import { registerDriftSuite } from '../e2e/drift.e2e';
import { registerExperimentsE2eSuite } from '../e2e/experiments.e2e';
import { registerPipelineE2eSuite } from '../e2e/pipeline.e2e';
import { registerSecuritySuite } from '../e2e/security.e2e';
import { registerTrainSuite } from '../e2e/train.e2e';
import { registerDeploySuite, stopServedProcesses } from '../e2e/deploy.e2e';
import { registerRolloutSuite } from '../e2e/rollout.e2e';
import { registerMlflowE2eSuite } from '../e2e/mlflow.e2e';
import { registerFirstRunSuite } from '../e2e/workbench.e2e';
import { runWalkthroughE2e } from '../e2e/walkthrough.e2e';
import { describeWorkbench, screenshot } from './browser';
import { logTail } from './codeServer';
import type { SuiteResult } from './hostConsole';
import { findRepoRoot, isEntryScript } from './paths';
import { createTempRun } from './tempWorkspace';
import { extensionHostLog, mloopLogTail, openWorkbench } from './workbench';
import type { WorkbenchSession } from './workbench';

export interface E2eOptions {
  root: string;
  /** Screenshots and the page console go to `<resultsDir>/e2e/`. */
  resultsDir: string;
}

/**
 * Drives a real workbench (code-server + Chromium) with mloop loaded as the extension under
 * development, on a fresh folder without mloop.yaml. Mocha runs here in Node; only the UI is remote.
 */
export async function runE2e(opts: E2eOptions): Promise<SuiteResult> {
  const started = Date.now();
  const outDir = join(opts.resultsDir, 'e2e');
  mkdirSync(outDir, { recursive: true });
  // stale PNGs from an earlier run would pass for this run's evidence
  for (const file of readdirSync(outDir)) if (file.endsWith('.png')) rmSync(join(outDir, file));
  if (!existsSync(join(opts.root, 'dist/extension.js'))) {
    console.error(`e2e: ${join(opts.root, 'dist/extension.js')} is missing; run the build first (npm run build)`);
    return { passed: 0, failed: 1 };
  }

  // MLOOP_E2E_ONLY=walkthrough runs only the walkthrough journey (its own workbench), e.g. while writing it
  if (process.env.MLOOP_E2E_ONLY === 'walkthrough') return finish(started, await runWalkthroughE2e({ root: opts.root, outDir }));

  const temp = createTempRun('e2e');
  let session: WorkbenchSession | undefined;
  const ctx: E2eContext = {
    page(): Page {
      if (session === undefined) throw new Error('the workbench is not open');
      return session.page;
    },
    workspace: temp.workspace,
    root: opts.root,
    extensionHostLog: () => extensionHostLog(temp.runDir),
    runDir: temp.runDir,
    screenshot: (name) => screenshot(ctx.page(), outDir, name),
  };

  let result: SuiteResult = { passed: 0, failed: 0 };
  try {
    session = await openWorkbench({
      root: opts.root,
      workspace: temp.workspace,
      runDir: temp.runDir,
      resultsDir: outDir,
      consoleLogName: 'console.log',
    });
    result = await runSteps(ctx, outDir);
  } catch (error) {
    console.error(`e2e: could not run: ${error instanceof Error ? error.message : String(error)}`);
    result = { passed: result.passed, failed: Math.max(result.failed, 1) };
  } finally {
    await session?.close();
  }

  if (result.failed > 0 || result.passed === 0) {
    result = { passed: result.passed, failed: Math.max(result.failed, 1) };
    if (session !== undefined) console.error(`e2e: code-server log tail:\n${logTail(session.server.logFile, 20)}`);
    console.error(`e2e: kept ${temp.base} for inspection; screenshots and page console in ${outDir}`);
  } else {
    temp.dispose();
  }
  // the newcomer's journey through the walkthrough starts from an empty folder of its own
  const walkthrough = await runWalkthroughE2e({ root: opts.root, outDir });
  return finish(started, { passed: result.passed + walkthrough.passed, failed: result.failed + walkthrough.failed });
}

function finish(started: number, result: SuiteResult): SuiteResult {
  console.log(`e2e: ${result.passed} passed, ${result.failed} failed in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return result;
}

async function runSteps(ctx: E2eContext, outDir: string): Promise<SuiteResult> {
  // bail: each step starts from the state the previous one left
  // MLOOP_E2E_GREP=<regex> runs only the matching steps (keep the first-run steps in it: the others start from them)
  const grep = process.env.MLOOP_E2E_GREP;
  const mocha = new Mocha({
    ui: 'bdd',
    bail: true,
    timeout: 90_000,
    reporter: 'spec',
    color: process.stdout.isTTY === true,
    ...(grep ? { grep: new RegExp(grep) } : {}),
  });
  mocha.suite.emit('pre-require', globalThis, 'test/e2e/workbench.e2e.ts', mocha);
  registerFirstRunSuite(ctx);
  registerDriftSuite(ctx); // needs only the mloop.yaml "Initialize Project" wrote, so training's timing cannot hold it up
  registerTrainSuite(ctx);
  // after security: its webview probe expects only the Metrics and Compare panels open
  registerSecuritySuite(ctx);
  registerDatasetsSuite(ctx);
  registerRegistrySuite(ctx);
  registerEvaluationSuite(ctx); // needs the champion the registry step promoted
  registerDeploySuite(ctx);
  registerRolloutSuite(ctx); // the champion and the challenger the deploy steps left, on targets of its own
  registerPipelineE2eSuite(ctx); // its stage runs would change the run picks of the steps before it
  registerExperimentsE2eSuite(ctx); // the table on every run the steps before made (its sweep adds runs, its Delete removes one)
  registerMlflowE2eSuite(ctx); // last: it switches the workspace to the server backend
  // the services the deploy and rollout steps started serve until the chain ends (or bails), as a user's would
  mocha.suite.afterAll(async function stopServices(this: Mocha.Context) {
    this.timeout(60_000);
    await stopServedProcesses(ctx.workspace);
  });
  mocha.suite.afterEach(async function keepEvidenceOfFailure(this: Mocha.Context) {
    const test = this.currentTest;
    if (test?.state !== 'failed') return;
    // named after the step's journey words, e.g. failed-mloop-train-pick-the-pipeline
    const name = `failed-${test.title
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, '-')
      .replace(/^-|-$/g, '')
      .slice(0, 60)}`;
    await ctx.screenshot(name).catch(() => undefined);
    // the CI machine keeps no files: what the workbench showed goes into the log itself
    const seen = await describeWorkbench(ctx.page()).catch((error: Error) => `(could not describe the workbench: ${error.message})`);
    console.error(`e2e: the workbench when "${test.title}" failed:\n${seen}`);
    console.error(`e2e: the page console's last lines:\n${logTail(join(outDir, 'console.log'), 25)}`);
    console.error(`e2e: ${mloopLogTail(ctx.runDir)}`);
  });
  return new Promise((done) => {
    const runner = mocha.run(() => done({ passed: runner.stats?.passes ?? 0, failed: runner.stats?.failures ?? 0 }));
  });
}

if (isEntryScript('e2eRunner.js')) {
  const root = findRepoRoot();
  runE2e({ root, resultsDir: join(root, 'test-results') }).then(
    (result) => {
      process.exitCode = result.failed > 0 ? 1 : 0;
    },
    (error: unknown) => {
      console.error(error);
      process.exitCode = 1;
    },
  );
}
