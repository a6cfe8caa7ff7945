import assert from 'node:assert/strict';
import { SeededRandom, seededRandom } from '../../src/core/sampling/seededRandom';

/** mulberry32 in BigInt arithmetic (no Math.imul, no >>> tricks): an independent reference. */
function referenceMulberry32(seed: number, n: number): number[] {
  const M = 1n << 32n;
  const imul = (x: bigint, y: bigint): bigint => (x * y) % M;
  const shr = (x: bigint, k: bigint): bigint => x >> k;
  let a = BigInt(seed >>> 0);
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    a = (a + 0x6d2b79f5n) % M;
    let t = a;
    t = imul(t ^ shr(t, 15n), t | 1n);
    t = (t ^ ((t + imul(t ^ shr(t, 7n), t | 61n)) % M)) % M;
    out.push(Number(t ^ shr(t, 14n)) / 4294967296);
  }
  return out;
}

describe('seeded random numbers', () => {
  it('SeededRandom gives the same numbers as seededRandom and as a BigInt mulberry32, seed by seed', () => {
    for (const seed of [0, 1, 5, 42, 0x7fffffff, 0xffffffff]) {
      const expected = referenceMulberry32(seed, 2000);
      const closure = seededRandom(seed);
      const object = new SeededRandom(seed);
      for (let i = 0; i < expected.length; i++) {
        const x = closure();
        assert.equal(x, expected[i], `seededRandom(${seed}) draw ${i}`);
        assert.equal(object.next(), x, `SeededRandom(${seed}) draw ${i}`);
        assert.ok(x >= 0 && x < 1);
      }
    }
  });
});
