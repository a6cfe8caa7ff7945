import * as vscode from 'vscode';
import type { LoggedExplanation, LoggedPrediction } from '../../core/evaluation/predictionLog';
import { pythonOf } from '../../core/runs/environment';
import { artifactRootOf } from '../../core/store/artifactRoot';
import { GatewayRepository } from '../../core/store/gatewayRoutes';
import type { Store } from '../../core/store/store';
import { CommandCancelled, CommandContext, type CommandContextDeps } from '../base/commandContext';
import { registerCommand } from '../base/commands';
import type { TargetInput } from '../deployments/targets';
import { openEvaluationPanel, type EvaluationPanelDeps } from './evaluationPanel';

/** A predictions-log row: the editor's document (the context menu passes its uri) and 1-based line, else the cursor's. */
export type LogRowInput = vscode.Uri | { readonly file: string; readonly line: number } | undefined;

/** A request to explain: an id (tests, code), else one picked from the latest logged requests. */
export type RequestInput = TargetInput | string;

/**
 * Explain This Prediction (a predictions-log row in the editor) and Explain Request… (a request id, picked from the
 * latest logged requests): the row explained by the version that answered it, read from the log (its `version`), in
 * the project's Python, with progress and cancel; the waterfall opens in the Explanation panel.
 */
export function registerExplainLogCommands(deps: CommandContextDeps & { panelDeps: EvaluationPanelDeps }): vscode.Disposable[] {
  const commands = new CommandContext(deps);

  const explain = async (store: Store, projectRoot: string, logged: LoggedPrediction): Promise<LoggedExplanation> => {
    const { explainLoggedPrediction } = await import('../../core/evaluation/predictionLog');
    const explanation = await vscode.window.withProgress(
      {
        location: vscode.ProgressLocation.Notification,
        title: `mloop: explaining ${logged.requestId !== undefined ? `request ${logged.requestId}` : 'a logged prediction'} with ${logged.model} v${logged.version}`,
        cancellable: true,
      },
      async (_p, token) => {
        const abort = new AbortController();
        const cancel = token.onCancellationRequested(() => abort.abort());
        try {
          return await explainLoggedPrediction(
            {
              store,
              artifactRoot: artifactRootOf(store.path),
              projectRoot,
              config: commands.projectConfig.current,
              python: pythonOf([], process.env, projectRoot),
              signal: abort.signal,
            },
            logged,
          );
        } finally {
          cancel.dispose();
        }
      },
    );
    openEvaluationPanel(deps.panelDeps, { explanation });
    return explanation;
  };

  return [
    registerCommand('mloop.models.explainLogRow', (input?: LogRowInput) =>
      commands.guard('explain this prediction', async (): Promise<LoggedExplanation | undefined> => {
        const store = await commands.requireStore({ trusted: true });
        const { config, projectRoot } = commands.requireProject({ reread: false });
        const editor = vscode.window.activeTextEditor;
        let file: string;
        let line: number;
        let lines: string[] | undefined;
        if (input && !(input instanceof vscode.Uri)) ({ file, line } = input);
        else {
          const uri = input ?? editor?.document.uri;
          if (!uri) throw new Error('open a predictions log (JSON lines or CSV) and put the cursor on a prediction');
          const document = editor && editor.document.uri.toString() === uri.toString() ? editor.document : await vscode.workspace.openTextDocument(uri);
          file = document.uri.fsPath;
          line = (editor?.document === document ? editor.selection.active.line : 0) + 1;
          lines = document.getText().split(/\r?\n/);
        }
        const { loggedPredictionAt } = await import('../../core/evaluation/predictionLog');
        const logged = await loggedPredictionAt({ projectRoot, config, file, line, ...(lines ? { lines } : {}) });
        return explain(store, projectRoot, logged);
      }),
    ),
    registerCommand('mloop.models.explainRequest', (input?: RequestInput, index?: number) =>
      commands.guard('explain request', async (): Promise<LoggedExplanation | undefined> => {
        const store = await commands.requireStore({ trusted: true });
        const { config, projectRoot } = commands.requireProject({ reread: false });
        const { findLoggedRequest, predictionLogsOf, recentLoggedRequests } = await import('../../core/evaluation/predictionLog');
        // a Deployments row: the logs of the models its gateway routes (else every monitored model's)
        const target = input && typeof input === 'object' && 'target' in input && typeof input.target === 'string' ? input.target : undefined;
        const routed = target ? [...new Set((new GatewayRepository(store).get(target)?.routes ?? []).map((r) => r.modelName))] : [];
        const models = routed.length ? routed : undefined;
        let requestId = typeof input === 'string' ? input : undefined;
        if (requestId === undefined) {
          const recent = (await recentLoggedRequests(projectRoot, config)).filter((r) => !models || models.includes(r.model));
          const pick = vscode.window.createQuickPick<vscode.QuickPickItem & { requestId?: string }>();
          pick.title = 'mloop: Explain Request';
          pick.placeholder = recent.length ? 'A recent request, or type a request id' : 'Type a request id (its x-request-id)';
          pick.ignoreFocusOut = true;
          const recentItems = recent.map((r) => ({
            label: r.requestId,
            description: `${r.model} v${String(r.version)} · ${r.rows} row(s) · predicted ${String(r.prediction)}`,
            detail: typeof r.ts === 'number' ? new Date(r.ts > 1e12 ? r.ts : r.ts * 1000).toLocaleString() : undefined,
            requestId: r.requestId,
          }));
          pick.items = recentItems;
          pick.onDidChangeValue((value) => {
            const typed = value.trim();
            pick.items =
              typed && !recentItems.some((i) => i.requestId === typed)
                ? [{ label: typed, description: 'this request id', requestId: typed }, ...recentItems]
                : recentItems;
          });
          requestId = await new Promise<string | undefined>((done) => {
            pick.onDidAccept(() => {
              done(pick.selectedItems[0]?.requestId);
              pick.hide();
            });
            pick.onDidHide(() => done(undefined));
            pick.show();
          });
          pick.dispose();
          if (!requestId) throw new CommandCancelled();
        }
        const logged = await findLoggedRequest({ projectRoot, config, requestId, ...(index !== undefined ? { index } : {}), ...(models ? { models } : {}) });
        if (!logged) {
          const logs = (await predictionLogsOf(projectRoot, config, models)).map((l) => `${l.model}: ${vscode.workspace.asRelativePath(l.pattern)}`);
          throw new Error(
            `request ${requestId}${index ? ` row ${index}` : ''} is not in the predictions log${logs.length ? `s (${logs.join(', ')})` : 's: no monitoring.<model>.current in mloop.yaml'}`,
          );
        }
        return explain(store, projectRoot, logged);
      }),
    ),
  ];
}
