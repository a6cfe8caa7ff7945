import * as vscode from 'vscode';
import { PANEL_KINDS } from '../../shared/panels';
import { previewPanel } from '../datasets/previewPanel';
import { rolloutPanel, type RolloutPanelDeps } from '../deployments/rolloutPanel';
import { evaluationPanel, type EvaluationPanelDeps } from '../models/evaluationPanel';
import { modelCardPanel } from '../models/modelCardPanel';
import { lineagePanel, type LineagePanelDeps } from '../lineage/panel';
import { monitoringPanel, type MonitoringPanelDeps } from '../monitoring/monitoringPanel';
import { comparePanel } from '../runs/comparePanel';
import { experimentsTablePanel } from '../runs/experimentsTablePanel';
import { metricsPanel } from '../runs/metricsPanel';
import { runPlotsPanel } from '../runs/runPlotsPanel';
import { pipelinePanel, type PipelinePanelDeps } from '../runs/pipelinePanel';
import { revivePanel, type PanelContent, type PanelSpec } from './panelController';
import type { TypedMessage } from './panelSession';
import type { PanelDeps } from './webviewHtml';

/** What each panel needs from the extension, built once in activate(). */
export interface PanelRegistryDeps {
  readonly panel: PanelDeps;
  readonly lineage: LineagePanelDeps;
  readonly monitoring: MonitoringPanelDeps;
  readonly pipeline: PipelinePanelDeps;
  readonly evaluation: EvaluationPanelDeps;
  readonly rollout: RolloutPanelDeps;
}

/** Every panel of mloop, each with the deps it is opened and revived with. Adding a panel adds a line here. */
const panels = (deps: PanelRegistryDeps) =>
  [
    { spec: metricsPanel, deps: deps.panel },
    { spec: comparePanel, deps: deps.panel },
    { spec: lineagePanel, deps: deps.lineage },
    { spec: previewPanel, deps: deps.panel },
    { spec: experimentsTablePanel, deps: deps.panel },
    { spec: monitoringPanel, deps: deps.monitoring },
    { spec: pipelinePanel, deps: deps.pipeline },
    { spec: evaluationPanel, deps: deps.evaluation },
    { spec: modelCardPanel, deps: deps.panel },
    { spec: rolloutPanel, deps: deps.rollout },
    { spec: runPlotsPanel, deps: deps.panel },
  ] as const;

type AnySpec<Deps extends PanelDeps> = PanelSpec<Deps, unknown, unknown, TypedMessage, PanelContent<unknown, TypedMessage, unknown>>;

/** Registers the serializer of every revivable panel: VS Code restores them after a window reload. */
export function registerPanels(deps: PanelRegistryDeps): vscode.Disposable[] {
  const registered: vscode.Disposable[] = [];
  for (const { spec, deps: panelDeps } of panels(deps) as readonly { spec: AnySpec<PanelDeps>; deps: PanelDeps }[]) {
    const kind = PANEL_KINDS[spec.kind];
    if (!kind.revivable) continue;
    if (!spec.revive) throw new Error(`the ${spec.kind} panel is revivable (src/shared/panels.ts) but declares no revive()`);
    registered.push(
      vscode.window.registerWebviewPanelSerializer(kind.viewType, {
        deserializeWebviewPanel: async (panel, state: unknown) => void revivePanel(spec, panelDeps, panel, state),
      }),
    );
  }
  return registered;
}
