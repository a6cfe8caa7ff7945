import * as nodeModule from 'node:module';

// dist/cli.js: turns on Node's compile cache, then loads the CLI (dist/cli/main.mjs, an ES module split by esbuild into
// one chunk per command group, so a command compiles and runs only its own code; issue 16). The cache must be on before
// the CLI's code is compiled, hence this separate small file. NODE_DISABLE_COMPILE_CACHE=1 turns it off (Node's switch).
const enableCompileCache = (nodeModule as { enableCompileCache?: () => unknown }).enableCompileCache;
if (enableCompileCache && !process.env.NODE_DISABLE_COMPILE_CACHE) {
  try {
    enableCompileCache();
  } catch {
    // a read-only temp folder: run without the cache
  }
}
const entry = './cli/main.mjs'; // a variable: esbuild leaves the import to Node, relative to this file
import(entry).catch((error: unknown) => {
  process.stderr.write(`mloop: cannot load ${entry}: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});
