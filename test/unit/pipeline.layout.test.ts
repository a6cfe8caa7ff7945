import assert from 'node:assert/strict';
import { layoutPipeline, STAGE_H, STAGE_W } from '../../webview/pipeline/layout';

describe('Pipeline DAG layout (elkjs)', () => {
  it('places every stage right of the stages it reads from, without overlaps', async () => {
    const stages = ['prepare', 'features', 'split', 'train', 'evaluate'];
    const edges = [
      { from: 'prepare', to: 'features' },
      { from: 'prepare', to: 'split' },
      { from: 'features', to: 'train' },
      { from: 'split', to: 'train' },
      { from: 'train', to: 'evaluate' },
      { from: 'split', to: 'evaluate' },
    ];
    const layout = await layoutPipeline(stages, edges);
    const at = (name: string): { x: number; y: number } => layout.position.get(name)!;
    for (const e of edges) assert.ok(at(e.from).x + STAGE_W <= at(e.to).x, `${e.from} is left of ${e.to}`);
    for (const a of stages)
      for (const b of stages) {
        if (a >= b) continue;
        const apart = Math.abs(at(a).x - at(b).x) >= STAGE_W || Math.abs(at(a).y - at(b).y) >= STAGE_H;
        assert.ok(apart, `${a} and ${b} do not overlap`);
      }
    assert.ok(layout.width >= 4 * STAGE_W && layout.height >= 2 * STAGE_H);
  });
});
