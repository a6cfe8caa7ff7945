import ELK from 'elkjs/lib/elk.bundled.js';
import type { ElkNode } from 'elkjs/lib/elk-api';

export const STAGE_W = 220;
export const STAGE_H = 58;
const PAD = 12;

export interface PipelineLayout {
  readonly width: number;
  readonly height: number;
  /** Top-left corner of each stage. */
  readonly position: ReadonlyMap<string, { readonly x: number; readonly y: number }>;
}

const elk = new ELK();

/**
 * Stages left to right in the order data flows (ELK's layered algorithm, as the Lineage panel uses), the
 * declaration order kept among stages of one layer so a refresh does not reshuffle an unchanged pipeline.
 */
export async function layoutPipeline(stages: readonly string[], edges: readonly { from: string; to: string }[]): Promise<PipelineLayout> {
  const known = new Set(stages);
  const graph: ElkNode = {
    id: 'pipeline',
    layoutOptions: {
      'elk.algorithm': 'layered',
      'elk.direction': 'RIGHT',
      'elk.layered.spacing.nodeNodeBetweenLayers': '60',
      'elk.spacing.nodeNode': '18',
      'elk.padding': `[top=${PAD},left=${PAD},bottom=${PAD},right=${PAD}]`,
      'elk.layered.considerModelOrder.strategy': 'NODES_AND_EDGES',
    },
    children: stages.map((id) => ({ id, width: STAGE_W, height: STAGE_H })),
    edges: edges.filter((e) => known.has(e.from) && known.has(e.to)).map((e, i) => ({ id: `e${i}`, sources: [e.from], targets: [e.to] })),
  };
  const laid = await elk.layout(graph);
  const position = new Map<string, { x: number; y: number }>();
  for (const child of laid.children ?? []) position.set(child.id, { x: child.x ?? 0, y: child.y ?? 0 });
  return { width: Math.ceil(laid.width ?? 0), height: Math.ceil(laid.height ?? 0), position };
}
