// Runs the integration suite in desktop VS Code (Electron) downloaded by @vscode/test-electron:
// for desktops and public CI. Machines that cannot reach update.code.visualstudio.com run the same
// suite inside code-server instead (`npm run test:integration`).
import { join } from 'node:path';
import { TestRunFailedError, runTests } from '@vscode/test-electron';
import { findRepoRoot } from './harness/paths';
import { createTempRun } from './harness/tempWorkspace';

/** Network failures that mean "VS Code cannot be downloaded here", not "the tests failed". */
const UNREACHABLE = /ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ETIMEDOUT|ENETUNREACH|getaddrinfo/;

async function main(): Promise<number> {
  const root = findRepoRoot();
  const temp = createTempRun('electron');
  try {
    await runTests({
      extensionDevelopmentPath: root,
      extensionTestsPath: join(root, 'out/test/integration/index.js'),
      // VSCODE_TEST_VERSION pins a release ("1.101.0", "insiders"); VSCODE_EXECUTABLE uses an installed build
      version: process.env.VSCODE_TEST_VERSION ?? 'stable',
      vscodeExecutablePath: process.env.VSCODE_EXECUTABLE,
      launchArgs: [
        temp.workspace,
        '--disable-extensions',
        '--disable-workspace-trust',
        '--skip-welcome',
        '--skip-release-notes',
        '--user-data-dir',
        join(temp.runDir, 'ud'),
        '--extensions-dir',
        join(temp.runDir, 'exts'),
      ],
    });
    temp.dispose();
    return 0;
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    const code = (error as NodeJS.ErrnoException | undefined)?.code ?? '';
    if (UNREACHABLE.test(`${code} ${message}`)) {
      console.error(
        `test:electron: cannot download VS Code (${message.split('\n')[0]}).\n` +
          'This machine cannot reach update.code.visualstudio.com. Run the same suite inside code-server with ' +
          '"npm run test:integration", or set VSCODE_EXECUTABLE to an installed VS Code binary.',
      );
      temp.dispose();
    } else if (error instanceof TestRunFailedError) {
      console.error(`test:electron: the integration suite failed in VS Code (exit ${error.code ?? error.signal}); workspace kept at ${temp.workspace}`);
    } else {
      const noDisplay = process.platform === 'linux' && !process.env.DISPLAY ? ' (no DISPLAY: on a headless Linux run it under "xvfb-run -a")' : '';
      console.error(`test:electron: could not run VS Code${noDisplay}: ${message}`);
      temp.dispose();
    }
    return 1;
  }
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  },
);
