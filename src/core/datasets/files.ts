import { glob, readdir, stat } from 'node:fs/promises';
import { isAbsolute, join, relative, resolve } from 'node:path';
import { DatasetReadError, toReadError } from './readErrors';

const DATA_EXTENSIONS = /\.(csv|tsv|tab|jsonl|ndjson|parquet|pq)$/i;
const FORMAT_EXTENSIONS: Record<string, RegExp> = {
  csv: /\.csv$/i,
  tsv: /\.(tsv|tab)$/i,
  jsonl: /\.(jsonl|ndjson)$/i,
  parquet: /\.(parquet|pq)$/i,
};

export const isGlob = (path: string): boolean => /[*?[\]{}]/.test(path);

/**
 * The files a dataset path stands for, sorted by path: the file itself; a directory's data files
 * (recursively, hidden entries skipped); or a glob's matches. Paths are absolute.
 */
export async function listDatasetFiles(path: string, format?: string): Promise<string[]> {
  const wanted = (format && FORMAT_EXTENSIONS[format]) || DATA_EXTENSIONS;
  if (isGlob(path)) {
    const cwd = isAbsolute(path) ? '/' : process.cwd();
    const pattern = isAbsolute(path) ? path.slice(1) : path;
    const found: string[] = [];
    for await (const entry of glob(pattern, { cwd })) {
      const full = resolve(cwd, entry);
      if (
        !relative(cwd, full)
          .split('/')
          .some((s) => s.startsWith('.')) &&
        (await isFile(full))
      )
        found.push(full);
    }
    if (found.length === 0) throw new DatasetReadError({ code: 'NO_FILES', file: path, message: `${path} matches no files` });
    return found.sort(byPath);
  }
  let st;
  try {
    st = await stat(path);
  } catch (error) {
    throw toReadError(error, path);
  }
  if (st.isFile()) return [resolve(path)];
  if (!st.isDirectory()) throw new DatasetReadError({ code: 'NOT_A_FILE', file: path, message: `${path} is neither a file nor a directory` });
  let entries: string[];
  try {
    entries = (await readdir(path, { recursive: true })).map(String);
  } catch (error) {
    throw toReadError(error, path);
  }
  const files: string[] = [];
  for (const entry of entries) {
    if (entry.split('/').some((s) => s.startsWith('.')) || !wanted.test(entry)) continue;
    const full = resolve(join(path, entry));
    if (await isFile(full)) files.push(full);
  }
  if (files.length === 0) {
    throw new DatasetReadError({ code: 'NO_FILES', file: path, message: `${path} is a directory with no data files (.csv, .tsv, .jsonl, .parquet)` });
  }
  return files.sort(byPath);
}

/** Code-unit order, the same on every machine and locale (digests depend on it). */
const byPath = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}
