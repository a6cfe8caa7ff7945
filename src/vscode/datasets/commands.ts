import { statSync } from 'node:fs';
import * as vscode from 'vscode';
import type { DatasetDeclaration } from '../../core/config/schema';
import type { VersionComparison } from '../../core/datasets/compare';
import type { DatasetProfile } from '../../core/datasets/profile';
import type { ValidationReport } from '../../core/datasets/validate';
import { DatasetReadError } from '../../core/datasets/readErrors';
import type { DatasetDiagnostics } from './diagnostics';
import type { Snapshot } from '../../core/datasets/versions';
import { DatasetRepository } from '../../core/store/datasets';
import type { Store } from '../../core/store/store';
import { PreviewPanel } from './previewPanel';
import type { PanelDeps } from '../base/webviewHtml';
import type { ProjectConfig } from '../base/projectConfig';
import type { DatasetsNode } from './tree';
import type { WorkspaceStore } from '../base/workspaceStore';

interface DatasetCommandDeps {
  readonly workspaceStore: WorkspaceStore;
  readonly projectConfig: ProjectConfig;
  readonly panelDeps: PanelDeps;
  readonly log: vscode.LogOutputChannel;
  readonly diagnostics: DatasetDiagnostics;
  /** Every check the file watcher made, appended in order (the extension API exposes it to tests). */
  readonly watchEvents?: DatasetWatchEvent[];
}

/** What the file watcher concluded after a declared dataset changed on disk. */
export interface DatasetWatchEvent {
  readonly dataset: string;
  readonly digest: string;
  /** proposed: new content, the user was asked; known: the content is already a version; ignored: the user said Ignore before. */
  readonly outcome: 'proposed' | 'known' | 'ignored';
  /** The user's answer to a proposal, once given. */
  answer?: 'Record Version' | 'Ignore' | 'dismissed';
}

/** What the commands act on: a tree row, a dataset name (tests, other commands), or a pick. */
type DatasetArg = DatasetsNode | string | undefined;

/** The outcome of Validate Dataset, returned to callers (tests) as well as shown. */
export interface DatasetValidationResult {
  readonly dataset: string;
  readonly digest: string;
  readonly report: ValidationReport;
}

