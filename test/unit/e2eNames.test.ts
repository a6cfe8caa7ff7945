import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

// e2e steps and their screenshots are named by the journey they prove (`train-pick-pipeline`), not by a
// position (`06a`): a step can move or be added without renaming every other one, and the docs that
// cite a screenshot keep pointing at the same picture.

const E2E = resolve(__dirname, '../../../test/e2e');

function sources(): { file: string; text: string }[] {
  return readdirSync(E2E)
    .filter((f) => f.endsWith('.e2e.ts'))
    .map((file) => ({ file, text: readFileSync(join(E2E, file), 'utf8') }));
}

describe('e2e steps are named by their journey', () => {
  it('no test title and no screenshot name starts with a step number', () => {
    const numbered: string[] = [];
    for (const { file, text } of sources()) {
      for (const m of text.matchAll(/\b(?:test|screenshot)\(\s*'([^']*)'/g)) if (/^\d/.test(m[1]!)) numbered.push(`${file}: ${m[1]}`);
    }
    assert.ok(sources().length >= 8, 'the e2e suites were found');
    assert.deepEqual(numbered, []);
  });

  it("every screenshot name is used once, so no step overwrites another's evidence", () => {
    const names = sources().flatMap(({ text }) => [...text.matchAll(/\bscreenshot\(\s*'([^']*)'/g)].map((m) => m[1]!));
    assert.ok(names.length >= 20, `${names.length} screenshots found`);
    assert.deepEqual(
      names.filter((n, i) => names.indexOf(n) !== i),
      [],
    );
  });
});
