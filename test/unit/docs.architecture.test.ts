import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';

const ROOT = resolve(__dirname, '../../..');
const PAGE = join(ROOT, 'docs', 'architecture.md');
const TOP = /^(src|webview|test|bench|docs|scripts|examples|media|schemas)(\/|$)/;
/** A bare file name in a table row is relative to the row's folder(s); elsewhere to the checkout root. */
const BARE_FILE = /^[\w.-]+\.(ts|mjs|md|json)$/;
/** The folders whose every child folder the map must name (the parts a newcomer navigates by). */
const MAPPED_PARENTS = ['src/core', 'src/vscode', 'webview'];

/** Every repository path the page names: backticked tokens, and the first word of each line of its layout block. */
function namedPaths(markdown: string): string[] {
  const paths = new Set<string>();
  let inBlock = false;
  for (const line of markdown.split('\n')) {
    if (line.startsWith('```')) {
      inBlock = !inBlock;
      continue;
    }
    if (inBlock) {
      const first = line.split(/\s+/)[0] ?? '';
      if (TOP.test(first) || BARE_FILE.test(first)) paths.add(first);
      continue;
    }
    const tokens = [...line.matchAll(/`([^`]+)`/g)].map((m) => m[1]!).filter((t) => !/[<>*${}@ ]/.test(t));
    const rowFolders = line.startsWith('|') ? tokens.filter((t) => TOP.test(t) && t.endsWith('/')) : [];
    for (const token of tokens) {
      if (TOP.test(token)) paths.add(token);
      else if (BARE_FILE.test(token)) {
        if (rowFolders.length === 0) paths.add(token);
        else {
          const found = rowFolders.map((folder) => `${folder}${token}`).find((p) => existsSync(join(ROOT, p)));
          paths.add(found ?? `${rowFolders[0]}${token}`);
        }
      }
    }
  }
  return [...paths].sort();
}

describe('docs: architecture.md is the map of the tree as it is', () => {
  const page = readFileSync(PAGE, 'utf8');

  it('names paths at all (the check below is not vacuous)', () => {
    assert.ok(namedPaths(page).length >= 60, `only ${namedPaths(page).length} paths found in docs/architecture.md`);
  });

  it('every folder and file it names exists', () => {
    const missing = namedPaths(page).filter((p) => !existsSync(join(ROOT, p)));
    assert.deepEqual(missing, [], `docs/architecture.md names paths that do not exist: ${missing.join(', ')}`);
  });

  it('every folder of src/core, src/vscode and webview is on the map', () => {
    const unnamed: string[] = [];
    for (const parent of MAPPED_PARENTS) {
      for (const child of readdirSync(join(ROOT, parent))) {
        if (!statSync(join(ROOT, parent, child)).isDirectory()) continue;
        if (!page.includes(`\`${parent}/${child}/\``)) unnamed.push(`${parent}/${child}/`);
      }
    }
    assert.deepEqual(unnamed, [], `folders missing from docs/architecture.md (add a row for each): ${unnamed.join(', ')}`);
  });
});