export function registerDatasetCommands(deps: DatasetCommandDeps): vscode.Disposable[] {
  const { workspaceStore, projectConfig, log, diagnostics } = deps;

  const declaredOrFail = (name: string): { declaration: DatasetDeclaration; projectRoot: string } => {
    const config = projectConfig.reload();
    const projectRoot = projectConfig.projectRoot;
    if (!projectRoot || !config) throw new Error('mloop.yaml is missing or has errors; see the Problems panel');
    const declaration = config.datasets[name];
    if (!declaration) throw new Error(`mloop.yaml does not declare dataset "${name}" (datasets: ${Object.keys(config.datasets).join(', ') || 'none'})`);
    return { declaration, projectRoot };
  };

  const pickName = async (arg: DatasetArg, title: string): Promise<string | undefined> => {
    if (typeof arg === 'string') return arg;
    if (arg) return arg.name;
    const names = Object.keys(projectConfig.reload()?.datasets ?? {});
    if (names.length === 0) {
      void vscode.window.showInformationMessage('mloop: mloop.yaml declares no datasets. Add one under datasets: (a path to a CSV, TSV, JSONL or Parquet file or folder).');
      return undefined;
    }
    return names.length === 1 ? names[0] : vscode.window.showQuickPick(names, { title });
  };

  const writableStore = async (): Promise<Store> => {
    if (!vscode.workspace.isTrusted) throw new Error('mloop records dataset versions only in a trusted workspace');
    const store = await workspaceStore.get({ create: true });
    if (!store) throw new Error('mloop needs an open folder to hold its store');
    return store;
  };

  /** Snapshots the current content of a declared dataset with progress and cancellation. */
  const snapshot = async (name: string, origin: 'snapshot' | 'watcher' | 'manual', then?: (store: Store, s: Snapshot, signal: AbortSignal) => Promise<void>): Promise<Snapshot | undefined> => {
    const { declaration, projectRoot } = declaredOrFail(name);
    const store = await writableStore();
    const { snapshotDataset } = await import('../../core/datasets/versions');
    return vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: `mloop: ${name}`, cancellable: true }, async (progress, token) => {
      const controller = new AbortController();
      const cancel = token.onCancellationRequested(() => controller.abort());
      try {
        const s = await snapshotDataset(store, { name, declaration, projectRoot, origin, signal: controller.signal, onProgress: (message) => progress.report({ message }) });
        workspaceStore.fire();
        await then?.(store, s, controller.signal);
        diagnostics.readSucceeded(name);
        return s;
      } catch (error) {
        if (controller.signal.aborted) {
          log.info(`${name}: cancelled`);
          return undefined;
        }
        if (error instanceof DatasetReadError) diagnostics.readError(name, error);
        throw error;
      } finally {
        cancel.dispose();
      }
    });
  };

  const fail = (what: string) => (error: unknown) => {
    const message = (error as Error)?.message ?? String(error);
    log.error(`${what}: ${message}`);
    void vscode.window.showErrorMessage(`mloop: ${what} failed: ${message}`);
    return undefined;
  };

  const showText = async (content: string, language = 'markdown'): Promise<void> => {
    const doc = await vscode.workspace.openTextDocument({ content, language });
    await vscode.window.showTextDocument(doc, { preview: true });
  };

  const profile = async (arg: DatasetArg): Promise<DatasetProfile | undefined> => {
    const { storedProfile } = await import('../../core/datasets/versions');
    if (arg && typeof arg !== 'string' && arg.kind !== 'dataset') {
      const store = await workspaceStore.get();
      const p = store && storedProfile(store, arg.datasetVersionId);
      if (p) await showText(profileMarkdown(`${arg.name} · version ${arg.kind === 'datasetVersion' ? arg.label : arg.datasetVersionId}`, p));
      return p;
    }
    const name = await pickName(arg, 'Profile which dataset?');
    if (!name) return undefined;
    let result: DatasetProfile | undefined;
    await snapshot(name, 'snapshot', async (store, s) => {
      result = storedProfile(store, s.version.datasetVersionId);
      if (result) await showText(profileMarkdown(`${name} · version ${s.version.digest.slice(0, 12)}${s.created ? ' (new)' : ''}`, result));
    });
    return result;
  };

  const validate = async (arg: DatasetArg): Promise<DatasetValidationResult | undefined> => {
    const name = await pickName(arg, 'Validate which dataset?');
    if (!name) return undefined;
    const { declaration, projectRoot } = declaredOrFail(name);
    if (!declaration.rules) {
      void vscode.window.showInformationMessage(`mloop: dataset "${name}" declares no rules in mloop.yaml (rules: columns, rows, schema).`);
      return undefined;
    }
    const { validateVersion } = await import('../../core/datasets/versions');
    const { formatValidationReport } = await import('../../core/datasets/validate');
    let result: DatasetValidationResult | undefined;
    await snapshot(name, 'snapshot', async (store, s, signal) => {
      const { report } = await validateVersion(store, { name, declaration, projectRoot, version: s.version, signal });
      workspaceStore.fire();
      await diagnostics.refresh();
      result = { dataset: name, digest: s.version.digest, report };
    });
    if (!result) return undefined;
    const text = formatValidationReport(`${name} @ ${result.digest.slice(0, 12)}`, result.report);
    log.info(text);
    if (result.report.passed) {
      void vscode.window.showInformationMessage(`mloop: ${name} passes its rules (${result.report.rows.toLocaleString('en-US')} rows).`);
    } else {
      void vscode.window
        .showErrorMessage(`mloop: ${name} fails ${result.report.failures.length} rule${result.report.failures.length === 1 ? '' : 's'}: ${result.report.failures[0]!.message}`, 'Show Report')
        .then((a) => a && showText(text, 'plaintext'));
    }
    return result;
  };

  /** The file a tree row stands for: a version's recorded path or the declared one. */
  const targetOf = async (arg: DatasetArg): Promise<{ name: string; path: string; title: string; totalRows: number | null; format?: DatasetDeclaration['format'] } | undefined> => {
    const name = await pickName(arg, 'Which dataset?');
    if (!name) return undefined;
    const projectRoot = projectConfig.projectRoot;
    const declaration = projectConfig.current?.datasets[name];
    const store = await workspaceStore.get().catch(() => undefined);
    const repo = store && new DatasetRepository(store);
    const dataset = repo?.byName(name);
    const version = arg && typeof arg !== 'string' && arg.kind !== 'dataset' ? repo?.version(arg.datasetVersionId) : dataset && repo?.versions(dataset.datasetId)[0];
    const relativePath = declaration?.path ?? version?.path ?? dataset?.uri;
    if (!relativePath || !projectRoot) throw new Error(`no path known for dataset "${name}"`);
    const { datasetPath } = await import('../../core/datasets/versions');
    const path = datasetPath(projectRoot, { path: relativePath });
    // files hold only their current content: an older version's row says so instead of passing it off as that version
    const newest = dataset && repo?.versions(dataset.datasetId)[0];
    const older = version && newest && newest.datasetVersionId !== version.datasetVersionId;
    const title = version ? `${name} @ ${version.digest.slice(0, 12)}${older ? ` (older version; showing the file as it is now, last recorded as ${newest.digest.slice(0, 12)})` : ''}` : name;
    return { name, path, title, totalRows: older ? null : (version?.rowCount ?? null), ...(declaration?.format ? { format: declaration.format } : {}) };
  };

  const preview = async (arg: DatasetArg): Promise<PreviewPanel | undefined> => {
    const target = await targetOf(arg);
    if (!target) return undefined;
    return PreviewPanel.show(deps.panelDeps, { title: target.title, path: target.path, totalRows: target.totalRows, ...(target.format ? { format: target.format } : {}) });
  };

  const openFile = async (arg: DatasetArg): Promise<void> => {
    const target = await targetOf(arg);
    if (!target) return;
    const uri = vscode.Uri.file(target.path);
    let isDirectory = false;
    try {
      isDirectory = statSync(target.path).isDirectory();
    } catch {
      throw new Error(`${target.path} does not exist`);
    }
    if (isDirectory) await vscode.commands.executeCommand('revealInExplorer', uri);
    else await vscode.commands.executeCommand('vscode.open', uri);
  };

  /** Schema changes and per-column shift between two versions, from their stored profiles. */
  const compareVersions = async (arg: DatasetArg): Promise<(VersionComparison & { before: string; after: string }) | undefined> => {
    const name = await pickName(arg, 'Compare versions of which dataset?');
    if (!name) return undefined;
    const store = await workspaceStore.get();
    const repo = store && new DatasetRepository(store);
    const dataset = repo?.byName(name);
    const versions = (dataset && repo?.versions(dataset.datasetId)) ?? [];
    if (!store || versions.length < 2) {
      void vscode.window.showInformationMessage(`mloop: dataset "${name}" has ${versions.length} version${versions.length === 1 ? '' : 's'}; comparing needs two.`);
      return undefined;
    }
    // a version row compares itself with another (the one before it by default); a dataset compares its newest two
    const after = arg && typeof arg !== 'string' && arg.kind !== 'dataset' ? (versions.find((v) => v.datasetVersionId === arg.datasetVersionId) ?? versions[0]!) : versions[0]!;
    const others = versions.filter((v) => v.datasetVersionId !== after.datasetVersionId);
    const older = others.find((v) => v.createdAt <= after.createdAt && v.datasetVersionId < after.datasetVersionId) ?? others[0]!;
    let before = older;
    if (arg && typeof arg !== 'string' && arg.kind !== 'dataset' && others.length > 1) {
      const picked = await vscode.window.showQuickPick(
        others.map((v) => ({ label: v.digest.slice(0, 12), description: `${v.rowCount?.toLocaleString('en-US') ?? '?'} rows · ${new Date(v.createdAt).toLocaleString()}`, picked: v === older, version: v })).sort((a, b) => (a.version === older ? -1 : b.version === older ? 1 : 0)),
        { title: `Compare ${name} @ ${after.digest.slice(0, 12)} with…` },
      );
      if (!picked) return undefined;
      before = picked.version;
    }
    const { storedProfile } = await import('../../core/datasets/versions');
    const { compareProfiles, formatComparison } = await import('../../core/datasets/compare');
    const [a, b] = [storedProfile(store, before.datasetVersionId), storedProfile(store, after.datasetVersionId)];
    if (!a || !b) throw new Error(`version ${(a ? after : before).digest.slice(0, 12)} of "${name}" has no mloop profile (logged by MLflow?); profile it first`);
    const [first, second] = before.createdAt <= after.createdAt ? [before, after] : [after, before];
    const comparison = first === before ? compareProfiles(a, b) : compareProfiles(b, a);
    await showText(formatComparison(`${name}: ${first.digest.slice(0, 12)} → ${second.digest.slice(0, 12)}`, comparison));
    return { ...comparison, before: first.digest, after: second.digest };
  };

  /** Digests in the watcher's lifetime the user chose to ignore, per dataset: not proposed again. */
  const ignored = new Map<string, Set<string>>();
  /** `name NUL digest` of proposals whose notification is still open. */
  const asking = new Set<string>();

  /**
   * After a declared dataset changed on disk: hash it (window progress, cancellable) and, when the content
   * is not a recorded version yet, propose recording it. A touch or a save without a change proposes nothing.
   */
  const checkChanged = async (name: string): Promise<void> => {
    const { declaration, projectRoot } = declaredOrFail(name);
    const { datasetPath } = await import('../../core/datasets/versions');
    const { digestDataset } = await import('../../core/datasets/digest');
    const path = datasetPath(projectRoot, declaration);
    const digest = await vscode.window.withProgress({ location: vscode.ProgressLocation.Window, title: `mloop: hashing ${name}`, cancellable: true }, async (progress, token) => {
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
    });
    const store = await workspaceStore.get().catch(() => undefined);
    const repo = store && new DatasetRepository(store);
    const dataset = repo?.byName(name);
    const known = dataset && repo?.versionByDigest(dataset.datasetId, digest);
    const push = (outcome: DatasetWatchEvent['outcome']): DatasetWatchEvent => {
      const event: DatasetWatchEvent = { dataset: name, digest, outcome };
      deps.watchEvents?.push(event);
      log.info(`dataset ${name} changed on disk: ${digest.slice(0, 12)} ${outcome === 'known' ? `is already version ${known?.datasetVersionId}` : outcome}`);
      return event;
    };
    if (known) return void push('known');
    if (ignored.get(name)?.has(digest)) return void push('ignored');
    const key = `${name}\0${digest}`;
    if (asking.has(key)) return; // that very content is already being proposed
    const event = push('proposed');
    const latest = dataset && repo?.versions(dataset.datasetId)[0];
    asking.add(key);
    // not awaited: the next change is checked while this notification waits for an answer
    void (async () => {
      try {
        const action = await vscode.window.showInformationMessage(
          `mloop: dataset "${name}" changed on disk (${digest.slice(0, 12)}${latest ? `; last recorded ${latest.digest.slice(0, 12)}` : ''}). Record it as a new version?`,
          'Record Version',
          'Ignore',
        );
        event.answer = action ?? 'dismissed';
        if (action === 'Ignore') ignored.set(name, (ignored.get(name) ?? new Set()).add(digest));
        if (action !== 'Record Version') return;
        const s = await snapshot(name, 'watcher');
        if (s) void vscode.window.showInformationMessage(`mloop: ${name} ${s.created ? `new version ${s.version.digest.slice(0, 12)}` : 'is unchanged'} (${s.version.rowCount ?? '?'} rows).`);
      } finally {
        asking.delete(key);
      }
    })().catch(fail('Record Dataset Version'));
  };

  /** One check at a time per dataset: a change during a check is checked again after it. */
  const checking = new Map<string, Promise<void>>();
  const checkSoon = (name: string): void => {
    const next = (checking.get(name) ?? Promise.resolve()).then(() => checkChanged(name)).catch(fail('Check Dataset Change'));
    checking.set(name, next);
    void next.then(() => checking.get(name) === next && checking.delete(name));
  };

  return [
    vscode.commands.registerCommand('mloop.datasets.profile', (arg?: DatasetArg) => profile(arg).catch(fail('Profile Dataset'))),
    vscode.commands.registerCommand('mloop.datasets.validate', (arg?: DatasetArg) => validate(arg).catch(fail('Validate Dataset'))),
    vscode.commands.registerCommand('mloop.datasets.preview', (arg?: DatasetArg) => preview(arg).catch(fail('Preview Dataset'))),
    vscode.commands.registerCommand('mloop.datasets.compareVersions', (arg?: DatasetArg) => compareVersions(arg).catch(fail('Compare Dataset Versions'))),
    vscode.commands.registerCommand('mloop.datasets.openFile', (arg?: DatasetArg) => openFile(arg).catch(fail('Open Dataset File'))),
    vscode.commands.registerCommand('mloop.datasets.recordVersion', async (arg?: DatasetArg) => {
      const name = await pickName(arg, 'Record a version of which dataset?');
      if (!name) return undefined;
      return snapshot(name, 'manual')
        .then((s) => {
          if (s) void vscode.window.showInformationMessage(`mloop: ${name} ${s.created ? `new version ${s.version.digest.slice(0, 12)}` : 'is unchanged'} (${s.version.rowCount ?? '?'} rows).`);
          return s && { created: s.created, digest: s.version.digest };
        })
        .catch(fail('Record Dataset Version'));
    }),
    new DatasetWatcher(projectConfig, checkSoon, log),
  ];
}

