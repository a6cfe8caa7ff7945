import { createRequire } from 'node:module';
import { join } from 'node:path';
import { format } from 'node:util';
import Mocha from 'mocha';
import * as vscode from 'vscode';
import { HOST_LINE_MARKER, formatSuiteResult } from '../harness/hostConsole';
import { integrationSuiteFiles } from '../harness/integrationSuites';

/**
 * Writes one line to the runner through the host's console. In code-server the line reaches the
 * runner mixed with workbench logs, so it is marked there; desktop VS Code prints it to stdout as is.
 * (console.log itself cannot be wrapped: the extension host installs it as a getter.)
 */
function hostLog(...args: unknown[]): void {
  const marker = vscode.env.uiKind === vscode.UIKind.Web ? HOST_LINE_MARKER : '';
  console.log('%s', marker + format(...args));
}

/** Loads one built suite and calls its `register…Suite()`: a suite file that registers nothing is a mistake, not a pass. */
function registerSuiteFile(path: string): void {
  // require, not import(): the extension host hands `vscode` to CommonJS requires from the extension's folder
  const exports = createRequire(__filename)(path) as Record<string, unknown>;
  const register = Object.entries(exports).filter(([name, value]) => /^register\w*Suite$/.test(name) && typeof value === 'function');
  if (register.length !== 1)
    throw new Error(`${path} must export exactly one register…Suite() function; it exports ${Object.keys(exports).join(', ') || 'nothing'}`);
  (register[0]![1] as () => void)();
}

/**
 * The test-electron contract: the workbench loads this file as extensionTestsPath, awaits run(),
 * and exits with 0 when it resolves and 1 when it rejects. Every `*.test.js` next to this file is a
 * suite (found by integrationSuiteFiles); each registers after 'pre-require' has installed mocha's tdd globals.
 */
export async function run(): Promise<void> {
  // MLOOP_TEST_GREP narrows the run to matching tests while iterating (the full suite is the default)
  const grep = process.env.MLOOP_TEST_GREP;
  const mocha = new Mocha({ ui: 'bdd', color: false, timeout: 20_000, reporter: 'spec', ...(grep ? { grep } : {}) });
  // every reporter prints through Base.consoleLog; mark its lines for the runner
  Mocha.reporters.Base.consoleLog = hostLog;
  mocha.suite.emit('pre-require', globalThis, 'test/integration/index.ts', mocha);
  for (const file of integrationSuiteFiles(__dirname)) registerSuiteFile(join(__dirname, file));

  const failures: string[] = [];
  const result = await new Promise<{ passed: number; failed: number; failures: string[] }>((done) => {
    const runner = mocha.run(() => done({ passed: runner.stats?.passes ?? 0, failed: runner.stats?.failures ?? 0, failures }));
    runner.on('fail', (test: Mocha.Runnable, error: Error) => {
      failures.push(
        `${test.fullTitle()}: ${String(error?.message ?? error)
          .split('\n')[0]
          ?.slice(0, 300)}`,
      );
    });
  });
  hostLog(formatSuiteResult(result));
  if (result.failed > 0) throw new Error(`${result.failed} integration it(s) failed`);
  if (result.passed === 0) throw new Error('no integration tests ran');
}
