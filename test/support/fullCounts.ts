/**
 * The default counts keep CI under its time budget; `MLOOP_TEST_FULL=1` runs the larger sizes a test names
 * (and MLOOP_RELIABILITY_FULL=1 the reliability suite's), for a release or after touching that code.
 */
export function fullCounts(): boolean {
  return process.env.MLOOP_TEST_FULL === '1';
}
