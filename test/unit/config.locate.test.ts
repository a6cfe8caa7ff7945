import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { locateYamlKey } from '../../src/core/config/locate';

const ROOT = resolve(__dirname, '../../..');

describe('config: locating a rule in mloop.yaml', () => {
  const text = readFileSync(resolve(ROOT, 'examples/weather/mloop.yaml'), 'utf8');
  const lines = text.split('\n');
  const lineOf = (needle: RegExp): number => lines.findIndex((l) => needle.test(l)) + 1;

  it('points at the key of a rule inside a flow map, at 1-based line:column', () => {
    const span = locateYamlKey(text, ['datasets', 'weather', 'rules', 'columns', 'wind', 'min']);
    const line = lineOf(/^\s+wind: \{ type: number, min: 0 \}/);
    assert.deepEqual(span, { line, column: lines[line - 1]!.indexOf('min:') + 1, endLine: line, endColumn: lines[line - 1]!.indexOf('min:') + 4 });
  });

  it('points at block-map keys (rows.min, schema)', () => {
    const rows = locateYamlKey(text, ['datasets', 'weather', 'rules', 'rows', 'min']);
    assert.equal(rows?.line, lineOf(/^\s+rows: \{ min: 1000 \}/));
    const schema = locateYamlKey(text, ['datasets', 'weather', 'rules', 'schema']);
    assert.equal(schema?.line, lineOf(/^\s+schema: match_previous/));
    assert.equal(schema?.column, lines[schema.line - 1]!.indexOf('schema') + 1);
  });

  it('falls back to the deepest key that exists, and to undefined when none does', () => {
    const span = locateYamlKey(text, ['datasets', 'weather', 'rules', 'columns', 'humidity', 'max']);
    assert.equal(span?.line, lineOf(/^\s+columns:$/));
    assert.equal(locateYamlKey(text, ['nothing', 'here']), undefined);
    assert.equal(locateYamlKey('version: [1', ['version'])?.line, 1, 'a broken document still locates what it can');
  });
});
