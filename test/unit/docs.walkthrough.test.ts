import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

const ROOT = resolve(__dirname, '../../..');

interface Step {
  id: string;
  title: string;
  description: string;
  media: { image?: string; altText?: string };
  completionEvents?: string[];
}
interface Manifest {
  publisher: string;
  name: string;
  contributes: {
    commands: { command: string }[];
    walkthroughs: { id: string; title: string; steps: Step[] }[];
    viewsWelcome: { view: string; contents: string; when?: string }[];
  };
}

const manifest = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as Manifest;
const commandIds = new Set(manifest.contributes.commands.map((c) => c.command));
/** `[label](command:id…)` links of a description or welcome text. */
const commandLinks = (text: string): string[] => [...text.matchAll(/\]\(command:([\w.]+)/g)].map((m) => m[1]!);

describe('docs: the "Get started with mloop" walkthrough and the welcome content', () => {
  const walkthrough = manifest.contributes.walkthroughs.find((w) => w.id === 'getStarted');

  it('walks the loop in order: open → train → metrics → promote → deploy → drift → retrain → lineage', () => {
    assert.ok(walkthrough, 'package.json has no walkthrough "getStarted"');
    assert.deepEqual(
      walkthrough.steps.map((s) => s.id),
      ['open', 'train', 'metrics', 'promote', 'deploy', 'drift', 'retrain', 'lineage'],
    );
  });

  it('every step links a contributed mloop command, completes on an event and shows an image that exists', () => {
    for (const step of walkthrough?.steps ?? []) {
      const links = commandLinks(step.description);
      assert.ok(links.length > 0, `step ${step.id} has no command link`);
      for (const id of links) assert.ok(commandIds.has(id), `step ${step.id} links ${id}, which package.json does not contribute`);
      assert.ok(
        (step.completionEvents ?? []).some((e) => /^on(Command|Context|View):/.test(e)),
        `step ${step.id} has no completion event`,
      );
      for (const event of step.completionEvents ?? []) {
        if (event.startsWith('onCommand:'))
          assert.ok(commandIds.has(event.slice('onCommand:'.length)), `step ${step.id} completes on ${event}, not a contributed command`);
      }
      assert.ok(step.media.image && existsSync(join(ROOT, step.media.image)), `step ${step.id}: image ${step.media.image} is missing`);
      assert.ok(step.media.altText, `step ${step.id} has no altText`);
    }
  });

  it('texts render as written: no backticks (neither a walkthrough nor a welcome view renders code spans)', () => {
    const texts = [...(walkthrough?.steps ?? []).map((s) => s.description), ...manifest.contributes.viewsWelcome.map((w) => w.contents)];
    for (const text of texts) assert.ok(!text.includes('`'), `literal backticks would show in: ${text}`);
  });

  it('the empty views point at the walkthrough by its full id, with and without a project', () => {
    const id = `${manifest.publisher}.${manifest.name}#getStarted`;
    const link = `command:workbench.action.openWalkthrough?${encodeURIComponent(JSON.stringify([id, false]))}`;
    for (const when of ['!mloop.hasConfig', 'mloop.hasConfig']) {
      const shown = manifest.contributes.viewsWelcome.filter((w) => w.when === when);
      assert.ok(
        shown.some((w) => w.contents.includes(link)),
        `no welcome view shown when ${when} links ${link}`,
      );
    }
    for (const welcome of manifest.contributes.viewsWelcome)
      for (const cmd of commandLinks(welcome.contents)) {
        assert.ok(commandIds.has(cmd) || cmd === 'workbench.action.openWalkthrough', `${welcome.view} welcome links ${cmd}, not a contributed command`);
      }
  });
});
