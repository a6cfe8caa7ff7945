import * as vscode from 'vscode';
import type { ModelRegistry } from '../../core/backends/registry';
import { CHAMPION, modelUri } from '../../core/registry/aliases';
import { gateSpecFor } from '../../core/registry/autoRegister';
import { GateRefusedError } from '../../core/registry/errors';
import { ApprovalRequiredError } from '../../core/governance/approvals';
import { announceApprovalRequest } from '../audit/requestNotice';
import { aliasProblem } from '../../core/store/models';
import type { BackendService } from '../backend/backendService';
import { openRegistry } from '../backend/dataPath';
import { CommandContext, type CommandContextDeps } from '../base/commandContext';
import { executeCommand, registerCommand } from '../base/commands';
import type { RunCharts } from '../runs/runCharts';
import { askGateOverrideReason } from './gateOverride';

/** A version row of the Models view (store or server), or { modelName, version } from code and tests (plus the answers a dialog would give). */
export interface VersionArgument {
  readonly modelName: string;
  readonly version: number;
  readonly modelVersionId?: number;
  readonly aliases?: readonly string[];
  /** Tests and callers that already know: skip the dialog. */
  readonly overrideReason?: string;
  readonly alias?: string;
}

type VersionInput = VersionArgument | undefined;
type RollbackInput = { readonly modelName?: string; readonly alias?: string; readonly aliases?: readonly string[]; readonly reason?: string } | undefined;
const NAME_RULE = (v: string): string | undefined =>
  /^[A-Za-z_][A-Za-z0-9_.-]*$/.test(v) ? undefined : 'start with a letter or _; letters, digits, _, . and -';

/**
 * Promote to Champion, Set/Remove/Roll Back Alias, Compare with Champion, Copy URI, Register Model from a
 * run: written once against ModelRegistry, so they act on the project's store or on the MLflow server.
 */
