import { isAlias, isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node, type Pair } from 'yaml';
import type { z } from 'zod';
import { findParamReferences } from './paramReferences';
import { configSchema, type Config } from './schema';
import { buildStageGraph, stagesFromConfig } from '../experiments/stageGraph';

export type PathSegment = string | number;

/** One thing wrong (or suspicious) in mloop.yaml, at 1-based line:column, end exclusive. */
export interface Problem {
  readonly file: string;
  readonly line: number;
  readonly column: number;
  readonly endLine: number;
  readonly endColumn: number;
  readonly message: string;
  readonly severity: 'error' | 'warning';
  /** Where in the document: ['pipelines', 'train', 'inputs', 0]. Empty for syntax errors. */
  readonly path: readonly PathSegment[];
}

export interface LoadedConfig {
  /** Present when the file has no errors (warnings allowed). */
  readonly config?: Config;
  readonly problems: Problem[];
}

type Span = readonly [start: number, end: number];

/**
 * Parses and validates mloop.yaml text. Never throws: every failure, including a bug in the
 * checks themselves, comes back as a Problem with a position.
 */
export function loadConfig(text: string, file: string): LoadedConfig {
  return loadYamlFile(text, file, configSchema, { checkReferences: true, emptyMessage: 'mloop.yaml is empty: it starts with "version: 1"' }) as LoadedConfig;
}

/** Another YAML file the project reads (dvc.yaml): validated by `schema` with the same line:col problems as mloop.yaml. */
export function loadYamlFile<S extends z.ZodType>(
  text: string,
  file: string,
  schema: S,
  options: { checkReferences?: boolean; emptyMessage: string },
): { readonly config?: z.output<S>; readonly problems: Problem[] } {
  const lineCounter = new LineCounter();
  try {
    return new ConfigChecker(text, file, lineCounter, schema, options).check() as { config?: z.output<S>; problems: Problem[] };
  } catch (error) {
    return { problems: [problemAt(file, lineCounter, [0, 0], `mloop could not check this file: ${(error as Error)?.message ?? String(error)}`, 'error', [])] };
  }
}

/** Formats a problem the way compilers do, so terminals and editors link it: `file:line:col: error: message`. */
export function formatProblem(problem: Problem): string {
  return `${problem.file}:${problem.line}:${problem.column}: ${problem.severity}: ${problem.message}`;
}

class ConfigChecker {
  private readonly problems: Problem[] = [];
  private doc!: Document.Parsed;

  constructor(
    private readonly text: string,
    private readonly file: string,
    private readonly lineCounter: LineCounter,
    private readonly schema: z.ZodType,
    private readonly options: { checkReferences?: boolean; emptyMessage: string },
  ) {}

  check(): { config?: unknown; problems: Problem[] } {
    this.doc = parseDocument(this.text, { lineCounter: this.lineCounter, keepSourceTokens: true, prettyErrors: false, uniqueKeys: true });
    for (const e of this.doc.errors) this.add([e.pos[0], e.pos[1]], e.message, 'error', []);
    for (const w of this.doc.warnings) this.add([w.pos[0], w.pos[1]], w.message, 'warning', []);
    if (this.doc.errors.length > 0) return { problems: this.sorted() };

    let data: unknown;
    try {
      data = this.doc.toJS({ maxAliasCount: 1000 });
    } catch (error) {
      this.add([0, 0], `cannot read the YAML: ${(error as Error).message}`, 'error', []);
      return { problems: this.sorted() };
    }
    if (data === null || data === undefined) {
      this.add([0, 0], this.options.emptyMessage, 'error', []);
      return { problems: this.sorted() };
    }

    if (this.options.checkReferences) this.checkReferences(data);
    const config = this.validate(data);
    if (config !== undefined && this.options.checkReferences) this.checkStages(config as Config);
    const hasErrors = this.problems.some((p) => p.severity === 'error');
    return hasErrors ? { problems: this.sorted() } : { config, problems: this.sorted() };
  }

  /** Schema validation; unknown keys are warnings, so the rest of the file still loads. */
  private validate(data: unknown): unknown {
    let candidate = data;
    for (let attempt = 0; attempt < 3; attempt++) {
      const result = this.schema.safeParse(candidate);
      if (result.success) return result.data;
      const unknownKeys = result.error.issues.filter((i) => i.code === 'unrecognized_keys');
      const others = result.error.issues.filter((i) => i.code !== 'unrecognized_keys');
      if (attempt === 0) {
        for (const issue of unknownKeys) {
          for (const key of issue.keys) {
            const path = [...(issue.path as PathSegment[]), key];
            this.add(this.keySpan(path), `unknown key "${key}"${describePath(issue.path as PathSegment[], ' in ')}; it is ignored`, 'warning', path);
          }
        }
        for (const issue of others) this.addIssue(issue);
      }
      if (others.length > 0 || unknownKeys.length === 0) return undefined;
      candidate = withoutKeys(candidate, unknownKeys);
    }
    return undefined;
  }

