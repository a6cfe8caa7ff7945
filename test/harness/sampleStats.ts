/** Count, mean and sample standard deviation (n − 1) of the values, computed plainly (tests compare reports with it). */
export function sampleStats(xs: readonly number[]): { n: number; mean: number; sd: number } {
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  return { n: xs.length, mean, sd: Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (xs.length - 1)) };
}
