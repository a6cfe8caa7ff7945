import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as vscode from 'vscode';
import { loadConfig, type Problem } from '../../core/config/loadConfig';
import type { Config } from '../../core/config/schema';
import { CONFIG_FILE } from '../../core/project/init';
import { afterActivation } from './afterActivation';

/**
 * mloop.yaml of the first workspace folder, re-checked as the user types. Problems go to the
 * Problems panel at their line:col; a broken file leaves the last good config in place and never
 * throws into the extension.
 */
export class ProjectConfig implements vscode.Disposable {
  private config: Config | undefined;
  private readonly diagnostics = vscode.languages.createDiagnosticCollection('mloop');
  private readonly changed = new vscode.EventEmitter<void>();
  private readonly disposables: vscode.Disposable[] = [this.diagnostics, this.changed];
  private timer: NodeJS.Timeout | undefined;
  private loaded = false;
  readonly onDidChange = this.changed.event;

  constructor(private readonly log: vscode.LogOutputChannel) {
    const watcher = vscode.workspace.createFileSystemWatcher(`**/${CONFIG_FILE}`);
    watcher.onDidChange(() => this.schedule());
    watcher.onDidCreate(() => this.schedule());
    watcher.onDidDelete(() => this.schedule());
    this.disposables.push(
      watcher,
      vscode.workspace.onDidChangeTextDocument((e) => {
        if (this.isConfigDocument(e.document)) this.schedule();
      }),
      vscode.workspace.onDidChangeWorkspaceFolders(() => this.schedule()),
    );
    // Parsing and validating the file costs ~50 ms (yaml + zod), so it happens right after activation,
    // or at the first read if a command asks sooner; activation itself only registers.
    this.disposables.push(afterActivation(() => this.current));
  }

  /** Whether the file has been read once; until then `onDidChange` is still to fire for the first load. */
  get isLoaded(): boolean {
    return this.loaded;
  }

  /** The last config that had no errors, or undefined. */
  get current(): Config | undefined {
    if (!this.loaded) this.reload();
    return this.config;
  }

  get uri(): vscode.Uri | undefined {
    const folder = vscode.workspace.workspaceFolders?.[0];
    return folder && vscode.Uri.joinPath(folder.uri, CONFIG_FILE);
  }

  get projectRoot(): string | undefined {
    const folder = vscode.workspace.workspaceFolders?.[0];
    return folder?.uri.scheme === 'file' ? folder.uri.fsPath : undefined;
  }

  isConfigDocument(document: vscode.TextDocument): boolean {
    const uri = this.uri;
    return uri !== undefined && document.uri.toString() === uri.toString();
  }

  /** Re-reads now (unsaved editor text wins over the file on disk) and returns the config. */
  reload(): Config | undefined {
    clearTimeout(this.timer);
    this.loaded = true;
    const uri = this.uri;
    const root = this.projectRoot;
    if (!uri || !root || !existsSync(join(root, CONFIG_FILE))) {
      this.diagnostics.clear();
      this.set(undefined);
      return undefined;
    }
    try {
      // unsaved edits win; otherwise the file on disk (an open editor may not have caught up with it yet)
      const open = vscode.workspace.textDocuments.find((d) => d.uri.toString() === uri.toString() && d.isDirty);
      const text = open ? open.getText() : readFileSync(uri.fsPath, 'utf8');
      const loaded = loadConfig(text, uri.fsPath);
      this.diagnostics.set(uri, loaded.problems.map(toDiagnostic));
      const errors = loaded.problems.filter((p) => p.severity === 'error').length;
      if (errors) this.log.warn(`${CONFIG_FILE}: ${errors} error(s); see the Problems panel`);
      this.set(loaded.config);
      return loaded.config;
    } catch (error) {
      this.log.error(`cannot read ${uri.fsPath}: ${(error as Error).message}`);
      this.set(undefined);
      return undefined;
    }
  }

  private set(config: Config | undefined): void {
    this.config = config;
    this.changed.fire();
  }

  private schedule(): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.reload(), 300);
  }

  dispose(): void {
    clearTimeout(this.timer);
    for (const d of this.disposables) d.dispose();
  }
}

function toDiagnostic(problem: Problem): vscode.Diagnostic {
  const range = new vscode.Range(problem.line - 1, problem.column - 1, problem.endLine - 1, Math.max(problem.endColumn - 1, problem.column));
  const diagnostic = new vscode.Diagnostic(
    range,
    problem.message,
    problem.severity === 'error' ? vscode.DiagnosticSeverity.Error : vscode.DiagnosticSeverity.Warning,
  );
  diagnostic.source = 'mloop';
  return diagnostic;
}
