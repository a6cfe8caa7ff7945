import type { Store } from '../store/store';

/**
 * Lineage is read from the store's keys, never stored twice: run_input (dataset version → run),
 * run.git_commit/entry_file (code → run), model_version.source_run_id (run → model version),
 * deployment.model_version_id (model version → deployment), drift_report.reference_dataset_version_id
 * (dataset version → drift report), drift_report.retrain_run_id (drift report → retrain run) and
 * run_reproduction (original run → its exact rerun, 'reproduces') and stage_file (a stage run's out → the stage
 * runs that read those bytes as a dep, 'stage out').
 */
export type LineageKind = 'dataset' | 'code' | 'run' | 'model' | 'deployment' | 'drift';

export interface LineageNode {
  /** `<kind>:<key>`: `dataset:<dataset_version_id>`, `run:<run_id>`, `model:<model_version_id>`, `deployment:<id>`, `drift:<id>`, `code:<commit|nogit>:<entry file>`. */
  readonly id: string;
  readonly kind: LineageKind;
  readonly label: string;
  readonly detail: string;
  /** Hops from the node the graph was drawn around: negative upstream, positive downstream. */
  readonly depth: number;
  /** Where the thing is, when the graph was read from a server: a dataset's source URI. */
  readonly location?: string;
}

export interface LineageEdge {
  readonly from: string;
  readonly to: string;
  /** What the edge means: 'input', 'code', 'registered', 'deployed', 'reference', 'retrain', 'reproduces'. */
  readonly relation: string;
}

export interface LineageGraph {
  readonly root: string;
  readonly nodes: LineageNode[];
  readonly edges: LineageEdge[];
  /** True when maxNodes stopped the walk before depth did. */
  readonly truncated: boolean;
}

export interface LineageOptions {
  /** Hops upstream and downstream of the root (default 3). */
  readonly depth?: number;
  /** Stop adding nodes beyond this many (default 400): a dataset read by thousands of runs stays drawable. */
  readonly maxNodes?: number;
}

/** The relation from a stage run to the stage runs that read its outs (walked without spending a hop of depth). */
export const STAGE_OUT = 'stage out';

export interface Neighbour {
  readonly id: string;
  readonly relation: string;
}

const short = (digest: string): string => digest.replace(/^sha256:/, '').slice(0, 12);

/** Splits a node id into its kind and key; undefined for anything that is not a node id. */
export function parseNodeId(id: string): { kind: LineageKind; key: string } | undefined {
  const match = /^(dataset|code|run|model|deployment|drift):(.+)$/.exec(id);
  return match ? { kind: match[1] as LineageKind, key: match[2]! } : undefined;
}

export const codeNodeId = (gitCommit: string | null, entryFile: string): string => `code:${gitCommit ?? 'nogit'}:${entryFile}`;

