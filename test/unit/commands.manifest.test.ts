import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { COMMAND_VISIBILITY, type CommandId } from '../../src/vscode/base/commandArgs';

const root = resolve(__dirname, '..', '..', '..'); // out/test/unit → the checkout
const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
  contributes: { commands: { command: string }[]; menus: Record<string, { command?: string }[]> };
};
const typedIds = Object.keys(COMMAND_VISIBILITY) as CommandId[];
const AREAS = ['project', 'backend', 'runs', 'datasets', 'models', 'deployments', 'monitoring', 'lineage', 'audit'];

/** Every `registerCommand('<id>'` in src/vscode, read from the source (the editor layer cannot load outside VS Code). */
function registeredInSource(): string[] {
  const ids: string[] = [];
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith('.ts')) for (const m of readFileSync(path, 'utf8').matchAll(/registerCommand\(\s*'([^']+)'/g)) ids.push(m[1]!);
    }
  };
  walk(join(root, 'src', 'vscode'));
  return ids.sort();
}

describe('commands: the typed command map, package.json and the registrations agree', () => {
  it('every id is mloop.<area>.<verb>', () => {
    const pattern = new RegExp(`^mloop\\.(${AREAS.join('|')})\\.[a-z][A-Za-z]*$`);
    assert.deepEqual(
      typedIds.filter((id) => !pattern.test(id)),
      [],
    );
  });

  it('the contributed commands are exactly the map entries marked contributed', () => {
    const contributed = manifest.contributes.commands.map((c) => c.command).sort();
    const typed = typedIds.filter((id) => COMMAND_VISIBILITY[id] === 'contributed').sort();
    assert.deepEqual(contributed, typed);
  });

  it('every command a menu names is in the map', () => {
    const inMenus = Object.values(manifest.contributes.menus).flatMap((items) => items.flatMap((i) => (i.command ? [i.command] : [])));
    assert.deepEqual([...new Set(inMenus.filter((id) => !typedIds.includes(id as CommandId)))], []);
  });

  it('src/vscode registers every map id once and nothing outside the map', () => {
    const registered = registeredInSource();
    assert.deepEqual(
      registered.filter((id, i) => registered.indexOf(id) !== i),
      [],
      'registered twice',
    );
    assert.deepEqual(registered, [...typedIds].sort());
  });
});

/** Each `showQuickPick(`/`showInputBox(` call in src/vscode, as file:line and the text of its arguments. */
function promptsInSource(): { where: string; call: string }[] {
  const found: { where: string; call: string }[] = [];
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith('.ts')) {
        const text = readFileSync(path, 'utf8');
        for (const m of text.matchAll(/\b(showQuickPick|showInputBox)\(/g)) {
          let depth = 1;
          let end = m.index + m[0].length;
          for (; depth > 0 && end < text.length; end++) {
            if (text[end] === '(') depth++;
            else if (text[end] === ')') depth--;
          }
          found.push({ where: `${path.slice(root.length + 1)}:${text.slice(0, m.index).split('\n').length}`, call: text.slice(m.index, end) });
        }
      }
    }
  };
  walk(join(root, 'src', 'vscode'));
  return found;
}

describe('prompts: a pick or an input box stays open when the focus moves', () => {
  it('every showQuickPick and showInputBox in src/vscode passes ignoreFocusOut (a walkthrough step or a webview taking the focus closed them)', () => {
    const prompts = promptsInSource();
    assert.ok(prompts.length >= 30, `found only ${prompts.length} prompts: the scan is broken`);
    assert.deepEqual(
      prompts.filter((p) => !/ignoreFocusOut:\s*true/.test(p.call)).map((p) => p.where),
      [],
    );
  });
});
