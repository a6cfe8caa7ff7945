import * as vscode from 'vscode';
import { configJsonSchema } from '../../core/config/jsonSchema';
import { hoverAt, suggestionsAt, type JsonSchemaNode } from '../../core/project/configAssist';

/**
 * Completion and hover docs for mloop.yaml from its JSON Schema. When Red Hat's YAML extension is
 * installed it reads the same schema through `yamlValidation`, so mloop stays out of its way.
 */
export function registerConfigAssist(): vscode.Disposable {
  if (vscode.extensions.getExtension('redhat.vscode-yaml')) return new vscode.Disposable(() => undefined);
  let schema: JsonSchemaNode | undefined;
  const getSchema = (): JsonSchemaNode => (schema ??= configJsonSchema() as JsonSchemaNode);
  const selector: vscode.DocumentSelector = { pattern: '**/mloop.yaml' };
  return vscode.Disposable.from(
    vscode.languages.registerCompletionItemProvider(
      selector,
      {
        provideCompletionItems: (document, position) =>
          suggestionsAt(getSchema(), document.getText(), position.line, position.character).map((s) => {
            const item = new vscode.CompletionItem(s.label, s.kind === 'property' ? vscode.CompletionItemKind.Property : vscode.CompletionItemKind.EnumMember);
            item.insertText = s.insertText;
            if (s.documentation) item.documentation = new vscode.MarkdownString(s.documentation);
            if (s.required) item.detail = 'required';
            return item;
          }),
      },
      ' ',
    ),
    vscode.languages.registerHoverProvider(selector, {
      provideHover: (document, position) => {
        const hover = hoverAt(getSchema(), document.getText(), position.line, position.character);
        if (!hover) return undefined;
        const md = new vscode.MarkdownString(`**${hover.path.join('.')}**\n\n${hover.description}`);
        return new vscode.Hover(md, new vscode.Range(position.line, hover.start, position.line, hover.end));
      },
    }),
  );
}
