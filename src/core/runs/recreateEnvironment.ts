import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { RunEnvironment } from './environment';

export interface RecreateOptions {
  readonly environment: RunEnvironment;
  /** A new folder for the virtual environment (temporary: the rerun removes it). */
  readonly folder: string;
  /** The interpreter that builds the venv (default: python<major.minor> of the recorded version, else python3). */
  readonly python?: string;
  readonly onProgress?: (message: string) => void;
  readonly signal?: AbortSignal;
}

export interface RecreatedEnvironment {
  /** VIRTUAL_ENV of the new environment. */
  readonly prefix: string;
  /** Its scripts folder, put first on PATH. */
  readonly bin: string;
  readonly python: string;
  /** Lines of the recorded list that could not come from the package index (editable installs, local files). */
  readonly notes: string[];
}

/** The installer itself is not pinned: the venv's own pip installs the others. */
const SKIP = /^pip([=@ ]|$)/i;

/**
 * Builds a virtual environment with the packages a run recorded: `python -m venv --without-pip`, then
 * the builder's `pip --python <venv> install --no-deps` of the recorded `name==version` lines (the list is complete, so no resolver
 * run is needed and nothing else is pulled in). Lines that name a local path or an editable install
 * cannot come from the package index: they are left out and reported.
 */
export async function recreateEnvironment(options: RecreateOptions): Promise<RecreatedEnvironment> {
  const recorded = options.environment.python;
  if (!recorded) throw new Error('the run recorded no Python environment to recreate');
  const progress = options.onProgress ?? ((): void => undefined);
  const notes: string[] = [];
  const wanted = /^(\d+)\.(\d+)/.exec(recorded.version);
  const candidates = options.python ? [options.python] : [...(wanted ? [`python${wanted[1]}.${wanted[2]}`] : []), 'python3'];
  let builder: string | undefined;
  for (const candidate of candidates) {
    progress(`creating a virtual environment with ${candidate}`);
    // without pip: the builder's own pip installs into it (--python), seconds instead of ensurepip's twenty
    const made = await run(candidate, ['-m', 'venv', '--without-pip', options.folder], options.signal);
    if (made.ok) {
      builder = candidate;
      break;
    }
    if (!made.missing) throw new Error(`${candidate} -m venv ${options.folder} failed: ${made.problem}`);
  }
  if (!builder) throw new Error(`no Python to build the environment with (tried ${candidates.join(', ')} on PATH)`);
  const bin = join(options.folder, process.platform === 'win32' ? 'Scripts' : 'bin');
  const python = join(bin, process.platform === 'win32' ? 'python.exe' : 'python');
  const version = await run(python, ['-c', 'import platform; print(platform.python_version())'], options.signal);
  if (version.ok && version.stdout.trim() !== recorded.version)
    notes.push(`the recreated environment runs Python ${version.stdout.trim()}, the run recorded ${recorded.version}`);
  const requirements: string[] = [];
  for (const line of recorded.freeze) {
    if (SKIP.test(line)) continue;
    if (line.startsWith('-e ') || /@\s*file:/.test(line)) notes.push(`not from the package index, left out of the recreated environment: ${line}`);
    else requirements.push(line);
  }
  if (requirements.length) {
    const file = join(dirname(options.folder), 'requirements.txt');
    await writeFile(file, `${requirements.join('\n')}\n`);
    progress(`installing ${requirements.length} recorded package${requirements.length === 1 ? '' : 's'} from the package index`);
    const args = ['install', '--no-deps', '--disable-pip-version-check', '--no-input', '-r', file];
    let installed = await run(builder, ['-m', 'pip', '--python', python, ...args], options.signal);
    if (!installed.ok && /no such option: --python/.test(installed.problem)) {
      // pip older than 22.3: the venv gets its own pip first
      const pip = await run(python, ['-m', 'ensurepip', '--default-pip'], options.signal);
      if (!pip.ok) throw new Error(`the new environment has no pip (${pip.problem})`);
      installed = await run(python, ['-m', 'pip', ...args], options.signal);
    }
    if (!installed.ok) throw new Error(`pip could not install the recorded packages: ${installed.problem}`);
  }
  return { prefix: options.folder, bin, python, notes };
}

type Outcome = { ok: true; stdout: string } | { ok: false; missing: boolean; problem: string };

function run(file: string, args: string[], signal?: AbortSignal): Promise<Outcome> {
  return new Promise((done) => {
    const child = spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'], windowsHide: true, ...(signal ? { signal } : {}) });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr = (stderr + c.toString()).slice(-4000)));
    child.on('error', (error: NodeJS.ErrnoException) => done({ ok: false, missing: error.code === 'ENOENT', problem: error.message }));
    child.on('close', (code) =>
      done(code === 0 ? { ok: true, stdout } : { ok: false, missing: false, problem: `exit ${code}: ${stderr.trim().split('\n').slice(-3).join(' ')}` }),
    );
  });
}
