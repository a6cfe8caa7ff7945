import { codeNodeId, lineageWalk, parseNodeId, type LineageGraph, type LineageNode, type LineageOptions, type Neighbour } from '../lineage/graph';
import type { BackendDatasetInput, BackendModelVersion, BackendRun } from './backend';
import { GATE_PASSED_TAG } from './remoteRegistry';
import { filterLiteral, type MlflowBackend } from './mlflowBackend';

/**
 * Lineage read from an MLflow tracking server, drawn by the same walk and panel as the store's:
 * model version → its source run (`run_id`) → the code (`mlflow.source.name` @ `mlflow.source.git.commit`)
 * and the datasets the run logged with mlflow.log_input; downstream, a dataset or a script → the runs
 * that read it (the server's `dataset.*` / `tags.*` search), a run → the versions registered from it.
 *
 * Node ids keep the store's `<kind>:<key>` shape with server keys: `run:<run id>`,
 * `model:<name>/<version>`, `dataset:<name>@<MLflow digest>`, `code:<commit|nogit>:<source name>`.
 * Deployments, drift reports and the audit live in the local store (see README "Scale path").
 */
export interface RemoteLineageOptions extends LineageOptions {
  /** Stops the walk between server requests. */
  readonly signal?: AbortSignal;
}

export const remoteModelNodeId = (name: string, version: number): string => `model:${name}/${version}`;
export const remoteDatasetNodeId = (name: string, digest: string): string => `dataset:${name}@${digest}`;

/** `model:<name>/<version>` → its parts; undefined for anything else (e.g. a store id `model:12`). */
export function parseRemoteModelKey(key: string): { name: string; version: number } | undefined {
  const match = /^(.+)\/(\d+)$/.exec(key);
  return match ? { name: match[1]!, version: Number(match[2]) } : undefined;
}

/** `<name>@<digest>` → its parts. */
export function parseRemoteDatasetKey(key: string): { name: string; digest: string } | undefined {
  const at = key.lastIndexOf('@');
  return at > 0 && at < key.length - 1 ? { name: key.slice(0, at), digest: key.slice(at + 1) } : undefined;
}

/** The server's search for runs that logged one dataset (mlflow.log_input). */
const datasetFilter = (key: { name: string; digest: string }): string =>
  `dataset.name = ${filterLiteral(key.name)} AND dataset.digest = ${filterLiteral(key.digest)}`;

function parseCodeKey(key: string): { commit: string | null; file: string } | undefined {
  const match = /^(nogit|[0-9a-f]{7,64}):(.+)$/.exec(key);
  return match ? { commit: match[1] === 'nogit' ? null : match[1]!, file: match[2]! } : undefined;
}

/** Where an MLflow dataset source points: `{"uri": "..."}` (local, http, s3 …) or the raw text. */
export function datasetSourceUri(source: string | null): string | undefined {
  if (!source) return undefined;
  try {
    const parsed: unknown = JSON.parse(source);
    if (parsed && typeof parsed === 'object') {
      const o = parsed as Record<string, unknown>;
      for (const key of ['uri', 'url', 'path', 'table_name']) if (typeof o[key] === 'string') return o[key];
    }
    return undefined;
  } catch {
    return source;
  }
}

function datasetRows(profile: string | null): number | undefined {
  if (!profile) return undefined;
  try {
    const rows = (JSON.parse(profile) as { num_rows?: unknown }).num_rows;
    return typeof rows === 'number' ? rows : undefined;
  } catch {
    return undefined;
  }
}

/** Answers the walk's questions from the server; one instance per walk, so each run is fetched once. */
class ServerLineage {
  private readonly runs = new Map<string, Promise<{ run: BackendRun; inputs: BackendDatasetInput[] } | undefined>>();
  private readonly datasets = new Map<string, BackendDatasetInput>();
  /** The server's experiments, listed once per walk (every search needs their ids). */
  private experiments: Promise<string[]> | undefined;

  constructor(
    private readonly backend: MlflowBackend,
    private readonly limit: number,
  ) {}