/** A profile as a Markdown table: one line per column. */
function profileMarkdown(title: string, profile: DatasetProfile): string {
  const esc = (s: string): string => s.replace(/\|/g, '\\|');
  const lines = [`# ${esc(title)}`, '', `${profile.rows.toLocaleString('en-US')} rows · ${profile.columns.length} columns`, '', '| column | type | nulls | min | max | mean | std | median | top values |', '|---|---|---:|---:|---:|---:|---:|---:|---|'];
  for (const c of profile.columns) {
    const n = c.numeric;
    const num = (v: number | null | undefined): string => (v === null || v === undefined ? '' : Number.isInteger(v) ? String(v) : v.toPrecision(5));
    const top = c.categorical ? c.categorical.top.slice(0, 5).map((t) => `${esc(t.value)} (${t.count})`).join(', ') : c.datetime ? `${c.datetime.min} → ${c.datetime.max}` : '';
    lines.push(`| ${esc(c.name)} | ${c.type} | ${c.nulls} | ${num(n?.min)} | ${num(n?.max)} | ${num(n?.mean)} | ${num(n?.std)} | ${num(n?.quantiles.values[50])} | ${top} |`);
  }
  return `${lines.join('\n')}\n`;
}

/**
 * Watches the declared datasets' files and, when one has been quiet for a moment after a change, hands it
 * to `changed` (which hashes it and proposes a new version only for new content; nothing is recorded
 * without the user's yes).
 */
class DatasetWatcher implements vscode.Disposable {
  private watchers: vscode.Disposable[] = [];
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private readonly subscription: vscode.Disposable;

  constructor(
    private readonly projectConfig: ProjectConfig,
    private readonly changed: (name: string) => unknown,
    private readonly log: vscode.LogOutputChannel,
  ) {
    this.subscription = projectConfig.onDidChange(() => this.rewatch());
    this.rewatch();
  }

  private rewatch(): void {
    for (const w of this.watchers.splice(0)) w.dispose();
    const root = this.projectConfig.projectRoot;
    const datasets = this.projectConfig.current?.datasets;
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
        this.log.info(`dataset ${name}: a file changed on disk; checking its content`);
        this.changed(name);
      }, 1500),
    );
  }

  dispose(): void {
    for (const t of this.timers.values()) clearTimeout(t);
    for (const w of this.watchers.splice(0)) w.dispose();
    this.subscription.dispose();
  }
}
