import * as vscode from 'vscode';
import type { DeployContext } from '../../core/deploy/deploy';
import { intervalMs } from '../../core/monitoring/configSchema';
import { DEFAULT_SERVICE_CHECK_EVERY, type ServiceHealthReport } from '../../core/monitoring/serviceHealth';
import { registryActor } from '../../core/registry/actor';
import { artifactRootOf } from '../../core/store/artifactRoot';
import { isAlive } from '../../core/deploy/process';
import { DeploymentRepository } from '../../core/store/deployments';
import { executeCommand } from '../base/commands';
import type { ProjectConfig } from '../base/projectConfig';
import type { WorkspaceStore } from '../base/workspaceStore';

/**
 * Service health while the editor is open: every serving target is checked on its `monitor.every` (default 1m) —
 * process, health check, serving log, auto_rollback — by the same code as `mloop health` and `mloop monitor`. A
 * check writes the store, so the Deployments view and the status bar turn red within one interval of a service
 * dying. A target going down (or raising an alert) notifies once, with Restart, Roll Back and Open Logs.
 * Nothing runs in an untrusted workspace; a check never creates a store.
 */
export class ServiceHealthMonitor implements vscode.Disposable {
  private readonly timers: vscode.Disposable[] = [];
  private readonly disposables: vscode.Disposable[] = [];
  private readonly inFlight = new Set<string>();
  /** What each target's last check said, to notify on a change only. */
  private readonly last = new Map<string, { up: boolean; alerts: string }>();
  private readonly latest = new Map<string, ServiceHealthReport>();
  private signature = '';

  constructor(private readonly deps: { workspaceStore: WorkspaceStore; projectConfig: ProjectConfig; log: vscode.LogOutputChannel }) {
    this.disposables.push(
      deps.projectConfig.onDidChange(() => this.reschedule()),
      vscode.workspace.onDidGrantWorkspaceTrust(() => this.reschedule(true)),
    );
    if (deps.projectConfig.isLoaded) this.reschedule();
  }

  /** The latest check of each target this window ran (the test API reads it). */
  reports(): Record<string, ServiceHealthReport> {
    return Object.fromEntries(this.latest);
  }

  private reschedule(force = false): void {
    const targets = this.deps.projectConfig.current?.targets ?? {};
    const plan = Object.entries(targets)
      .filter(([, t]) => t.serve)
      .map(([name, t]) => [name, t.monitor?.every ?? DEFAULT_SERVICE_CHECK_EVERY] as const);
    const signature = JSON.stringify(plan);
    if (!force && signature === this.signature) return;
    this.signature = signature;
    for (const d of this.timers.splice(0)) d.dispose();
    if (!vscode.workspace.isTrusted) return;
    for (const [target, every] of plan) {
      const timer = setInterval(() => void this.check(target), intervalMs(every));
      this.timers.push({ dispose: () => clearInterval(timer) });
    }
  }

  /** One check of a target, unless one runs already; undefined when nothing serves there or there is no store. */
  async check(target: string): Promise<ServiceHealthReport | undefined> {
    if (this.inFlight.has(target) || !vscode.workspace.isTrusted) return undefined;
    this.inFlight.add(target);
    try {
      const ctx = await this.context();
      const current = ctx ? new DeploymentRepository(ctx.store).current(target) : undefined;
      if (!ctx || !current) return undefined;
      // a process that is gone stays gone: once that is stored and announced, the editor does not write the same
      // verdict every interval (each write refreshes every view); Restart, a deploy or mloop monitor move it on
      const pid = current.health?.process?.pid;
      if (current.status === 'unhealthy' && pid !== undefined && !isAlive(pid) && this.last.get(target)?.up === false) return undefined;
      const { checkService } = await import('../../core/monitoring/serviceHealth');
      const report = await checkService(ctx, target, { onProgress: (m) => this.deps.log.info(m) });
      if (!report) return undefined;
      this.latest.set(target, report);
      this.deps.workspaceStore.fire();
      this.announce(report);
      return report;
    } catch (error) {
      this.deps.log.error(`service health of ${target}: ${error instanceof Error ? error.message : String(error)}`);
      return undefined;
    } finally {
      this.inFlight.delete(target);
    }
  }

  private async context(): Promise<DeployContext | undefined> {
    const store = await this.deps.workspaceStore.get();
    const config = this.deps.projectConfig.current;
    const projectRoot = this.deps.projectConfig.projectRoot;
    if (!store || !config || !projectRoot) return undefined;
    return { store, artifactRoot: artifactRootOf(store.path), actor: registryActor(projectRoot), projectRoot, config, trusted: vscode.workspace.isTrusted };
  }

  private announce(r: ServiceHealthReport): void {
    const alerts = r.alerts.map((a) => a.message).join('\n');
    const before = this.last.get(r.target);
    this.last.set(r.target, { up: r.up, alerts });
    const log = `${r.target}: ${r.up ? 'up' : 'DOWN'} · ${r.detail}${alerts ? ` · ${alerts.replace(/\n/g, ' · ')}` : ''}`;
    if (!r.up || alerts) this.deps.log.warn(log);
    if (r.rolled_back) {
      void vscode.window
        .showWarningMessage(`mloop: ${r.target} — ${r.rolled_back.reason}; now serving ${r.rolled_back.now_serving}`, 'Show Deployments')
        .then((a) => a && executeCommand('mloop.deployments.focus'));
      return;
    }
    // notify on a change: up → down, or a new set of alerts (not again every interval)
    if (before && before.up === r.up && before.alerts === alerts) return;
    if (r.up && !alerts) {
      if (before && !before.up) void vscode.window.showInformationMessage(`mloop: ${r.target} is up again (${r.model} v${r.version})`);
      return;
    }
    const headline = r.up ? r.alerts[0]!.message : `${r.target}: ${r.model} v${r.version} is down — ${r.detail}`;
    void vscode.window.showErrorMessage(`mloop: ${headline}`, 'Restart', 'Roll Back', 'Open Logs').then((action) => {
      if (action === 'Restart') void executeCommand('mloop.deployments.restart', { target: r.target });
      else if (action === 'Roll Back') void executeCommand('mloop.deployments.rollback', { target: r.target, reason: `from the health alert: ${headline}` });
      else if (action === 'Open Logs') void executeCommand('mloop.deployments.openLogs', { target: r.target });
    });
  }

  dispose(): void {
    for (const d of [...this.timers.splice(0), ...this.disposables.splice(0)]) d.dispose();
  }
}
