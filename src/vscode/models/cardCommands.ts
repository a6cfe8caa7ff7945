import * as vscode from 'vscode';
import { ModelRepository } from '../../core/store/models';
import { CommandCancelled, CommandContext, type CommandContextDeps } from '../base/commandContext';
import { registerCommand } from '../base/commands';
import type { ModelVersionInput } from '../base/commandArgs';
import type { PanelDeps } from '../base/webviewHtml';
import { pickModelVersion } from './evaluationCommands';
import { openModelCardPanel, type ModelCardTarget } from './modelCardPanel';

/** Open Model Card and Compare Cards… on a version row or from the palette (reading only: no trust needed). */
export function registerCardCommands(deps: CommandContextDeps & { panelDeps: PanelDeps }): vscode.Disposable[] {
  const commands = new CommandContext(deps);
  return [
    registerCommand('mloop.models.openCard', (input?: ModelVersionInput) =>
      commands.guard('open model card', async (): Promise<ModelCardTarget> => {
        const store = await commands.requireStore();
        const target = { ...(await pickModelVersion(store, input, 'mloop: Open Model Card')), compareWith: null };
        openModelCardPanel(deps.panelDeps, target);
        return target;
      }),
    ),
    registerCommand('mloop.models.compareCards', (input?: ModelVersionInput, other?: number) =>
      commands.guard('compare model cards', async (): Promise<ModelCardTarget> => {
        const store = await commands.requireStore();
        const picked = await pickModelVersion(store, input, 'mloop: Compare Cards');
        let compareWith = other;
        if (compareWith === undefined) {
          const models = new ModelRepository(store);
          const versions = models.versions(models.byName(picked.modelName)!.modelId).filter((v) => v.version !== picked.version);
          if (versions.length === 0) throw new Error(`${picked.modelName} has no other version to compare v${picked.version} with`);
          // the champion first: "what changes if this version replaces it"
          versions.sort((a, b) => Number(b.aliases.includes('champion')) - Number(a.aliases.includes('champion')));
          const choice = await vscode.window.showQuickPick(
            versions.map((v) => ({ label: `${picked.modelName} v${v.version}`, description: v.aliases.map((a) => `@${a}`).join(' '), version: v.version })),
            { title: `mloop: Compare the card of ${picked.modelName} v${picked.version} with…`, ignoreFocusOut: true },
          );
          if (!choice) throw new CommandCancelled();
          compareWith = choice.version;
        }
        const target = { ...picked, compareWith };
        openModelCardPanel(deps.panelDeps, target);
        return target;
      }),
    ),
  ];
}
