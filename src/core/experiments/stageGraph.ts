import { posix } from 'node:path';
import type { PathSegment } from '../config/loadConfig';
import type { Config, StageParamsDeclaration } from '../config/schema';

/** A dep or out of a stage: the path as compared (project-relative, `/`-separated) and where it was written. */
export interface StagePath {
  readonly path: string;
  readonly written: string;
  /** Where in its YAML file, e.g. ['stages', 'train', 'deps', 0]. */
  readonly at: readonly PathSegment[];
}

/** One param a stage reads: a key of a YAML/JSON file (undefined: the whole file). */
export interface StageParam {
  /** Project-relative, `/`-separated. */
  readonly file: string;
  readonly key: string | undefined;
  readonly at: readonly PathSegment[];
}

/** A stage from mloop.yaml or dvc.yaml, with paths made comparable. */
export interface StageDefinition {
  readonly name: string;
  /** A string runs in the user's shell (trusted workspaces only); a list is the program and its arguments. */
  readonly command: string | readonly string[];
  /** Working folder, project-relative ('' for the project root; dvc.yaml `wdir`). */
  readonly wdir: string;
  readonly deps: readonly StagePath[];
  readonly outs: readonly StagePath[];
  readonly params: readonly StageParam[];
  readonly env: Readonly<Record<string, string>>;
  readonly experiment: string | undefined;
  /** The file that declares it, as shown in messages (mloop.yaml, dvc.yaml). */
  readonly file: string;
  readonly at: readonly PathSegment[];
}

/** Something wrong in the stages, pointing at where it is written. */
export interface StageIssue {
  readonly file: string;
  readonly at: readonly PathSegment[];
  readonly message: string;
}

/** A dependency edge: `stage` reads `dep`, which `producer` writes. */
export interface StageEdge {
  readonly stage: string;
  readonly producer: string;
  readonly dep: StagePath;
}

export interface StageGraph {
  /** Every stage, each after the stages it reads from (declaration order among the ready ones). */
  readonly order: readonly StageDefinition[];
  readonly edges: readonly StageEdge[];
}

/** Default file of a bare param key, as in DVC. */
export const DEFAULT_PARAMS_FILE = 'params.yaml';

/** A path as written (relative to the stage's working folder) → project-relative and comparable. */
export function normalizeStagePath(written: string, wdir: string): string {
  const joined = posix.normalize(posix.join(wdir || '.', written.replaceAll('\\', '/')));
  return joined.length > 1 ? joined.replace(/\/+$/, '') : joined;
}

/** Equal, or one a folder holding the other. */
export function pathsOverlap(a: string, b: string): boolean {
  return a === b || b.startsWith(`${a}/`) || a.startsWith(`${b}/`) || a === '.' || b === '.';
}

export function stageParamsOf(declared: StageParamsDeclaration, wdir: string, at: readonly PathSegment[]): StageParam[] {
  return declared.flatMap((item, index): StageParam[] => {
    if (typeof item === 'string') return [{ file: normalizeStagePath(DEFAULT_PARAMS_FILE, wdir), key: item, at: [...at, index] }];
    return Object.entries(item).flatMap(([file, keys]): StageParam[] =>
      keys && keys.length > 0
        ? keys.map((key, k) => ({ file: normalizeStagePath(file, wdir), key, at: [...at, index, file, k] }))
        : [{ file: normalizeStagePath(file, wdir), key: undefined, at: [...at, index, file] }],
    );
  });
}

/** The `stages:` of mloop.yaml as definitions; a dep naming a declared dataset reads that dataset's path. */
export function stagesFromConfig(config: Config, file: string): StageDefinition[] {
  return Object.entries(config.stages ?? {}).map(([name, stage]) => {
    const at = ['stages', name];
    const datasetPath = (dep: string): string => {
      const dataset = config.datasets[dep];
      return dataset && !dep.includes('/') ? dataset.path : dep;
    };
    return {
      name,
      command: (stage.command ?? stage.cmd)!,
      wdir: '',
      deps: stage.deps.map((dep, i) => ({ path: normalizeStagePath(datasetPath(dep), ''), written: dep, at: [...at, 'deps', i] })),
      outs: stage.outs.map((out, i) => ({ path: normalizeStagePath(out, ''), written: out, at: [...at, 'outs', i] })),
      params: stageParamsOf(stage.params, '', [...at, 'params']),
      env: Object.fromEntries(Object.entries(stage.env).map(([k, v]) => [k, String(v)])),
      experiment: stage.experiment,
      file,
      at,
    };
  });
}

/**
 * Checks the stages and orders them. Errors: a stage name declared twice, two stages writing one out (or one
 * inside the other's folder), and a cycle (named stage by stage, reported at the dep that closes it).
 */
