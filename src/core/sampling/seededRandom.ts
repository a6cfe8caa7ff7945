/**
 * mulberry32: a small, fast, seeded generator of uniform numbers in [0, 1). Seeded so that what uses it is
 * reproducible: a dataset profile's reservoir samples (same content, same profile) and the monitoring
 * bootstrap intervals (same data, same interval).
 */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * The same generator (the same numbers as seededRandom(seed)) as an object: hot loops that several instances share
 * call one method, where each seededRandom closure is a different call target (an optimised loop deoptimised each
 * time a profile's next column called its own closure; issue 16).
 */
export class SeededRandom {
  private a: number;
  constructor(seed: number) {
    this.a = seed >>> 0;
  }
  next(): number {
    this.a = (this.a + 0x6d2b79f5) >>> 0;
    let t = this.a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
}
