import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { arch, cpus, platform, release, type as osType } from 'node:os';
import { basename, join } from 'node:path';
import type { EnvironmentFacts } from '../../shared/environmentFacts';

/** What a run started with, as stored (one row per distinct document, by digest). */
export interface RunEnvironment {
  readonly format: 1;
  /** The interpreter the pipeline runs with; absent when none could be asked (the reason is in pythonProblem). */
  readonly python?: {
    readonly executable: string;
    readonly version: string;
    /** Installed distributions, normalized name → version (or the `@ url` of a direct reference). */
    readonly packages: Readonly<Record<string, string>>;
    /** What `pip freeze --all` prints, one line per installed distribution. */
    readonly freeze: readonly string[];
  };
  readonly pythonProblem?: string;
  readonly os: { readonly platform: string; readonly type: string; readonly release: string; readonly arch: string };
  readonly cpu: { readonly model: string; readonly count: number };
  /** Allow-listed variables (and those the pipeline sets), never one whose name or value looks like a secret. */
  readonly env: Readonly<Record<string, string>>;
  /** Names that were present but withheld because they look like secrets (values are never stored). */
  readonly withheld: readonly string[];
}

/** Variables that change what a training script computes or which interpreter runs it. */
const ENV_ALLOW = new Set([
  'PATH',
  'VIRTUAL_ENV',
  'CONDA_PREFIX',
  'CONDA_DEFAULT_ENV',
  'PYTHONPATH',
  'PYTHONHASHSEED',
  'PYTHONUNBUFFERED',
  'CUDA_VISIBLE_DEVICES',
  'OMP_NUM_THREADS',
  'MKL_NUM_THREADS',
  'OPENBLAS_NUM_THREADS',
  'NUMEXPR_NUM_THREADS',
  'TF_DETERMINISTIC_OPS',
  'CUBLAS_WORKSPACE_CONFIG',
  'LANG',
  'LC_ALL',
  'TZ',
]);
/** A name that says secret, whatever the allow-list or the pipeline says. */
const SECRET_NAME = /token|key|secret|passw|pwd|credential|auth|private|session|cookie/i;
/** A value carrying a password in a URL (postgres://user:pass@host). */
const SECRET_VALUE = /[a-z][a-z0-9+.-]*:\/\/[^/\s:@]+:[^/\s@]+@/i;
const PYTHON_NAME = /^python(\d+(\.\d+)?)?(\.exe)?$/i;
const CAPTURE_TIMEOUT_MS = 30_000;

export interface CaptureOptions {
  /** The command's words (the args array, or a shell command split roughly): the interpreter is found there. */
  readonly commandWords: readonly string[];
  /** The run's environment (PATH finds the interpreter as the run would). */
  readonly env: Readonly<NodeJS.ProcessEnv>;
  readonly cwd: string;
  /** Variables the pipeline sets in mloop.yaml: recorded too (unless secret-looking). */
  readonly pipelineEnvNames?: readonly string[];
}

/** Tools that run the project's Python: their pipelines are Python pipelines even without `python` in the command. */
const PYTHON_TOOLS = /^(uv|uvx|poetry|pipenv|pdm|hatch|conda|mamba|micromamba|pixi|jupyter|papermill|mlflow|dvc|pytest|ipython)(\.exe)?$/;

/** Whether the pipeline runs Python: an interpreter, a .py file or a Python tool in its command, or an active environment. */
export function runsPython(words: readonly string[], env: Readonly<NodeJS.ProcessEnv>): boolean {
  if (env.VIRTUAL_ENV || env.CONDA_PREFIX) return true;
  return words.some((w) => PYTHON_NAME.test(basename(w)) || /\.py$/i.test(w) || PYTHON_TOOLS.test(basename(w)));
}

/** The interpreter the pipeline runs with: the python named in its command, else the active or in-project venv's, else python3 on PATH. */
export function pythonOf(words: readonly string[], env: Readonly<NodeJS.ProcessEnv>, cwd: string): string {
  const named = words.find((w) => PYTHON_NAME.test(basename(w)));
  if (named) return named;
  const bin = process.platform === 'win32' ? ['Scripts', 'python.exe'] : ['bin', 'python'];
  if (env.VIRTUAL_ENV) return join(env.VIRTUAL_ENV, ...bin);
  // uv, poetry (in-project) and `python -m venv .venv` all leave the project's interpreter here
  const local = join(cwd, '.venv', ...bin);
  if (existsSync(local)) return local;
  return process.platform === 'win32' ? 'python' : 'python3';
}

/**
 * Asks the interpreter about itself in one process: version, executable and `pip freeze --all` lines built
 * from the same installed-distribution metadata pip reads (name==version; `name @ url` for direct
 * references; `-e url` for editable installs), in a fraction of pip's start-up time.
 */
