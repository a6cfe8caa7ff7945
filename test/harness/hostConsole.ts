/**
 * code-server forwards extension-host console calls to the page console with the same "%c INFO"
 * prefix as the workbench's own log lines, so the test suite marks its lines to be told apart.
 */
export const HOST_LINE_MARKER = '[mloop-host] ';

/** The suite's last line: the runner parses it, and a missing line means the suite never finished. */
export const SUITE_RESULT_PREFIX = 'MLOOP_SUITE_RESULT ';

export interface SuiteResult {
  passed: number;
  failed: number;
  /** Full titles and first error lines of the failed tests (runAll repeats them above its summary). */
  failures?: string[];
}

export function formatSuiteResult(result: SuiteResult): string {
  return `${SUITE_RESULT_PREFIX}${JSON.stringify(result)}`;
}

/** Reads a result line; undefined when the line is not one or is malformed. */
export function parseSuiteResult(line: string): SuiteResult | undefined {
  const trimmed = line.trim();
  if (!trimmed.startsWith(SUITE_RESULT_PREFIX)) return undefined;
  try {
    const value: unknown = JSON.parse(trimmed.slice(SUITE_RESULT_PREFIX.length));
    if (typeof value !== 'object' || value === null) return undefined;
    const { passed, failed, failures } = value as Record<string, unknown>;
    if (!Number.isInteger(passed) || !Number.isInteger(failed)) return undefined;
    const named = Array.isArray(failures) ? failures.filter((f): f is string => typeof f === 'string') : [];
    return { passed: passed as number, failed: failed as number, ...(named.length ? { failures: named } : {}) };
  } catch {
    return undefined;
  }
}
