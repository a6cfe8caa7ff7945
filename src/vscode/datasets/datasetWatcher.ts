import { statSync } from 'node:fs';
import * as vscode from 'vscode';
import { DatasetRepository } from '../../core/store/datasets';
import type { CommandContext } from '../base/commandContext';
import type { DatasetDiagnostics } from './diagnostics';
import { announceSnapshot, declaredDataset, snapshotWithProgress } from './snapshot';

/** What the file watcher concluded after a declared dataset changed on disk. */
export interface DatasetWatchEvent {
  readonly dataset: string;
  readonly digest: string;
  /** proposed: new content, the user was asked; known: the content is already a version; ignored: the user said Ignore before. */
  readonly outcome: 'proposed' | 'known' | 'ignored';
  /** The user's answer to a proposal, once given. */
  answer?: 'Record Version' | 'Ignore' | 'dismissed';
}

export interface DatasetWatcherDeps {
  readonly commands: CommandContext;
  readonly diagnostics: DatasetDiagnostics;
  /** Every check the watcher made, appended in order (the test API exposes it). */
  readonly watchEvents?: DatasetWatchEvent[];
}

/**
 * Watches the declared datasets' files and, when one has been quiet for a moment after a change, hashes it
 * and proposes a new version only for new content; nothing is recorded without the user's yes.
 */
export class DatasetWatcher implements vscode.Disposable {
  private watchers: vscode.Disposable[] = [];
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private readonly subscription: vscode.Disposable;
  /** Digests in the watcher's lifetime the user chose to ignore, per dataset: not proposed again. */
  private readonly ignored = new Map<string, Set<string>>();
  /** `name NUL digest` of proposals whose notification is still open. */
  private readonly asking = new Set<string>();
  /** One check at a time per dataset: a change during a check is checked again after it. */
  private readonly checking = new Map<string, Promise<void>>();

  constructor(private readonly deps: DatasetWatcherDeps) {
    this.subscription = deps.commands.projectConfig.onDidChange(() => this.rewatch());
    if (deps.commands.projectConfig.isLoaded) this.rewatch(); // else the first load's event does it, after activation
  }

  private rewatch(): void {
    for (const w of this.watchers.splice(0)) w.dispose();
    const { projectConfig } = this.deps.commands;
    const root = projectConfig.projectRoot;
    const datasets = projectConfig.current?.datasets;
    if (!root || !datasets) return;
    for (const [name, declaration] of Object.entries(datasets)) {
      const isGlob = /[*?[\]{}]/.test(declaration.path);
      let pattern = declaration.path.replace(/^\.\//, '');
      if (!isGlob) {
        try {
          if (statSync(`${root}/${pattern}`).isDirectory()) pattern = `${pattern.replace(/\/$/, '')}/**`;
        } catch {
          // not there yet: watch the path itself, creation counts as a change
        }
      }
      const watcher = vscode.workspace.createFileSystemWatcher(new vscode.RelativePattern(vscode.Uri.file(root), pattern));
      const changed = (): void => this.schedule(name);
      this.watchers.push(watcher, watcher.onDidChange(changed), watcher.onDidCreate(changed));
    }
  }

  private schedule(name: string): void {
    clearTimeout(this.timers.get(name));
    // a writer saves in pieces: propose once the file has been quiet for a moment
    this.timers.set(
      name,
      setTimeout(() => {
        this.timers.delete(name);
        if (!vscode.workspace.isTrusted) return;
        this.deps.commands.log.info(`dataset ${name}: a file changed on disk; checking its content`);
        this.checkSoon(name);
      }, 1500),
    );
  }

  private checkSoon(name: string): void {
    const next = (this.checking.get(name) ?? Promise.resolve())
      .then(() => this.checkChanged(name))
      .catch((error: unknown) => this.deps.commands.reportError('Check Dataset Change', error));
    this.checking.set(name, next);
    void next.then(() => this.checking.get(name) === next && this.checking.delete(name));
  }

  /**
   * After a declared dataset changed on disk: hash it (window progress, cancellable) and, when the content
   * is not a recorded version yet, propose recording it. A touch or a save without a change proposes nothing.
   */
  private async checkChanged(name: string): Promise<void> {
    const { commands } = this.deps;
    const digest = await this.digest(name);
    const store = await commands.workspaceStore.get().catch(() => undefined);
    const repo = store && new DatasetRepository(store);
    const dataset = repo?.byName(name);
    const known = dataset && repo?.versionByDigest(dataset.datasetId, digest);
    const push = (outcome: DatasetWatchEvent['outcome']): DatasetWatchEvent => {
      const event: DatasetWatchEvent = { dataset: name, digest, outcome };
      this.deps.watchEvents?.push(event);
      commands.log.info(
        `dataset ${name} changed on disk: ${digest.slice(0, 12)} ${outcome === 'known' ? `is already version ${known?.datasetVersionId}` : outcome}`,
      );
      return event;
    };
    if (known) return void push('known');
    if (this.ignored.get(name)?.has(digest)) return void push('ignored');
    const key = `${name}\0${digest}`;
    if (this.asking.has(key)) return; // that very content is already being proposed
    const event = push('proposed');
    const latest = dataset && repo?.versions(dataset.datasetId)[0];
    this.asking.add(key);
    // not awaited: the next change is checked while this notification waits for an answer
    void (async () => {
      try {
        const action = await vscode.window.showInformationMessage(
          `mloop: dataset "${name}" changed on disk (${digest.slice(0, 12)}${latest ? `; last recorded ${latest.digest.slice(0, 12)}` : ''}). Record it as a new version?`,
          'Record Version',
          'Ignore',
        );
        event.answer = action ?? 'dismissed';
        if (action === 'Ignore') this.ignored.set(name, (this.ignored.get(name) ?? new Set()).add(digest));
        if (action !== 'Record Version') return;
        const s = await snapshotWithProgress(this.deps, name, 'watcher');
        if (s) announceSnapshot(name, s);
      } finally {
        this.asking.delete(key);
      }
    })().catch((error: unknown) => commands.reportError('Record Dataset Version', error));
  }

  /** The content digest of a declared dataset, hashed under a cancellable window progress. */
  private async digest(name: string): Promise<string> {
    const { declaration, projectRoot } = declaredDataset(this.deps.commands, name);
    const { datasetPath } = await import('../../core/datasets/versions');
    const { digestDataset } = await import('../../core/datasets/digest');
    const path = datasetPath(projectRoot, declaration);
    return vscode.window.withProgress(
      { location: vscode.ProgressLocation.Window, title: `mloop: hashing ${name}`, cancellable: true },
      async (progress, token) => {
        const controller = new AbortController();
        const cancel = token.onCancellationRequested(() => controller.abort());
        try {
          const d = await digestDataset(path, {
            ...(declaration.format ? { format: declaration.format } : {}),
            dvcRoot: projectRoot,
            signal: controller.signal,
            onProgress: (bytes, total) => progress.report({ message: `${Math.round((100 * bytes) / Math.max(total, 1))}%` }),
          });
          return d.digest;
        } finally {
          cancel.dispose();
        }
      },
    );
  }

  dispose(): void {
    for (const t of this.timers.values()) clearTimeout(t);
    for (const w of this.watchers.splice(0)) w.dispose();
    this.subscription.dispose();
  }
}
