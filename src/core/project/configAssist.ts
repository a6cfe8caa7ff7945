/**
 * Completion and hover for mloop.yaml from its JSON Schema, without a YAML language server.
 * Works on the text line by line (indentation gives the path), so it keeps working while the
 * file is half-typed and does not parse.
 */

export interface JsonSchemaNode {
  readonly type?: string | readonly string[];
  readonly description?: string;
  readonly properties?: Readonly<Record<string, JsonSchemaNode>>;
  readonly additionalProperties?: JsonSchemaNode | boolean;
  readonly items?: JsonSchemaNode;
  readonly enum?: readonly unknown[];
  readonly const?: unknown;
  readonly anyOf?: readonly JsonSchemaNode[];
  readonly oneOf?: readonly JsonSchemaNode[];
  readonly required?: readonly string[];
  readonly default?: unknown;
}

export interface Suggestion {
  readonly label: string;
  readonly kind: 'property' | 'value';
  readonly insertText: string;
  readonly documentation?: string;
  readonly required?: boolean;
}

const KEY_LINE = /^(\s*)(?:- +)?("[^"]*"|'[^']*'|[^\s#:"'][^:#]*?)\s*:(?:\s|$)/;

const unquote = (key: string): string => (/^["'].*["']$/.test(key) ? key.slice(1, -1) : key);
const indentOf = (line: string): number => line.length - line.trimStart().length;

/** The keys enclosing `line`, from the top: ['pipelines', 'train'] for a line inside the train pipeline. */
export function enclosingKeys(lines: readonly string[], line: number, indent: number): string[] {
  const path: string[] = [];
  let limit = indent;
  for (let i = line - 1; i >= 0 && limit > 0; i--) {
    const text = lines[i] ?? '';
    if (text.trim() === '' || text.trimStart().startsWith('#')) continue;
    const match = KEY_LINE.exec(text);
    const at = indentOf(text);
    if (match && at < limit) {
      path.unshift(unquote(match[2]!.trim()));
      limit = at;
    } else if (at < limit) {
      limit = at;
    }
  }
  return path;
}

/** Every alternative a union allows, flattened. */
function alternatives(node: JsonSchemaNode): JsonSchemaNode[] {
  const union = node.anyOf ?? node.oneOf;
  return union ? union.flatMap(alternatives) : [node];
}

/** The schema of the value at `path` (records use additionalProperties for any key). */
export function schemaAt(root: JsonSchemaNode, path: readonly string[]): JsonSchemaNode | undefined {
  let nodes: JsonSchemaNode[] = [root];
  for (const key of path) {
    const next: JsonSchemaNode[] = [];
    for (const node of nodes.flatMap(alternatives)) {
      const property = node.properties?.[key];
      if (property) next.push(property);
      else if (typeof node.additionalProperties === 'object' && Object.keys(node.additionalProperties).length > 0) next.push(node.additionalProperties);
      else if (node.items) next.push(...alternatives(node.items).flatMap((item) => (item.properties?.[key] ? [item.properties[key]] : [])));
    }
    if (next.length === 0) return undefined;
    nodes = next;
  }
  return nodes.length === 1 ? nodes[0] : { anyOf: nodes };
}

/** Sibling keys already written in the same mapping (not to be offered again). */
function siblingKeys(lines: readonly string[], line: number, indent: number): Set<string> {
  const keys = new Set<string>();
  const scan = (from: number, step: number): void => {
    for (let i = from; i >= 0 && i < lines.length; i += step) {
      const text = lines[i] ?? '';
      if (text.trim() === '' || text.trimStart().startsWith('#')) continue;
      const at = indentOf(text);
      if (at < indent) return;
      const match = KEY_LINE.exec(text);
      if (at === indent && match) keys.add(unquote(match[2]!.trim()));
    }
  };
  scan(line - 1, -1);
  scan(line + 1, 1);
  return keys;
}

/** What may be typed at (line, character): keys of the enclosing mapping, or values after `key: `. */
export function suggestionsAt(schema: JsonSchemaNode, text: string, line: number, character: number): Suggestion[] {
  const lines = text.split(/\r?\n/);
  const current = (lines[line] ?? '').slice(0, character);
  const valueMatch = /^(\s*)(?:- +)?([^\s#:][^:#]*?)\s*:\s+(\S*)$/.exec(current);
  if (valueMatch) {
    const indent = valueMatch[1]!.length;
    const path = [...enclosingKeys(lines, line, indent), unquote(valueMatch[2]!.trim())];
    const node = schemaAt(schema, path);
    if (!node) return [];
    const values = alternatives(node).flatMap((n) => [...(n.enum ?? []), ...(n.const !== undefined ? [n.const] : [])]);
    return values.map((v) => ({ label: String(v), kind: 'value', insertText: String(v), documentation: node.description }));
  }
  if (!/^\s*(?:- +)?[\w.-]*$/.test(current)) return [];
  const indent = indentOf(current);
  const path = enclosingKeys(lines, line, indent);
  const node = schemaAt(schema, path);
  if (!node) return [];
  const present = siblingKeys(lines, line, indent);
  const suggestions: Suggestion[] = [];
  for (const alt of alternatives(node)) {
    for (const [key, property] of Object.entries(alt.properties ?? {})) {
      if (present.has(key) || suggestions.some((s) => s.label === key)) continue;
      const isMapping = alternatives(property).some((p) => p.type === 'object' || p.properties !== undefined || typeof p.additionalProperties === 'object');
      const isList = alternatives(property).every((p) => p.type === 'array');
      suggestions.push({
        label: key,
        kind: 'property',
        insertText: isMapping ? `${key}:\n${' '.repeat(indent + 2)}` : isList ? `${key}: []` : `${key}: `,
        documentation: property.description,
        required: alt.required?.includes(key) ?? false,
      });
    }
  }
  return suggestions.sort((a, b) => Number(b.required) - Number(a.required) || a.label.localeCompare(b.label));
}

/** The description of the key under (line, character), with its path, for hover docs. */
export function hoverAt(
  schema: JsonSchemaNode,
  text: string,
  line: number,
  character: number,
): { path: string[]; description: string; start: number; end: number } | undefined {
  const lines = text.split(/\r?\n/);
  const lineText = lines[line] ?? '';
  const match = KEY_LINE.exec(lineText);
  if (!match) return undefined;
  const rawKey = match[2]!.trim();
  const start = lineText.indexOf(rawKey, match[1]!.length);
  const end = start + rawKey.length;
  if (character < start || character > end) return undefined;
  const path = [...enclosingKeys(lines, line, match[1]!.length), unquote(rawKey)];
  const node = schemaAt(schema, path);
  const description = node && (node.description ?? alternatives(node).find((n) => n.description)?.description);
  return description ? { path, description, start, end } : undefined;
}
