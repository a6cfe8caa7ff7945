import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

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
