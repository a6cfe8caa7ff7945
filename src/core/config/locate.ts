import { isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, type Node, type Pair } from 'yaml';
import type { PathSegment } from './loadConfig';

/** A 1-based line:column span in a text file, end exclusive. */
export interface TextSpan {
  readonly line: number;
  readonly column: number;
  readonly endLine: number;
  readonly endColumn: number;
}

/**
 * Where `path` is written in a YAML text: the key of its deepest existing map entry (so a rule
 * points at `min:` under its column), or undefined when not even the first key exists.
 */
export function locateYamlKey(text: string, path: readonly PathSegment[]): TextSpan | undefined {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, uniqueKeys: false });
  let node: unknown = doc.contents;
  let range: readonly [number, number] | undefined;
  for (const segment of path) {
    if (!isMap(node)) break;
    const pair = (node.items as Pair[]).find((p) => isPair(p) && isScalar(p.key) && String(p.key.value) === String(segment));
    if (!pair) break;
    const key = pair.key as Node | null;
    if (key?.range) range = [key.range[0], key.range[1]];
    node = pair.value;
  }
  if (!range) return undefined;
  const start = lineCounter.linePos(range[0]);
  const end = lineCounter.linePos(range[1]);
  return { line: start.line, column: start.col, endLine: end.line, endColumn: end.col };
}

/**
 * Where the value at `path` is written (list items by index), for problems found after loading: the deepest
 * node that exists, so a message still lands near its cause.
 */
export function locateYamlPath(text: string, path: readonly PathSegment[]): TextSpan {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, uniqueKeys: false });
  let node: unknown = doc.contents;
  let range = (node as Node | null)?.range ?? [0, 0];
  for (const segment of path) {
    let child: unknown;
    if (isMap(node)) {
      const pair = (node.items as Pair[]).find((p) => isPair(p) && isScalar(p.key) && String(p.key.value) === String(segment));
      child = pair ? (pair.value ?? pair.key) : undefined;
    } else if (isSeq(node) && typeof segment === 'number') child = node.items[segment];
    const childRange = (child as Node | null | undefined)?.range;
    if (!childRange) break;
    node = child;
    range = childRange;
  }
  const start = lineCounter.linePos(range[0]);
  const end = lineCounter.linePos(Math.max(range[0], range[1]));
  return { line: start.line, column: start.col, endLine: end.line, endColumn: end.col };
}
