import { execFileSync } from 'node:child_process';
import { osUser } from '../store/audit';

/** Who makes a registry change from this folder: git's user.name, else the OS user. */
export function registryActor(cwd: string): string {
  try {
    const name = execFileSync('git', ['config', 'user.name'], {
      cwd,
      encoding: 'utf8',
      timeout: 5000,
      stdio: ['ignore', 'pipe', 'ignore'],
      windowsHide: true,
    }).trim();
    if (name) return name;
  } catch {
    // no git, or no user.name configured
  }
  return osUser();
}
