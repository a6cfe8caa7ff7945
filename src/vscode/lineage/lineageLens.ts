import { dirname } from 'node:path';
import * as vscode from 'vscode';
import { primaryMetricOf } from '../../core/config/schema';
import { dataPathUsage, entryScriptUsage, pipelineUsage, usageSummary, type DataPathUsage, type TrainedModel } from '../../core/lineage/fileUsage';
import { stringLiteralAt } from '../../core/lineage/literals';
import { datasetLocations, pipelineLocations } from '../../core/project/pipelineLocations';
import type { Store } from '../../core/store/store';
import type { ProjectConfig } from '../base/projectConfig';
import type { WorkspaceStore } from '../base/workspaceStore';

export interface LineageLensDeps {
  readonly workspaceStore: WorkspaceStore;
  readonly projectConfig: ProjectConfig;
  readonly log: vscode.LogOutputChannel;
}

/** Languages a training script or notebook cell is written in; hovers look for data paths in their strings. */
const CODE_SELECTOR: vscode.DocumentSelector = [{ scheme: 'file' }, { scheme: 'untitled' }, { scheme: 'vscode-notebook-cell' }];

const commandLink = (command: string, args: unknown[]): string => `command:${command}?${encodeURIComponent(JSON.stringify(args))}`;
const modelText = (m: TrainedModel): string => `${m.modelName} v${m.version}${m.aliases.length ? ` (${m.aliases.map((a) => `@${a}`).join(' ')})` : ''}`;

