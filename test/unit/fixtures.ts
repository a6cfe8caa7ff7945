import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

/** A fresh temp folder per test, removed afterwards by the returned cleanup. */
export function tempDir(prefix = 'mloop-unit-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Content and mtime of a file: equal fingerprints mean nothing wrote to it. */
export function fingerprint(path: string): { sha256: string; size: number; mtimeMs: number } {
  const st = statSync(path);
  return { sha256: createHash('sha256').update(readFileSync(path)).digest('hex'), size: st.size, mtimeMs: st.mtimeMs };
}

/** The built CLI, run by mloop(). */
export const CLI = resolve(__dirname, '../../../dist/cli.js');

/** Runs the built CLI as a real child process, exactly as a user's terminal would (no MLOOP_STORE from this environment). */
export function mloop(cwd: string, ...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd, encoding: 'utf8', env: { ...process.env, MLOOP_STORE: '' } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}
