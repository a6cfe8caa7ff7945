/**
 * Times activate() and its phases. The total is `api.activationMs` and the line the benchmark reads
 * (BENCHMARKS.md, Activation); the phases say where the time went when it grows.
 */
export class ActivationClock {
  private readonly started = performance.now();
  private last = this.started;
  private readonly phases: string[] = [];

  /** Ends the current phase under this name. */
  mark(name: string): void {
    const now = performance.now();
    this.phases.push(`${name} ${(now - this.last).toFixed(1)}`);
    this.last = now;
  }

  /** Milliseconds since the clock started, to 0.1 ms. */
  totalMs(): number {
    return Math.round((performance.now() - this.started) * 10) / 10;
  }

  /** "services 1.2, datasets 2.0, …" */
  summary(): string {
    return this.phases.join(', ');
  }
}
