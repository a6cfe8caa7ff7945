import * as vscode from 'vscode';
import type { DatasetFileFormat } from '../../core/datasets/readers';
import { parseWebviewMessage } from '../../protocol/common';
import { PREVIEW_PAGE_ROWS, previewWebviewMessageSchema, type PreviewHostMessage } from '../../protocol/previewMessages';
import { panelHtml, webviewOptions, type PanelDeps } from '../base/webviewHtml';

export const PREVIEW_VIEW_TYPE = 'mloop.preview';

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
export class PreviewPanel implements vscode.Disposable {
  private readonly disposables: vscode.Disposable[] = [];
  private ready = false;
  private reading: AbortController | undefined;
  private readonly posted = new vscode.EventEmitter<PreviewHostMessage>();
  /** Fires with every page or problem delivered to the page (after its ready handshake). */
  readonly onDidPost = this.posted.event;
  /** The last page or problem delivered, if any. */
  lastPosted: PreviewHostMessage | undefined;

  static show(deps: PanelDeps, target: PreviewTarget): PreviewPanel {
    const panel = vscode.window.createWebviewPanel(PREVIEW_VIEW_TYPE, `Preview ${target.title}`, vscode.ViewColumn.Active, webviewOptions(deps.extensionUri));
    return new PreviewPanel(panel, deps, target);
  }

  private constructor(
    private readonly panel: vscode.WebviewPanel,
    private readonly deps: PanelDeps,
    private readonly target: PreviewTarget,
  ) {
    panel.iconPath = vscode.Uri.joinPath(deps.extensionUri, 'media', 'mloop.svg');
    panel.webview.html = panelHtml(panel.webview, deps.extensionUri, 'preview', `Preview ${target.title}`);
    this.disposables.push(
      panel.onDidDispose(() => this.dispose()),
      panel.webview.onDidReceiveMessage((raw: unknown) => void this.onMessage(raw)),
    );
  }

  private async onMessage(raw: unknown): Promise<void> {
    const message = parseWebviewMessage(previewWebviewMessageSchema, raw, (m) => this.deps.log.warn(`preview panel: ${m}`));
    if (!message) return;
    switch (message.type) {
      case 'ready':
        this.ready = true;
        await this.sendPage(0);
        return;
      case 'page':
        await this.sendPage(message.offset);
        return;
      case 'error':
        this.deps.log.error(`preview panel page: ${message.message}`);
        return;
      default: {
        const unreachable: never = message;
        return unreachable;
      }
    }
  }

  private async sendPage(offset: number): Promise<void> {
    this.reading?.abort();
    const reading = (this.reading = new AbortController());
    let message: PreviewHostMessage;
    const t0 = performance.now();
    try {
      const { previewRows } = await import('../../core/datasets/preview');
      const page = await previewRows(this.target.path, { offset, limit: PREVIEW_PAGE_ROWS, signal: reading.signal, ...(this.target.format ? { format: this.target.format } : {}) });
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
    if (!this.ready || reading.signal.aborted) return;
    if (await this.panel.webview.postMessage(message)) {
      this.lastPosted = message;
      this.posted.fire(message);
    }
  }

  dispose(): void {
    this.reading?.abort();
    this.ready = false;
    for (const d of this.disposables.splice(0)) d.dispose();
    this.posted.dispose();
    this.panel.dispose();
  }
}
