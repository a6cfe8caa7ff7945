import { execFileSync } from 'node:child_process';
import { osUser } from '../store/audit';

function gitConfig(cwd: string, key: string): string | undefined {
  try {
    const value = execFileSync('git', ['config', key], {
      cwd,
      encoding: 'utf8',
      timeout: 5000,
      stdio: ['ignore', 'pipe', 'ignore'],
      windowsHide: true,
    }).trim();
    return value || undefined;
  } catch {
    return undefined; // no git, or the key is not configured
  }
}

/**
 * Who makes a registry change from this folder: git's `user.name <user.email>` (the name alone when no email is
 * configured), else the OS user. It is what the workspace says, not a proof: see docs/governance.md.
 */
export function registryActor(cwd: string): string {
  const name = gitConfig(cwd, 'user.name');
  const email = gitConfig(cwd, 'user.email');
  if (name) return email ? `${name} <${email}>` : name;
  return email ?? osUser();
}

/** The email of an identity written as `Name <email>`, else undefined. */
export const identityEmail = (identity: string): string | undefined => /<([^<>]+)>\s*$/.exec(identity)?.[1]?.trim().toLowerCase();

/** The name of an identity written as `Name <email>`, else the whole text. */
export const identityName = (identity: string): string => identity.replace(/\s*<[^<>]*>\s*$/, '').trim();

/** Two identities are the same person when their emails match, or (one has no email) their names do; case-insensitive. */
export function sameIdentity(a: string, b: string): boolean {
  const ea = identityEmail(a);
  const eb = identityEmail(b);
  if (ea && eb) return ea === eb;
  return identityName(a).toLowerCase() === identityName(b).toLowerCase();
}

/** A reviewer entry of mloop.yaml (an email, a name, or `Name <email>`) names this identity. */
export function isListedIdentity(entry: string, identity: string): boolean {
  const email = identityEmail(identity);
  const wanted = entry.trim().toLowerCase();
  if (email && (wanted === email || identityEmail(entry) === email)) return true;
  return !identityEmail(entry) && !wanted.includes('@') && wanted === identityName(identity).toLowerCase();
}
