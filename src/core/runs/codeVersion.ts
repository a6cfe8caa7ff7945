import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, statSync } from 'node:fs';
import { isAbsolute, relative, resolve } from 'node:path';

export interface GitState {
  readonly commit: string;
  /** Tracked files differ from the commit (untracked files, such as outputs, do not count, as in MLflow). */
  readonly dirty: boolean;
}

/** The commit and dirty flag of the repository holding `cwd`; undefined outside a git repository or without git. */
export async function readGitState(cwd: string): Promise<GitState | undefined> {
  const commit = await git(cwd, ['rev-parse', 'HEAD']);
  if (commit === undefined || !/^[0-9a-f]{40,64}$/.test(commit.trim())) return undefined;
  const status = await git(cwd, ['status', '--porcelain', '--untracked-files=no']);
  return { commit: commit.trim(), dirty: status === undefined ? false : status.trim() !== '' };
}

function git(cwd: string, args: string[]): Promise<string | undefined> {
  return new Promise((done) => {
    execFile('git', args, { cwd, maxBuffer: 16 * 1024 * 1024, timeout: 10_000, windowsHide: true }, (error, stdout) => done(error ? undefined : stdout));
  });
}

export interface EntryScript {
  /** As written in the command, relative to the project when inside it. */
  readonly file: string;
  readonly sha256: string;
}

/**
 * The first token of the command that names an existing file inside the project (train.py in
 * `python train.py`), with its digest. Files outside the project (the interpreter) are not code under study.
 */
export async function findEntryScript(tokens: readonly string[], cwd: string): Promise<EntryScript | undefined> {
  for (const token of tokens) {
    if (token === '' || token.startsWith('-')) continue;
    const path = isAbsolute(token) ? token : resolve(cwd, token);
    let isFile = false;
    try {
      isFile = statSync(path).isFile();
    } catch {
      continue;
    }
    if (!isFile) continue;
    const rel = relative(cwd, path);
    if (rel.startsWith('..') || isAbsolute(rel)) continue;
    return { file: rel, sha256: await sha256File(path) };
  }
  return undefined;
}

export function sha256File(path: string): Promise<string> {
  return new Promise((done, fail) => {
    const hash = createHash('sha256');
    createReadStream(path)
      .on('data', (chunk) => hash.update(chunk))
      .on('error', fail)
      .on('end', () => done(hash.digest('hex')));
  });
}

/** Splits a shell command into words, well enough to find the entry script (quotes removed, no expansion). */
export function roughShellWords(command: string): string[] {
  const words: string[] = [];
  for (const m of command.matchAll(/'([^']*)'|"((?:\\.|[^"\\])*)"|(\S+)/g)) words.push(m[1] ?? m[2] ?? m[3] ?? '');
  return words;
}
