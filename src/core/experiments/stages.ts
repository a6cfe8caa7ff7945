import { existsSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { loadConfig, loadYamlFile, type Problem } from '../config/loadConfig';
import { locateYamlPath } from '../config/locate';
import type { Config } from '../config/schema';
import { CONFIG_FILE } from '../project/init';
import { DVC_FILE, dvcFileSchema, stagesFromDvc } from './dvcStages';
import { buildStageGraph, stagesFromConfig, type StageDefinition, type StageGraph, type StageIssue } from './stageGraph';

/** The stages of a project (mloop.yaml's and dvc.yaml's, one DAG), or the problems that keep any from starting. */
export interface ProjectStages {
  readonly root: string;
  readonly config?: Config;
  /** Present when both files load and the stages form a DAG. */
  readonly graph?: StageGraph;
  /** Errors and warnings, each at file:line:col. */
  readonly problems: readonly Problem[];
  /** A problem found later (a missing dep, a missing param) placed in the file that declares it. */
  problemOf(issue: StageIssue): Problem;
}

/** Reads mloop.yaml and dvc.yaml at `root`; `show` names a file in messages (default: relative to root). */
export function loadProjectStages(root: string, show: (absolutePath: string) => string = (p) => relative(root, p)): ProjectStages {
  const texts = new Map<string, string>();
  const problems: Problem[] = [];
  const stages: StageDefinition[] = [];
  let config: Config | undefined;
  let failed = false;

  const configPath = join(root, CONFIG_FILE);
  if (existsSync(configPath)) {
    const shown = show(configPath) || CONFIG_FILE;
    const text = readFileSync(configPath, 'utf8');
    texts.set(shown, text);
    const loaded = loadConfig(text, shown);
    problems.push(...loaded.problems);
    config = loaded.config;
    if (loaded.config) stages.push(...stagesFromConfig(loaded.config, shown));
    else failed = true;
  }
  const dvcPath = join(root, DVC_FILE);
  if (existsSync(dvcPath)) {
    const shown = show(dvcPath) || DVC_FILE;
    const text = readFileSync(dvcPath, 'utf8');
    texts.set(shown, text);
    const loaded = loadYamlFile(text, shown, dvcFileSchema, { emptyMessage: 'dvc.yaml is empty: it declares stages: under stages:' });
    problems.push(...loaded.problems);
    if (loaded.config) stages.push(...stagesFromDvc(loaded.config, shown));
    else failed = true;
  }

  const problemOf = (issue: StageIssue): Problem => {
    const span = locateYamlPath(texts.get(issue.file) ?? '', issue.at);
    return { file: issue.file, ...span, message: issue.message, severity: 'error', path: [...issue.at] };
  };
  if (failed) return { root, ...(config ? { config } : {}), problems, problemOf };
  const built = buildStageGraph(stages);
  // mloop.yaml's own DAG problems are already among its problems (the loader reports them as you type)
  const known = new Set(problems.map((p) => `${p.file}\0${p.message}`));
  for (const issue of built.issues) {
    const problem = problemOf(issue);
    if (!known.has(`${problem.file}\0${problem.message}`)) problems.push(problem);
  }
  problems.sort((a, b) => a.file.localeCompare(b.file) || a.line - b.line || a.column - b.column);
  return { root, ...(config ? { config } : {}), ...(built.graph ? { graph: built.graph } : {}), problems, problemOf };
}

/** Deps that are not on disk and that no stage writes: found before anything starts. */
export function missingDepIssues(graph: StageGraph, stages: readonly StageDefinition[], root: string): StageIssue[] {
  const issues: StageIssue[] = [];
  for (const stage of stages) {
    for (const dep of stage.deps) {
      if (graph.edges.some((e) => e.stage === stage.name && e.dep === dep)) continue;
      if (existsSync(join(root, dep.path))) continue;
      const shownPath = dep.path === dep.written ? `"${dep.written}"` : `"${dep.written}" (${dep.path})`;
      issues.push({ file: stage.file, at: dep.at, message: `stage "${stage.name}" depends on ${shownPath}, which does not exist and is no stage's out` });
    }
  }
  return issues;
}

/**
 * The values of the params a stage reads, as text (JSON for lists and mappings), keyed `file:key` for a file
 * other than params.yaml. A missing file or key is an issue at the param.
 */
export function readStageParams(stage: StageDefinition, root: string): { values: Record<string, string>; issues: StageIssue[] } {
  const values: Record<string, string> = {};
  const issues: StageIssue[] = [];
  const files = new Map<string, unknown>();
  const read = (file: string): unknown => {
    if (!files.has(file)) {
      try {
        files.set(file, parseYaml(readFileSync(join(root, file), 'utf8')) ?? {});
      } catch (error) {
        files.set(file, error instanceof Error ? error : new Error(String(error)));
      }
    }
    return files.get(file);
  };
  for (const param of stage.params) {
    const data = read(param.file);
    if (data instanceof Error) {
      const reason = (data as NodeJS.ErrnoException).code === 'ENOENT' ? 'it does not exist' : data.message;
      issues.push({ file: stage.file, at: param.at, message: `stage "${stage.name}" reads params from ${param.file}, but ${reason}` });
      continue;
    }
    const label = param.file === 'params.yaml' || param.file.endsWith('/params.yaml') ? (param.key ?? param.file) : `${param.file}:${param.key ?? ''}`;
    if (param.key === undefined) {
      values[label] = JSON.stringify(data);
      continue;
    }
    let value: unknown = data;
    for (const part of param.key.split('.')) value = typeof value === 'object' && value !== null ? (value as Record<string, unknown>)[part] : undefined;
    if (value === undefined) {
      issues.push({ file: stage.file, at: param.at, message: `stage "${stage.name}" reads param "${param.key}", which ${param.file} does not define` });
      continue;
    }
    values[label] = typeof value === 'object' && value !== null ? JSON.stringify(value) : String(value);
  }
  return { values, issues };
}
