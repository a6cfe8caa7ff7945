import * as nodeModule from 'node:module';

/**
 * The environment of a worker thread running dist/driftWorker.js: this process's, plus NODE_COMPILE_CACHE when this
 * process compiles with Node's compile cache (the CLI's launcher turns it on). A worker does not inherit
 * module.enableCompileCache(), only the variable, and without it each of a check's workers compiled the bundle afresh.
 * Undefined (the worker's default, a copy of process.env) otherwise.
 */
export function workerEnv(): NodeJS.ProcessEnv | undefined {
  const directory = (nodeModule as { getCompileCacheDir?: () => string | undefined }).getCompileCacheDir?.();
  if (!directory || process.env.NODE_COMPILE_CACHE !== undefined) return undefined;
  return { ...process.env, NODE_COMPILE_CACHE: directory };
}
