import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TempRun {
  /** Parent of everything below; removed by dispose(). */
  base: string;
  /** An empty project folder (no mloop.yaml, no .mloop/) the workbench opens. */
  workspace: string;
  /** code-server's config, user data, extensions and log. */
  runDir: string;
  dispose(): void;
}

/** A fresh folder per run, so tests may write and nothing leaks between runs. */
export function createTempRun(prefix: string): TempRun {
  const base = mkdtempSync(join(tmpdir(), `mloop-${prefix}-`));
  const workspace = join(base, 'workspace');
  const runDir = join(base, 'code-server');
  mkdirSync(workspace);
  writeFileSync(join(workspace, 'README.md'), '# scratch project\n\nA temporary workspace made by the mloop test harness.\n');
  return { base, workspace, runDir, dispose: () => rmSync(base, { recursive: true, force: true }) };
}
