import { workspace } from 'vscode';
import type { ModelEvaluation } from '../../core/evaluation/evaluate';
import type { PredictionExplanation } from '../../core/evaluation/explain';
import type { LoggedExplanation } from '../../core/evaluation/predictionLog';
import { compareImportance, latestEvaluation } from '../../core/evaluation/importance';
import { ModelEvaluationRepository } from '../../core/store/evaluations';
import { ModelRepository } from '../../core/store/models';
import type { Store } from '../../core/store/store';
import {
  evaluationWebviewMessageSchema,
  type EvaluationHostMessage,
  type EvaluationView,
  type EvaluationWebviewMessage,
  type ExplanationView,
} from '../../protocol/evaluationMessages';
import { definePanel, NO_STORE, showPanel, type PanelContent, type PanelHost } from '../base/panelController';
import type { PageHandlers } from '../base/panelSession';
import type { PanelDeps } from '../base/webviewHtml';

export interface EvaluationPanelDeps extends PanelDeps {
  readonly evaluateAgain: (model: string, version: number, dataset: string) => Promise<void>;
}

/** A stored evaluation, or one explained prediction (not stored: it is shown once). */
export type EvaluationTarget = { readonly evaluationId: number } | { readonly explanation: PredictionExplanation };

/** The Evaluation panel of a version (issue 21): metrics with intervals, curves, confusion, groups, importance, SHAP; or a waterfall. */
export class EvaluationPanel implements PanelContent<EvaluationHostMessage, EvaluationWebviewMessage, EvaluationTarget> {
  /** The open panel (the tests read what it last drew). */
  static active: EvaluationPanel | undefined;
  lastMessage: EvaluationHostMessage | undefined;

  constructor(
    private readonly host: PanelHost<EvaluationHostMessage>,
    private readonly deps: EvaluationPanelDeps,
    private target: EvaluationTarget,
  ) {
    EvaluationPanel.active = this;
    host.register({ dispose: () => EvaluationPanel.active === this && (EvaluationPanel.active = undefined) });
  }

  readonly handlers: PageHandlers<EvaluationWebviewMessage> = {
    evaluateAgain: async () => {
      const m = this.lastMessage;
      if (m?.type === 'evaluation') await this.deps.evaluateAgain(m.view.model, m.view.version, m.view.dataset.split('@')[0]!);
    },
  };

  retarget(target: EvaluationTarget): void {
    this.target = target;
  }

  async load(): Promise<EvaluationHostMessage> {
    if ('explanation' in this.target) {
      const view = explanationView(this.target.explanation);
      this.host.title = `Explanation: ${view.model} v${view.version}`;
      return (this.lastMessage = { type: 'explanation', view });
    }
    const store = await this.deps.store();
    if (!store) return NO_STORE;
    const view = evaluationView(store, this.target.evaluationId);
    if (!view) return { type: 'problem', message: `Evaluation #${this.target.evaluationId} is not in the store any more.` };
    this.host.title = `Evaluation: ${view.model} v${view.version}`;
    return (this.lastMessage = { type: 'evaluation', view });
  }
}

export const evaluationPanel = definePanel({
  kind: 'evaluation',
  pageMessages: evaluationWebviewMessageSchema,
  problem: 'Cannot read the evaluation: ',
  create: (host: PanelHost<EvaluationHostMessage>, deps: EvaluationPanelDeps, target: EvaluationTarget) => new EvaluationPanel(host, deps, target),
});

export function openEvaluationPanel(deps: EvaluationPanelDeps, target: EvaluationTarget): EvaluationPanel {
  return showPanel(evaluationPanel, deps, target);
}

const finite = (x: number | null | undefined): number | null => (typeof x === 'number' && Number.isFinite(x) ? x : null);

