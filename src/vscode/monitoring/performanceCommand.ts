import * as vscode from 'vscode';
import type { CommandContext } from '../base/commandContext';
import { executeCommand, registerCommand } from '../base/commands';
import type { ModelInput } from './commands';
import type { DriftMonitor } from './driftMonitor';

/** What Check Model Performance… resolves to (tests and other commands read it). */
export interface PerformanceCheckOutcome {
  readonly model: string;
  readonly alerts: readonly string[];
  readonly errors: readonly string[];
  readonly summary: string;
  readonly performanceReportId?: number;
  readonly fairnessReportId?: number;
  readonly estimatedReportId?: number;
}

/**
 * mloop: Check Model Performance… — performance from late labels and fairness per group of a model with `labels:`
 * in its monitoring entry, the same code as `mloop monitor --once` (without the drift check: Check Drift… does it).
 * The result is a notification; an alert joins the drift badge in the status bar.
 */
export function registerPerformanceCommand(deps: {
  commands: CommandContext;
  monitor: DriftMonitor;
  /** With the MLflow backend, a model on the server is copied here (champion and lineage) before it is checked. */
  beforeCheck?: (model: string) => Promise<unknown>;
}): vscode.Disposable {
  const { commands, monitor } = deps;
  const { projectConfig } = commands;
  return registerCommand('mloop.monitoring.checkPerformance', (input?: ModelInput) =>
    commands.guard('performance check', async (): Promise<PerformanceCheckOutcome | undefined> => {
      commands.requireTrusted();
      projectConfig.reload(); // what mloop.yaml says now, not what the debounced watcher last saw
      const monitoring = projectConfig.current?.monitoring ?? {};
      const named = typeof input === 'string' ? input : input && 'model' in input ? input.model : input && 'modelName' in input ? input.modelName : undefined;
      const withLabels = Object.keys(monitoring).filter((m) => monitoring[m]!.labels || monitoring[m]!.estimated_performance);
      const model =
        named ??
        (
          await vscode.window.showQuickPick(
            withLabels.map((m) => ({ label: m, description: monitoring[m]!.labels ?? 'estimated performance' })),
            {
              title: 'mloop: Check Model Performance',
              placeHolder: withLabels.length ? 'Which model?' : 'No model has labels: in its monitoring entry',
              ignoreFocusOut: true,
            },
          )
        )?.label;
      if (!model) return undefined;
      const current = monitor.beginCheck(model); // asked when it ends: whether its alerts may replace the badge's
      await deps.beforeCheck?.(model);
      const entry = monitoring[model];
      const root = projectConfig.projectRoot;
      if ((!entry?.labels && !entry?.estimated_performance) || !root) {
        void vscode.window
          .showWarningMessage(
            `mloop: ${model} has no labels in mloop.yaml. Add "labels: <file or glob of id,label>" and "prediction: <column>" to monitoring: ${model}: to measure its performance, or estimated_performance: to estimate it before labels arrive.`,
            'Open mloop.yaml',
          )
          .then((action) => action && projectConfig.uri && vscode.window.showTextDocument(projectConfig.uri));
        return undefined;
      }
      const store = await commands.workspaceStore.get({ create: true });
      if (!store) throw new Error('there is no mloop store in this workspace');
      const { monitorAndAlert, performanceSummary, estimatedSummary } = await import('../../core/monitoring/monitor');
      const result = await vscode.window.withProgress(
        { location: vscode.ProgressLocation.Notification, title: `mloop: checking the performance of ${model}`, cancellable: true },
        async (_progress, token) => {
          const abort = new AbortController();
          const cancel = token.onCancellationRequested(() => abort.abort(new Error('cancelled')));
          try {
            return await monitorAndAlert({ model, monitoring: entry, baseDir: root, store, drift: false, signal: abort.signal });
          } finally {
            cancel.dispose();
          }
        },
      );
      commands.workspaceStore.fire();
      const alerts = result.alerts.map((a) => a.message);
      const errors = result.errors.map((e) => e.message);
      const summary = result.performance
        ? performanceSummary(result.performance)
        : result.estimated_performance
          ? estimatedSummary(result.estimated_performance)
          : (errors[0] ?? 'no result');
      if (current()) monitor.setMonitoringAlerts(model, errors.length ? [] : alerts);
      commands.log.info(`performance check of ${model}: ${summary}`);
      for (const a of alerts) commands.log.warn(`${model}: ${a}`);
      for (const e of errors) commands.log.error(`performance check of ${model}: ${e}`);
      for (const d of result.on_alert ?? []) (d.ok ? commands.log.info : commands.log.error)(`${model} on_alert: ${d.detail}`);
      const follow = (action: string | undefined): void => {
        if (action === 'Show Log') commands.log.show();
        if (action === 'Open Monitoring') void executeCommand('mloop.monitoring.openPanel', model);
      };
      if (errors.length) void vscode.window.showErrorMessage(`mloop: performance check of ${model} failed: ${errors[0]}`, 'Show Log').then(follow);
      else if (alerts.length)
        void vscode.window.showWarningMessage(`mloop: ${model}: ${alerts.length} alert(s). ${alerts[0]}`, 'Open Monitoring', 'Show Log').then(follow);
      else void vscode.window.showInformationMessage(`mloop: ${model}: ${summary}`, 'Open Monitoring').then(follow);
      return {
        model,
        alerts,
        errors,
        summary,
        ...(result.performance?.report_id !== undefined ? { performanceReportId: result.performance.report_id } : {}),
        ...(result.fairness?.report_id !== undefined ? { fairnessReportId: result.fairness.report_id } : {}),
        ...(result.estimated_performance?.report_id !== undefined ? { estimatedReportId: result.estimated_performance.report_id } : {}),
      };
    }),
  );
}
