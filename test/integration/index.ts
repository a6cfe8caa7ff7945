import { format } from 'node:util';
import Mocha from 'mocha';
import * as vscode from 'vscode';
import { HOST_LINE_MARKER, formatSuiteResult } from '../harness/hostConsole';
import { registerDatasetsSuite } from './datasets.test';
import { registerDriftSuite } from './drift.test';
import { registerExtensionSuite } from './extension.test';
import { registerInitProjectSuite } from './initProject.test';
import { registerRegistrySuite } from './registry.test';
import { registerStoreSuite } from './store.test';
import { registerTrainSuite } from './train.test';
import { registerDeploySuite } from './deploy.test';
import { registerMlflowSuite } from './mlflow.test';

/**
 * Writes one line to the runner through the host's console. In code-server the line reaches the
 * runner mixed with workbench logs, so it is marked there; desktop VS Code prints it to stdout as is.
 * (console.log itself cannot be wrapped: the extension host installs it as a getter.)
 */
function hostLog(...args: unknown[]): void {
  const marker = vscode.env.uiKind === vscode.UIKind.Web ? HOST_LINE_MARKER : '';
  console.log('%s', marker + format(...args));
}

/**
 * The test-electron contract: the workbench loads this file as extensionTestsPath, awaits run(),
 * and exits with 0 when it resolves and 1 when it rejects. The suites are bundled in, so one file
 * is the whole suite; they register after 'pre-require' has installed mocha's tdd globals.
 */
export async function run(): Promise<void> {
  // MLOOP_TEST_GREP narrows the run to matching tests while iterating (the full suite is the default)
  const grep = process.env.MLOOP_TEST_GREP;
  const mocha = new Mocha({ ui: 'tdd', color: false, timeout: 20_000, reporter: 'spec', ...(grep ? { grep } : {}) });
  // every reporter prints through Base.consoleLog; mark its lines for the runner
  Mocha.reporters.Base.consoleLog = hostLog;
  mocha.suite.emit('pre-require', globalThis, 'test/integration/index.ts', mocha);
  registerExtensionSuite();
  registerStoreSuite();
  registerInitProjectSuite();
  registerTrainSuite();
  registerDatasetsSuite();
  registerRegistrySuite();
  registerDeploySuite();
  registerMlflowSuite();
  registerDriftSuite();

  const result = await new Promise<{ passed: number; failed: number }>((done) => {
    const runner = mocha.run(() => done({ passed: runner.stats?.passes ?? 0, failed: runner.stats?.failures ?? 0 }));
  });
  hostLog(formatSuiteResult(result));
  if (result.failed > 0) throw new Error(`${result.failed} integration test(s) failed`);
  if (result.passed === 0) throw new Error('no integration tests ran');
}