  private run(runId: string): Promise<{ run: BackendRun; inputs: BackendDatasetInput[] } | undefined> {
    let found = this.runs.get(runId);
    if (!found) {
      found = this.backend.runWithInputs(runId).then((r) => {
        for (const input of r?.inputs ?? []) this.datasets.set(remoteDatasetNodeId(input.name, input.digest), input);
        return r;
      });
      this.runs.set(runId, found);
    }
    return found;
  }

  private async search(filter: string, maxResults: number): Promise<BackendRun[]> {
    this.experiments ??= this.backend.listExperiments().then((list) => list.map((e) => e.experimentId));
    return this.backend.searchRunsWhere(filter, maxResults, await this.experiments);
  }

  async describe(id: string, depth: number): Promise<LineageNode | undefined> {
    const parsed = parseNodeId(id);
    if (!parsed) return undefined;
    switch (parsed.kind) {
      case 'run': {
        const found = await this.run(parsed.key);
        if (!found) return undefined;
        const { run } = found;
        const pipeline = run.tags['mloop.pipeline'];
        return {
          id,
          kind: 'run',
          label: run.name,
          detail: [run.status.toLowerCase(), pipeline ? `pipeline ${pipeline}` : undefined, run.runId.slice(0, 8)].filter(Boolean).join(' · '),
          depth,
        };
      }
      case 'model': {
        const key = parseRemoteModelKey(parsed.key);
        const version = key && (await this.backend.modelVersion(key.name, key.version));
        return version ? describeVersion(id, version, depth) : undefined;
      }
      case 'dataset': {
        const key = parseRemoteDatasetKey(parsed.key);
        if (!key) return undefined;
        let input = this.datasets.get(id);
        if (!input) {
          // the walk starts at this dataset: any run that read it carries its details
          const [reader] = await this.search(datasetFilter(key), 1);
          if (reader) await this.run(reader.runId);
          input = this.datasets.get(id);
        }
        if (!input) return undefined;
        const rows = datasetRows(input.profile);
        const location = datasetSourceUri(input.source);
        return {
          id,
          kind: 'dataset',
          label: `${input.name} @${input.digest.slice(0, 12)}`,
          detail: [rows === undefined ? undefined : `${rows.toLocaleString('en-US')} rows`, location, input.context ?? undefined].filter(Boolean).join(' · '),
          depth,
          ...(location ? { location } : {}),
        };
      }
      case 'code': {
        const key = parseCodeKey(parsed.key);
        if (!key) return undefined;
        // the client records the script as it was started, often an absolute path: the label keeps its name, the detail the path
        const name = key.file.split(/[\\/]/).filter(Boolean).pop() ?? key.file;
        const commit = key.commit ? `commit ${key.commit.slice(0, 8)}` : 'no git commit recorded';
        return {
          id,
          kind: 'code',
          label: `${name}${key.commit ? ` @${key.commit.slice(0, 8)}` : ''}`,
          detail: name === key.file ? commit : `${key.file} · ${commit}`,
          depth,
          location: key.file,
        };
      }
      case 'deployment':
      case 'drift':
        return undefined; // local-store only
    }
  }

  async upstream(id: string): Promise<Neighbour[]> {
    const parsed = parseNodeId(id);
    if (!parsed) return [];
    switch (parsed.kind) {
      case 'run': {
        const found = await this.run(parsed.key);
        if (!found) return [];
        const inputs = found.inputs.map((i) => ({ id: remoteDatasetNodeId(i.name, i.digest), relation: 'input' }));
        const file = found.run.tags['mlflow.source.name'];
        const commit = found.run.tags['mlflow.source.git.commit'];
        const code = file ? [{ id: codeNodeId(commit && /^[0-9a-f]{7,64}$/.test(commit) ? commit : null, file), relation: 'code' }] : [];
        return [...new Map([...inputs, ...code].map((n) => [n.id, n])).values()];
      }
      case 'model': {
        const key = parseRemoteModelKey(parsed.key);
        const version = key && (await this.backend.modelVersion(key.name, key.version));
        return version?.runId ? [{ id: `run:${version.runId}`, relation: 'registered' }] : [];
      }
      default:
        return [];
    }
  }

