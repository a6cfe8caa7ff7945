import * as vscode from 'vscode';
import type { ReproduceResult } from '../../core/runs/reproduce';
import { RunRepository } from '../../core/store/runs';
import type { RunArgument } from '../base/commandArgs';
import type { CommandContext } from '../base/commandContext';
import { executeCommand, registerCommand } from '../base/commands';
import type { TrackingService } from './trackingService';

/** How many finished runs the palette's pick offers. */
const PICK_LIMIT = 200;

/**
 * "mloop: Reproduce Run": the run again exactly (its commit in a temporary git worktree, its diff, data and
 * params), with a cancellable progress notification; the verdict ("reproduced ✓" or the metrics that
 * differ) is shown, stored on both runs and drawn in lineage. Output goes to the mloop log.
 */
export function registerReproduceCommand(deps: { commands: CommandContext; tracking: TrackingService }): vscode.Disposable[] {
  const { commands, tracking } = deps;
  return [
    registerCommand('mloop.runs.reproduce', async (arg?: RunArgument, options?: { env?: 'current' | 'recreate' }): Promise<ReproduceResult | undefined> => {
      try {
        commands.requireTrusted();
        const store = await commands.requireStore({ trusted: true });
        const projectRoot = commands.projectConfig.projectRoot;
        if (!projectRoot) throw new Error('open the folder of your ML project first');
        let runId = typeof arg === 'string' ? arg : arg?.kind === 'run' ? arg.runId : undefined;
        if (!runId) {
          const rows = store.db
            .prepare(
              `SELECT run_id, name, pipeline, status, start_time FROM run WHERE pipeline IS NOT NULL AND status IN ('FINISHED', 'FAILED') AND lifecycle_stage = 'active'
               ORDER BY start_time DESC LIMIT ${PICK_LIMIT}`,
            )
            .all() as { run_id: string; name: string; pipeline: string; status: string; start_time: number }[];
          if (rows.length === 0) return void vscode.window.showInformationMessage('mloop: no finished run of a pipeline to reproduce yet.');
          const picked = await vscode.window.showQuickPick(
            rows.map((r) => ({
              label: r.name,
              description: `${r.pipeline} · ${r.status.toLowerCase()} · ${r.run_id.slice(0, 8)}`,
              detail: new Date(r.start_time).toLocaleString(),
              runId: r.run_id,
            })),
            {
              title: 'mloop: Reproduce Run',
              placeHolder: 'Re-run which run exactly (its commit, uncommitted changes, data and params)?',
              ignoreFocusOut: true,
            },
          );
          if (!picked) return undefined;
          runId = picked.runId;
          if (!options?.env) {
            const env = await vscode.window.showQuickPick(
              [
                {
                  label: 'The current Python',
                  description: 'as the run would find it today; differences from the recorded packages are reported',
                  env: 'current' as const,
                },
                {
                  label: 'A recreated environment',
                  description: 'a new venv with the recorded packages from the package index (slower)',
                  env: 'recreate' as const,
                },
              ],
              { title: 'mloop: Reproduce Run', placeHolder: 'Run it with which Python?', ignoreFocusOut: true },
            );
            if (!env) return undefined;
            options = { env: env.env };
          }
        }
        const run = new RunRepository(store).get(runId);
        if (!run) throw new Error(`run ${runId} is not in the store`);
        const { reproduceRun, ReproduceError } = await import('../../core/runs/reproduce');
        const endpoint = await tracking.endpoint();
        const tolerance = commands.projectConfig.reload()?.reproduces?.tolerance;
        commands.log.info(`reproducing run ${run.name} (${runId})`);
        let result: ReproduceResult;
        try {
          result = await vscode.window.withProgress(
            { location: vscode.ProgressLocation.Notification, title: `mloop: Reproducing ${run.name}`, cancellable: true },
            async (progress, token) => {
              const controller = new AbortController();
              let stop: (() => void) | undefined;
              token.onCancellationRequested(() => {
                controller.abort();
                stop?.();
              });
              return reproduceRun({
                store,
                projectRoot,
                runId: runId!,
                trusted: vscode.workspace.isTrusted,
                tracking: endpoint,
                env: options?.env ?? 'current',
                ...(tolerance !== undefined ? { tolerance } : {}),
                onProgress: (message) => {
                  progress.report({ message });
                  commands.log.info(`reproduce ${runId!.slice(0, 8)}: ${message}`);
                },
                onOutput: (text) => commands.log.info(text.trimEnd()),
                onStarted: (handle) => {
                  stop = () => handle.stop();
                  commands.workspaceStore.fire();
                },
                signal: controller.signal,
              });
            },
          );
        } catch (error) {
          if (error instanceof ReproduceError) {
            commands.log.error(error.message);
            void vscode.window.showErrorMessage(`mloop: ${run.name} cannot be reproduced`, { modal: true, detail: error.message });
            return undefined;
          }
          throw error;
        }
        commands.workspaceStore.fire();
        const { describeVerdict } = await import('../../core/store/reproductions');
        const { formatEnvironmentChange } = await import('../../shared/environmentFacts');
        const r = result.reproduction;
        const changes = r.environment.length
          ? ` Environment: ${r.environment.slice(0, 5).map(formatEnvironmentChange).join('; ')}${r.environment.length > 5 ? '; …' : ''}.`
          : '';
        const text = `mloop: ${run.name}: ${describeVerdict(r)}.${changes}`;
        commands.log.info(text);
        void (
          r.verdict === 'reproduced'
            ? vscode.window.showInformationMessage(text, 'Show Lineage')
            : vscode.window.showWarningMessage(text, 'Show Lineage', 'Show Log')
        ).then((action) => {
          if (action === 'Show Lineage') void executeCommand('mloop.lineage.show', `run:${r.runId}`);
          if (action === 'Show Log') commands.log.show();
        });
        return result;
      } catch (error) {
        return commands.reportError('reproduce run', error);
      }
    }),
  ];
}
