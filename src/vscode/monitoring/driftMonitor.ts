import * as vscode from 'vscode';
import { DriftInputError } from '../../core/drift/collect';
import { checkAndStore, checkOptionsFromMonitoring, driftHeadline } from '../../core/drift/monitor';
import { scheduleMilliseconds, type ModelMonitoring } from '../../core/drift/monitoringSchema';
import { DatasetReadError } from '../../core/datasets/readers';
import type { ModelMonitorResult } from '../../core/monitoring/monitor';
import type { Store } from '../../core/store/store';
import type { FailedChecks } from './monitoringView';
import { DriftReportRepository, type StoredDriftReport } from '../../core/store/driftReports';
import type { ProjectConfig } from '../base/projectConfig';
import type { WorkspaceStore } from '../base/workspaceStore';
import { RESTRICTED_MODE_MESSAGE } from '../base/commandContext';
import { executeCommand } from '../base/commands';

/** The command another feature (issue 7: retrain) registers; mloop calls it with { model, driftReportId }. */
export const RETRAIN_COMMAND = 'mloop.models.retrain';
const CHANGE_DEBOUNCE_MS = 2_000;

export interface DriftCheckOutcome {
  readonly report: StoredDriftReport;
  readonly headline: string;
}

/**
 * Scheduled checks from `monitoring:` in mloop.yaml while the editor is open: every `schedule` and on each change
 * of a model's current files, every configured check (drift, performance from labels, estimated performance,
 * fairness) runs through the same core function as `mloop monitor` (`monitorAndAlert`): reports stored, `on_alert`
 * delivered. A scheduled check whose inputs did not change since the last one is skipped (each store write refreshes
 * every view). An alert shows a badge in the status bar and a notification (Open Monitoring, Retrain); drift can
 * retrain at once with `on_drift: retrain`. Check Drift… runs the drift check alone. Nothing runs in an untrusted workspace.
 */
export class DriftMonitor implements vscode.Disposable {
  private readonly badge = vscode.window.createStatusBarItem('mloop.drift', vscode.StatusBarAlignment.Left, 49);
  private readonly scheduled: vscode.Disposable[] = [];
  private readonly disposables: vscode.Disposable[] = [this.badge];
  private readonly inFlight = new Map<string, Promise<DriftCheckOutcome | undefined>>();
  private readonly drifted = new Map<string, DriftCheckOutcome>();
  /** Performance and fairness alerts of each model's latest check (Check Model Performance…). */
  private readonly alerted = new Map<string, readonly string[]>();
  private readonly inFlightAll = new Map<string, Promise<ModelMonitorResult | undefined>>();
  /** Per model, what its last scheduled check read (monitorInputsSignature). */
  private readonly lastInputs = new Map<string, string>();
  /**
   * Per model, the checks that failed in its latest check by this editor (a labels file mloop cannot join, say), with
   * when: the Monitoring panel shows them, since such a check stores no report the panel could show instead.
   */
  private readonly failedChecks = new Map<string, FailedChecks>();
  /** Per model, the errors the last notification said (a check failing the same way on every change says it once). */
  private readonly notifiedErrors = new Map<string, string>();
  /** Models whose inputs changed while a check of them ran: checked again when it ends (skipped if nothing changed). */
  private readonly checkAgain = new Set<string>();
  /** Checks started so far, the check whose result each model's badge shows, and the count when monitoring: changed. */
  private checksStarted = 0;
  private readonly shownCheck = new Map<string, number>();
  private configChangedAt = 0;
  private signature = '';

  constructor(
    private readonly deps: {
      workspaceStore: WorkspaceStore;
      projectConfig: ProjectConfig;
      log: vscode.LogOutputChannel;
      /** Opens the model's Monitoring panel (on a drift report when given). */
      openReport: (model: string, driftReportId?: number) => void;
    },
  ) {
    this.badge.name = 'mloop drift';
    this.disposables.push(
      deps.projectConfig.onDidChange(() => this.reschedule()),
      vscode.workspace.onDidGrantWorkspaceTrust(() => this.reschedule(true)),
    );
    if (deps.projectConfig.isLoaded) this.reschedule(); // else the first load's event does it, after activation
  }

