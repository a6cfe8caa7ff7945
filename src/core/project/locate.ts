import { existsSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { defaultStorePath } from '../store/store';
import { CONFIG_FILE } from './init';

/** The nearest folder at or above `start` holding mloop.yaml or .mloop/, like git finds its repository. */
export function findProjectRoot(start: string): string | undefined {
  let dir = resolve(start);
  for (;;) {
    if (existsSync(join(dir, CONFIG_FILE)) || existsSync(join(dir, '.mloop'))) return dir;
    const parent = dirname(dir);
    if (parent === dir) return undefined;
    dir = parent;
  }
}

/** Resolves the store path: an explicit setting (relative to the project) wins over the default. */
export function resolveStorePath(projectRoot: string, configured?: string): string {
  if (!configured || configured.trim() === '') return defaultStorePath(projectRoot);
  return isAbsolute(configured) ? configured : join(projectRoot, configured);
}
