import { format } from 'node:util';
import Mocha from 'mocha';
import * as vscode from 'vscode';
import { HOST_LINE_MARKER, formatSuiteResult } from '../../harness/hostConsole';
import { registerRestrictedSuite } from './restricted.test';

function hostLog(...args: unknown[]): void {
  const marker = vscode.env.uiKind === vscode.UIKind.Web ? HOST_LINE_MARKER : '';
  console.log('%s', marker + format(...args));
}

/** The test-electron contract (see ../index.ts), for the run in an untrusted folder. */
export async function run(): Promise<void> {
  const mocha = new Mocha({ ui: 'bdd', color: false, timeout: 20_000, reporter: 'spec' });
  Mocha.reporters.Base.consoleLog = hostLog;
  mocha.suite.emit('pre-require', globalThis, 'test/integration/restricted/index.ts', mocha);
  registerRestrictedSuite();
  const result = await new Promise<{ passed: number; failed: number }>((done) => {
    const runner = mocha.run(() => done({ passed: runner.stats?.passes ?? 0, failed: runner.stats?.failures ?? 0 }));
  });
  hostLog(formatSuiteResult(result));
  if (result.failed > 0) throw new Error(`${result.failed} integration it(s) failed`);
  if (result.passed === 0) throw new Error('no integration tests ran');
}
