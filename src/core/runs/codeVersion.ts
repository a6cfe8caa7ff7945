import { execFile, spawn } from 'node:child_process';
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

/** Uncommitted work at run start: the binary-safe diff of the work tree against HEAD and the untracked files. */
export interface CodeChanges {
  readonly commit: string;
  /** `git diff --binary HEAD` (staged and unstaged); absent when it exceeded the cap. */
  readonly diff: Buffer | undefined;
  /** Bytes of the diff (at least the cap when it was cut off). */
  readonly diffBytes: number;
  readonly truncated: boolean;
  /** Untracked, not ignored files (paths relative to the repository), at most UNTRACKED_CAP. */
  readonly untracked: readonly string[];
}

/** Above this the diff is not stored (a partial patch would not apply): the run says the changes were too large. */
export const DIFF_CAP_BYTES = 5 * 1024 * 1024;
const UNTRACKED_CAP = 1000;

/**
 * The uncommitted changes of the repository holding `cwd`, or undefined outside a repository or when the
 * work tree is clean (no diff, no untracked files). The diff applies with `git apply` on a checkout of `commit`.
 */
export async function captureCodeChanges(cwd: string, options: { capBytes?: number } = {}): Promise<CodeChanges | undefined> {
  const cap = options.capBytes ?? DIFF_CAP_BYTES;
  const commit = (await git(cwd, ['rev-parse', 'HEAD']))?.trim();
  if (!commit || !/^[0-9a-f]{40,64}$/.test(commit)) return undefined;
  const [diff, untrackedText] = await Promise.all([
    gitBytes(cwd, ['diff', '--binary', '--no-color', '--no-ext-diff', 'HEAD'], cap),
    git(cwd, ['ls-files', '--others', '--exclude-standard', '-z']),
  ]);
  const untracked = (untrackedText ?? '').split('\0').filter(Boolean).slice(0, UNTRACKED_CAP);
  if (!diff || (diff.bytes === 0 && untracked.length === 0)) return undefined;
  return { commit, diff: diff.truncated ? undefined : diff.data, diffBytes: diff.bytes, truncated: diff.truncated, untracked };
}

/** A git command's stdout as bytes, stopped once it passes `cap` (the process is killed then). */
function gitBytes(cwd: string, args: string[], cap: number): Promise<{ data: Buffer; bytes: number; truncated: boolean } | undefined> {
  return new Promise((done) => {
    const child = spawn('git', args, { cwd, stdio: ['ignore', 'pipe', 'ignore'], windowsHide: true });
    const chunks: Buffer[] = [];
    let bytes = 0;
    let truncated = false;
    child.stdout.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      if (bytes > cap) {
        truncated = true;
        chunks.length = 0;
        child.kill();
      } else chunks.push(chunk);
    });
    child.on('error', () => done(undefined));
    child.on('close', (code) =>
      done(truncated ? { data: Buffer.alloc(0), bytes, truncated } : code === 0 ? { data: Buffer.concat(chunks), bytes, truncated } : undefined),
    );
  });
}

/**
 * One file as a run saw it: its content at `commit`, with the run's stored uncommitted diff applied to that file alone
 * (`git apply --include`, in a scratch folder outside any repository, so the user's work tree and index are never
 * touched). `relPath` is relative to the repository's top; `cwd` is any folder inside the repository. A file the
 * diff adds starts from nothing; a diff that does not touch the file leaves its committed content. Throws when the
 * commit no longer exists or the diff does not apply, naming which.
 */
export async function fileAsRunSawIt(cwd: string, commit: string, relPath: string, diff: Buffer | undefined): Promise<string> {
  const { mkdtemp, mkdir, readFile, rm, writeFile } = await import('node:fs/promises');
  const { tmpdir } = await import('node:os');
  const { dirname, join } = await import('node:path');
  const committed = await gitOutputOrError(cwd, ['show', `${commit}:${relPath}`]).catch((error: Error) => {
    // a file the run's diff created did not exist at the commit
    if (diff?.includes(Buffer.from(`--- /dev/null\n+++ b/${relPath}\n`))) return undefined;
    throw error;
  });
  if (!diff || diff.length === 0) return committed ?? '';
  const scratch = await mkdtemp(join(tmpdir(), 'mloop-run-code-'));
  try {
    const file = join(scratch, ...relPath.split('/'));
    await mkdir(dirname(file), { recursive: true });
    if (committed !== undefined) await writeFile(file, committed);
    await new Promise<void>((done, fail) => {
      // outside a repository git apply works on the folder's files as patch(1) would; --include keeps the other files out
      const child = spawn('git', ['apply', '--whitespace=nowarn', `--include=${relPath}`, '-'], {
        cwd: scratch,
        stdio: ['pipe', 'ignore', 'pipe'],
        env: { ...process.env, GIT_CEILING_DIRECTORIES: dirname(scratch) },
        windowsHide: true,
      });
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
      child.on('error', fail);
      child.on('close', (code) =>
        code === 0 ? done() : fail(new Error(`the run's uncommitted changes no longer apply to ${relPath} at ${commit.slice(0, 8)}: ${stderr.trim()}`)),
      );
      child.stdin.end(diff);
    });
    return await readFile(file, 'utf8').catch(() => '');
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

function gitOutputOrError(cwd: string, args: string[]): Promise<string> {
  return new Promise((done, fail) =>
    execFile('git', args, { cwd, maxBuffer: 64 * 1024 * 1024, windowsHide: true }, (error, stdout, stderr) =>
      error ? fail(new Error(`git ${args.join(' ')} failed: ${String(stderr).trim() || error.message}`)) : done(stdout),
    ),
  );
}