  /** The checks that failed in the model's latest check by this editor, and when (none: every check ran). */
  checkErrors(model: string): FailedChecks | undefined {
    return this.failedChecks.get(model);
  }

  /** Models with a monitoring entry in the current mloop.yaml. */
  monitoredModels(): string[] {
    return Object.keys(this.deps.projectConfig.current?.monitoring ?? {});
  }

  /**
   * Whether mloop.yaml monitors the model now. A check that ends after its model was taken out of monitoring (one a
   * late file event started, say) stores its report but does not put the model back on the badge: nothing would take
   * it off again.
   */
  private stillMonitored(model: string): boolean {
    return model in (this.deps.projectConfig.current?.monitoring ?? {});
  }

  /**
   * Marks the start of a check of the model (the editor's, a scheduled one, one a file change started). The returned
   * function, asked when the check ends, says whether its result may be shown: not when a check started after it has
   * shown its result already (two checks overlap: the older one ends last), not when mloop.yaml's monitoring changed
   * since it started, not when the model is no longer monitored. Asking it claims the badge for this check.
   */
  beginCheck(model: string): () => boolean {
    const started = ++this.checksStarted;
    return () => {
      if (started <= this.configChangedAt || started <= (this.shownCheck.get(model) ?? 0) || !this.stillMonitored(model)) return false;
      this.shownCheck.set(model, started);
      return true;
    };
  }