export function registerModelCommands(deps: CommandContextDeps & { backends: BackendService; runCharts: RunCharts }): vscode.Disposable[] {
  const { workspaceStore, projectConfig, log } = deps;
  const context = new CommandContext(deps);

  const done = (registry: ModelRegistry, text: string): void => {
    log.info(`${text}${registry.where ? ` (MLflow ${registry.location})` : ''}`);
    workspaceStore.fire(); // the Models view re-reads; the Audit view shows the new row
    void vscode.window.showInformationMessage(`mloop: ${text}`);
  };

  /** The version to act on: the clicked row, the argument, or a pick among all versions. */
  const pickVersion = async (registry: ModelRegistry, input: VersionInput, title: string): Promise<VersionArgument | undefined> => {
    if (input && typeof input.modelName === 'string' && typeof input.version === 'number') return input;
    const items = (await registry.versions()).map((v) => ({
      label: `${v.modelName} v${v.version}`,
      description: [v.aliases.map((a) => `@${a}`).join(' '), v.gatePassed === null ? '' : v.gatePassed ? 'gate ✓' : 'gate ✗'].filter(Boolean).join(' · '),
      modelName: v.modelName,
      version: v.version,
      aliases: v.aliases,
    }));
    if (items.length === 0) {
      const hint = registry.where ? '' : ' Train a pipeline with a model: section, or register a run from the Runs view.';
      void vscode.window.showInformationMessage(`mloop: no registered models${registry.where} yet.${hint}`);
      return undefined;
    }
    // a walkthrough step that completes on this command re-renders and takes the focus: the pick stays open
    return vscode.window.showQuickPick(items, { title, ignoreFocusOut: true });
  };

  const aliasesOf = async (registry: ModelRegistry, modelName: string): Promise<string[]> => (await registry.versions(modelName)).flatMap((v) => v.aliases);
  const ownAliases = async (registry: ModelRegistry, target: VersionArgument): Promise<readonly string[]> =>
    target.aliases ?? (await registry.versions(target.modelName)).find((v) => v.version === target.version)?.aliases ?? [];

  /** The model's approval policy turned the promotion into a request: nothing moved; say where it waits. */
  const approvalRequested = async (error: ApprovalRequiredError): Promise<boolean> => {
    await executeCommand('mloop.project.refresh');
    void announceApprovalRequest(error, log);
    return false;
  };

  /** Promotion (or any alias move) with the gate: on a failed gate, offer an override that asks for a reason. */
  const moveAlias = async (registry: ModelRegistry, target: VersionArgument, alias: string): Promise<boolean> => {
    const gate = gateSpecFor(projectConfig.current, target.modelName);
    const attempt = (overrideReason: string | undefined) =>
      registry.promote({
        modelName: target.modelName,
        version: target.version,
        alias,
        ...(target.modelVersionId !== undefined ? { modelVersionId: target.modelVersionId } : {}),
        ...(gate ? { gate } : {}),
        ...(overrideReason !== undefined ? { overrideReason } : {}),
      });
    try {
      const r = await attempt(target.overrideReason);
      done(
        registry,
        `${target.modelName}@${alias} → v${r.version}${r.previous ? ` (was v${r.previous})` : ''}${r.overridden ? ' · gate overridden' : r.gate ? ' · gate ✓' : ''}`,
      );
      return true;
    } catch (error) {
      if (error instanceof ApprovalRequiredError) return approvalRequested(error);
      if (!(error instanceof GateRefusedError) || target.overrideReason !== undefined) throw error;
      const reason = await askGateOverrideReason(error, target, alias);
      if (reason === undefined) return false;
      try {
        const r = await attempt(reason);
        done(registry, `${target.modelName}@${alias} → v${r.version} · gate overridden: ${reason.trim()}`);
        return true;
      } catch (retried) {
        if (retried instanceof ApprovalRequiredError) return approvalRequested(retried);
        throw retried;
      }
    }
  };

  const askAlias = async (target: VersionArgument, existing: readonly string[]): Promise<string | undefined> => {
    const suggestions = ['champion', 'challenger', ...existing].filter((a, i, all) => all.indexOf(a) === i);
    const picked = await vscode.window.showQuickPick([...suggestions.map((label) => ({ label })), { label: 'Another alias…' }], {
      title: `Set an alias on ${target.modelName} v${target.version}`,
      ignoreFocusOut: true,
    });
    if (!picked) return undefined;
    if (picked.label !== 'Another alias…') return picked.label;
    return vscode.window.showInputBox({
      ignoreFocusOut: true,
      title: 'Alias name',
      prompt: 'letters, digits, _ and -; not "latest" or v<number>',
      validateInput: (v) => aliasProblem(v),
    });
  };

  /** One command: opens the registry (store or server), runs `body`, reports any error the same way. */
  const withRegistry =
    <A extends unknown[]>(what: string, body: (registry: ModelRegistry, ...args: A) => Promise<unknown>) =>
    (...args: A): Promise<unknown> =>
      context.guard(what, async () => body(await openRegistry({ backends: deps.backends, context }), ...args));

  return [
    registerCommand(
      'mloop.models.promote',
      withRegistry('promote', async (registry, input) => {
        const target = await pickVersion(registry, input, 'mloop: Promote to Champion');
        return target ? moveAlias(registry, target, CHAMPION) : false;
      }),
    ),
    registerCommand(
      'mloop.models.setAlias',
      withRegistry('set alias', async (registry, input) => {
        const target = await pickVersion(registry, input, 'mloop: Set Alias…');
        if (!target) return false;
        const alias = target.alias ?? (await askAlias(target, await aliasesOf(registry, target.modelName)));
        return alias ? moveAlias(registry, target, alias) : false;
      }),
    ),
    registerCommand(
      'mloop.models.removeAlias',
      withRegistry('remove alias', async (registry, input) => {
        const target = await pickVersion(registry, input, 'mloop: Remove Alias');
        if (!target) return false;
        const own = target.alias ? [] : await ownAliases(registry, target);
        const alias =
          target.alias ??
          (own.length === 1
            ? own[0]
            : await vscode.window.showQuickPick([...own], { title: `Remove which alias of ${target.modelName} v${target.version}?`, ignoreFocusOut: true }));
        if (!alias) return false;
        const was = await registry.removeAlias({ modelName: target.modelName, alias });
        done(registry, `${target.modelName}@${alias} removed (was v${was})`);
        return true;
      }),
    ),
    registerCommand(
      'mloop.models.rollbackAlias',
      withRegistry('roll back alias', async (registry, given) => {
        const input = given as RollbackInput;
        const modelName = input?.modelName ?? (await pickVersion(registry, undefined, 'mloop: Roll Back Alias'))?.modelName;
        if (!modelName) return false;
        const candidates = input?.alias ? [input.alias] : [...new Set([...(input?.aliases ?? []), ...(await aliasesOf(registry, modelName)), CHAMPION])];
        const options: { alias: string; current: number | null; target: number }[] = [];
        for (const alias of candidates) {
          const t = await registry.rollbackTarget(modelName, alias);
          if (t.target !== undefined) options.push({ alias, current: t.current, target: t.target });
        }
        if (options.length === 0) {
          void vscode.window.showInformationMessage(`mloop: no alias of ${modelName}${registry.where} has an earlier version to roll back to.`);
          return false;
        }
        const choice =
          input?.alias && options.length === 1
            ? options[0]!
            : await vscode.window
                .showQuickPick(
                  options.map((o) => ({ label: `@${o.alias}`, description: `v${o.current ?? '∅'} → v${o.target}`, option: o })),
                  { title: `Roll back an alias of ${modelName}`, ignoreFocusOut: true },
                )
                .then((p) => p?.option);
        if (!choice) return false;
        // a caller that names the alias has decided; a person is asked why (optional)
        const reason =
          input?.reason ??
          (input?.alias
            ? ''
            : await vscode.window.showInputBox({
                ignoreFocusOut: true,
                title: `Roll back ${modelName}@${choice.alias} to v${choice.target}`,
                prompt: 'Why? (optional, recorded in the audit log)',
              }));
        if (reason === undefined) return false;
        const r = await registry.rollbackAlias({ modelName, alias: choice.alias, ...(reason ? { reason } : {}) });
        done(registry, `${modelName}@${choice.alias} rolled back: v${r.from ?? '∅'} → v${r.to}`);
        return true;
      }),
    ),
    registerCommand(
      'mloop.models.compareWithChampion',
      withRegistry('compare with champion', async (registry, input) => {
        const target = await pickVersion(registry, input, 'mloop: Compare with Champion');
        if (!target) return undefined;
        const versions = await registry.versions(target.modelName);
        const champion = versions.find((v) => v.aliases.includes(CHAMPION));
        const version = versions.find((v) => v.version === target.version);
        if (!champion) return void vscode.window.showInformationMessage(`mloop: ${target.modelName} has no champion yet. Promote a version first.`);
        if (!champion.runId || !version?.runId) return void vscode.window.showInformationMessage('mloop: only versions registered from runs can be compared.');
        const runIds = [champion.runId, version.runId];
        await deps.runCharts.openCompare(runIds, champion.runId);
        return runIds;
      }),
    ),
    registerCommand(
      'mloop.models.copyUri',
      withRegistry('copy model URI', async (registry, input) => {
        const target = await pickVersion(registry, input, 'mloop: Copy Model URI');
        if (!target) return undefined;
        const aliases = target.alias ? [] : await ownAliases(registry, target);
        const alias = target.alias ?? (aliases.includes(CHAMPION) ? CHAMPION : aliases[0]);
        const uri = modelUri(target.modelName, alias ? { alias } : { version: target.version });
        await vscode.env.clipboard.writeText(uri);
        vscode.window.setStatusBarMessage(`mloop: copied ${uri}`, 3000);
        return uri;
      }),
    ),
    registerCommand(
      'mloop.models.registerFromRun',
      withRegistry('register model', async (registry, input, modelNameArg) => {
        const runId = typeof input === 'string' ? input : input?.kind === 'run' ? input.runId : undefined;
        if (!runId)
          return void vscode.window.showInformationMessage(
            `mloop: pick a finished run${registry.where ? ' of the MLflow server' : ''} in the Runs view, then Register Model.`,
          );
        const run = await registry.run(runId);
        const config = projectConfig.current;
        const declared = run?.pipeline ? config?.pipelines[run.pipeline]?.model : undefined;
        const modelName =
          modelNameArg ??
          (await vscode.window.showInputBox({
            ignoreFocusOut: true,
            title: `Register a model${registry.where} from run ${run?.name ?? runId}`,
            prompt: 'Registered model name',
            value: declared?.name ?? '',
            validateInput: NAME_RULE,
          }));
        if (!modelName) return undefined;
        let artifactPath = declared && declared.name === modelName ? declared.path : undefined;
        if (registry.asksArtifactPath && modelNameArg === undefined) {
          artifactPath = await vscode.window.showInputBox({
            ignoreFocusOut: true,
            title: `Artifact of run ${run?.name ?? runId} to register`,
            prompt: "Path among the run's artifacts (where log_model put it)",
            value: 'model',
          });
          if (!artifactPath) return undefined;
        }
        const gate = gateSpecFor(config, modelName);
        const result = await vscode.window.withProgress(
          { location: vscode.ProgressLocation.Notification, title: `mloop: registering ${modelName}${registry.where} from run ${runId.slice(0, 8)}` },
          () =>
            registry.registerFromRun({
              runId,
              modelName,
              ...(artifactPath ? { artifactPath } : {}),
              ...(gate ? { gate } : {}),
              ...(projectConfig.projectRoot ? { projectRoot: projectConfig.projectRoot } : {}),
            }),
        );
        done(registry, `registered ${modelName} v${result.version}${registry.where}${result.gate ? ` · gate ${result.gate.passed ? '✓' : '✗'}` : ''}`);
        return { modelName, version: result.version };
      }),
    ),
  ];
}
