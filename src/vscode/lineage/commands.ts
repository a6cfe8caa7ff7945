import { execFile } from 'node:child_process';
import { isAbsolute, relative, resolve } from 'node:path';
import * as vscode from 'vscode';
import { dataPathUsage, entryScriptUsage } from '../../core/lineage/fileUsage';
import { codeNodeId, parseNodeId } from '../../core/lineage/graph';
import { resolveLineageRef } from '../../core/lineage/refs';
import type { Store } from '../../core/store/store';
import { CommandCancelled, type CommandContext } from '../base/commandContext';
import { executeCommand, registerCommand } from '../base/commands';
import type { LineageOrigin } from '../../protocol/lineageMessages';
import { LineagePanel, type LineagePanelDeps } from './panel';
import type { BackendService } from '../backend/backendService';

/** A tree row of any mloop view, as the menus pass it. */
export interface AnyTreeRow {
  readonly kind?: string;
  /** Server rows of the Runs and Models views (mloop.backend = mlflow). */
  readonly modelName?: string;
  readonly version?: number;
  readonly runId?: string;
  readonly modelVersionId?: number;
  readonly datasetVersionId?: number;
  readonly datasetId?: number;
  readonly id?: string;
}

/** The subset of the built-in git extension's API this uses (extensions/git/src/api/git.d.ts). */
interface GitApi {
  toGitUri(uri: vscode.Uri, ref: string): vscode.Uri;
}