/** The page's view of a stored evaluation, with the champion's importance on the same data beside it. */
export function evaluationView(store: Store, evaluationId: number): EvaluationView | undefined {
  const row = new ModelEvaluationRepository(store).get(evaluationId);
  if (!row) return undefined;
  const e = JSON.parse(row.resultJson) as ModelEvaluation;
  const p = e.permutationImportance;
  const models = new ModelRepository(store);
  const model = models.byName(e.model);
  const champion = model && models.versionByAlias(model.modelId, 'champion');
  const base =
    champion && champion.version !== e.version ? latestEvaluation(store, { modelName: e.model, version: champion.version }, e.dataset.digest) : undefined;
  const comparison = base ? compareImportance(base.evaluation, e) : undefined;
  return {
    evaluationId,
    model: e.model,
    version: e.version,
    dataset: `${e.dataset.name}@${e.dataset.digest.slice(0, 12)}`,
    createdAt: row.createdAt,
    flavour: e.flavour,
    modelClass: e.modelClass,
    task: e.task,
    label: e.label,
    rows: e.rows,
    metrics: Object.entries(e.metrics).map(([name, m]) => ({
      name,
      value: finite(m?.value),
      lower: finite(m?.lower),
      upper: finite(m?.upper),
      interval: m?.interval ?? '',
    })),
    confusion: e.confusion ? { classes: [...e.confusion.classes], matrix: e.confusion.matrix.map((r) => [...r]) } : null,
    curves: e.curves.map((c) => ({ ...c })),
    groups: (e.fairness?.columns ?? []).map((c) => ({
      column: c.column,
      parityDifference: c.demographic_parity_difference,
      equalizedOddsDifference: c.equalized_odds_difference,
      groups: c.groups.map((g) => ({ group: g.group, n: g.n, selectionRate: finite(g.selection_rate.value), accuracy: finite(g.accuracy.value) })),
    })),
    importance: p.features.map((feature, i) => ({ feature, mean: p.mean[i]!, std: p.std[i]! })).sort((a, b) => b.mean - a.mean),
    importanceNote: `Mean drop of ${p.scoring} when the feature is shuffled, ${p.n_repeats} repeats, seed ${p.seed} (sklearn.inspection.permutation_importance).`,
    shap:
      e.shap.status === 'computed'
        ? {
            features: Object.entries(e.shap.mean_abs)
              .map(([feature, perOutput]) => ({ feature, meanAbs: perOutput.reduce((a, b) => a + b, 0) }))
              .sort((a, b) => b.meanAbs - a.meanAbs),
            note: `Mean |SHAP value| over ${e.shap.rows.length} sampled rows, summed over ${e.shap.outputs.length} output(s) (${e.shap.explainer} explainer, shap ${e.shap.version}).`,
          }
        : { features: [], note: e.shap.message },
    comparison: comparison
      ? {
          baseVersion: comparison.base.version,
          rows: comparison.rows.map((r) => ({ feature: r.feature, base: r.base?.mean ?? null, other: r.other?.mean ?? null })),
        }
      : null,
    notes: [...e.notes],
  };
}

export function explanationView(x: PredictionExplanation): ExplanationView {
  return {
    model: x.model,
    version: x.version,
    predicted: String(x.predicted),
    output: x.outputs.length > 1 ? `probability of ${x.output}` : x.output,
    method: x.method,
    baseValue: x.base_value,
    value: x.value,
    interaction: x.interaction,
    contributions: x.features
      .map((feature, i) => ({ feature, value: JSON.stringify(x.row[feature]), contribution: x.contributions[i]! }))
      .sort((a, b) => Math.abs(b.contribution) - Math.abs(a.contribution)),
    note: x.note,
    ...('source' in x && x.source && typeof x.source === 'object' ? { source: describeSource(x.source as LoggedExplanation['source']) } : {}),
  };
}

const describeSource = (s: LoggedExplanation['source']): string =>
  `${s.request_id !== undefined ? `request ${s.request_id}, row ${s.index ?? 0} · ` : ''}${workspace.asRelativePath(s.file)}:${s.line}`;