/** Reads one node's label and detail; undefined when the row it names no longer exists. */
export function describeNode(store: Store, id: string, depth = 0): LineageNode | undefined {
  const parsed = parseNodeId(id);
  if (!parsed) return undefined;
  const db = store.db;
  switch (parsed.kind) {
    case 'dataset': {
      const row = db
        .prepare(
          `SELECT d.name, v.digest, v.row_count, v.path, v.created_at FROM dataset_version v JOIN dataset d USING (dataset_id) WHERE v.dataset_version_id = ?`,
        )
        .get(Number(parsed.key)) as { name: string; digest: string; row_count: number | null; path: string; created_at: number } | undefined;
      if (!row) return undefined;
      const rows = row.row_count === null ? undefined : `${row.row_count.toLocaleString('en-US')} rows`;
      return { id, kind: 'dataset', label: `${row.name} @${short(row.digest)}`, detail: [rows, row.path].filter(Boolean).join(' · '), depth };
    }
    case 'code': {
      const match = /^(nogit|[0-9a-f]{7,64}):(.+)$/.exec(parsed.key);
      if (!match) return undefined;
      const commit = match[1] === 'nogit' ? null : match[1]!;
      const file = match[2]!;
      const dirty = db.prepare('SELECT max(git_dirty) FROM run WHERE entry_file = ? AND git_commit IS ?').pluck().get(file, commit) as number | null;
      return {
        id,
        kind: 'code',
        label: `${file}${commit ? ` @${commit.slice(0, 8)}` : ''}`,
        detail: commit ? (dirty ? 'commit + uncommitted changes in some runs' : 'clean commit') : 'not in a git repository',
        depth,
      };
    }
    case 'run': {
      const row = db.prepare('SELECT name, status, pipeline, start_time, git_dirty FROM run WHERE run_id = ?').get(parsed.key) as
        | { name: string; status: string; pipeline: string | null; start_time: number; git_dirty: number | null }
        | undefined;
      if (!row) return undefined;
      return {
        id,
        kind: 'run',
        label: row.name,
        detail: [
          row.status.toLowerCase(),
          row.pipeline ? `pipeline ${row.pipeline}` : undefined,
          parsed.key.slice(0, 8),
          row.git_dirty ? 'dirty tree' : undefined,
        ]
          .filter(Boolean)
          .join(' · '),
        depth,
      };
    }
    case 'model': {
      const row = db
        .prepare(
          `SELECT m.name, v.version, v.gate_passed, (SELECT group_concat(a.alias, ' @') FROM alias a WHERE a.model_version_id = v.model_version_id) AS aliases
           FROM model_version v JOIN model m USING (model_id) WHERE v.model_version_id = ?`,
        )
        .get(Number(parsed.key)) as { name: string; version: number; gate_passed: number | null; aliases: string | null } | undefined;
      if (!row) return undefined;
      const gate = row.gate_passed === null ? undefined : row.gate_passed ? 'gate ✓' : 'gate ✗';
      return {
        id,
        kind: 'model',
        label: `${row.name} v${row.version}`,
        detail: [row.aliases ? `@${row.aliases}` : undefined, gate].filter(Boolean).join(' · '),
        depth,
      };
    }
    case 'deployment': {
      const row = db.prepare('SELECT target, strategy, status, traffic_percent FROM deployment WHERE deployment_id = ?').get(Number(parsed.key)) as
        | { target: string; strategy: string; status: string; traffic_percent: number }
        | undefined;
      if (!row) return undefined;
      return { id, kind: 'deployment', label: row.target, detail: `${row.strategy} · ${row.status} · ${row.traffic_percent}%`, depth };
    }
    case 'drift': {
      const row = db.prepare('SELECT drifted_share, dataset_drift, created_at FROM drift_report WHERE drift_report_id = ?').get(Number(parsed.key)) as
        | { drifted_share: number; dataset_drift: number; created_at: number }
        | undefined;
      if (!row) return undefined;
      return {
        id,
        kind: 'drift',
        label: `drift report #${parsed.key}`,
        detail: `${Math.round(row.drifted_share * 100)}% of columns drifted${row.dataset_drift ? ' · drift' : ''}`,
        depth,
      };
    }
  }
}

