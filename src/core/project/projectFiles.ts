import { isAbsolute, join } from 'node:path';

// The two paths that make a folder an mloop project, apart from the modules that read them: the extension's launcher
// checks for them before it loads anything else (src/vscode/extension.ts).

/** The project file. */
export const CONFIG_FILE = 'mloop.yaml';

/** The store's default place, relative to the project folder (`mloop.storePath` moves it). */
export const DEFAULT_STORE = ['.mloop', 'mloop.db'] as const;

/** Resolves the store path: an explicit setting (relative to the project) wins over the default. */
export function resolveStorePath(projectRoot: string, configured?: string): string {
  if (!configured || configured.trim() === '') return join(projectRoot, ...DEFAULT_STORE);
  return isAbsolute(configured) ? configured : join(projectRoot, configured);
}
