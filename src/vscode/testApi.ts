import type { MloopApi, MloopTestApi } from './api';
import type { DatasetWatchEvent } from './datasets/datasetWatcher';
import { LineagePanel } from './lineage/panel';
import type { DriftMonitor } from './monitoring/driftMonitor';
import { ExperimentsTablePanel } from './runs/experimentsTablePanel';
import { MetricsPanel } from './runs/metricsPanel';
import { MonitoringPanel } from './monitoring/monitoringPanel';
import { EvaluationPanel } from './models/evaluationPanel';
import { RolloutPanel } from './deployments/rolloutPanel';
import { PipelinePanel } from './runs/pipelinePanel';
import { RunPlotsPanel } from './runs/runPlotsPanel';
import { receiveAsPage } from './base/panelController';
import { VIEW_IDS, type ExtensionServices } from './base/services';

type TestHooks = Omit<MloopTestApi, keyof MloopApi>;

/** The read-back hooks the integration tests assert on; activate() adds them only in ExtensionMode.Test. */
export function createTestHooks(services: ExtensionServices, features: { driftMonitor: DriftMonitor; watchEvents: readonly DatasetWatchEvent[] }): TestHooks {
  const { views } = services;
  return {
    driftBadge: () => features.driftMonitor.badgeText(),
    treeSnapshot: async (viewId: string, depth?: number) => {
      const tree = views.get(viewId);
      if (!tree) throw new Error(`unknown mloop view "${viewId}" (known: ${VIEW_IDS.join(', ')})`);
      return tree.snapshot(depth);
    },
    revealTreeRow: async (viewId: string, id: string) => (await views.get(viewId)?.revealById(id, { focus: false })) ?? false,
    lineagePanelState: () => LineagePanel.active?.lastLoad,
    metricsPanelState: () => MetricsPanel.active?.snapshot(),
    experimentsTableState: () => ExperimentsTablePanel.active?.snapshot(),
    holdExperimentsTableRead: (afterSteps?: number) => {
      let release: () => void = () => undefined;
      ExperimentsTablePanel.holdWholeRead = new Promise<void>((done) => (release = done));
      ExperimentsTablePanel.holdAfterSteps = afterSteps;
      return () => {
        ExperimentsTablePanel.holdWholeRead = undefined;
        ExperimentsTablePanel.holdAfterSteps = undefined;
        release();
      };
    },
    experimentsTableCsv: async () => ExperimentsTablePanel.active?.csvOfView(),
    monitoringPanelState: () => MonitoringPanel.active?.lastView,
    evaluationPanelState: () => EvaluationPanel.active?.lastMessage,
    rolloutPanelState: () => RolloutPanel.active?.state,
    pipelinePanelState: () => PipelinePanel.active?.lastLoad,
    runPlotsState: () => RunPlotsPanel.active?.snapshot(),
    pageMessage: (kind, message) => receiveAsPage(kind, message),
    viewMessage: (viewId: string) => views.get(viewId)?.view.message || undefined, // a view never given a message reads ''
    viewSelection: (viewId: string) => views.get(viewId)?.view.selection.map((n) => n.id) ?? [],
    datasetWatchEvents: () => [...features.watchEvents],
  };
}