/** Hover text for a data path: dataset, versions, the last profile line and the models trained on it. */
export function dataHoverMarkdown(usages: readonly DataPathUsage[]): vscode.MarkdownString {
  const md = new vscode.MarkdownString(undefined, true);
  md.isTrusted = { enabledCommands: ['mloop.lineage.show'] };
  for (const d of usages) {
    md.appendMarkdown(
      `**mloop dataset \`${d.name}\`** · ${d.versions} version${d.versions === 1 ? '' : 's'} · read by ${d.runs} run${d.runs === 1 ? '' : 's'}\n\n`,
    );
    if (d.latest) {
      md.appendMarkdown(`latest \`@${d.latest.digest.slice(0, 12)}\` · ${new Date(d.latest.createdAt).toLocaleString()}\n\n`);
      if (d.latest.profileLine) md.appendMarkdown(`${d.latest.profileLine.replace(/[\\`*_[\]]/g, '\\$&')}\n\n`);
    }
    md.appendMarkdown(
      d.models.length
        ? `models trained on it: ${d.models.slice(0, 6).map(modelText).join(', ')}${d.models.length > 6 ? ', …' : ''}\n\n`
        : 'no model trained on it yet\n\n',
    );
    if (d.latest) md.appendMarkdown(`[Show Lineage](${commandLink('mloop.lineage.show', [`dataset:${d.latest.datasetVersionId}`])})\n\n`);
  }
  return md;
}

/**
 * Lineage while coding: a CodeLens on any script runs used as their entry file ("4 runs · best accuracy
 * 0.91 · weather-clf v3 (champion)"), hovers over data paths in any source file or notebook cell, and
 * the same on datasets and pipelines in mloop.yaml. Every answer is a few indexed queries on the store.
 */
export function registerLineageLens(deps: LineageLensDeps): vscode.Disposable {
  const { workspaceStore, projectConfig } = deps;
  const changed = new vscode.EventEmitter<void>();

  const context = async (): Promise<{ store: Store; root: string } | undefined> => {
    const store = await workspaceStore.get().catch(() => undefined);
    const root = projectConfig.projectRoot ?? workspaceStore.folder?.uri.fsPath;
    return store && root ? { store, root } : undefined;
  };

  const metricOfPipeline = (pipeline: string | null | undefined): { name: string; goal: 'maximize' | 'minimize' } | undefined => {
    const declared = pipeline ? projectConfig.current?.pipelines[pipeline] : undefined;
    return declared ? primaryMetricOf(declared) : undefined;
  };

  const scriptLenses = async (document: vscode.TextDocument): Promise<vscode.CodeLens[]> => {
    if (document.uri.scheme !== 'file') return [];
    const ctx = await context();
    if (!ctx) return [];
    const first = entryScriptUsage(ctx.store, ctx.root, document.uri.fsPath);
    if (first.runs === 0) return [];
    const pipeline = ctx.store.db.prepare('SELECT pipeline FROM run WHERE run_id = ?').pluck().get(first.lastRun!.runId) as string | null;
    const usage = entryScriptUsage(ctx.store, ctx.root, document.uri.fsPath, metricOfPipeline(pipeline) ?? { name: 'accuracy' });
    const range = new vscode.Range(0, 0, 0, 0);
    const lenses = [
      new vscode.CodeLens(range, {
        title: `$(type-hierarchy) ${usageSummary(usage)}`,
        tooltip: 'mloop: runs that used this file as their script, and what they produced',
        command: 'mloop.lineage.showForFile',
        arguments: [document.uri],
      }),
    ];
    const last = usage.lastRun!;
    if (last.gitCommit) {
      lenses.push(
        new vscode.CodeLens(range, {
          title: `Diff with last run's commit ${last.gitCommit.slice(0, 8)}${last.gitDirty ? ' (+ uncommitted changes then)' : ''}`,
          tooltip: `mloop: this file at the commit run ${last.name} started from, against the working tree`,
          command: 'mloop.runs.openCodeAtCommit',
          arguments: [last.runId],
        }),
      );
    }
    return lenses;
  };

  const configLenses = async (document: vscode.TextDocument): Promise<vscode.CodeLens[]> => {
    const ctx = await context();
    if (!ctx) return [];
    const text = document.getText();
    const lenses: vscode.CodeLens[] = [];
    for (const p of pipelineLocations(text)) {
      const usage = pipelineUsage(ctx.store, p.name, metricOfPipeline(p.name));
      if (usage.runs === 0) continue;
      const range = new vscode.Range(p.line, p.character, p.line, p.character + p.name.length);
      const target = usage.models.find((m) => m.aliases.includes('champion')) ?? usage.models[0];
      lenses.push(
        new vscode.CodeLens(range, {
          title: usageSummary(usage),
          tooltip: `mloop: runs of pipeline "${p.name}"`,
          command: 'mloop.lineage.show',
          arguments: [target ? `model:${target.modelVersionId}` : `run:${usage.lastRun!.runId}`],
        }),
      );
    }
    const config = projectConfig.current;
    for (const d of datasetLocations(text)) {
      const declared = config?.datasets[d.name];
      const [usage] = declared ? dataPathUsage(ctx.store, ctx.root, declared.path).filter((u) => u.name === d.name) : [];
      if (!usage?.latest) continue;
      const range = new vscode.Range(d.line, d.character, d.line, d.character + d.name.length);
      lenses.push(
        new vscode.CodeLens(range, {
          title: `${usage.versions} version${usage.versions === 1 ? '' : 's'} · read by ${usage.runs} run${usage.runs === 1 ? '' : 's'}${usage.models[0] ? ` · ${modelText(usage.models[0])}` : ''}`,
          tooltip: `mloop: lineage of dataset "${d.name}"`,
          command: 'mloop.lineage.show',
          arguments: [`dataset:${usage.latest.datasetVersionId}`],
        }),
      );
    }
    return lenses;
  };

  const lensProvider: vscode.CodeLensProvider = {
    onDidChangeCodeLenses: changed.event,
    provideCodeLenses: async (document) => {
      try {
        return projectConfig.isConfigDocument(document) ? await configLenses(document) : await scriptLenses(document);
      } catch (error) {
        deps.log.warn(`lineage lens for ${document.uri.fsPath}: ${(error as Error).message}`);
        return [];
      }
    },
  };

  const hoverProvider: vscode.HoverProvider = {
    provideHover: async (document, position) => {
      try {
        const ctx = await context();
        if (!ctx) return undefined;
        const line = document.lineAt(position.line).text;
        let written: string | undefined;
        let range: vscode.Range | undefined;
        if (projectConfig.isConfigDocument(document)) {
          const d = datasetLocations(document.getText()).find(
            (l) => l.line === position.line && position.character >= l.character && position.character <= l.character + l.name.length,
          );
          const declared = d && projectConfig.current?.datasets[d.name];
          if (d && declared) {
            written = declared.path;
            range = new vscode.Range(d.line, d.character, d.line, d.character + d.name.length);
          }
        }
        if (written === undefined) {
          const literal = stringLiteralAt(line, position.character);
          // in mloop.yaml a path is usually unquoted: `path: data/weather.csv`
          const yamlPath = literal || !projectConfig.isConfigDocument(document) ? undefined : /\bpath:\s*([^"'#\s]+)/.exec(line);
          if (literal) {
            written = literal.text;
            range = new vscode.Range(position.line, literal.start, position.line, literal.end);
          } else if (yamlPath) {
            written = yamlPath[1];
          }
        }
        if (!written || written.length < 2) return undefined;
        const bases = document.uri.scheme === 'file' ? [dirname(document.uri.fsPath)] : [];
        const usages = dataPathUsage(ctx.store, ctx.root, written, bases);
        if (usages.length === 0) return undefined;
        return new vscode.Hover(dataHoverMarkdown(usages), range);
      } catch (error) {
        deps.log.warn(`lineage hover: ${(error as Error).message}`);
        return undefined;
      }
    },
  };

  return vscode.Disposable.from(
    vscode.languages.registerCodeLensProvider(CODE_SELECTOR, lensProvider),
    vscode.languages.registerHoverProvider(CODE_SELECTOR, hoverProvider),
    workspaceStore.onDidChange(() => changed.fire()),
    projectConfig.onDidChange(() => changed.fire()),
    changed,
  );
}
