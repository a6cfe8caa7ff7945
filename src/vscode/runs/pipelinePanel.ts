import { join } from 'node:path';
import * as vscode from 'vscode';
import { pipelineWebviewMessageSchema, type PipelineHostMessage, type PipelineWebviewMessage } from '../../protocol/pipelineMessages';
import { executeCommand } from '../base/commands';
import { activePanel, definePanel, showPanel, type PanelContent, type PanelHost } from '../base/panelController';
import type { PageHandlers } from '../base/panelSession';
import type { PanelDeps } from '../base/webviewHtml';
import type { PipelineRunner } from './pipelineRunner';

export interface PipelinePanelDeps extends PanelDeps {
  /** The folder of mloop.yaml / dvc.yaml. */
  readonly projectRoot: () => string | undefined;
  readonly runner: PipelineRunner;
}

/** The stages of mloop.yaml and dvc.yaml as a DAG, each with its status against its last successful run. */
export class PipelinePanel implements PanelContent<PipelineHostMessage, PipelineWebviewMessage, undefined> {
  /** The last message loaded: tests read what the page was given. */
  lastLoad: PipelineHostMessage | undefined;
  /** Where each stage is declared, for "open". */
  private declared = new Map<string, { file: string; line: number; column: number }>();

  static show(deps: PipelinePanelDeps): PipelinePanel {
    return showPanel(pipelinePanel, deps, undefined);
  }

  static get active(): PipelinePanel | undefined {
    return activePanel(pipelinePanel);
  }

  constructor(
    private readonly host: PanelHost<PipelineHostMessage>,
    private readonly deps: PipelinePanelDeps,
  ) {
    host.register(deps.onDidChangeStore(() => void host.reload()));
    host.register(deps.runner.onDidChange(() => void host.reload()));
  }

  readonly handlers: PageHandlers<PipelineWebviewMessage> = {
    run: async (message) => {
      await executeCommand('mloop.runs.repro', message.stage);
    },
    open: async (message) => {
      const at = this.declared.get(message.stage);
      const root = this.deps.projectRoot();
      if (!at || !root) return;
      const position = new vscode.Position(at.line - 1, Math.max(0, at.column - 1));
      await vscode.window.showTextDocument(vscode.Uri.file(join(root, at.file)), { selection: new vscode.Range(position, position), preview: true });
    },
    refresh: () => this.host.reload(),
  };

  async load(): Promise<PipelineHostMessage> {
    this.lastLoad = await this.read();
    return this.lastLoad;
  }

  private async read(): Promise<PipelineHostMessage> {
    const root = this.deps.projectRoot();
    if (!root) return { type: 'problem', message: 'Open a folder with mloop.yaml or dvc.yaml to see its pipeline.' };
    const [{ loadProjectStages }, { planStages }] = await Promise.all([import('../../core/experiments/stages'), import('../../core/experiments/repro')]);
    const project = loadProjectStages(root);
    const errors = project.problems.filter((p) => p.severity === 'error');
    if (errors.length > 0 || !project.graph)
      return {
        type: 'problem',
        message: `The stages have problems; fix them to see the DAG:\n${errors.map((p) => `${p.file}:${p.line}:${p.column}: ${p.message}`).join('\n')}`,
      };
    const graph = project.graph;
    if (graph.order.length === 0)
      return { type: 'problem', message: 'This project declares no stages yet: add stages: to mloop.yaml (or a dvc.yaml). See docs/pipelines.md.' };
    const store = await this.deps.store();
    const plans = store ? await planStages(store, project, graph.order) : undefined;
    this.declared = new Map(
      graph.order.map((s) => {
        const span = project.problemOf({ file: s.file, at: s.at, message: '' });
        return [s.name, { file: s.file, line: span.line, column: span.column }];
      }),
    );
    const edges = new Map<string, { from: string; to: string; label: string }>();
    for (const e of graph.edges) {
      const key = `${e.producer}\0${e.stage}`;
      const known = edges.get(key);
      edges.set(key, { from: e.producer, to: e.stage, label: known ? `${known.label}, ${e.dep.written}` : e.dep.written });
    }
    return {
      type: 'load',
      stages: graph.order.map((stage, i) => {
        const plan = plans?.[i];
        const at = this.declared.get(stage.name)!;
        return {
          name: stage.name,
          status: plan?.status ?? 'never-run',
          reason: plan?.reason ?? 'never run',
          command: typeof stage.command === 'string' ? stage.command : stage.command.join(' '),
          where: `${at.file}:${at.line}`,
          deps: stage.deps.map((d) => d.written),
          outs: stage.outs.map((o) => o.written),
        };
      }),
      edges: [...edges.values()],
      files: [...new Set(graph.order.map((s) => s.file))],
      running: this.deps.runner.running,
    };
  }
}

export const pipelinePanel = definePanel({
  kind: 'pipeline',
  pageMessages: pipelineWebviewMessageSchema,
  problem: 'Cannot read the pipeline: ',
  create: (host: PanelHost<PipelineHostMessage>, deps: PipelinePanelDeps) => new PipelinePanel(host, deps),
});