const PYTHON_INFO = `
import json, platform, sys
out = {"executable": sys.executable, "version": platform.python_version(), "freeze": []}
seen = set()
try:
    import importlib.metadata as m
    for d in m.distributions():
        name = d.metadata["Name"]
        if not name or name.lower() in seen:
            continue
        seen.add(name.lower())
        line = f"{name}=={d.version}"
        try:
            direct = json.loads(d.read_text("direct_url.json") or "null")
        except Exception:
            direct = None
        if direct and direct.get("url"):
            url = direct["url"]
            vcs = direct.get("vcs_info")
            if vcs:
                url = f"{vcs.get('vcs', 'git')}+{url}@{vcs.get('commit_id', '')}"
            line = f"-e {url}" if direct.get("dir_info", {}).get("editable") else f"{name} @ {url}"
        out["freeze"].append(line)
except Exception as e:
    out["problem"] = str(e)
out["freeze"].sort(key=lambda l: l.lower())
print(json.dumps(out))
`;

/** Programs that are not Python: their pipelines get no interpreter query (it would describe a Python they never use). */
const NOT_PYTHON = /^(node|nodejs|deno|bun|Rscript|R|java|julia|cargo|go|dotnet|ruby|perl)(\.exe)?$/;

/**
 * Captures the environment a run starts in. Started right after the pipeline's process (never before it),
 * so it costs the run's start nothing but a share of the CPU: one interpreter query, bounded by a timeout.
 * Never throws: what could not be asked is said in the document.
 */
export async function captureEnvironment(options: CaptureOptions): Promise<RunEnvironment> {
  const cpuList = cpus();
  const base = {
    format: 1 as const,
    os: { platform: platform(), type: osType(), release: release(), arch: arch() },
    cpu: { model: cpuList[0]?.model.trim() ?? 'unknown', count: cpuList.length },
    ...allowedEnv(options.env, options.pipelineEnvNames ?? []),
  };
  const program = options.commandWords[0];
  if (program !== undefined && NOT_PYTHON.test(basename(program)) && !options.env.VIRTUAL_ENV) {
    return { ...base, pythonProblem: `the command runs ${basename(program)}, not Python` };
  }
  if (!runsPython(options.commandWords, options.env)) {
    return { ...base, pythonProblem: 'the command names no Python interpreter, script or tool, and no virtual environment is active' };
  }
  const python = pythonOf(options.commandWords, options.env, options.cwd);
  const info = await run(python, ['-c', PYTHON_INFO], options);
  if (!info.ok) return { ...base, pythonProblem: `${python}: ${info.problem}` };
  let parsed: { executable: string; version: string; freeze: string[] };
  try {
    parsed = JSON.parse(info.stdout) as typeof parsed;
  } catch {
    return { ...base, pythonProblem: `${python} printed something that is not its description: ${info.stdout.slice(0, 200)}` };
  }
  const packages: Record<string, string> = {};
  for (const line of parsed.freeze) {
    const m = /^([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:==\s*(\S+)|@\s*(.+))$/.exec(line);
    if (m) packages[normalizeName(m[1]!)] = m[2] ?? `@ ${m[3]!.trim()}`;
  }
  return { ...base, python: { executable: parsed.executable, version: parsed.version, packages: sortKeys(packages), freeze: parsed.freeze } };
}

/** PEP 503: `Scikit_Learn` and `scikit-learn` are one distribution. */
const normalizeName = (name: string): string => name.replace(/[-_.]+/g, '-').toLowerCase();

function sortKeys(record: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(record).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/** The allow-listed variables and the pipeline's own, minus anything whose name or value looks secret. */
export function allowedEnv(env: Readonly<NodeJS.ProcessEnv>, pipelineEnvNames: readonly string[]): { env: Record<string, string>; withheld: string[] } {
  const kept: Record<string, string> = {};
  const withheld: string[] = [];
  const wanted = new Set([...ENV_ALLOW, ...pipelineEnvNames]);
  for (const name of [...wanted].sort()) {
    const value = env[name];
    if (value === undefined) continue;
    if (SECRET_NAME.test(name) || SECRET_VALUE.test(value)) withheld.push(name);
    else kept[name] = value;
  }
  return { env: kept, withheld };
}

/** The facts Compare diffs (see environmentChanges). */
export function environmentFacts(doc: RunEnvironment): EnvironmentFacts {
  const facts: Record<string, string> = {
    os: `${doc.os.type} ${doc.os.release} ${doc.os.arch}`,
    cpu: `${doc.cpu.count} × ${doc.cpu.model}`,
  };
  if (doc.python) {
    facts.python = doc.python.version;
    for (const [name, version] of Object.entries(doc.python.packages)) facts[`package:${name}`] = version;
  }
  for (const [name, value] of Object.entries(doc.env)) if (name !== 'PATH') facts[`env:${name}`] = value;
  return facts;
}

function run(file: string, args: string[], options: CaptureOptions): Promise<{ ok: true; stdout: string } | { ok: false; problem: string }> {
  return new Promise((done) => {
    execFile(
      file,
      args,
      { cwd: options.cwd, env: options.env, timeout: CAPTURE_TIMEOUT_MS, maxBuffer: 16 * 1024 * 1024, windowsHide: true },
      (error, stdout, stderr) => {
        if (!error) return done({ ok: true, stdout });
        const code = (error as NodeJS.ErrnoException).code;
        done({
          ok: false,
          problem:
            code === 'ENOENT'
              ? 'not found on the run’s PATH'
              : `${error.message.split('\n')[0]}${stderr ? `: ${String(stderr).trim().split('\n').pop()}` : ''}`,
        });
      },
    );
  });
}