  private reschedule(force = false): void {
    const monitoring = this.deps.projectConfig.current?.monitoring ?? {};
    const signature = JSON.stringify(monitoring);
    if (!force && signature === this.signature) return; // typing elsewhere in mloop.yaml keeps the timers
    this.signature = signature;
    this.configChangedAt = this.checksStarted; // checks under the earlier monitoring: their results leave the badge alone
    // a model taken out of monitoring: its drift leaves the badge
    const gone = [...this.drifted.keys()].filter((model) => !(model in monitoring));
    for (const model of gone) this.drifted.delete(model);
    if (gone.length) this.updateBadge();
    // the other checks' alerts: read again from the stored reports, for the checks mloop.yaml still asks for (an
    // alert of a model, or of a check, taken out of monitoring leaves the badge)
    if (this.alerted.size) {
      this.alerted.clear();
      this.updateBadge();
      void this.restoreBadge();
    }
    for (const d of this.scheduled.splice(0)) d.dispose();
    if (!vscode.workspace.isTrusted) return;
    const folder = vscode.workspace.workspaceFolders?.[0];
    if (!folder) return;
    for (const [model, entry] of Object.entries(monitoring)) {
      const every = entry.schedule ? scheduleMilliseconds(entry.schedule) : undefined;
      if (every) {
        const timer = setInterval(() => void this.checkAll(model, { interactive: false }), every);
        this.scheduled.push({ dispose: () => clearInterval(timer) });
      }
      let debounce: NodeJS.Timeout | undefined;
      const changed = (): void => {
        clearTimeout(debounce);
        debounce = setTimeout(() => void this.checkAll(model, { interactive: false }), CHANGE_DEBOUNCE_MS);
      };
      this.scheduled.push({ dispose: () => clearTimeout(debounce) });
      // new predictions, and labels arriving after them (late labels), each start a check
      for (const pattern of [entry.current, ...(entry.labels ? [entry.labels] : [])]) {
        const watcher = vscode.workspace.createFileSystemWatcher(new vscode.RelativePattern(folder, pattern.replace(/^\.\//, '')));
        this.scheduled.push(watcher, watcher.onDidChange(changed), watcher.onDidCreate(changed));
      }
    }
    this.deps.log.info(`monitoring: ${Object.keys(monitoring).length ? Object.keys(monitoring).join(', ') : 'no models'} (mloop.yaml monitoring:)`);
  }

  /**
   * Checks one model now. Interactive checks show a cancellable progress notification and report errors;
   * scheduled ones show progress in the status bar and log errors. One check per model at a time.
   */
  check(model: string, options: { interactive: boolean }): Promise<DriftCheckOutcome | undefined> {
    const running = this.inFlight.get(model);
    if (running) return running;
    const done = this.run(model, options).finally(() => this.inFlight.delete(model));
    this.inFlight.set(model, done);
    return done;
  }

  /** What a check of one model needs (trust, its monitoring entry, the project root, the store), or undefined after saying what is missing. */
  private async prepare(
    model: string,
    options: { interactive: boolean },
    what: string,
  ): Promise<{ entry: ModelMonitoring; root: string; store: Store; fail: (message: string) => undefined } | undefined> {
    const { log, projectConfig, workspaceStore } = this.deps;
    const fail = (message: string): undefined => {
      log.error(`${what} of ${model}: ${message}`);
      if (options.interactive) void vscode.window.showErrorMessage(`mloop: ${what} of ${model} failed: ${message}`, 'Show Log').then((a) => a && log.show());
      return undefined;
    };
    if (!vscode.workspace.isTrusted) return fail(RESTRICTED_MODE_MESSAGE);
    const entry: ModelMonitoring | undefined = projectConfig.current?.monitoring?.[model];
    const root = projectConfig.projectRoot;
    if (!entry || !root) return fail(`no monitoring entry for ${model} in mloop.yaml (monitoring: ${model}: current: …)`);
    const store = await workspaceStore.get({ create: true });
    if (!store) return fail('there is no mloop store in this workspace');
    return { entry, root, store, fail };
  }

  private async run(model: string, options: { interactive: boolean }): Promise<DriftCheckOutcome | undefined> {
    const { log, workspaceStore } = this.deps;
    const current = this.beginCheck(model);
    const ready = await this.prepare(model, options, 'drift check');
    if (!ready) return undefined;
    const { entry, root, store, fail } = ready;
    const outcome = await vscode.window.withProgress(
      {
        location: options.interactive ? vscode.ProgressLocation.Notification : vscode.ProgressLocation.Window,
        title: `mloop: checking drift of ${model}`,
        cancellable: options.interactive,
      },
      async (progress, token) => {
        const abort = new AbortController();
        const cancel = token.onCancellationRequested(() => abort.abort(new Error('cancelled')));
        try {
          const { result, stored } = await checkAndStore(store, {
            ...checkOptionsFromMonitoring(model, entry, root),
            signal: abort.signal,
            onProgress: (message) => progress.report({ message }),
          });
          return { report: stored, headline: driftHeadline(result, model) };
        } catch (error) {
          if (abort.signal.aborted) return undefined;
          const known = error instanceof DriftInputError || error instanceof DatasetReadError;
          return fail(known ? (error as Error).message : `${(error as Error).message}`);
        } finally {
          cancel.dispose();
        }
      },
    );
    if (!outcome) return undefined;
    workspaceStore.fire();
    log.info(`drift check of ${model}: ${outcome.headline} (report #${outcome.report.driftReportId})`);
    const shown = current();
    if (shown) {
      if (outcome.report.datasetDrift) this.drifted.set(model, outcome);
      else this.drifted.delete(model);
      this.updateBadge();
    }
    if (outcome.report.datasetDrift && !options.interactive && shown) {
      if (entry.on_drift === 'retrain') void this.autoRetrain(model, entry, outcome);
      else void this.notify(model, outcome);
    }
    return outcome;
  }

  /**
   * Every configured check of one model now, as `mloop monitor --once` runs it (reports stored, on_alert delivered).
   * A scheduled run (interactive false) is skipped when nothing it reads changed since the last one.
   */
  checkAll(model: string, options: { interactive: boolean }): Promise<ModelMonitorResult | undefined> {
    const running = this.inFlightAll.get(model);
    if (running) {
      // a change during a check (late labels written while the predictions are read) is checked once it ends: the
      // running check read its inputs before the change
      this.checkAgain.add(model);
      return running;
    }
    const done = this.runAll(model, options).finally(() => {
      this.inFlightAll.delete(model);
      if (this.checkAgain.delete(model)) void this.checkAll(model, { interactive: false });
    });
    this.inFlightAll.set(model, done);
    return done;
  }

  private async runAll(model: string, options: { interactive: boolean }): Promise<ModelMonitorResult | undefined> {
    const { log, workspaceStore } = this.deps;
    const current = this.beginCheck(model);
    const ready = await this.prepare(model, options, 'monitoring check');
    if (!ready) return undefined;
    const { entry, root, store, fail } = ready;
    const { monitorAndAlert, monitorInputsSignature } = await import('../../core/monitoring/monitor');
    const inputs = await monitorInputsSignature({ model, monitoring: entry, baseDir: root, store });
    if (!options.interactive && this.lastInputs.get(model) === inputs) {
      log.trace(`monitoring check of ${model}: nothing it reads changed since the last check; skipped`);
      return undefined;
    }
    const result = await vscode.window.withProgress(
      {
        location: options.interactive ? vscode.ProgressLocation.Notification : vscode.ProgressLocation.Window,
        title: `mloop: checking ${model}`,
        cancellable: options.interactive,
      },
      async (_progress, token) => {
        const abort = new AbortController();
        const cancel = token.onCancellationRequested(() => abort.abort(new Error('cancelled')));
        try {
          return await monitorAndAlert({ model, monitoring: entry, baseDir: root, store, signal: abort.signal });
        } catch (error) {
          if (abort.signal.aborted) return undefined;
          // the whole check failed: said in the panel and once in a notification too when it ran on its own
          if (!options.interactive) this.checkFailed(model, [{ check: 'monitoring', message: (error as Error).message }], false);
          return fail((error as Error).message);
        } finally {
          cancel.dispose();
        }
      },
    );
    if (!result) return undefined;
    this.lastInputs.set(model, inputs);
    // before the store's event: the open Monitoring panel reloads on it, with these
    this.checkFailed(model, result.errors, options.interactive);
    workspaceStore.fire();
    for (const e of result.errors) log.error(`${e.check} check of ${model}: ${e.message}`);
    for (const a of result.alerts) log.warn(`${model}: ${a.message}`);
    for (const d of result.on_alert ?? []) (d.ok ? log.info : log.error)(`${model} on_alert: ${d.detail}`);
    if (options.interactive && result.errors.length) void fail(result.errors.map((e) => `${e.check}: ${e.message}`).join('; '));
    // drift joins the badge as before; the other checks' alerts beside it
    // (a check that started before the one the badge shows, or before mloop.yaml changed, leaves the badge alone)
    const shown = current();
    let drifted: DriftCheckOutcome | undefined;
    const stored = result.drift?.report_id !== undefined ? new DriftReportRepository(store).get(result.drift.report_id) : undefined;
    if (stored && result.drift) {
      drifted = { report: stored, headline: result.drift.headline };
      if (shown && stored.datasetDrift) this.drifted.set(model, drifted);
      else if (shown) this.drifted.delete(model);
    }
    const others = result.alerts.filter((a) => a.check !== 'drift').map((a) => a.message);
    if (shown) this.setMonitoringAlerts(model, others);
    if (!options.interactive && shown) {
      if (drifted?.report.datasetDrift) {
        if (entry.on_drift === 'retrain') void this.autoRetrain(model, entry, drifted);
        else void this.notify(model, drifted);
      }
      if (others.length) void this.notifyAlerts(model, others);
    }
    return result;
  }

  /**
   * The checks of a model's latest check that failed (none: all ran), for the Monitoring panel; a check that ran on
   * its own says a failure once in a notification (not in the log alone), and the same failure again only in the
   * panel and the log.
   */
  private checkFailed(model: string, errors: FailedChecks['errors'], interactive: boolean): void {
    if (errors.length) this.failedChecks.set(model, { at: Date.now(), errors });
    else this.failedChecks.delete(model);
    const failed = errors.map((e) => `${e.check}: ${e.message}`).join('\n');
    if (!failed) this.notifiedErrors.delete(model);
    else if (!interactive && this.notifiedErrors.get(model) !== failed) {
      this.notifiedErrors.set(model, failed);
      void this.notifyErrors(model, errors);
    }
  }

  private async notifyErrors(model: string, errors: FailedChecks['errors']): Promise<void> {
    const first = errors[0]!;
    const more = errors.length > 1 ? ` (and ${errors.length - 1} more check(s))` : '';
    const action = await vscode.window.showErrorMessage(
      `mloop: the ${first.check.replace('_', ' ')} check of ${model} failed: ${first.message}${more}`,
      'Open Monitoring',
      'Show Log',
    );
    if (action === 'Open Monitoring') this.deps.openReport(model);
    else if (action === 'Show Log') this.deps.log.show();
  }

  private async notifyAlerts(model: string, alerts: readonly string[]): Promise<void> {
    const action = await vscode.window.showWarningMessage(`mloop: ${model}: ${alerts.length} alert(s). ${alerts[0]}`, 'Open Monitoring', 'Retrain');
    if (action === 'Open Monitoring') this.deps.openReport(model);
    if (action === 'Retrain') await executeCommand(RETRAIN_COMMAND, { modelName: model });
  }

  /** `on_drift: retrain`: retrains at once unless a retrain of the model ran within its cooldown (then notifies as usual). */
  private async autoRetrain(model: string, entry: ModelMonitoring, outcome: DriftCheckOutcome): Promise<void> {
    try {
      const store = await this.deps.workspaceStore.get();
      const root = this.deps.projectConfig.projectRoot;
      if (!store || !root) return;
      const { decideAutoRetrain } = await import('../../core/retrain/autoRetrain');
      const { registryActor } = await import('../../core/registry/actor');
      const decision = decideAutoRetrain(store, {
        modelName: model,
        driftReportId: outcome.report.driftReportId,
        ...(entry.cooldown ? { cooldown: entry.cooldown } : {}),
        actor: registryActor(root),
      });
      this.deps.workspaceStore.fire();
      this.deps.log.info(`drift report #${outcome.report.driftReportId}: ${decision.reason}`);
      if (!decision.start) return void this.notify(model, outcome);
      void vscode.window.showInformationMessage(`mloop: ${outcome.headline} — retraining ${model} (on_drift: retrain)`);
      await this.retrain(model, outcome.report.driftReportId);
    } catch (error) {
      this.deps.log.error(`auto-retrain of ${model}: ${(error as Error).message}`);
      void vscode.window.showErrorMessage(`mloop: auto-retrain of ${model} failed: ${(error as Error).message}`);
    }
  }

  private async notify(model: string, outcome: DriftCheckOutcome): Promise<void> {
    const action = await vscode.window.showWarningMessage(outcome.headline, 'Open Report', 'Retrain');
    if (action === 'Open Report') this.deps.openReport(model, outcome.report.driftReportId);
    if (action === 'Retrain') await this.retrain(model, outcome.report.driftReportId);
  }

  /** Hands over to the retrain flow (another feature's command); says so plainly when it is not installed. */
  async retrain(model: string | null, driftReportId: number): Promise<void> {
    if (!(await retrainAvailable())) {
      void vscode.window.showWarningMessage(
        `mloop: retraining is not available in this build (no ${RETRAIN_COMMAND} command). Train the model's pipeline again from mloop.yaml.`,
      );
      return;
    }
    this.deps.log.info(`drift report #${driftReportId}: handing ${model ?? 'the model'} to ${RETRAIN_COMMAND}`);
    await executeCommand(RETRAIN_COMMAND, { model, driftReportId });
  }

  /** A model's alerts from its latest performance/fairness check (none clears them); shown in the same badge as drift. */
  setMonitoringAlerts(model: string, alerts: readonly string[]): void {
    if (alerts.length && this.stillMonitored(model)) this.alerted.set(model, alerts);
    else this.alerted.delete(model);
    this.updateBadge();
  }

  private updateBadge(): void {
    const drifted = [...this.drifted.values()];
    const alerted = [...this.alerted.keys()];
    if (drifted.length === 0 && alerted.length === 0) return this.badge.hide();
    const parts: string[] = [];
    if (drifted.length) parts.push(`$(pulse) drift: ${drifted.length === 1 ? [...this.drifted.keys()][0] : `${drifted.length} models`}`);
    if (alerted.length) parts.push(`$(warning) alert: ${alerted.length === 1 ? alerted[0] : `${alerted.length} models`}`);
    this.badge.text = parts.join('  ');
    const alerts = [...this.alerted.entries()].flatMap(([model, messages]) => messages.map((m) => `${model}: ${m}`));
    this.badge.tooltip = [...drifted.map((d) => d.headline), ...alerts, 'Click to open the Monitoring panel'].join('\n');
    this.badge.backgroundColor = new vscode.ThemeColor('statusBarItem.warningBackground');
    if (drifted.length) {
      const latest = drifted.reduce((a, b) => (a.report.createdAt >= b.report.createdAt ? a : b));
      this.badge.command = { title: 'Open Drift Report', command: 'mloop.monitoring.openDriftReport', arguments: [latest.report.driftReportId] };
    } else this.badge.command = { title: 'Open Monitoring', command: 'mloop.monitoring.openPanel', arguments: [alerted[0]!] };
    this.badge.show();
  }

  /** The report kinds besides drift that a model's monitoring entry asks for. */
  private configuredChecks(model: string): Set<string> {
    const entry = this.deps.projectConfig.current?.monitoring?.[model];
    const kinds = new Set<string>();
    if (entry?.labels) kinds.add('performance');
    if (entry?.groups?.length) kinds.add('fairness');
    if (entry?.estimated_performance) kinds.add('estimated_performance');
    return kinds;
  }

  /** The badge after a reload: the latest stored report of each monitored model. */
  async restoreBadge(): Promise<void> {
    try {
      const store = await this.deps.workspaceStore.get();
      if (!store) return;
      const repo = new DriftReportRepository(store);
      const seen = new Set<string>();
      for (const report of repo.list({ limit: 50 })) {
        const model = report.modelName;
        if (!model || seen.has(model) || this.drifted.has(model) || !this.monitoredModels().includes(model)) continue;
        seen.add(model); // newest first: only each model's latest report counts
        if (report.datasetDrift)
          this.drifted.set(model, { report, headline: `Drift in ${model}: share ${report.driftedShare.toFixed(2)} (report #${report.driftReportId})` });
      }
      // the other checks' alerts, from each model's newest report of each kind (a headless mloop monitor's too)
      const { MonitoringReportRepository } = await import('../../core/store/monitoringReports');
      const reports = new MonitoringReportRepository(store);
      for (const model of this.monitoredModels()) {
        if (this.alerted.has(model)) continue;
        const newestOfKind = new Map<string, { alert: boolean; summary: string }>();
        for (const r of reports.list({ modelName: model, limit: 20 })) if (!newestOfKind.has(r.kind)) newestOfKind.set(r.kind, r);
        const configured = this.configuredChecks(model);
        const messages = [...newestOfKind.entries()]
          .filter(([kind, r]) => r.alert && configured.has(kind))
          .map(([kind, r]) => `${kind.replace('_', ' ')}: ${r.summary}`);
        if (messages.length) this.alerted.set(model, messages);
      }
      this.updateBadge();
    } catch (error) {
      this.deps.log.warn(`drift badge: ${(error as Error).message}`);
    }
  }

  /** Text of the badge when shown (tests read it). */
  badgeText(): string | undefined {
    return this.drifted.size || this.alerted.size ? this.badge.text : undefined;
  }

  dispose(): void {
    for (const d of this.scheduled.splice(0)) d.dispose();
    for (const d of this.disposables.splice(0)) d.dispose();
  }
}

export async function retrainAvailable(): Promise<boolean> {
  return (await vscode.commands.getCommands(true)).includes(RETRAIN_COMMAND);
}