  private addIssue(issue: z.core.$ZodIssue): void {
    const path = issue.path.filter((s): s is PathSegment => typeof s !== 'symbol');
    const where = describePath(path);
    const found = this.locate(path);
    if (issue.code === 'invalid_key') {
      const message = issue.issues[0]?.message ?? issue.message;
      this.add(this.keySpan(path), `${where}: invalid name "${String(path.at(-1))}": ${message}`, 'error', path);
      return;
    }
    if (found.missing) {
      const key = String(path[found.depth]);
      const parentPath = path.slice(0, found.depth);
      const message = found.depth === path.length - 1 ? `missing required key "${key}"${describePath(parentPath, ' in ')}` : `${where}: ${issue.message}`;
      this.add(parentPath.length === 0 ? this.rootKeySpan() : this.keySpan(parentPath), message, 'error', path);
      return;
    }
    this.add(found.span, `${where}: ${issue.message}`, 'error', path);
  }

  /** Cross-references the schema cannot express: inputs name declared datasets; commands use declared params. */
  private checkReferences(data: unknown): void {
    if (!isRecord(data)) return;
    const datasets = isRecord(data.datasets) ? Object.keys(data.datasets) : [];
    if (!isRecord(data.pipelines)) return;
    for (const [pipelineName, pipeline] of Object.entries(data.pipelines)) {
      if (!isRecord(pipeline)) continue;
      if (Array.isArray(pipeline.inputs)) {
        pipeline.inputs.forEach((input, index) => {
          if (typeof input !== 'string' || datasets.includes(input)) return;
          const path = ['pipelines', pipelineName, 'inputs', index];
          const declared = datasets.length ? `declared datasets: ${datasets.join(', ')}` : 'no datasets are declared under datasets:';
          this.add(this.locate(path).span, `pipeline "${pipelineName}" reads unknown dataset "${input}" (${declared})`, 'error', path);
        });
      }
      const params = isRecord(pipeline.params) ? Object.keys(pipeline.params) : [];
      this.checkSweepParams(pipelineName, pipeline.sweep, params);
      const commands: [string, PathSegment[]][] =
        typeof pipeline.command === 'string'
          ? [[pipeline.command, ['pipelines', pipelineName, 'command']]]
          : Array.isArray(pipeline.command)
            ? pipeline.command.flatMap((arg, i): [string, PathSegment[]][] =>
                typeof arg === 'string' ? [[arg, ['pipelines', pipelineName, 'command', i]]] : [],
              )
            : [];
      for (const [command, path] of commands) {
        for (const ref of findParamReferences(command)) {
          if (params.includes(ref.name)) continue;
          const declared = params.length ? `declared params: ${params.join(', ')}` : 'the pipeline declares no params';
          this.add(
            this.spanInsideString(path, command, ref.start, ref.end),
            `pipeline "${pipelineName}" uses undeclared param "${ref.name}" (${declared})`,
            'error',
            path,
          );
        }
      }
    }
  }

  /** A sweep varies only params its pipeline declares (with their defaults). */
  private checkSweepParams(pipelineName: string, sweep: unknown, params: readonly string[]): void {
    if (!isRecord(sweep)) return;
    const declared = params.length ? `declared params: ${params.join(', ')}` : 'the pipeline declares no params';
    const check = (names: unknown, path: PathSegment[]): void => {
      if (!isRecord(names)) return;
      for (const key of Object.keys(names)) {
        if (!params.includes(key))
          this.add(this.keySpan([...path, key]), `the sweep of pipeline "${pipelineName}" varies undeclared param "${key}" (${declared})`, 'error', [
            ...path,
            key,
          ]);
      }
    };
    const base: PathSegment[] = ['pipelines', pipelineName, 'sweep'];
    check(sweep.grid, [...base, 'grid']);
    if (isRecord(sweep.random)) check(sweep.random.params, [...base, 'random', 'params']);
    if (Array.isArray(sweep.list)) sweep.list.forEach((trial, i) => check(trial, [...base, 'list', i]));
  }

  /** The stages' DAG: duplicate outs and cycles show where they are written, as you type. */
  private checkStages(config: Config): void {
    if (!config.stages) return;
    for (const issue of buildStageGraph(stagesFromConfig(config, this.file)).issues) this.add(this.locate(issue.at).span, issue.message, 'error', issue.at);
  }

