import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { defaultStorePath, openStore } from '../store/store';
import { CONFIG_FILE } from './projectFiles';
import { MLOOP_YAML_TEMPLATE } from './template';

export { CONFIG_FILE };

export interface InitResult {
  readonly configPath: string;
  /** False when an existing mloop.yaml was kept. */
  readonly configWritten: boolean;
  readonly storePath: string;
}

/**
 * Creates mloop.yaml (unless one exists and `force` is not set) and the store under .mloop/.
 * An existing mloop.yaml is never overwritten silently: the caller decides.
 */
export function initProject(folder: string, options: { force?: boolean; storePath?: string } = {}): InitResult {
  if (!existsSync(folder)) throw new Error(`cannot initialise ${folder}: the folder does not exist`);
  const configPath = join(folder, CONFIG_FILE);
  const keep = existsSync(configPath) && !options.force;
  if (!keep) writeFileSync(configPath, MLOOP_YAML_TEMPLATE, { flag: options.force ? 'w' : 'wx' });
  const storePath = options.storePath ?? defaultStorePath(folder);
  openStore({ path: storePath }).close();
  return { configPath, configWritten: !keep, storePath };
}
