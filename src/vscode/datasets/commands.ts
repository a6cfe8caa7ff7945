import { statSync } from 'node:fs';
import * as vscode from 'vscode';
import type { DatasetDeclaration } from '../../core/config/schema';
import type { VersionComparison } from '../../core/datasets/compare';
import type { DatasetProfile } from '../../core/datasets/profile';
import type { ValidationReport } from '../../core/datasets/validate';
import { DatasetRepository } from '../../core/store/datasets';
import type { DatasetArgument } from '../base/commandArgs';
import type { CommandContext } from '../base/commandContext';
import { executeCommand, registerCommand } from '../base/commands';
import type { PanelDeps } from '../base/webviewHtml';
import { DatasetWatcher, type DatasetWatchEvent } from './datasetWatcher';
import type { DatasetDiagnostics } from './diagnostics';
import { PreviewPanel } from './previewPanel';
import { profileMarkdown } from './profileMarkdown';
import { restoreDatasetVersion } from './restore';
import { announceSnapshot, declaredDataset, snapshotWithProgress, type SnapshotOrigin } from './snapshot';

interface DatasetCommandDeps {
  readonly commands: CommandContext;
  readonly panelDeps: PanelDeps;
  readonly diagnostics: DatasetDiagnostics;
  /** Every check the file watcher made, appended in order (the test API exposes it). */
  readonly watchEvents?: DatasetWatchEvent[];
}

/** The outcome of Validate Dataset, returned to callers (tests) as well as shown. */
export interface DatasetValidationResult {
  readonly dataset: string;
  readonly digest: string;
  readonly report: ValidationReport;
}

