import * as vscode from 'vscode';

/** The walkthrough as the workbench names it: `<publisher>.<name>#<id>` of package.json `contributes.walkthroughs`. */
export const WALKTHROUGH_ID = 'mloop.mloop#getStarted';
/** Set by `npm run demo` (scripts/demo.sh) for the editor it starts. */
const DEMO_ENV = 'MLOOP_OPEN_WALKTHROUGH';
const OPENED_KEY = 'mloop.walkthroughOpened';

/**
 * Opens "Get started with mloop" the first time the demo's workspace starts, so a newcomer sees what to do
 * first; only when the demo asks, so users and test workbenches never get an editor they did not open.
 */
export function openWalkthroughOnDemoStart(context: vscode.ExtensionContext): void {
  if (process.env[DEMO_ENV] !== '1' || context.workspaceState.get<boolean>(OPENED_KEY)) return;
  void context.workspaceState.update(OPENED_KEY, true);
  void vscode.commands.executeCommand('workbench.action.openWalkthrough', WALKTHROUGH_ID, false);
}