  async downstream(id: string): Promise<Neighbour[]> {
    const parsed = parseNodeId(id);
    if (!parsed) return [];
    switch (parsed.kind) {
      case 'dataset': {
        const key = parseRemoteDatasetKey(parsed.key);
        if (!key) return [];
        const runs = await this.search(datasetFilter(key), this.limit);
        return runs.map((r) => ({ id: `run:${r.runId}`, relation: 'input' }));
      }
      case 'code': {
        const key = parseCodeKey(parsed.key);
        if (!key) return [];
        const filter = `tags.\`mlflow.source.name\` = ${filterLiteral(key.file)}${key.commit ? ` AND tags.\`mlflow.source.git.commit\` = ${filterLiteral(key.commit)}` : ''}`;
        const runs = await this.search(filter, this.limit);
        return runs.filter((r) => key.commit !== null || !r.tags['mlflow.source.git.commit']).map((r) => ({ id: `run:${r.runId}`, relation: 'code' }));
      }
      case 'run':
        return (await this.backend.versionsOfRun(parsed.key)).map((v) => ({ id: remoteModelNodeId(v.name, v.version), relation: 'registered' }));
      default:
        return [];
    }
  }
}

function describeVersion(id: string, v: BackendModelVersion, depth: number): LineageNode {
  const passed = v.tags[GATE_PASSED_TAG];
  const gate = passed === undefined ? undefined : passed === 'true' ? 'gate ✓' : 'gate ✗';
  return {
    id,
    kind: 'model',
    label: `${v.name} v${v.version}`,
    detail: [v.aliases.length ? v.aliases.map((a) => `@${a}`).join(' ') : undefined, gate].filter(Boolean).join(' · '),
    depth,
  };
}

/** The lineage graph around `root` as the MLflow server holds it (see the module comment). */
export async function remoteLineageGraph(backend: MlflowBackend, root: string, options: RemoteLineageOptions = {}): Promise<LineageGraph> {
  const maxNodes = Math.max(1, options.maxNodes ?? 400);
  const source = new ServerLineage(backend, maxNodes);
  const walk = lineageWalk(root, { ...options, maxNodes, where: `the MLflow server ${backend.location}` });
  let step = walk.next();
  while (!step.done) {
    if (options.signal?.aborted) throw Object.assign(new Error('lineage walk cancelled'), { name: 'AbortError' });
    const q = step.value;
    step = walk.next(q.op === 'describe' ? await source.describe(q.id, q.depth) : q.op === 'up' ? await source.upstream(q.id) : await source.downstream(q.id));
  }
  return step.value;
}

/**
 * What a user typed, as a server lineage node id: `<model>@<version|alias>`, `<model>/<version>`,
 * `models:/<model>/<version>`, `models:/<model>@<alias>`, `run:<id>` or a full run id. A problem
 * message when the server has no such thing.
 */
export async function resolveRemoteLineageRef(backend: MlflowBackend, text: string): Promise<{ id: string } | { problem: string }> {
  const ref = text.trim();
  const forms = 'model@version, model@alias, models:/model/3, models:/model@alias or a run id';
  if (ref === '') return { problem: `give what to trace on ${backend.location}: ${forms}` };
  const runId = /^(?:run:)?([0-9a-f]{32})$/i.exec(ref)?.[1];
  if (runId) return (await backend.getRun(runId.toLowerCase())) ? { id: `run:${runId.toLowerCase()}` } : { problem: `no run ${runId} on ${backend.location}` };
  const match = /^models:\/([^/@]+)(?:\/(\d+)|@([\w-]+))$/.exec(ref) ?? /^(.+?)[@/]([^@/]+)$/.exec(ref);
  if (!match) return { problem: `"${ref}" is not one of ${forms}` };
  const name = match[1]!;
  const raw = match[2] ?? match[3]!;
  const selector = /^v\d+$/i.test(raw) ? raw.slice(1) : raw;
  const versions = await backend.modelVersions(name);
  if (versions.length === 0) return { problem: `no registered model "${name}" on ${backend.location}` };
  const found = /^\d+$/.test(selector) ? versions.find((v) => v.version === Number(selector)) : versions.find((v) => v.aliases.includes(selector));
  if (!found)
    return {
      problem: /^\d+$/.test(selector)
        ? `${name} has no version ${selector} on ${backend.location}`
        : `${name} has no alias "${selector}" on ${backend.location}`,
    };
  return { id: remoteModelNodeId(name, found.version) };
}
