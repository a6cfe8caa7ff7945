import { existsSync } from 'node:fs';
import { openStore, type Store } from '../core/store/store';

/**
 * Exit codes every mloop command keeps: 3 drift or a monitoring alert, 4 a release gate failed (train, models
 * register), 5 the audit chain is broken (audit verify), 6 the change needs approval and a request was created
 * (models promote/alias to champion, deploy to a protected target), 7 an exact rerun did not reproduce its run's metrics
 * (rerun --exact), 8 a version was retrained in the workspace but could not be registered on the team's server (retrain
 * --backend mlflow). Listed in docs/cli.md.
 */
export const ExitCode = {
  Ok: 0,
  Failure: 1,
  Usage: 2,
  Drift: 3,
  Alert: 3,
  GateFailed: 4,
  ChainBroken: 5,
  ApprovalRequired: 6,
  NotReproduced: 7,
  NotPublished: 8,
} as const;

/** Where a command writes and from which folder it was started (injected, so commands are testable). */
export interface CliIo {
  /** Bytes too: `mloop runs diff` writes a binary patch. */
  readonly stdout: { write(chunk: string | Uint8Array): unknown };
  readonly stderr: { write(chunk: string): unknown };
  readonly cwd: string;
}

/** A failure the user caused and can fix; printed without a stack trace, exit 1. */
export class CliFailure extends Error {}

/** Ends a command with a specific exit code and no message (e.g. 3: the dataset drifted). */
export class CliExit extends Error {
  constructor(readonly code: number) {
    super(`exit ${code}`);
  }
}

/**
 * Opens the project's existing store (read-only when asked). Only "mloop init" creates one, so a missing store is a
 * CliFailure that names its path and the fix. `root`: the project root when the caller has it already.
 */
export function openExistingStore(
  context: { projectRoot(): string; storePath(root: string): string },
  options: { readonly?: boolean; root?: string } = {},
): { store: Store; root: string } {
  const root = options.root ?? context.projectRoot();
  const path = context.storePath(root);
  if (!existsSync(path)) throw new CliFailure(`no store at ${path}. Run "mloop init" in ${root} to create it.`);
  return { store: openStore({ path, readonly: options.readonly === true }), root };
}

/**
 * Opens the project's existing store for writing, runs `fn`, closes it; errors of the `userErrors` classes (bad
 * input the user can fix) become CliFailure.
 */
export async function withWritableStore<T>(
  context: { projectRoot(): string; storePath(root: string): string },
  userErrors: readonly (abstract new (...args: never[]) => Error)[],
  fn: (store: Store, root: string) => Promise<T>,
): Promise<T> {
  const { store, root } = openExistingStore(context);
  try {
    return await fn(store, root);
  } catch (error) {
    if (userErrors.some((type) => error instanceof type)) throw new CliFailure((error as Error).message);
    throw error;
  } finally {
    store.close();
  }
}
