import ELK from 'elkjs/lib/elk.bundled.js';
import type { ElkNode } from 'elkjs/lib/elk-api';
import type { LineageEdgeMessage, LineageNodeMessage } from '../../src/protocol/lineageMessages';

/** Columns left to right in the order things are made: inputs, drift, runs, model versions, deployments. */
export const LINEAGE_COLUMN: Record<LineageNodeMessage['kind'], number> = { dataset: 0, code: 0, drift: 1, run: 2, model: 3, deployment: 4 };
export const NODE_W = 230;
export const NODE_H = 48;
const GAP_X = 70;
const GAP_Y = 14;
const PAD = 12;

export interface LineageLayout {
  readonly width: number;
  readonly height: number;
  /** Top-left corner of each node. */
  readonly position: ReadonlyMap<string, { readonly x: number; readonly y: number }>;
}

const elk = new ELK();

/**
 * Places the graph with ELK's layered algorithm: each kind keeps its column (partitions), and the order within
 * a column is chosen to minimise edge crossings (layer sweep), starting from a stable order (upstream first,
 * then by label) so a refresh does not reshuffle an unchanged graph.
 */
export async function layoutLineage(nodes: readonly LineageNodeMessage[], edges: readonly LineageEdgeMessage[]): Promise<LineageLayout> {
  const ordered = [...nodes].sort(
    (a, b) => LINEAGE_COLUMN[a.kind] - LINEAGE_COLUMN[b.kind] || a.depth - b.depth || a.kind.localeCompare(b.kind) || a.label.localeCompare(b.label),
  );
  const column = new Map(ordered.map((n) => [n.id, LINEAGE_COLUMN[n.kind]]));
  const graph: ElkNode = {
    id: 'lineage',
    layoutOptions: {
      'elk.algorithm': 'layered',
      'elk.direction': 'RIGHT',
      'elk.partitioning.activate': 'true',
      'elk.layered.spacing.nodeNodeBetweenLayers': String(GAP_X),
      'elk.spacing.nodeNode': String(GAP_Y),
      'elk.padding': `[top=${PAD},left=${PAD},bottom=${PAD},right=${PAD}]`,
      'elk.layered.considerModelOrder.strategy': 'NODES_AND_EDGES',
      'elk.layered.crossingMinimization.forceNodeModelOrder': 'false',
    },
    children: ordered.map((n) => ({
      id: n.id,
      width: NODE_W,
      height: NODE_H,
      layoutOptions: { 'elk.partitioning.partition': String(LINEAGE_COLUMN[n.kind]) },
    })),
    // ELK wants edges to run left to right between partitions: orient each by column (the drawing keeps the arrow)
    edges: edges
      .filter((e) => column.has(e.from) && column.has(e.to) && e.from !== e.to)
      .map((e, i) => {
        const forward = column.get(e.from)! <= column.get(e.to)!;
        return { id: `e${i}`, sources: [forward ? e.from : e.to], targets: [forward ? e.to : e.from] };
      }),
  };
  const laid = await elk.layout(graph);
  const position = new Map<string, { x: number; y: number }>();
  for (const child of laid.children ?? []) position.set(child.id, { x: child.x ?? 0, y: child.y ?? 0 });
  return { width: Math.ceil(laid.width ?? 0), height: Math.ceil(laid.height ?? 0), position };
}
