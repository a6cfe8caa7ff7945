import assert from 'node:assert/strict';
import type { LineageEdgeMessage, LineageNodeMessage } from '../../src/protocol/lineageMessages';
import { LINEAGE_COLUMN, type LineageLayout, layoutLineage, NODE_H, NODE_W } from '../../webview/lineage/layout';

const node = (kind: LineageNodeMessage['kind'], key: string, label: string): LineageNodeMessage => ({
  id: `${kind}:${key}`,
  kind,
  label,
  detail: '',
  depth: 1,
});
const edge = (from: LineageNodeMessage, to: LineageNodeMessage, relation: string): LineageEdgeMessage => ({ from: from.id, to: to.id, relation });

/** What the panel drew before ELK: one column per kind, each sorted by label. */
function columnsByLabel(nodes: readonly LineageNodeMessage[]): LineageLayout {
  const position = new Map<string, { x: number; y: number }>();
  const rows = new Map<number, number>();
  for (const n of [...nodes].sort((a, b) => a.label.localeCompare(b.label))) {
    const column = LINEAGE_COLUMN[n.kind];
    const row = rows.get(column) ?? 0;
    rows.set(column, row + 1);
    position.set(n.id, { x: column * (NODE_W + 70), y: row * (NODE_H + 14) });
  }
  return { width: 0, height: 0, position };
}

/** Pairs of edges whose straight segments (right side of the source → left side of the target) cross. */
function countCrossings(layout: LineageLayout, edges: readonly LineageEdgeMessage[]): number {
  const segments = edges.flatMap((e) => {
    const a = layout.position.get(e.from);
    const b = layout.position.get(e.to);
    if (!a || !b) return [];
    const [left, right] = a.x <= b.x ? [a, b] : [b, a];
    return [{ x1: left.x + NODE_W, y1: left.y + NODE_H / 2, x2: right.x, y2: right.y + NODE_H / 2 }];
  });
  let crossings = 0;
  for (let i = 0; i < segments.length; i++) for (let j = i + 1; j < segments.length; j++) if (properlyIntersect(segments[i]!, segments[j]!)) crossings++;
  return crossings;
}

type Segment = { x1: number; y1: number; x2: number; y2: number };

function properlyIntersect(s: Segment, t: Segment): boolean {
  const cross = (ax: number, ay: number, bx: number, by: number, cx: number, cy: number): number => (bx - ax) * (cy - ay) - (by - ay) * (cx - ax);
  const d1 = cross(s.x1, s.y1, s.x2, s.y2, t.x1, t.y1);
  const d2 = cross(s.x1, s.y1, s.x2, s.y2, t.x2, t.y2);
  const d3 = cross(t.x1, t.y1, t.x2, t.y2, s.x1, s.y1);
  const d4 = cross(t.x1, t.y1, t.x2, t.y2, s.x2, s.y2);
  // segments sharing an end point (two edges into one node) do not count as crossing
  return d1 * d2 < 0 && d3 * d4 < 0;
}

describe('Lineage panel layout (ELK layered)', () => {
  // two datasets, two runs, two model versions, a deployment: sorted by label, two edges cross
  const trainA = node('dataset', 'a', 'a-train.csv');
  const trainB = node('dataset', 'b', 'b-train.csv');
  const code = node('code', 'c', 'train.py @ 1a2b3c4');
  const runZ = node('run', 'z', 'z-run');
  const runA = node('run', 'y', 'a-run');
  const v1 = node('model', '1', 'weather-clf v1');
  const v2 = node('model', '2', 'weather-clf v2');
  const served = node('deployment', 'd', 'local');
  const nodes = [served, v2, runA, trainB, v1, code, runZ, trainA];
  const edges = [
    edge(trainA, runZ, 'input'),
    edge(trainB, runA, 'input'),
    edge(code, runZ, 'code'),
    edge(runZ, v2, 'registered'),
    edge(runA, v1, 'registered'),
    edge(v1, served, 'deployed'),
  ];

  it('orders each column so that no two edges cross, where sorting by label made them cross', async () => {
    assert.ok(countCrossings(columnsByLabel(nodes), edges) >= 1, 'the fixture is one that needs a layout');
    const layout = await layoutLineage(nodes, edges);
    assert.equal(countCrossings(layout, edges), 0);
  });

  it('keeps the columns in the order things are made, every node inside the drawing, none overlapping', async () => {
    const layout = await layoutLineage(nodes, edges);
    const x = (n: LineageNodeMessage): number => layout.position.get(n.id)!.x;
    assert.equal(x(trainA), x(trainB));
    assert.equal(x(trainA), x(code));
    assert.ok(x(trainA) < x(runZ) && x(runZ) === x(runA) && x(runA) < x(v1) && x(v1) === x(v2) && x(v2) < x(served));
    const boxes = nodes.map((n) => layout.position.get(n.id)!);
    for (const b of boxes) assert.ok(b.x >= 0 && b.y >= 0 && b.x + NODE_W <= layout.width && b.y + NODE_H <= layout.height, JSON.stringify(b));
    for (let i = 0; i < boxes.length; i++)
      for (let j = i + 1; j < boxes.length; j++) {
        const [p, q] = [boxes[i]!, boxes[j]!];
        assert.ok(p.x + NODE_W <= q.x || q.x + NODE_W <= p.x || p.y + NODE_H <= q.y || q.y + NODE_H <= p.y, `nodes ${i} and ${j} overlap`);
      }
  });

  it('lays out an edge that points upstream (drift report → the dataset it used) and a graph of one node', async () => {
    const drift = node('drift', '7', 'drift #7');
    const layout = await layoutLineage([trainA, drift], [edge(drift, trainA, 'reference')]);
    assert.ok(layout.position.get(trainA.id)!.x < layout.position.get(drift.id)!.x);
    const alone = await layoutLineage([v1], []);
    assert.deepEqual([...alone.position.keys()], [v1.id]);
  });
});
