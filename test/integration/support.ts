import { readFileSync } from 'node:fs';
import * as vscode from 'vscode';
import type { MloopApi, MloopTestApi } from '../../src/vscode/api';

export const EXTENSION_ID = 'mloop.mloop';

/** The fields of the extension manifest the tests compare the running extension against. */
export interface MloopManifest {
  version: string;
  contributes: {
    views: Record<string, { id: string; name: string }[]>;
    commands: { command: string; title: string; category?: string }[];
  };
}

export function mloopExtension(): vscode.Extension<MloopApi> {
  const extension = vscode.extensions.getExtension<MloopApi>(EXTENSION_ID);
  if (extension === undefined) {
    throw new Error(`extension ${EXTENSION_ID} is not loaded in this host (is extensionDevelopmentPath the checkout root?)`);
  }
  return extension;
}

export function manifest(): MloopManifest {
  return mloopExtension().packageJSON as MloopManifest;
}

/** Activates mloop (idempotent) and returns the API activate() returned, with the test-only hooks it adds in ExtensionMode.Test. */
export async function mloopApi(): Promise<MloopTestApi> {
  const api = await mloopExtension().activate();
  if (api === undefined || api === null) throw new Error(`${EXTENSION_ID} activate() returned no API object`);
  if (!isTestApi(api)) throw new Error(`${EXTENSION_ID} returned no test hooks: the host did not run it in ExtensionMode.Test (is extensionTestsPath set?)`);
  return api;
}

const isTestApi = (api: MloopApi): api is MloopTestApi => typeof (api as Partial<MloopTestApi>).treeSnapshot === 'function';

/** The folder the runner opened: a fresh temporary copy, so the tests may write to it. */
export function workspaceRoot(): string {
  const folder = vscode.workspace.workspaceFolders?.[0];
  if (folder === undefined) throw new Error('the integration run has no workspace folder; the runner must open one');
  return folder.uri.fsPath;
}

/**
 * Opens `uri` in an editor, as a user does before lenses show, and waits until the editor holds what is on disk.
 * `vscode.executeCodeLensProvider` answers only for a document the workbench has loaded ("Illegal argument" otherwise),
 * and an editor an earlier test left open may still hold the file as it was before this test rewrote it.
 */
export async function showAsOnDisk(uri: vscode.Uri): Promise<vscode.TextEditor> {
  const editor = await vscode.window.showTextDocument(uri);
  const onDisk = readFileSync(uri.fsPath, 'utf8');
  for (let i = 0; editor.document.getText() !== onDisk; i++) {
    if (i === 80) throw new Error(`the editor of ${uri.fsPath} still differs from the file on disk after 10 s`);
    await new Promise((r) => setTimeout(r, 125));
  }
  return editor;
}

/**
 * With MLOOP_SCREENSHOTS=1: asks the runner (test/harness/integrationRunner.ts) for a screenshot of the workbench as it
 * is now, named `name`, and gives the page time to paint and the runner to take it. Otherwise nothing (CI pays nothing).
 */
export async function screenshotNow(name: string): Promise<void> {
  if (process.env.MLOOP_SCREENSHOTS !== '1') return;
  await new Promise((r) => setTimeout(r, 2_000)); // the panel's page draws what the host posted
  console.log('%s', `${vscode.env.uiKind === vscode.UIKind.Web ? '[mloop-host] ' : ''}MLOOP_SCREENSHOT ${name}`);
  await new Promise((r) => setTimeout(r, 3_000));
}
