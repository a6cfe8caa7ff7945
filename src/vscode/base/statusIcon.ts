import * as vscode from 'vscode';
import { RUN_STATUS_ICON, RUN_STATUSES, type RunStatus } from '../../shared/runStatus';

// built once: a tree of 10,000 runs shares five ThemeIcon objects
const RUN_THEME_ICONS = new Map(
  RUN_STATUSES.map((s) => [
    s,
    new vscode.ThemeIcon(RUN_STATUS_ICON[s].codicon, RUN_STATUS_ICON[s].color ? new vscode.ThemeColor(RUN_STATUS_ICON[s].color) : undefined),
  ]),
);

/** A run's icon in a tree, the same for runs of the local store and of an MLflow server. */
export const runStatusIcon = (status: RunStatus): vscode.ThemeIcon => RUN_THEME_ICONS.get(status)!;
