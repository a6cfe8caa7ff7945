import * as vscode from 'vscode';

/** What a mloop URI names: <scheme>://mloop.mloop/run/<run id> or …/experiment/<id> (the tracking endpoint's root page links here). */
export function parseMloopUri(path: string): { kind: 'run' | 'experiment'; id: string } | undefined {
  const m = /^\/(run|experiment)\/([0-9a-f]{32}|[0-9]+)\/?$/.exec(path);
  return m ? { kind: m[1] as 'run' | 'experiment', id: m[2]! } : undefined;
}

/** Opens the run the link MLflow printed ("View run … at http://127.0.0.1:…/#/…") names, through the root page's redirect. */
export function registerMloopUriHandler(): vscode.Disposable {
  return vscode.window.registerUriHandler(mloopUriHandler);
}

/** What VS Code calls with a <scheme>://mloop.mloop/… link (exported for the integration test: the web workbench cannot route one to itself). */
export const mloopUriHandler: vscode.UriHandler = {
  handleUri: async (uri) => {
    const target = parseMloopUri(uri.path);
    if (!target) return void vscode.window.showWarningMessage(`mloop: cannot open ${uri.toString(true)}: expected …/run/<run id> or …/experiment/<id>`);
    if (target.kind === 'run') await vscode.commands.executeCommand('mloop.runs.openMetrics', target.id);
    else await vscode.commands.executeCommand('mloop.runs.focus');
  },
};
