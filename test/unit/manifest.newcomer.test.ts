import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

const ROOT = resolve(__dirname, '../../..');
const manifest = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  activationEvents: string[];
  contributes: { commands: { command: string; title: string }[]; menus: { commandPalette: { command: string; when?: string }[] } };
};

/** A command is in the palette when it is contributed and no commandPalette entry hides it (`when: false`). */
const inPalette = (id: string): boolean =>
  manifest.contributes.commands.some((c) => c.command === id) && !manifest.contributes.menus.commandPalette.some((m) => m.command === id && m.when === 'false');

// issue 15: what a newcomer finds from the palette and the example
describe('manifest and example: the first hour with mloop', () => {
  it('"Train…" and "Train with Params…" are both in the palette (overriding a param needs no lens)', () => {
    assert.ok(inPalette('mloop.runs.train'));
    assert.ok(inPalette('mloop.runs.trainWithParams'));
  });

  it('the extension activates for a vscode://mloop.mloop/… link (the tracking endpoint\'s root page forwards MLflow\'s "View run" link)', () => {
    assert.ok(manifest.activationEvents.includes('onUri'));
  });

  it('the example has a "Simulate Production Traffic" task that runs simulate.py from the workspace folder', () => {
    const text = readFileSync(join(ROOT, 'examples', 'weather', '.vscode', 'tasks.json'), 'utf8');
    // tasks.json allows comments; strip whole-line ones before parsing
    const tasks = (JSON.parse(text.replace(/^\s*\/\/.*$/gm, '')) as { tasks: { label: string; command: string; args: string[] }[] }).tasks;
    const simulate = tasks.find((t) => t.label === 'Simulate Production Traffic');
    assert.ok(simulate, 'the task is listed under Tasks: Run Task');
    assert.equal(simulate.args[0], 'simulate.py');
  });
});
