/** MLflow's run lifecycle, the same five words in the store, the protocol, the trees and the pages. */
export const RUN_STATUSES = ['SCHEDULED', 'RUNNING', 'FINISHED', 'FAILED', 'KILLED'] as const;
export type RunStatus = (typeof RUN_STATUSES)[number];

/** A run that may still log points: live views keep polling while one is shown. */
export const isLiveRunStatus = (status: string): boolean => status === 'RUNNING' || status === 'SCHEDULED';

/** A codicon and an optional theme colour id; the editor turns it into a ThemeIcon, a page into a class. */
export interface StatusIcon {
  readonly codicon: string;
  readonly color?: string;
}

// one look for a run status wherever a run is listed (local store or MLflow server)
export const RUN_STATUS_ICON: Readonly<Record<RunStatus, StatusIcon>> = {
  SCHEDULED: { codicon: 'clock' },
  RUNNING: { codicon: 'sync~spin', color: 'charts.blue' },
  FINISHED: { codicon: 'pass', color: 'testing.iconPassed' },
  FAILED: { codicon: 'error', color: 'testing.iconFailed' },
  KILLED: { codicon: 'circle-slash', color: 'disabledForeground' },
};
