/**
 * What the host and the pages agree on per panel, without zod (the pages import it as a value).
 * `title`: the tab's title until the panel names what it shows. `revivable`: VS Code restores the panel after a reload, so package.json lists `onWebviewPanel:<viewType>`.
 */
export const PANEL_KINDS = {
  metrics: { viewType: 'mloop.metrics', title: 'Metrics', revivable: true },
  compare: { viewType: 'mloop.compare', title: 'Compare Runs', revivable: true },
  lineage: { viewType: 'mloop.lineage', title: 'Lineage', revivable: true },
  preview: { viewType: 'mloop.preview', title: 'Preview', revivable: false },
  experimentsTable: { viewType: 'mloop.experimentsTable', title: 'Experiments Table', revivable: true },
  monitoring: { viewType: 'mloop.monitoring', title: 'Monitoring', revivable: true },
  pipeline: { viewType: 'mloop.pipeline', title: 'Pipeline', revivable: false },
  evaluation: { viewType: 'mloop.evaluation', title: 'Evaluation', revivable: false },
  modelCard: { viewType: 'mloop.modelCard', title: 'Model Card', revivable: false },
  rollout: { viewType: 'mloop.rollout', title: 'Rollout', revivable: true },
  runPlots: { viewType: 'mloop.runPlots', title: 'Plots across Runs', revivable: true },
} as const;

/** A panel's name: its page bundle is dist/webview/<kind>.js, built from webview/<kind>/main.ts. */
export type PanelKind = keyof typeof PANEL_KINDS;

/** The deepest lineage walk a page may ask for. */
export const LINEAGE_MAX_DEPTH = 10;
/** The depth a lineage panel opens with. */
export const LINEAGE_DEFAULT_DEPTH = 3;

/** Rows the Preview panel asks for at a time. */
export const PREVIEW_PAGE_ROWS = 200;

/** Rows the Experiments Table asks the host for at a time. */
export const EXPERIMENTS_TABLE_PAGE_ROWS = 200;

/** The narrowest and widest an Experiments Table column can be made (px). */
export const COLUMN_WIDTH_MIN = 40;
export const COLUMN_WIDTH_MAX = 2000;