/** The nodes one hop upstream of `id` (what it was made from). */
export function upstreamOf(store: Store, id: string): Neighbour[] {
  const parsed = parseNodeId(id);
  if (!parsed) return [];
  const db = store.db;
  switch (parsed.kind) {
    case 'run': {
      const inputs = (
        db.prepare('SELECT dataset_version_id FROM run_input WHERE run_id = ? ORDER BY dataset_version_id').pluck().all(parsed.key) as number[]
      ).map((v) => ({
        id: `dataset:${v}`,
        relation: 'input',
      }));
      const run = db.prepare('SELECT git_commit, entry_file FROM run WHERE run_id = ?').get(parsed.key) as
        | { git_commit: string | null; entry_file: string | null }
        | undefined;
      const code = run?.entry_file ? [{ id: codeNodeId(run.git_commit, run.entry_file), relation: 'code' }] : [];
      const drift = (
        db.prepare('SELECT drift_report_id FROM drift_report WHERE retrain_run_id = ? ORDER BY drift_report_id').pluck().all(parsed.key) as number[]
      ).map((d) => ({
        id: `drift:${d}`,
        relation: 'retrain',
      }));
      const original = (db.prepare('SELECT original_run_id FROM run_reproduction WHERE run_id = ?').pluck().all(parsed.key) as string[]).map((r) => ({
        id: `run:${r}`,
        relation: 'reproduces',
      }));
      // the stage run that last wrote each file this run read, byte for byte
      const producers = (
        db
          .prepare(
            `SELECT d.path, (SELECT o.run_id FROM stage_file o JOIN run r ON r.run_id = o.run_id
                WHERE o.role = 'out' AND o.path = d.path AND o.digest = d.digest AND o.run_id != d.run_id ORDER BY r.start_time DESC, o.run_id LIMIT 1) AS producer
             FROM stage_file d WHERE d.run_id = ? AND d.role = 'dep' ORDER BY d.path`,
          )
          .all(parsed.key) as { path: string; producer: string | null }[]
      ).flatMap((p) => (p.producer ? [p.producer] : []));
      const stageOuts = [...new Set(producers)].map((r) => ({ id: `run:${r}`, relation: STAGE_OUT }));
      return [...inputs, ...stageOuts, ...code, ...drift, ...original];
    }
    case 'model': {
      const run = db.prepare('SELECT source_run_id FROM model_version WHERE model_version_id = ?').pluck().get(Number(parsed.key)) as string | null | undefined;
      return run ? [{ id: `run:${run}`, relation: 'registered' }] : [];
    }
    case 'deployment': {
      const version = db.prepare('SELECT model_version_id FROM deployment WHERE deployment_id = ?').pluck().get(Number(parsed.key)) as number | undefined;
      return version === undefined ? [] : [{ id: `model:${version}`, relation: 'deployed' }];
    }
    case 'drift': {
      const reference = db.prepare('SELECT reference_dataset_version_id FROM drift_report WHERE drift_report_id = ?').pluck().get(Number(parsed.key)) as
        | number
        | null
        | undefined;
      return reference ? [{ id: `dataset:${reference}`, relation: 'reference' }] : [];
    }
    case 'dataset':
    case 'code':
      return [];
  }
}

/** The nodes one hop downstream of `id` (what was made from it), newest first. */
export function downstreamOf(store: Store, id: string): Neighbour[] {
  const parsed = parseNodeId(id);
  if (!parsed) return [];
  const db = store.db;
  switch (parsed.kind) {
    case 'dataset': {
      const runs = (
        db
          .prepare('SELECT i.run_id FROM run_input i JOIN run r USING (run_id) WHERE i.dataset_version_id = ? ORDER BY r.start_time DESC, r.run_id')
          .pluck()
          .all(Number(parsed.key)) as string[]
      ).map((r) => ({ id: `run:${r}`, relation: 'input' }));
      const drift = (
        db
          .prepare('SELECT drift_report_id FROM drift_report WHERE reference_dataset_version_id = ? ORDER BY created_at DESC')
          .pluck()
          .all(Number(parsed.key)) as number[]
      ).map((d) => ({ id: `drift:${d}`, relation: 'reference' }));
      return [...runs, ...drift];
    }
    case 'code': {
      const match = /^(nogit|[0-9a-f]{7,64}):(.+)$/.exec(parsed.key);
      if (!match) return [];
      const commit = match[1] === 'nogit' ? null : match[1]!;
      return (
        db.prepare('SELECT run_id FROM run WHERE entry_file = ? AND git_commit IS ? ORDER BY start_time DESC, run_id').pluck().all(match[2], commit) as string[]
      ).map((r) => ({
        id: `run:${r}`,
        relation: 'code',
      }));
    }
    case 'run':
      return [
        ...(db.prepare('SELECT model_version_id FROM model_version WHERE source_run_id = ? ORDER BY model_version_id').pluck().all(parsed.key) as number[]).map(
          (v) => ({
            id: `model:${v}`,
            relation: 'registered',
          }),
        ),
        ...(
          db.prepare('SELECT run_id FROM run_reproduction WHERE original_run_id = ? ORDER BY created_at DESC, run_id').pluck().all(parsed.key) as string[]
        ).map((r) => ({ id: `run:${r}`, relation: 'reproduces' })),
        // stage runs that read what this run wrote (when this run is the latest writer of those bytes, as upstreamOf says)
        ...(
          db
            .prepare(
              `SELECT DISTINCT d.run_id FROM stage_file o
                 JOIN stage_file d ON d.role = 'dep' AND d.path = o.path AND d.digest = o.digest AND d.run_id != o.run_id
                 JOIN run r ON r.run_id = d.run_id
               WHERE o.run_id = ? AND o.role = 'out'
                 AND o.run_id = (SELECT o2.run_id FROM stage_file o2 JOIN run r2 ON r2.run_id = o2.run_id
                   WHERE o2.role = 'out' AND o2.path = d.path AND o2.digest = d.digest AND o2.run_id != d.run_id ORDER BY r2.start_time DESC, o2.run_id LIMIT 1)
               ORDER BY r.start_time DESC, d.run_id`,
            )
            .pluck()
            .all(parsed.key) as string[]
        ).map((r) => ({ id: `run:${r}`, relation: STAGE_OUT })),
      ];
    case 'model':
      return (
        db.prepare('SELECT deployment_id FROM deployment WHERE model_version_id = ? ORDER BY created_at DESC').pluck().all(Number(parsed.key)) as number[]
      ).map((d) => ({
        id: `deployment:${d}`,
        relation: 'deployed',
      }));
    case 'drift': {
      const run = db.prepare('SELECT retrain_run_id FROM drift_report WHERE drift_report_id = ?').pluck().get(Number(parsed.key)) as string | null | undefined;
      return run ? [{ id: `run:${run}`, relation: 'retrain' }] : [];
    }
    case 'deployment':
      return [];
  }
}

