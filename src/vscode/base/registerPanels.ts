import * as vscode from 'vscode';
import { ComparePanel, COMPARE_VIEW_TYPE } from '../runs/comparePanel';
import { MetricsPanel, METRICS_VIEW_TYPE } from '../runs/metricsPanel';
import type { PanelDeps } from './webviewHtml';

/** Brings Metrics and Compare panels back after a window reload, from the state each page saved. */
export function registerPanelSerializers(deps: PanelDeps): vscode.Disposable[] {
  return [
    vscode.window.registerWebviewPanelSerializer(METRICS_VIEW_TYPE, {
      deserializeWebviewPanel: async (panel, state: unknown) => void MetricsPanel.revive(panel, deps, state),
    }),
    vscode.window.registerWebviewPanelSerializer(COMPARE_VIEW_TYPE, {
      deserializeWebviewPanel: async (panel, state: unknown) => void ComparePanel.revive(panel, deps, state),
    }),
  ];
}