  /** Maps a substring of a scalar's value to the source text; falls back to the whole scalar. */
  private spanInsideString(path: PathSegment[], value: string, start: number, end: number): Span {
    const found = this.locate(path);
    if (found.missing || !isScalar(found.node) || !found.node.range) return found.span;
    const [nodeStart, nodeEnd] = found.node.range;
    const source = this.text.slice(nodeStart, nodeEnd);
    const needle = value.slice(start, end);
    // the k-th occurrence in the value is the k-th in the source: placeholders contain nothing YAML escapes or folds
    let occurrence = 0;
    for (let i = value.indexOf(needle); i !== -1 && i < start; i = value.indexOf(needle, i + 1)) occurrence++;
    let at = -1;
    for (let k = 0; k <= occurrence; k++) {
      at = source.indexOf(needle, at + 1);
      if (at === -1) return found.span;
    }
    return [nodeStart + at, nodeStart + at + needle.length];
  }

  /** Walks the YAML tree along `path`; reports how deep it got when a key or index is missing. */
  private locate(path: readonly PathSegment[]): { span: Span; node?: unknown; missing: boolean; depth: number } {
    let node: unknown = this.doc.contents;
    let span: Span = nodeSpan(node) ?? [0, 0];
    for (let depth = 0; depth < path.length; depth++) {
      node = this.resolveAlias(node);
      const child = childOf(node, path[depth]!);
      if (child === undefined) return { span, node, missing: true, depth };
      node = child.value;
      span = nodeSpan(child.value) ?? nodeSpan(child.key) ?? span;
    }
    return { span, node, missing: false, depth: path.length };
  }

  /** The span of the key that holds `path` (for unknown keys, bad names and missing children). */
  private keySpan(path: readonly PathSegment[]): Span {
    if (path.length === 0) return this.rootKeySpan();
    const parent = this.locate(path.slice(0, -1));
    if (parent.missing) return parent.span;
    const child = childOf(this.resolveAlias(parent.node), path.at(-1)!);
    return (child && (nodeSpan(child.key) ?? nodeSpan(child.value))) ?? parent.span;
  }

  private rootKeySpan(): Span {
    const contents = this.doc.contents;
    if (isMap(contents) && contents.items[0] && nodeSpan(contents.items[0].key)) return nodeSpan(contents.items[0].key)!;
    return nodeSpan(contents) ?? [0, 0];
  }

  private resolveAlias(node: unknown): unknown {
    return isAlias(node) ? (node.resolve(this.doc) ?? node) : node;
  }

  private add(span: Span, message: string, severity: Problem['severity'], path: readonly PathSegment[]): void {
    this.problems.push(problemAt(this.file, this.lineCounter, span, message, severity, path));
  }

  private sorted(): Problem[] {
    return [...this.problems].sort((a, b) => a.line - b.line || a.column - b.column);
  }
}

function problemAt(file: string, lineCounter: LineCounter, span: Span, message: string, severity: Problem['severity'], path: readonly PathSegment[]): Problem {
  const start = lineCounter.linePos(span[0]);
  const end = lineCounter.linePos(Math.max(span[0], span[1]));
  return { file, line: start.line, column: start.col, endLine: end.line, endColumn: end.col, message, severity, path: [...path] };
}

function childOf(node: unknown, segment: PathSegment): { key?: unknown; value: unknown } | undefined {
  if (isMap(node)) {
    const pair = (node.items as Pair[]).find((p) => isPair(p) && keyText(p.key) === String(segment));
    return pair && { key: pair.key, value: pair.value };
  }
  if (isSeq(node) && typeof segment === 'number') {
    const item: unknown = node.items[segment];
    return item === undefined ? undefined : { value: item };
  }
  return undefined;
}

function keyText(key: unknown): string | undefined {
  if (isScalar(key)) return String(key.value);
  return key === null || key === undefined ? undefined : String(key);
}

function nodeSpan(node: unknown): Span | undefined {
  const range = (node as Node | null | undefined)?.range;
  return range ? [range[0], range[1]] : undefined;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** `pipelines.train.inputs[0]`, readable in a message. */
function describePath(path: readonly PathSegment[], prefix = ''): string {
  if (path.length === 0) return prefix ? '' : 'the file';
  const text = path.map((s, i) => (typeof s === 'number' ? `[${s}]` : i === 0 ? s : `.${s}`)).join('');
  return `${prefix}${text}`;
}

function withoutKeys(data: unknown, issues: readonly { path: PropertyKey[]; keys: string[] }[]): unknown {
  const copy = structuredClone(data);
  for (const issue of issues) {
    let target: unknown = copy;
    for (const s of issue.path) target = (target as Record<PropertyKey, unknown> | undefined)?.[s];
    if (isRecord(target)) for (const key of issue.keys) delete target[key];
  }
  return copy;
}