/** One question the walk asks of where lineage is read from (the store, or an MLflow server). */
export type LineageQuestion = { readonly op: 'describe'; readonly id: string; readonly depth: number } | { readonly op: 'up' | 'down'; readonly id: string };

/**
 * The graph around `root`: a breadth-first walk `depth` hops upstream (only following upstream edges)
 * and `depth` hops downstream (only following downstream edges), as the DAG reads from either side.
 * Written once as a generator that yields its questions, so the same walk serves the store (answered
 * synchronously) and an MLflow server (answered over HTTP). Throws when the root does not exist.
 */
export function* lineageWalk(root: string, options: LineageOptions & { where?: string } = {}): Generator<LineageQuestion, LineageGraph, unknown> {
  const depth = Math.max(0, Math.min(50, Math.floor(options.depth ?? 3)));
  const maxNodes = Math.max(1, options.maxNodes ?? 400);
  const rootNode = (yield { op: 'describe', id: root, depth: 0 }) as LineageNode | undefined;
  if (!rootNode) throw new Error(`nothing in ${options.where ?? 'the store'} has the lineage id "${root}"`);
  const nodes = new Map<string, LineageNode>([[root, rootNode]]);
  const edges = new Map<string, LineageEdge>();
  let truncated = false;

  for (const direction of ['up', 'down'] as const) {
    let frontier = [root];
    for (let hop = 1; hop <= depth && frontier.length > 0; hop++) {
      const next: string[] = [];
      // the frontier grows while it is read: the stages of one pipeline are one step of making (a stage out costs no hop)
      for (let k = 0; k < frontier.length; k++) {
        const id = frontier[k]!;
        const neighbours = (yield { op: direction, id }) as Neighbour[];
        for (const n of neighbours) {
          if (!nodes.has(n.id)) {
            if (nodes.size >= maxNodes) {
              truncated = true;
              continue;
            }
            const sameHop = n.relation === STAGE_OUT;
            const nodeDepth = sameHop ? nodes.get(id)!.depth : direction === 'up' ? -hop : hop;
            const node = (yield { op: 'describe', id: n.id, depth: nodeDepth }) as LineageNode | undefined;
            if (!node) continue;
            nodes.set(n.id, node);
            (sameHop ? frontier : next).push(n.id);
          }
          const edge = direction === 'up' ? { from: n.id, to: id, relation: n.relation } : { from: id, to: n.id, relation: n.relation };
          edges.set(`${edge.from}→${edge.to}`, edge);
        }
      }
      frontier = next;
    }
  }
  return { root, nodes: [...nodes.values()], edges: [...edges.values()], truncated };
}

/** The store's lineage around `root` (see lineageWalk). */
export function lineageGraph(store: Store, root: string, options: LineageOptions = {}): LineageGraph {
  const walk = lineageWalk(root, options);
  let step = walk.next();
  while (!step.done) {
    const q = step.value;
    step = walk.next(q.op === 'describe' ? describeNode(store, q.id, q.depth) : q.op === 'up' ? upstreamOf(store, q.id) : downstreamOf(store, q.id));
  }
  return step.value;
}