export function registerLineageCommands(deps: { commands: CommandContext; panelDeps: LineagePanelDeps; backends?: BackendService }): vscode.Disposable[] {
  const { commands, panelDeps, backends } = deps;
  const { workspaceStore } = commands;
  const needStore = (): Promise<Store> => commands.requireStore();

  /** A lineage node id from a tree row, a node id or anything `mloop lineage` accepts. */
  const nodeIdOf = (store: Store, input: AnyTreeRow | string): string => {
    if (typeof input === 'string') {
      const found = resolveLineageRef(store, input);
      if ('problem' in found) throw new Error(found.problem);
      return found.id;
    }
    if (input.kind === 'modelVersion' && input.modelVersionId !== undefined) return `model:${input.modelVersionId}`;
    if (input.kind === 'run' && input.runId) return `run:${input.runId}`;
    if (input.kind === 'datasetVersion' && input.datasetVersionId !== undefined) return `dataset:${input.datasetVersionId}`;
    if (input.kind === 'dataset' && input.datasetId !== undefined) {
      const newest = store.db
        .prepare('SELECT dataset_version_id FROM dataset_version WHERE dataset_id = ? ORDER BY created_at DESC, dataset_version_id DESC LIMIT 1')
        .pluck()
        .get(input.datasetId) as number | undefined;
      if (newest === undefined) throw new Error('this dataset has no versions yet');
      return `dataset:${newest}`;
    }
    if (input.id && parseNodeId(input.id)?.kind === 'deployment') return input.id;
    throw new Error('pick a dataset version, run, model version or deployment');
  };

  /**
   * A lineage node id on the MLflow server, when the input is a row of a server view, or (with
   * mloop.backend = mlflow) typed text or the palette's prompt that names a server run or model version.
   * Undefined: the store's lineage applies (datasets, deployments and drift stay local).
   */
  const serverRoot = async (input: AnyTreeRow | string | undefined): Promise<{ id: string; origin: LineageOrigin } | undefined> => {
    if (!backends || backends.kind !== 'mlflow') {
      if (typeof input === 'object' && input.id?.startsWith('remote-'))
        throw new Error('this row is from an MLflow server, but mloop.backend is no longer "mlflow"');
      return undefined;
    }
    const { remoteModelNodeId, resolveRemoteLineageRef } = await import('../../core/backends/remoteLineage');
    if (typeof input === 'object') {
      if (!input.id?.startsWith('remote-')) return undefined;
      if (input.kind === 'run' && input.runId) return { id: `run:${input.runId}`, origin: 'server' };
      if (input.kind === 'modelVersion' && input.modelName && typeof input.version === 'number')
        return { id: remoteModelNodeId(input.modelName, input.version), origin: 'server' };
      throw new Error('pick a run or a model version of the MLflow server');
    }
    const text =
      input ??
      (await vscode.window.showInputBox({
        title: `mloop: Show Lineage (MLflow server ${backends.trackingUri})`,
        prompt: 'model@version, model@alias, models:/model@alias or a run id on the server; a dataset name or deployment:<id> reads the local store',
        placeHolder: 'weather-clf@champion',
        ignoreFocusOut: true,
      }));
    if (text === undefined) throw new CommandCancelled();
    const found = await backends.use((backend) => resolveRemoteLineageRef(backend, text));
    if ('id' in found) return { id: found.id, origin: 'server' };
    // not on the server: a dataset, deployment or drift report of the local store, or a local run
    const store = await workspaceStore.get();
    const local = store && resolveLineageRef(store, text);
    if (local && 'id' in local) return { id: local.id, origin: 'store' };
    throw new Error(found.problem);
  };

  const projectRoot = (): string | undefined => panelDeps.projectRoot() ?? workspaceStore.folder?.uri.fsPath;

  return [
    registerCommand('mloop.lineage.show', async (input?: AnyTreeRow | string, depth?: number) => {
      try {
        const routed = await serverRoot(input);
        if (routed) {
          LineagePanel.show(panelDeps, routed.id, typeof depth === 'number' ? depth : 3, routed.origin);
          return routed.id;
        }
        const store = await needStore();
        const ref =
          input ??
          (await vscode.window.showInputBox({
            title: 'mloop: Show Lineage',
            prompt: 'model@version, model@alias, a run id, a dataset name, deployment:<id>',
            placeHolder: 'weather-clf@champion',
            // opened from a walkthrough step, which takes the focus as it completes: the box stays open
            ignoreFocusOut: true,
            validateInput: (v) => {
              const r = resolveLineageRef(store, v);
              return 'problem' in r ? r.problem : undefined;
            },
          }));
        if (ref === undefined) return undefined;
        const id = nodeIdOf(store, ref);
        LineagePanel.show(panelDeps, id, typeof depth === 'number' ? depth : 3);
        return id;
      } catch (error) {
        return commands.reportError('show lineage', error);
      }
    }),

    // the Datasets tree's action on a version row: the Lineage panel centred on that exact version
    registerCommand('mloop.datasets.revealLineage', async (input?: AnyTreeRow | number) => {
      try {
        const versionId = typeof input === 'number' ? input : input?.kind === 'datasetVersion' ? input.datasetVersionId : undefined;
        if (versionId === undefined) return void vscode.window.showInformationMessage('mloop: pick a dataset version in the Datasets view.');
        const store = await needStore();
        const exists = store.db.prepare('SELECT 1 FROM dataset_version WHERE dataset_version_id = ?').pluck().get(versionId);
        if (!exists) throw new Error(`dataset version ${versionId} is not in the store (deleted?); refresh the Datasets view`);
        const id = `dataset:${versionId}`;
        LineagePanel.show(panelDeps, id);
        return id;
      } catch (error) {
        return commands.reportError('reveal lineage', error);
      }
    }),

    registerCommand('mloop.lineage.showForFile', async (uri?: vscode.Uri) => {
      try {
        const file = (uri instanceof vscode.Uri ? uri : vscode.window.activeTextEditor?.document.uri)?.fsPath;
        if (!file) return void vscode.window.showInformationMessage('mloop: open a training script or data file first.');
        const store = await needStore();
        const root = projectRoot() ?? resolve(file, '..');
        const options: { label: string; description: string; id: string }[] = [];
        const script = entryScriptUsage(store, root, file);
        if (script.lastRun) {
          const entry = store.db.prepare('SELECT entry_file FROM run WHERE run_id = ?').pluck().get(script.lastRun.runId) as string;
          options.push({
            label: `$(file-code) ${script.file}`,
            description: `script of ${script.runs} run${script.runs === 1 ? '' : 's'} (last at ${script.lastRun.gitCommit?.slice(0, 8) ?? 'no commit'})`,
            id: codeNodeId(script.lastRun.gitCommit, entry),
          });
        }
        for (const d of dataPathUsage(store, root, file)) {
          if (d.latest)
            options.push({
              label: `$(database) ${d.name}`,
              description: `dataset · ${d.versions} versions · read by ${d.runs} runs`,
              id: `dataset:${d.latest.datasetVersionId}`,
            });
        }
        if (options.length === 0) {
          const rel = relative(root, file);
          void vscode.window.showInformationMessage(
            `mloop: no run used ${isAbsolute(rel) || rel.startsWith('..') ? file : rel} as its script, and no dataset points at it.`,
          );
          return undefined;
        }
        const choice =
          options.length === 1 ? options[0] : await vscode.window.showQuickPick(options, { title: 'mloop: Show Lineage for This File', ignoreFocusOut: true });
        if (!choice) return undefined;
        LineagePanel.show(panelDeps, choice.id);
        return choice.id;
      } catch (error) {
        return commands.reportError('show lineage for file', error);
      }
    }),

    registerCommand('mloop.runs.openCodeAtCommit', async (input?: AnyTreeRow | string) => {
      try {
        const runId = typeof input === 'string' ? input : input?.runId;
        if (!runId) return void vscode.window.showInformationMessage('mloop: pick a run in the Runs view.');
        const store = await needStore();
        const run = store.db.prepare('SELECT name, git_commit, git_dirty, entry_file FROM run WHERE run_id = ?').get(runId) as
          | { name: string; git_commit: string | null; git_dirty: number | null; entry_file: string | null }
          | undefined;
        if (!run) throw new Error(`no run ${runId}`);
        if (!run.entry_file) throw new Error(`run ${run.name} has no recorded entry script`);
        if (!run.git_commit) throw new Error(`run ${run.name} did not start inside a git repository: no commit to compare with`);
        const root = projectRoot();
        const working = vscode.Uri.file(isAbsolute(run.entry_file) || !root ? run.entry_file : resolve(root, run.entry_file));
        // a run that started with uncommitted changes: the left side is the file as the run saw it (its commit plus
        // the stored diff), not the bare commit
        const { RunCodeRepository } = await import('../../core/store/runCode');
        const changes = run.git_dirty ? new RunCodeRepository(store).forRun(runId) : undefined;
        if (changes?.diff) {
          const { fileAsRunSawIt } = await import('../../core/runs/codeVersion');
          const cwd = resolve(working.fsPath, '..');
          const top = (await gitOutput(cwd, ['rev-parse', '--show-toplevel'])).trim();
          const relPath = relative(top, working.fsPath).split('\\').join('/');
          const content = await fileAsRunSawIt(top, changes.commit, relPath, changes.diff);
          const doc = await vscode.workspace.openTextDocument({ content, language: (await vscode.workspace.openTextDocument(working)).languageId });
          const title = `${run.entry_file} as ${run.name} ran it (${changes.commit.slice(0, 8)} + its uncommitted changes) ↔ working tree`;
          await executeCommand('vscode.diff', doc.uri, working, title);
          return content;
        }
        const note = run.git_dirty
          ? changes?.truncated
            ? ' (its uncommitted changes were over the size cap: not kept)'
            : ' (run had uncommitted changes)'
          : '';
        const title = `${run.entry_file} @ ${run.git_commit.slice(0, 8)}${note} ↔ working tree`;
        const before = await atCommit(working, run.git_commit);
        await executeCommand('vscode.diff', before, working, title);
        return before.toString();
      } catch (error) {
        return commands.reportError('open code at run commit', error);
      }
    }),
  ];
}

