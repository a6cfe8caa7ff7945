import * as vscode from 'vscode';
import { pipelineLocations } from '../../core/project/pipelineLocations';
import type { ProjectConfig } from '../base/projectConfig';

/** "▶ Train" above each pipeline in mloop.yaml. */
export function registerTrainCodeLens(projectConfig: ProjectConfig): vscode.Disposable {
  const changed = new vscode.EventEmitter<void>();
  const subscription = projectConfig.onDidChange(() => changed.fire());
  const provider = vscode.languages.registerCodeLensProvider(
    { pattern: '**/mloop.yaml' },
    {
      onDidChangeCodeLenses: changed.event,
      provideCodeLenses: (document) => {
        if (!projectConfig.isConfigDocument(document)) return [];
        return pipelineLocations(document.getText()).flatMap((p) => {
          const range = new vscode.Range(p.line, p.character, p.line, p.character + p.name.length);
          return [
            new vscode.CodeLens(range, {
              title: '▶ Train',
              tooltip: `Run pipeline "${p.name}" with its default params`,
              command: 'mloop.runs.train',
              arguments: [p.name],
            }),
            new vscode.CodeLens(range, {
              title: 'Train with params…',
              tooltip: `Run pipeline "${p.name}" with other param values`,
              command: 'mloop.runs.trainWithParams',
              arguments: [p.name],
            }),
          ];
        });
      },
    },
  );
  return vscode.Disposable.from(provider, subscription, changed);
}
