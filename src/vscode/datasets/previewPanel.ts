import * as vscode from 'vscode';
import type { DatasetFileFormat } from '../../core/datasets/readers';
import { previewWebviewMessageSchema, type PreviewHostMessage, type PreviewWebviewMessage } from '../../protocol/previewMessages';
import { PREVIEW_PAGE_ROWS } from '../../shared/panels';
import { executeCommand } from '../base/commands';
import { definePanel, showPanel, type PanelContent, type PanelHost } from '../base/panelController';
import type { PageHandlers } from '../base/panelSession';
import type { PanelDeps } from '../base/webviewHtml';

export interface PreviewTarget {
  /** Shown as the panel title, e.g. "weather @ 0845078a290b". */
  readonly title: string;
  /** Absolute path of the dataset (file, directory or glob). */
  readonly path: string;
  readonly format?: DatasetFileFormat;
  readonly totalRows: number | null;
}

/**
 * The first rows of a dataset version in a table, PREVIEW_PAGE_ROWS at a time. Pages are read on
 * request and only as far into the file as needed, so a huge file opens as fast as a small one.
 */
export class PreviewPanel implements PanelContent<PreviewHostMessage, PreviewWebviewMessage, PreviewTarget> {
  private reading: AbortController | undefined;
  private readonly posted: vscode.EventEmitter<PreviewHostMessage>;
  /** Fires with every page or problem delivered to the page (after its ready handshake). */
  readonly onDidPost: vscode.Event<PreviewHostMessage>;
  /** The last page or problem delivered, if any. */
  lastPosted: PreviewHostMessage | undefined;

  static show(deps: PanelDeps, target: PreviewTarget): PreviewPanel {
    return showPanel(previewPanel, deps, target);
  }

  constructor(
    private readonly host: PanelHost<PreviewHostMessage>,
    private readonly deps: PanelDeps,
    private readonly target: PreviewTarget,
  ) {
    host.title = `Preview ${target.title}`;
    this.posted = host.register(new vscode.EventEmitter<PreviewHostMessage>());
    this.onDidPost = this.posted.event;
  }

  readonly handlers: PageHandlers<PreviewWebviewMessage> = {
    page: (message) => this.sendPage(message.offset),
    explainRow: async (message) => void (await executeCommand('mloop.models.explain', undefined, message.row)),
  };

  /** The first page; sendPage posts it itself, to know it was delivered. */
  async load(): Promise<undefined> {
    await this.sendPage(0);
    return undefined;
  }

  private async sendPage(offset: number): Promise<void> {
    this.reading?.abort();
    const reading = (this.reading = new AbortController());
    let message: PreviewHostMessage;
    const t0 = performance.now();
    try {
      const { previewRows } = await import('../../core/datasets/preview');
      const page = await previewRows(this.target.path, {
        offset,
        limit: PREVIEW_PAGE_ROWS,
        signal: reading.signal,
        ...(this.target.format ? { format: this.target.format } : {}),
      });
      message = {
        type: 'page',
        title: this.target.title,
        columns: page.schema.columns.map((c) => ({ name: c.name, type: c.type })),
        offset: page.offset,
        rows: page.rows,
        hasMore: page.hasMore,
        totalRows: this.target.totalRows,
        readMs: Math.round(performance.now() - t0),
      };
    } catch (error) {
      if (reading.signal.aborted) return;
      this.deps.log.error(`preview of ${this.target.path}: ${(error as Error).message}`);
      message = { type: 'problem', message: (error as Error).message };
    }
    if (reading.signal.aborted) return;
    if (await this.host.post(message)) {
      this.lastPosted = message;
      this.posted.fire(message);
    }
  }

  dispose(): void {
    this.reading?.abort();
  }
}

export const previewPanel = definePanel({
  kind: 'preview',
  pageMessages: previewWebviewMessageSchema,
  // one panel per preview: two versions side by side
  multiple: true,
  create: (host: PanelHost<PreviewHostMessage>, deps, target: PreviewTarget) => new PreviewPanel(host, deps, target),
});
