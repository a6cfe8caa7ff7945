import * as vscode from 'vscode';
import type { CommandArgs, CommandId, CommandResults, WorkbenchCommandArgs } from './commandArgs';

type ResultOf<K> = K extends keyof CommandResults ? CommandResults[K] : unknown;
type Runnable = CommandArgs & WorkbenchCommandArgs;

/** Registers an mloop command; the handler's parameters are checked against its entry in CommandArgs. */
export function registerCommand<K extends CommandId>(id: K, handler: (...args: CommandArgs[K]) => unknown): vscode.Disposable {
  return vscode.commands.registerCommand(id, handler as (...args: unknown[]) => unknown);
}

/** Runs an mloop or workbench command with arguments of the type its id takes. */
export function executeCommand<K extends keyof Runnable>(id: K, ...args: Runnable[K]): Thenable<ResultOf<K>> {
  return vscode.commands.executeCommand<ResultOf<K>>(id, ...args);
}
