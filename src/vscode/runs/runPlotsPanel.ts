import * as vscode from 'vscode';
import { loadRunTable, type RunTable } from '../../core/experiments/runTable';
import { paramImportance, runPlotData, type RunPlotData } from '../../core/experiments/runPlots';
import { ExperimentRepository } from '../../core/store/experiments';
import {
  RUN_PLOTS_MAX_RUNS,
  runPlotsViewStateSchema,
  runPlotsWebviewMessageSchema,
  type RunPlotsHostMessage,
  type RunPlotsWebviewMessage,
} from '../../protocol/runPlotsMessages';
import { activePanel, definePanel, NO_STORE, showPanel, type PanelContent, type PanelHost, type ProblemMessage } from '../base/panelController';
import type { PageHandlers } from '../base/panelSession';
import type { PanelDeps } from '../base/webviewHtml';
import { ExperimentsTablePanel } from './experimentsTablePanel';

/** Which runs are plotted: some runs (a table selection), one experiment, or every run; and the chosen axes. */
export interface RunPlotsTarget {
  readonly experimentId?: number;
  readonly runIds?: readonly string[];
  readonly metric?: string;
  readonly x?: string;
}

type HostMessage = RunPlotsHostMessage | ProblemMessage;

/** What the open plots last sent, for the integration tests. */
export interface RunPlotsSnapshot {
  readonly scope: string;
  readonly runs: number;
  readonly metric?: string;
  readonly importance: RunPlotsHostMessage['importance'];
}

/** The last metric of the plotted runs that reads like the quality measure (accuracy, f1, …), else the first. */
function defaultMetric(data: RunPlotData): string | undefined {
  const keys = data.metrics.map((m) => m.key);
  return keys.find((k) => /acc|f1|auc|r2|score|precision|recall/i.test(k)) ?? keys.find((k) => /loss|err/i.test(k)) ?? keys[0];
}

/**
 * Parallel coordinates (params → a metric), a scatter of any param or metric against the metric, and each
 * param's correlation with it, over a table selection or a whole experiment. A click on a line or point
 * selects that run in the Experiments Table and reveals it in the Runs view.
 */
export class RunPlotsPanel implements PanelContent<HostMessage, RunPlotsWebviewMessage, RunPlotsTarget> {
  private data: RunPlotData | undefined;
  private last: RunPlotsSnapshot | undefined;

  static get active(): RunPlotsPanel | undefined {
    return activePanel(runPlotsPanel);
  }

  constructor(
    private readonly host: PanelHost<HostMessage>,
    private readonly deps: PanelDeps,
    private target: RunPlotsTarget,
  ) {
    host.register(
      deps.onDidChangeStore(() => {
        this.data = undefined;
        if (host.ready && host.visible) void host.reload();
      }),
    );
  }

  readonly handlers: PageHandlers<RunPlotsWebviewMessage> = {
    choose: async (message) => {
      this.target = { ...this.target, metric: message.metric, ...(message.x !== undefined ? { x: message.x } : {}) };
      await this.host.reload();
    },
    revealRun: async (message) => {
      ExperimentsTablePanel.active?.revealRun(message.runId);
      await vscode.commands.executeCommand('mloop.runs.reveal', message.runId);
    },
  };

  retarget(target: RunPlotsTarget): void {
    this.target = target;
    this.data = undefined;
  }

  snapshot(): RunPlotsSnapshot | undefined {
    return this.last;
  }

  async load(): Promise<HostMessage> {
    const store = await this.deps.store();
    if (!store) return NO_STORE;
    const { experimentId, runIds } = this.target;
    const experiment = experimentId === undefined ? undefined : new ExperimentRepository(store).get(experimentId);
    const table: RunTable = loadRunTable(store.db, experimentId === undefined ? {} : { experimentIds: [experimentId] });
    const wanted = runIds ? new Set(runIds) : undefined;
    const rows: number[] = [];
    for (let i = 0; i < table.size; i++) if (!wanted || wanted.has(table.runIds[i]!)) rows.push(i);
    const scope = runIds ? `${rows.length} selected run${rows.length === 1 ? '' : 's'}` : experiment ? `experiment ${experiment.name}` : 'all experiments';
    // importance over every run in scope; the lines and points for the most recent RUN_PLOTS_MAX_RUNS (the table's order)
    const all = runPlotData(table, rows);
    this.data = rows.length > RUN_PLOTS_MAX_RUNS ? runPlotData(table, rows.slice(0, RUN_PLOTS_MAX_RUNS)) : all;
    const metric = this.target.metric && all.metrics.some((m) => m.key === this.target.metric) ? this.target.metric : defaultMetric(all);
    const importance = metric ? paramImportance(all, metric) : [];
    const strongest = importance[0]?.param;
    // the scatter's x: the chosen one, else the param that goes most with the metric, else the first param or other metric
    const firstParam = all.params[0]?.key;
    const otherMetric = all.metrics.find((m) => m.key !== metric)?.key;
    const x = this.target.x ?? (strongest ? `params.${strongest}` : firstParam ? `params.${firstParam}` : otherMetric ? `metrics.${otherMetric}` : undefined);
    this.host.title = `Plots: ${scope}`;
    this.last = { scope, runs: rows.length, ...(metric ? { metric } : {}), importance };
    return {
      type: 'load',
      scope,
      ...(experimentId !== undefined ? { experimentId } : {}),
      ...(runIds ? { selection: runIds } : {}),
      total: rows.length,
      runIds: this.data.runIds,
      names: this.data.names,
      params: this.data.params,
      metrics: this.data.metrics,
      ...(metric ? { metric } : {}),
      ...(x ? { x } : {}),
      importance,
    };
  }
}

export const runPlotsPanel = definePanel<PanelDeps, RunPlotsTarget, HostMessage, RunPlotsWebviewMessage, RunPlotsPanel>({
  kind: 'runPlots',
  beside: true,
  pageMessages: runPlotsWebviewMessageSchema,
  problem: 'Cannot read the mloop store: ',
  revive: (state, deps: PanelDeps): RunPlotsTarget => {
    const parsed = runPlotsViewStateSchema.safeParse(state);
    if (!parsed.success) deps.log.warn('run plots: saved state was unreadable; plotting every run');
    return parsed.success ? parsed.data : {};
  },
  create: (host: PanelHost<HostMessage>, deps, target) => new RunPlotsPanel(host, deps, target),
});

/** Opens (or re-targets) the plots across runs. */
export function openRunPlots(deps: PanelDeps, target: RunPlotsTarget = {}): RunPlotsPanel {
  return showPanel(runPlotsPanel, deps, target);
}