export function buildStageGraph(stages: readonly StageDefinition[]): { graph?: StageGraph; issues: StageIssue[] } {
  const issues: StageIssue[] = [];
  const byName = new Map<string, StageDefinition>();
  for (const stage of stages) {
    const first = byName.get(stage.name);
    if (first) {
      issues.push({ file: stage.file, at: stage.at, message: `stage "${stage.name}" is declared twice (also in ${first.file})` });
      continue;
    }
    byName.set(stage.name, stage);
  }
  const unique = [...byName.values()];

  const writers: { stage: StageDefinition; out: StagePath }[] = [];
  for (const stage of unique) {
    for (const out of stage.outs) {
      const other = writers.find((w) => pathsOverlap(w.out.path, out.path));
      if (other) {
        const what = other.out.path === out.path ? `is also an out of` : `overlaps "${other.out.written}", an out of`;
        const owner = other.stage.name === stage.name ? 'this stage' : `stage "${other.stage.name}"`;
        issues.push({
          file: stage.file,
          at: out.at,
          message: `out "${out.written}" of stage "${stage.name}" ${what} ${owner}: two stages cannot write one out`,
        });
        continue;
      }
      writers.push({ stage, out });
    }
  }

  const edges: StageEdge[] = [];
  for (const stage of unique) {
    for (const dep of stage.deps) {
      for (const writer of writers) {
        if (pathsOverlap(writer.out.path, dep.path)) edges.push({ stage: stage.name, producer: writer.stage.name, dep });
      }
    }
  }
  issues.push(...cycleIssues(unique, edges));
  if (issues.length > 0) return { issues };
  return { graph: { order: topologicalOrder(unique, edges), edges }, issues };
}

/** Each distinct cycle once, as data flows (producer → consumer), at the dep of its earliest-declared stage. */
function cycleIssues(stages: readonly StageDefinition[], edges: readonly StageEdge[]): StageIssue[] {
  const byName = new Map(stages.map((s) => [s.name, s]));
  const order = new Map(stages.map((s, i) => [s.name, i]));
  const readsFrom = new Map<string, StageEdge[]>(stages.map((s) => [s.name, []]));
  for (const edge of edges) readsFrom.get(edge.stage)!.push(edge);
  const state = new Map<string, 'open' | 'done'>();
  const stack: StageEdge[] = [];
  const seen = new Set<string>();
  const issues: StageIssue[] = [];
  const visit = (name: string): void => {
    state.set(name, 'open');
    for (const edge of readsFrom.get(name)!) {
      const next = edge.producer;
      if (state.get(next) === 'open') {
        // the stack holds the edges from `next` down to `name`; this edge closes the loop
        const from = stack.findIndex((e) => e.stage === next);
        const loop = [...(from === -1 ? [] : stack.slice(from)), edge];
        const key = [...new Set(loop.map((e) => e.stage))].sort().join('\0');
        if (seen.has(key)) continue;
        seen.add(key);
        // consumers read producers: reversed, the names follow the data
        const flow = [...loop.map((e) => e.producer).reverse(), loop.at(-1)!.producer];
        const reads = loop.map((e) => `${e.stage} reads "${e.dep.written}" from ${e.producer}`).join('; ');
        // reported at the dep of the earliest-declared stage in the loop: the edge that points back up the file
        const blamed = loop.reduce((a, b) => (order.get(b.stage)! < order.get(a.stage)! ? b : a));
        issues.push({
          file: byName.get(blamed.stage)!.file,
          at: blamed.dep.at,
          message:
            loop.length === 1 && edge.stage === edge.producer
              ? `stage "${edge.stage}" reads "${edge.dep.written}", which it writes itself: a stage cannot depend on its own out`
              : `stages form a cycle: ${flow.join(' → ')} (${reads})`,
        });
        continue;
      }
      if (state.get(next) === 'done') continue;
      stack.push(edge);
      visit(next);
      stack.pop();
    }
    state.set(name, 'done');
  };
  for (const stage of stages) if (!state.has(stage.name)) visit(stage.name);
  return issues;
}

function topologicalOrder(stages: readonly StageDefinition[], edges: readonly StageEdge[]): StageDefinition[] {
  const waitingOn = new Map(stages.map((s) => [s.name, new Set<string>()]));
  for (const edge of edges) waitingOn.get(edge.stage)!.add(edge.producer);
  const order: StageDefinition[] = [];
  const placed = new Set<string>();
  while (order.length < stages.length) {
    const ready = stages.find((s) => !placed.has(s.name) && [...waitingOn.get(s.name)!].every((p) => placed.has(p)))!;
    order.push(ready);
    placed.add(ready.name);
  }
  return order;
}

/** The named stage and every stage it reads from, in run order; no name: every stage. */
export function stagesToRun(graph: StageGraph, target?: string): StageDefinition[] {
  if (target === undefined) return [...graph.order];
  const wanted = new Set<string>([target]);
  for (let grew = true; grew; ) {
    grew = false;
    for (const edge of graph.edges) {
      if (wanted.has(edge.stage) && !wanted.has(edge.producer)) {
        wanted.add(edge.producer);
        grew = true;
      }
    }
  }
  return graph.order.filter((s) => wanted.has(s.name));
}

/** The names of the stages `name` reads from directly. */
export function producersOf(graph: StageGraph, name: string): string[] {
  return [...new Set(graph.edges.filter((e) => e.stage === name).map((e) => e.producer))];
}
