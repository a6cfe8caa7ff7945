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
 * With MLOOP_SCREENSHOTS=1: asks the runner (test/harness/integrationRunner.ts) for a screenshot of the workbench as it
 * is now, named `name`, and gives the page time to paint and the runner to take it. Otherwise nothing (CI pays nothing).
 */
export async function screenshotNow(name: string): Promise<void> {
  if (process.env.MLOOP_SCREENSHOTS !== '1') return;
  await new Promise((r) => setTimeout(r, 2_000)); // the panel's page draws what the host posted
  console.log('%s', `${vscode.env.uiKind === vscode.UIKind.Web ? '[mloop-host] ' : ''}MLOOP_SCREENSHOT ${name}`);
  await new Promise((r) => setTimeout(r, 3_000));
}
