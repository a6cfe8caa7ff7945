// Bundles the extension, the CLI, one browser bundle per webview and the test suites with esbuild.
// Type checking is separate (`npm run typecheck`): esbuild only strips types.
import { build, context } from 'esbuild';
import { readdirSync, existsSync, statSync, rmSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const watch = process.argv.includes('--watch');
const production = process.argv.includes('--production');

const listFiles = (dir, suffix) =>
  existsSync(join(root, dir))
    ? readdirSync(join(root, dir), { recursive: true })
        .map(String)
        .filter((f) => f.endsWith(suffix))
        .map((f) => join(dir, f))
    : [];

const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));

const node = {
  define: { MLOOP_VERSION_DEFINE: JSON.stringify(pkg.version) },
  bundle: true,
  platform: 'node',
  target: 'node22',
  format: 'cjs',
  sourcemap: !production,
  minify: production,
  logLevel: 'warning',
  absWorkingDir: root,
  // the Python helpers mloop ships (src/core/evaluation/evaluator.py) and the CI script `mloop init --ci` writes
  // (src/core/project/mloop-ci.sh) travel inside the bundles as text
  loader: { '.py': 'text', '.sh': 'text' },
};

// commander's `import process from 'node:process'` and `import { stripVTControlCharacters } from 'node:util'` make Node
// build those modules' ES facades, which read every export once and so run their lazy getters (process.report,
// process.finalization, util's parseArgs/diff/…: ~20 internal modules, ~4 ms of CPU in every CLI command; issue 16).
// Here commander takes the same two values without a facade.
const commanderBuiltins = {
  name: 'commander-builtins',
  setup(b) {
    b.onResolve({ filter: /^node:(process|util)$/ }, (args) =>
      /[\\/]node_modules[\\/]commander[\\/]/.test(args.importer) ? { path: args.path, namespace: 'commander-builtin' } : undefined,
    );
    b.onLoad({ filter: /.*/, namespace: 'commander-builtin' }, (args) => ({
      contents:
        args.path === 'node:process'
          ? 'export default process;'
          : "const { stripVTControlCharacters } = require('node:util'); export { stripVTControlCharacters };",
      loader: 'js',
    }));
  },
};

const webviewEntries = existsSync(join(root, 'webview'))
  ? readdirSync(join(root, 'webview'))
      .filter((d) => statSync(join(root, 'webview', d)).isDirectory() && existsSync(join(root, 'webview', d, 'main.ts')))
      .map((d) => ({ in: `webview/${d}/main.ts`, out: d }))
  : [];

const configs = [
  // the package's main: a launcher that loads dist/mloop.js once the folder is an mloop project (src/vscode/launcher.ts)
  { ...node, entryPoints: ['src/vscode/launcher.ts'], outfile: 'dist/extension.js', external: ['vscode'] },
  { ...node, entryPoints: ['src/vscode/extension.ts'], outfile: 'dist/mloop.js', external: ['vscode', 'better-sqlite3'] },
  // the `mloop` bin: a small launcher (compile cache on) that imports dist/cli/main.mjs
  { ...node, sourcemap: false, entryPoints: ['src/cli/launcher.ts'], outfile: 'dist/cli.js', banner: { js: '#!/usr/bin/env node' } },
  // the CLI as ES modules split into chunks: each command group's code (src/cli/program.ts imports it when that command
  // runs) is compiled and evaluated only by the commands that need it (issue 16: the whole CLI started in ~0.3 s CPU)
  {
    ...node,
    // src/core/governance/auditSigning.ts: no require() of the config reader in these chunks (a static import here)
    define: { ...node.define, MLOOP_ESM_CLI: 'true' },
    format: 'esm',
    splitting: true,
    entryPoints: { main: 'src/cli/main.ts' },
    outdir: 'dist/cli',
    outExtension: { '.js': '.mjs' },
    chunkNames: 'chunk-[hash]',
    external: ['better-sqlite3'],
    plugins: [commanderBuiltins],
    // bundled CommonJS code (commander, the deferred better-sqlite3 load) needs require; __dirname is dist/, where the
    // worker and gateway bundles are (src/core/drift/collectWorker.ts, src/core/gateway/control.ts)
    banner: {
      js: [
        "import { createRequire as __mloopCreateRequire } from 'node:module';",
        "import { dirname as __mloopDirname } from 'node:path';",
        "import { fileURLToPath as __mloopFileURLToPath } from 'node:url';",
        'const require = __mloopCreateRequire(import.meta.url);',
        'const __filename = __mloopFileURLToPath(import.meta.url);',
        'const __dirname = __mloopDirname(__mloopDirname(__filename));',
      ].join(' '),
    },
  },
  // one side of a drift check, read in a worker thread (src/core/drift/collectWorker.ts)
  { ...node, entryPoints: ['src/core/drift/driftWorkerMain.ts'], outfile: 'dist/driftWorker.js' },
  // a store brought to the current schema in a worker thread (src/core/store/storeUpgrade.ts)
  { ...node, entryPoints: ['src/core/store/storeUpgradeMain.ts'], outfile: 'dist/storeUpgrade.js', external: ['better-sqlite3'] },
  // the tracking server's metric writes on a thread of their own (src/core/tracking/metricWriter.ts)
  { ...node, entryPoints: ['src/core/tracking/metricWriterMain.ts'], outfile: 'dist/metricWriter.js', external: ['better-sqlite3'] },
  // the traffic gateway of one target, a detached process (src/core/gateway/control.ts)
  { ...node, entryPoints: ['src/core/gateway/gatewayMain.ts'], outfile: 'dist/gateway.js' },
  ...(webviewEntries.length
    ? [
        {
          bundle: true,
          platform: 'browser',
          target: 'es2022',
          format: 'iife',
          sourcemap: !production,
          minify: production,
          logLevel: 'warning',
          absWorkingDir: root,
          entryPoints: webviewEntries,
          outdir: 'dist/webview',
        },
      ]
    : []),
];

if (!production) {
  const testEntries = [
    ...listFiles('test/unit', '.test.ts'),
    ...listFiles('test/reliability', '.ts'),
    ...listFiles('test/integration', '.ts'),
    ...listFiles('test/e2e', '.ts'),
    ...listFiles('test/harness', '.ts'),
    ...['test/runAll.ts', 'test/runElectron.ts'].filter((f) => existsSync(join(root, f))),
    // the Experiments Table benches (host side and painted in the workbench): out/bench/experiments/*.js
    ...listFiles('bench/experiments', 'Bench.ts'),
  ];
  configs.push({
    ...node,
    entryPoints: testEntries,
    outdir: 'out',
    outbase: '.',
    external: ['vscode', 'better-sqlite3', 'mocha', 'playwright-core', '@vscode/test-electron', 'fast-check'],
  });
}

if (!watch) rmSync(join(root, 'out'), { recursive: true, force: true });
// chunk names carry a content hash: drop the previous build's chunks
if (!watch) rmSync(join(root, 'dist', 'cli'), { recursive: true, force: true });
if (watch) {
  for (const c of configs) await (await context(c)).watch();
  console.log('esbuild: watching');
} else {
  const t0 = Date.now();
  await Promise.all(configs.map((c) => build(c)));
  console.log(`esbuild: built ${configs.length} bundles in ${Date.now() - t0} ms`);
}
