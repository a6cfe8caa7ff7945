import { readdirSync } from 'node:fs';

/**
 * The suites share one workbench and one workspace, so the ones that exist today keep the order they
 * were written for (extension, store and initProject expect a fresh folder; later ones build on what
 * training left). A suite not named here still runs: after these, by file name.
 */
export const INTEGRATION_SUITE_ORDER: readonly string[] = ['extension', 'store', 'initProject', 'train', 'datasets', 'registry', 'deploy', 'mlflow', 'drift'];

/**
 * Every `<name><suffix>` directly in `dir` (the built `*.test.js`, or the `*.test.ts` sources), in run
 * order. Subfolders are not searched: restricted/ is its own run in an untrusted window.
 */
export function integrationSuiteFiles(dir: string, suffix = '.test.js'): string[] {
  const found = readdirSync(dir, { withFileTypes: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith(suffix))
    .map((entry) => entry.name.slice(0, -suffix.length));
  // a name in the order without its file means a suite was renamed and the order went stale
  const stale = INTEGRATION_SUITE_ORDER.filter((name) => !found.includes(name));
  if (stale.length > 0) throw new Error(`INTEGRATION_SUITE_ORDER names ${stale.join(', ')}, but ${dir} has no ${stale.map((n) => n + suffix).join(', ')}`);
  const rest = found.filter((name) => !INTEGRATION_SUITE_ORDER.includes(name)).sort();
  return [...INTEGRATION_SUITE_ORDER, ...rest].map((name) => name + suffix);
}
