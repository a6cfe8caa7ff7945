import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import type { Config } from '../config/schema';
import CI_SCRIPT from './mloop-ci.sh';

/** What `mloop init --ci github` needs from mloop.yaml: the pipeline CI trains, its model and the data it reads. */
export interface CiSetup {
  readonly pipeline: string;
  readonly model: string;
  /** The path of the pipeline's first input dataset (relative to mloop.yaml), compared with the champion's data; null: none. */
  readonly current: string | null;
}

export class CiSetupError extends Error {
  override readonly name = 'CiSetupError';
}

export const CI_SCRIPT_PATH = join('scripts', 'mloop-ci.sh');
export const CI_WORKFLOW_PATH = join('.github', 'workflows', 'mloop.yml');
export { CI_SCRIPT };

/** The pipeline named, else the first pipeline of mloop.yaml with a `model:` section. */
export function ciSetupFrom(config: Config, configPath: string, pipelineName?: string): CiSetup {
  const entries = Object.entries(config.pipelines);
  const found = pipelineName !== undefined ? entries.find(([name]) => name === pipelineName) : entries.find(([, p]) => p.model);
  if (!found) {
    throw new CiSetupError(
      pipelineName !== undefined
        ? `no pipeline "${pipelineName}" in ${configPath}; pipelines: ${entries.map(([n]) => n).join(', ') || 'none'}`
        : `${configPath} has no pipeline with a model: section; CI trains one and gates the version it registers (add model: { name, path } to a pipeline)`,
    );
  }
  const [pipeline, section] = found;
  if (!section.model) throw new CiSetupError(`pipeline "${pipeline}" in ${configPath} has no model: section, so CI would have no version to gate`);
  const input = section.inputs.map((name) => config.datasets?.[name]?.path).find((path) => path !== undefined);
  return { pipeline, model: section.model.name, current: input ?? null };
}

/** The nearest folder at or above `projectRoot` holding `.git` (GitHub reads workflows there), else the project itself. */
export function repositoryRoot(projectRoot: string): string {
  for (let dir = projectRoot; ; dir = dirname(dir)) {
    if (existsSync(join(dir, '.git'))) return dir;
    if (dirname(dir) === dir) return projectRoot;
  }
}

/** A YAML scalar: JSON strings are YAML double-quoted scalars, so no value can end the string or start a new key. */
const yamlString = (value: string): string => JSON.stringify(value);

/** The workflow: installs Python and mloop, restores the store, runs the script with the values as environment variables. */
/**
 * Where CI gets the mloop CLI: an npm install spec (a tarball URL or path from `npm pack`, a git URL, a name on the
 * team's registry). mloop is not on the public npm registry, so there is no default; the spec goes into a GitHub
 * expression, so only characters that cannot end its quoted string are accepted.
 */
