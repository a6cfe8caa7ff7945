import * as vscode from 'vscode';
import { defaultTargetName, type DeployContext } from '../../core/deploy/deploy';
import { registryActor } from '../../core/registry/actor';
import { artifactRootOf } from '../../core/store/artifactRoot';
import { DeploymentRepository } from '../../core/store/deployments';
import { ModelRepository } from '../../core/store/models';
import type { CommandContext } from '../base/commandContext';
import type { ModelsNode } from '../models/tree';
import type { DeploymentsNode } from './tree';

/** From code and tests: what the dialogs would otherwise ask. */
export interface DeployArgument {
  readonly modelName: string;
  readonly version: number;
  readonly target?: string;
  readonly strategy?: 'direct' | 'canary' | 'blue_green' | 'shadow' | 'rolling';
  /** Deploys a version whose gate failed or was never evaluated (audited as deploy.override), as `mloop deploy --override`. */
  readonly override?: string;
}

/** A target: a Deployments tree row, or { target, reason? } from code, notifications and tests. */
export type TargetInput = DeploymentsNode | { readonly target: string; readonly reason?: string } | undefined;

/** What deploy work needs: a trusted workspace, the store (created if needed) and mloop.yaml. */
export async function deployContext(commands: CommandContext): Promise<DeployContext> {
  const store = await commands.requireStore({ create: true, trusted: true });
  const { config, projectRoot } = commands.requireProject({ reread: false });
  return { store, artifactRoot: artifactRootOf(store.path), actor: registryActor(projectRoot), projectRoot, config, trusted: true };
}

export const targetOf = (input: TargetInput): string | undefined => (input ? ('target' in input ? input.target : undefined) : undefined);

/**
 * The target to act on: the given one, else the only one of `candidates` (e.g. serving, or running a
 * shadow), else a pick; throws `none` when there is no candidate.
 */
export async function chooseTarget(
  commands: CommandContext,
  input: TargetInput,
  title: string,
  candidates: { readonly filter: (ctx: DeployContext, target: string) => boolean | Promise<boolean>; readonly none: string },
): Promise<{ ctx: DeployContext; target: string } | undefined> {
  const ctx = await deployContext(commands);
  const given = targetOf(input);
  if (given) return { ctx, target: given };
  const names = Object.keys(ctx.config.targets ?? {});
  const matching: string[] = [];
  for (const name of names) if (await candidates.filter(ctx, name)) matching.push(name);
  if (matching.length === 0) throw new Error(candidates.none);
  const target = matching.length === 1 ? matching[0] : await vscode.window.showQuickPick(matching, { title, ignoreFocusOut: true });
  return target ? { ctx, target } : undefined;
}

/** The target to deploy to: the given one, the only one, or a pick (the default target first, with what each serves). */
export async function pickTarget(ctx: DeployContext, given?: string): Promise<string | undefined> {
  if (given) return given;
  const names = Object.keys(ctx.config.targets ?? {});
  if (names.length === 0) throw new Error('mloop.yaml declares no targets: add one under targets: (see examples/weather)');
  if (names.length === 1) return names[0];
  const deployments = new DeploymentRepository(ctx.store);
  const first = defaultTargetName(ctx.config);
  const items = names
    .sort((a, b) => (a === first ? -1 : b === first ? 1 : 0))
    .map((name) => {
      const current = deployments.current(name);
      return {
        label: name,
        description: `${ctx.config.targets![name]!.strategy.replace('_', '/')}${current ? ` · serving ${current.modelName} v${current.version}` : ' · nothing deployed'}`,
      };
    });
  return (await vscode.window.showQuickPick(items, { title: 'mloop: deploy to which target?', ignoreFocusOut: true }))?.label;
}

/** The version to deploy: the given one, or a pick (challengers first, then champions). */
export async function pickVersion(
  ctx: DeployContext,
  input: ModelsNode | DeployArgument | undefined,
): Promise<{ modelName: string; version: number } | undefined> {
  if (input && 'version' in input && typeof input.version === 'number') return { modelName: input.modelName, version: input.version };
  const repo = new ModelRepository(ctx.store);
  const models = input && 'modelName' in input ? repo.list().filter((m) => m.name === input.modelName) : repo.list();
  const items = models.flatMap((m) =>
    repo.versions(m.modelId).map((v) => ({
      label: `${m.name} v${v.version}`,
      description: [v.aliases.map((a) => `@${a}`).join(' '), v.gatePassed === null ? '' : v.gatePassed ? 'gate ✓' : 'gate ✗'].filter(Boolean).join(' · '),
      modelName: m.name,
      version: v.version,
      rank: v.aliases.includes('challenger') ? 0 : v.aliases.includes('champion') ? 1 : 2,
    })),
  );
  if (items.length === 0) throw new Error('no registered model versions yet: train a pipeline with a model: section first');
  items.sort((a, b) => a.rank - b.rank);
  // opened from a walkthrough step, which takes the focus as it completes: the pick stays open
  return vscode.window.showQuickPick(items, { title: 'mloop: Deploy Version…', ignoreFocusOut: true });
}
