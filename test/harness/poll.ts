export interface PollOptions {
  /** Says what is awaited; the timeout error names it. */
  what: string;
  timeoutMs?: number;
  intervalMs?: number;
}

/**
 * Polls `probe` until it returns something other than undefined/false, then returns it.
 * Fails with `what` and the probe's last error, so a timeout explains itself.
 * Dependency-free: it runs both in Node (Playwright side) and in the extension host.
 */
export async function pollUntil<T>(probe: () => Promise<T | undefined | false> | T | undefined | false, opts: PollOptions): Promise<T> {
  const timeoutMs = opts.timeoutMs ?? 20_000;
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined && value !== false) return value;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline) {
      const cause = lastError instanceof Error ? ` (last error: ${lastError.message.split('\n')[0]})` : '';
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${opts.what}${cause}`);
    }
    await new Promise((done) => setTimeout(done, opts.intervalMs ?? 200));
  }
}
