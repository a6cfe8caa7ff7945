import type { Page } from 'playwright-core';

/** What the e2e steps share: the runner owns the workbench, the steps only drive it. */
export interface E2eContext {
  /** The workbench page; defined once the runner has opened it. */
  page(): Page;
  /** The project folder the workbench shows (starts without mloop.yaml). */
  workspace: string;
  /** Checkout root (for dist/cli.js and the sources the seeding step imports). */
  root: string;
  /** What the workbench's extension host has logged so far (test/harness/workbench.ts extensionHostLog). */
  extensionHostLog(): string;
  /** The workbench's run folder (its user data and logs: test/harness/workbench.ts mloopLog). */
  runDir: string;
  /** Saves `<screenshotsDir>/<name>.png` and returns its path. */
  screenshot(name: string): Promise<string>;
}
