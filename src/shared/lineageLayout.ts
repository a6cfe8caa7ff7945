/**
 * A deterministic layered layout of a small lineage graph (data versions → runs → model version → deployments), for
 * the model card's inline SVG and the Model Card panel: one column per hop from the card's version, rows in id order.
 * No measuring of text, no randomness: the same graph gives the same coordinates.
 */
export interface LayoutNode {
  readonly id: string;
  readonly kind: string;
  readonly label: string;
  readonly detail: string;
  readonly depth: number;
}

export interface LayoutEdge {
  readonly from: string;
  readonly to: string;
  readonly relation: string;
}

export interface PlacedNode extends LayoutNode {
  readonly x: number;
  readonly y: number;
}

export interface PlacedEdge extends LayoutEdge {
  readonly x1: number;
  readonly y1: number;
  readonly x2: number;
  readonly y2: number;
}

export const LINEAGE_BOX = { width: 210, height: 42, columnGap: 70, rowGap: 14, margin: 8 } as const;
/** Characters of a label or detail line that fit in a box (longer text ends with …). */
export const LINEAGE_TEXT_MAX = 30;

export const clip = (text: string, max = LINEAGE_TEXT_MAX): string => (text.length > max ? `${text.slice(0, max - 1)}…` : text);

export function layoutLineage(
  nodes: readonly LayoutNode[],
  edges: readonly LayoutEdge[],
): { nodes: PlacedNode[]; edges: PlacedEdge[]; width: number; height: number } {
  const { width, height, columnGap, rowGap, margin } = LINEAGE_BOX;
  const depths = [...new Set(nodes.map((n) => n.depth))].sort((a, b) => a - b);
  const column = new Map(depths.map((d, i) => [d, i]));
  const rows = new Map<number, number>();
  const placed = new Map<string, PlacedNode>();
  for (const n of nodes) {
    const c = column.get(n.depth)!;
    const r = rows.get(c) ?? 0;
    rows.set(c, r + 1);
    placed.set(n.id, { ...n, x: margin + c * (width + columnGap), y: margin + r * (height + rowGap) });
  }
  const tallest = Math.max(0, ...rows.values());
  const placedEdges = edges.flatMap((e): PlacedEdge[] => {
    const a = placed.get(e.from);
    const b = placed.get(e.to);
    if (!a || !b) return [];
    return [{ ...e, x1: a.x + width, y1: a.y + height / 2, x2: b.x, y2: b.y + height / 2 }];
  });
  return {
    nodes: [...placed.values()],
    edges: placedEdges,
    width: margin * 2 + Math.max(1, depths.length) * width + Math.max(0, depths.length - 1) * columnGap,
    height: margin * 2 + Math.max(1, tallest) * height + Math.max(0, tallest - 1) * rowGap,
  };
}
