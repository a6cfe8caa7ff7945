// The two paths that make a folder an mloop project, apart from the modules that read them: the extension's launcher
// checks for them before it loads anything else (src/vscode/extension.ts).

/** The project file. */
export const CONFIG_FILE = 'mloop.yaml';

/** The store's default place, relative to the project folder (`mloop.storePath` moves it). */
export const DEFAULT_STORE = ['.mloop', 'mloop.db'] as const;