const PACKAGE_SPEC = /^[A-Za-z0-9@._/:+#~=-]+$/;

export function checkMloopPackage(spec: string | undefined): string | undefined {
  if (spec === undefined || spec === '') return undefined;
  if (!PACKAGE_SPEC.test(spec))
    throw new CiSetupError(
      `--mloop-package ${JSON.stringify(spec)}: an npm install spec (letters, digits and @ . _ / : + # ~ = -), e.g. ./mloop-0.1.0.tgz or git+https://…`,
    );
  return spec;
}

export function githubWorkflow(setup: CiSetup, options: { mloopVersion: string; projectDir: string; requirements: boolean; mloopPackage?: string }): string {
  const dir = options.projectDir;
  const inProject = (path: string): string => (dir === '.' ? path : `${dir}/${path}`);
  return [
    '# Written by `mloop init --ci github`. On every pull request and push to main: validate → train (a candidate version,',
    '# gated with its prediction tests) → drift of its training data against the champion’s → the model card diff',
    '# (candidate vs champion) as the job summary. The job fails with the first failing step’s mloop exit code',
    '# (docs/cli.md#exit-codes: 1 failure, 3 drift, 4 release gate). The steps are in scripts/mloop-ci.sh.',
    'name: mloop',
    'on:',
    '  pull_request:',
    '  push:',
    '    branches: [main]',
    '  workflow_dispatch:',
    'permissions:',
    '  contents: read',
    'jobs:',
    '  release-check:',
    '    runs-on: ubuntu-latest',
    '    defaults:',
    '      run:',
    `        working-directory: ${yamlString(dir)}`,
    '    env:',
    `      MLOOP_PIPELINE: ${yamlString(setup.pipeline)}`,
    `      MLOOP_MODEL: ${yamlString(setup.model)}`,
    `      MLOOP_CURRENT: ${yamlString(setup.current ?? '')}`,
    '    steps:',
    '      - uses: actions/checkout@v4',
    '      - uses: actions/setup-node@v4',
    '        with:',
    '          node-version: 22',
    '      - uses: actions/setup-python@v5',
    '        with:',
    "          python-version: '3.12'",
    ...(options.requirements ? ['      - run: python -m pip install -r requirements.txt'] : []),
    '      # mloop is not on the public npm registry: the CLI comes from the package your team builds (`npm pack` in the',
    '      # mloop repository gives mloop-<version>.tgz; commit it, or host it) — the repository variable MLOOP_PACKAGE,',
    `      # else the spec given to mloop init --mloop-package (written for mloop ${options.mloopVersion}).`,
    '      - name: Install the mloop CLI',
    '        env:',
    `          MLOOP_PACKAGE: \${{ vars.MLOOP_PACKAGE || '${options.mloopPackage ?? ''}' }}`,
    '        run: |',
    '          if [ -z "$MLOOP_PACKAGE" ]; then',
    '            echo "::error::set the repository variable MLOOP_PACKAGE to the npm install spec of the mloop CLI (e.g. ./mloop-0.1.0.tgz from npm pack), or re-run mloop init --ci github --mloop-package <spec> --force"',
    '            exit 1',
    '          fi',
    '          npm install --global "$MLOOP_PACKAGE"',
    '      # The champion the candidate is compared with lives in the project store (.mloop/). Here it is the store of the',
    '      # last run on main, kept in the Actions cache; a team on one MLflow server points mloop at it instead (docs/team.md).',
    '      - uses: actions/cache/restore@v4',
    '        with:',
    `          path: ${yamlString(inProject('.mloop'))}`,
    '          key: mloop-store-${{ github.run_id }}',
    '          restore-keys: mloop-store-',
    '      - run: bash scripts/mloop-ci.sh "$MLOOP_PIPELINE" "$MLOOP_MODEL" "$MLOOP_CURRENT"',
    "      - if: always() && github.ref == 'refs/heads/main'",
    '        uses: actions/cache/save@v4',
    '        with:',
    `          path: ${yamlString(inProject('.mloop'))}`,
    '          key: mloop-store-${{ github.run_id }}',
    '',
  ].join('\n');
}

export interface CiFilesResult {
  /** Absolute paths written. */
  readonly written: readonly string[];
}

/**
 * Writes the workflow (at the repository root, where GitHub reads it) and the script (in the project). An existing
 * file is never overwritten without `force`: then nothing is written and the error names every file in the way.
 */
export function writeCiFiles(projectRoot: string, setup: CiSetup, options: { force?: boolean; mloopVersion: string; mloopPackage?: string }): CiFilesResult {
  const repoRoot = repositoryRoot(projectRoot);
  const workflowPath = join(repoRoot, CI_WORKFLOW_PATH);
  const scriptPath = join(projectRoot, CI_SCRIPT_PATH);
  const existing = [workflowPath, scriptPath].filter((p) => existsSync(p));
  if (existing.length > 0 && !options.force) {
    throw new CiSetupError(`${existing.join(' and ')} already exist${existing.length === 1 ? 's' : ''}; nothing was written (--force overwrites)`);
  }
  const projectDir = relative(repoRoot, projectRoot).split(sep).join('/') || '.';
  const mloopPackage = checkMloopPackage(options.mloopPackage);
  const workflow = githubWorkflow(setup, {
    mloopVersion: options.mloopVersion,
    projectDir,
    requirements: existsSync(join(projectRoot, 'requirements.txt')),
    ...(mloopPackage ? { mloopPackage } : {}),
  });
  mkdirSync(dirname(workflowPath), { recursive: true });
  mkdirSync(dirname(scriptPath), { recursive: true });
  writeFileSync(workflowPath, workflow);
  writeFileSync(scriptPath, CI_SCRIPT, { mode: 0o755 });
  return { written: [workflowPath, scriptPath] };
}
