import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as vscode from 'vscode';
import { loadConfig } from '../../core/config/loadConfig';
import { CONFIG_FILE } from '../../core/project/init';
import { buildModelCard, ModelCardError, modelCardBlocks, modelCardHtml, modelCardMarkdown, type ModelCardOptions } from '../../core/governance/modelCard';
import { compareModelCards, modelCardComparisonBlocks, modelCardComparisonHtml, modelCardComparisonMarkdown } from '../../core/governance/modelCardCompare';
import { ModelRepository } from '../../core/store/models';
import type { Store } from '../../core/store/store';
import { modelCardWebviewMessageSchema, type ModelCardHostMessage, type ModelCardView, type ModelCardWebviewMessage } from '../../protocol/modelCardMessages';
import { definePanel, NO_STORE, showPanel, type PanelContent, type PanelHost } from '../base/panelController';
import type { PageHandlers } from '../base/panelSession';
import type { PanelDeps } from '../base/webviewHtml';

/** A version's card, or what changed from `compareWith` (the "before") to it. */
export interface ModelCardTarget {
  readonly modelName: string;
  readonly version: number;
  readonly compareWith: number | null;
}

/**
 * The model's `card:` section of the workspace's mloop.yaml, read as the card is drawn (a file with errors gives none:
 * the Problems panel already shows them at their line:col).
 */
export function cardOptions(modelName: string): ModelCardOptions {
  const folder = vscode.workspace.workspaceFolders?.[0];
  if (folder?.uri.scheme !== 'file') return {};
  const path = join(folder.uri.fsPath, CONFIG_FILE);
  if (!existsSync(path)) return {};
  const section = loadConfig(readFileSync(path, 'utf8'), path).config?.card?.[modelName];
  return section ? { card: section } : {};
}

/** The card or the comparison in one format: the same bytes `mloop card` writes. */
export function renderCard(store: Store, target: ModelCardTarget, format: 'md' | 'html' | 'json'): string {
  const options = cardOptions(target.modelName);
  const card = buildModelCard(store, { modelName: target.modelName, version: target.version }, options);
  if (target.compareWith === null) {
    return format === 'json' ? `${JSON.stringify(card, null, 2)}\n` : format === 'html' ? modelCardHtml(card) : modelCardMarkdown(card);
  }
  const comparison = compareModelCards(buildModelCard(store, { modelName: target.modelName, version: target.compareWith }, options), card);
  return format === 'json'
    ? `${JSON.stringify(comparison, null, 2)}\n`
    : format === 'html'
      ? modelCardComparisonHtml(comparison)
      : modelCardComparisonMarkdown(comparison);
}

/** What the page draws: the blocks every format is made from, and the versions it can compare with. */
export function modelCardView(store: Store, target: ModelCardTarget): ModelCardView {
  const options = cardOptions(target.modelName);
  const card = buildModelCard(store, { modelName: target.modelName, version: target.version }, options);
  const models = new ModelRepository(store);
  const model = models.byName(target.modelName)!;
  const blocks =
    target.compareWith === null
      ? modelCardBlocks(card)
      : modelCardComparisonBlocks(compareModelCards(buildModelCard(store, { modelName: target.modelName, version: target.compareWith }, options), card));
  return {
    model: card.model,
    version: card.version,
    compareWith: target.compareWith,
    versions: models
      .versions(model.modelId)
      .map((v) => ({ version: v.version, label: `v${v.version}${v.aliases.length ? ` (${v.aliases.map((a) => `@${a}`).join(', ')})` : ''}` })),
    blocks: blocks.map((b) =>
      b.kind === 'table'
        ? { ...b, headers: [...b.headers], rows: b.rows.map((r) => [...r]) }
        : b.kind === 'list'
          ? { ...b, items: [...b.items] }
          : b.kind === 'graph'
            ? { ...b, nodes: b.nodes.map((n) => ({ ...n })), edges: b.edges.map((e) => ({ ...e })) }
            : b,
    ),
  };
}

/** The Model Card panel (issue 21): one version's card, or Compare Cards between two versions; saved as md, html or json. */
export class ModelCardPanel implements PanelContent<ModelCardHostMessage, ModelCardWebviewMessage, ModelCardTarget> {
  constructor(
    private readonly host: PanelHost<ModelCardHostMessage>,
    private readonly deps: PanelDeps,
    private target: ModelCardTarget,
  ) {
    host.register(deps.onDidChangeStore(() => void host.reload()));
  }

  readonly handlers: PageHandlers<ModelCardWebviewMessage> = {
    compare: async (message) => {
      this.target = { ...this.target, compareWith: message.version };
      await this.host.reload();
    },
    save: async (message) => {
      const store = await this.deps.store();
      if (!store) return;
      const t = this.target;
      const name = `${t.modelName}-v${t.version}${t.compareWith === null ? '' : `-vs-v${t.compareWith}`}-card.${message.format}`;
      const folder = vscode.workspace.workspaceFolders?.[0]?.uri;
      const uri = await vscode.window.showSaveDialog({
        title: 'Save the model card',
        ...(folder ? { defaultUri: vscode.Uri.joinPath(folder, name) } : {}),
        filters: { [message.format.toUpperCase()]: [message.format] },
      });
      if (!uri) return;
      await vscode.workspace.fs.writeFile(uri, new TextEncoder().encode(renderCard(store, t, message.format)));
      this.deps.log.info(`saved the model card of ${t.modelName} v${t.version} to ${uri.fsPath}`);
    },
  };

  retarget(target: ModelCardTarget): void {
    this.target = target;
  }

  async load(): Promise<ModelCardHostMessage> {
    const store = await this.deps.store();
    if (!store) return NO_STORE;
    const t = this.target;
    try {
      const view = modelCardView(store, t);
      this.host.title = t.compareWith === null ? `Model Card: ${t.modelName} v${t.version}` : `Model Cards: ${t.modelName} v${t.compareWith} → v${t.version}`;
      return { type: 'card', view };
    } catch (error) {
      if (error instanceof ModelCardError) return { type: 'problem', message: error.message };
      throw error;
    }
  }
}

export const modelCardPanel = definePanel({
  kind: 'modelCard',
  pageMessages: modelCardWebviewMessageSchema,
  problem: 'Cannot read the model card: ',
  create: (host: PanelHost<ModelCardHostMessage>, deps: PanelDeps, target: ModelCardTarget) => new ModelCardPanel(host, deps, target),
});

export function openModelCardPanel(deps: PanelDeps, target: ModelCardTarget): ModelCardPanel {
  return showPanel(modelCardPanel, deps, target);
}