/** Profile, Validate, Preview, Compare Versions, Open File, Record Version, and the file watcher's proposals. */
export function registerDatasetCommands(deps: DatasetCommandDeps): vscode.Disposable[] {
  const { commands, diagnostics } = deps;
  const { workspaceStore, projectConfig, log } = commands;
  const declaredOrFail = (name: string): ReturnType<typeof declaredDataset> => declaredDataset(commands, name);
  const snapshot = (name: string, origin: SnapshotOrigin, then?: Parameters<typeof snapshotWithProgress>[3]): ReturnType<typeof snapshotWithProgress> =>
    snapshotWithProgress(deps, name, origin, then);
  const fail =
    (what: string) =>
    (error: unknown): undefined =>
      commands.reportError(what, error);

  const pickName = async (arg: DatasetArgument, title: string): Promise<string | undefined> => {
    if (typeof arg === 'string') return arg;
    if (arg) return arg.name;
    const names = Object.keys(projectConfig.reload()?.datasets ?? {});
    if (names.length === 0) {
      void vscode.window.showInformationMessage(
        'mloop: mloop.yaml declares no datasets. Add one under datasets: (a path to a CSV, TSV, JSONL or Parquet file or folder).',
      );
      return undefined;
    }
    return names.length === 1 ? names[0] : vscode.window.showQuickPick(names, { title, ignoreFocusOut: true });
  };

  const showText = async (content: string, language = 'markdown'): Promise<void> => {
    const doc = await vscode.workspace.openTextDocument({ content, language });
    await vscode.window.showTextDocument(doc, { preview: true });
  };

  const profile = async (arg: DatasetArgument): Promise<DatasetProfile | undefined> => {
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

  const validate = async (arg: DatasetArgument): Promise<DatasetValidationResult | undefined> => {
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
        .showErrorMessage(
          `mloop: ${name} fails ${result.report.failures.length} rule${result.report.failures.length === 1 ? '' : 's'}: ${result.report.failures[0]!.message}`,
          'Show Report',
        )
        .then((a) => a && showText(text, 'plaintext'));
    }
    return result;
  };

  /** The file a tree row stands for: a version's recorded path or the declared one. */
  const targetOf = async (
    arg: DatasetArgument,
  ): Promise<{ name: string; path: string; title: string; totalRows: number | null; format?: DatasetDeclaration['format'] } | undefined> => {
    const name = await pickName(arg, 'Which dataset?');
    if (!name) return undefined;
    const projectRoot = projectConfig.projectRoot;
    const declaration = projectConfig.current?.datasets[name];
    const store = await workspaceStore.get().catch(() => undefined);
    const repo = store && new DatasetRepository(store);
    const dataset = repo?.byName(name);
    const version =
      arg && typeof arg !== 'string' && arg.kind !== 'dataset' ? repo?.version(arg.datasetVersionId) : dataset && repo?.versions(dataset.datasetId)[0];
    const relativePath = declaration?.path ?? version?.path ?? dataset?.uri;
    if (!relativePath || !projectRoot) throw new Error(`no path known for dataset "${name}"`);
    const { datasetPath } = await import('../../core/datasets/versions');
    const path = datasetPath(projectRoot, { path: relativePath });
    // files hold only their current content: an older version's row says so instead of passing it off as that version
    const newest = dataset && repo?.versions(dataset.datasetId)[0];
    const older = version && newest && newest.datasetVersionId !== version.datasetVersionId;
    const title = version
      ? `${name} @ ${version.digest.slice(0, 12)}${older ? ` (older version; showing the file as it is now, last recorded as ${newest.digest.slice(0, 12)})` : ''}`
      : name;
    return { name, path, title, totalRows: older ? null : (version?.rowCount ?? null), ...(declaration?.format ? { format: declaration.format } : {}) };
  };

  const preview = async (arg: DatasetArgument): Promise<PreviewPanel | undefined> => {
    const target = await targetOf(arg);
    if (!target) return undefined;
    return PreviewPanel.show(deps.panelDeps, {
      title: target.title,
      path: target.path,
      totalRows: target.totalRows,
      ...(target.format ? { format: target.format } : {}),
    });
  };

  const openFile = async (arg: DatasetArgument): Promise<void> => {
    const target = await targetOf(arg);
    if (!target) return;
    const uri = vscode.Uri.file(target.path);
    let isDirectory = false;
    try {
      isDirectory = statSync(target.path).isDirectory();
    } catch {
      throw new Error(`${target.path} does not exist`);
    }
    if (isDirectory) await executeCommand('revealInExplorer', uri);
    else await executeCommand('vscode.open', uri);
  };

  /** Schema changes and per-column shift between two versions, from their stored profiles. */
  const compareVersions = async (arg: DatasetArgument): Promise<(VersionComparison & { before: string; after: string }) | undefined> => {
    const name = await pickName(arg, 'Compare versions of which dataset?');
    if (!name) return undefined;
    const store = await workspaceStore.get();
    const repo = store && new DatasetRepository(store);
    const dataset = repo?.byName(name);
    const versions = (dataset && repo?.versions(dataset.datasetId)) ?? [];
    if (!store || versions.length < 2) {
      void vscode.window.showInformationMessage(
        `mloop: dataset "${name}" has ${versions.length} version${versions.length === 1 ? '' : 's'}; comparing needs two.`,
      );
      return undefined;
    }
    // a version row compares itself with another (the one before it by default); a dataset compares its newest two
    const after =
      arg && typeof arg !== 'string' && arg.kind !== 'dataset'
        ? (versions.find((v) => v.datasetVersionId === arg.datasetVersionId) ?? versions[0]!)
        : versions[0]!;
    const others = versions.filter((v) => v.datasetVersionId !== after.datasetVersionId);
    const older = others.find((v) => v.createdAt <= after.createdAt && v.datasetVersionId < after.datasetVersionId) ?? others[0]!;
    let before = older;
    if (arg && typeof arg !== 'string' && arg.kind !== 'dataset' && others.length > 1) {
      const picked = await vscode.window.showQuickPick(
        others
          .map((v) => ({
            label: v.digest.slice(0, 12),
            description: `${v.rowCount?.toLocaleString('en-US') ?? '?'} rows · ${new Date(v.createdAt).toLocaleString()}`,
            picked: v === older,
            version: v,
          }))
          .sort((a, b) => (a.version === older ? -1 : b.version === older ? 1 : 0)),
        { title: `Compare ${name} @ ${after.digest.slice(0, 12)} with…`, ignoreFocusOut: true },
      );
      if (!picked) return undefined;
      before = picked.version;
    }
    const { storedProfile } = await import('../../core/datasets/versions');
    const { compareProfiles, formatComparison } = await import('../../core/datasets/compare');
    const [a, b] = [storedProfile(store, before.datasetVersionId), storedProfile(store, after.datasetVersionId)];
    if (!a || !b)
      throw new Error(`version ${(a ? after : before).digest.slice(0, 12)} of "${name}" has no mloop profile (logged by MLflow?); profile it first`);
    const [first, second] = before.createdAt <= after.createdAt ? [before, after] : [after, before];
    const comparison = first === before ? compareProfiles(a, b) : compareProfiles(b, a);
    await showText(formatComparison(`${name}: ${first.digest.slice(0, 12)} → ${second.digest.slice(0, 12)}`, comparison));
    return { ...comparison, before: first.digest, after: second.digest };
  };

  return [
    registerCommand('mloop.datasets.profile', (arg?: DatasetArgument) => profile(arg).catch(fail('Profile Dataset'))),
    registerCommand('mloop.datasets.validate', (arg?: DatasetArgument) => validate(arg).catch(fail('Validate Dataset'))),
    registerCommand('mloop.datasets.preview', (arg?: DatasetArgument) => preview(arg).catch(fail('Preview Dataset'))),
    registerCommand('mloop.datasets.compareVersions', (arg?: DatasetArgument) => compareVersions(arg).catch(fail('Compare Dataset Versions'))),
    registerCommand('mloop.datasets.openFile', (arg?: DatasetArgument) => openFile(arg).catch(fail('Open Dataset File'))),
    registerCommand('mloop.datasets.recordVersion', async (arg?: DatasetArgument) => {
      const name = await pickName(arg, 'Record a version of which dataset?');
      if (!name) return undefined;
      return snapshot(name, 'manual')
        .then((s) => {
          if (s) announceSnapshot(name, s);
          return s && { created: s.created, digest: s.version.digest };
        })
        .catch(fail('Record Dataset Version'));
    }),
    registerCommand('mloop.datasets.restoreVersion', (arg?: DatasetArgument) => restoreDatasetVersion(deps, arg).catch(fail('Restore This Version'))),
    new DatasetWatcher(deps),
  ];
}