/** The file at `commit`: through the built-in git extension when it is there, else `git show` into a read-only document. */
async function atCommit(file: vscode.Uri, commit: string): Promise<vscode.Uri> {
  const git = vscode.extensions.getExtension<{ getAPI(version: 1): GitApi }>('vscode.git');
  if (git) {
    try {
      const api = (git.isActive ? git.exports : await git.activate()).getAPI(1);
      return api.toGitUri(file, commit);
    } catch {
      // git extension disabled or not ready: fall through to the git CLI
    }
  }
  const cwd = resolve(file.fsPath, '..');
  const top = (await gitOutput(cwd, ['rev-parse', '--show-toplevel'])).trim();
  const path = relative(top, file.fsPath).split('\\').join('/');
  const content = await gitOutput(cwd, ['show', `${commit}:${path}`]);
  const doc = await vscode.workspace.openTextDocument({ content, language: (await vscode.workspace.openTextDocument(file)).languageId });
  return doc.uri;
}

function gitOutput(cwd: string, args: string[]): Promise<string> {
  return new Promise((done, fail) =>
    execFile('git', args, { cwd, maxBuffer: 64 * 1024 * 1024, timeout: 15_000, windowsHide: true }, (error, stdout, stderr) =>
      error ? fail(new Error(`git ${args[0]} failed: ${stderr.trim() || error.message}`)) : done(stdout),
    ),
  );
}
