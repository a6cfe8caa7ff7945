import assert from 'node:assert/strict';
import { configJsonSchema } from '../../src/core/config/jsonSchema';
import { enclosingKeys, hoverAt, suggestionsAt, type JsonSchemaNode } from '../../src/core/project/configAssist';

const schema = configJsonSchema() as JsonSchemaNode;

describe('project: mloop.yaml completion and hover from the JSON schema', () => {
  const text = [
    'version: 1',
    'datasets:',
    '  weather:',
    '    path: data/w.csv',
    '    format: ',
    'pipelines:',
    '  train:',
    '    command: python train.py',
    '    ',
    '  eval:',
    '    params:',
    '      k: 1',
  ].join('\n');

  it('finds the enclosing keys from indentation, even in a half-typed file', () => {
    const lines = text.split('\n');
    assert.deepEqual(enclosingKeys(lines, 8, 4), ['pipelines', 'train']);
    assert.deepEqual(enclosingKeys(lines, 11, 6), ['pipelines', 'eval', 'params']);
    assert.deepEqual(enclosingKeys(lines, 5, 0), []);
  });

  it('offers the pipeline keys not yet written, with the schema descriptions as docs', () => {
    const labels = suggestionsAt(schema, text, 8, 4).map((s) => s.label);
    for (const key of ['params', 'inputs', 'outputs', 'model', 'env', 'experiment']) assert.ok(labels.includes(key), `missing ${key}`);
    assert.ok(!labels.includes('command'), 'command is already there');
    const params = suggestionsAt(schema, text, 8, 4).find((s) => s.label === 'params')!;
    assert.match(params.documentation ?? '', /param/i);
  });

  it('offers enum values after "key: " (dataset formats)', () => {
    assert.deepEqual(
      suggestionsAt(schema, text, 4, '    format: '.length)
        .map((s) => s.label)
        .sort(),
      ['csv', 'jsonl', 'parquet', 'tsv'],
    );
  });

  it('offers the top-level sections at column 0 without the ones present', () => {
    const labels = suggestionsAt(schema, `${text}\n`, 12, 0).map((s) => s.label);
    assert.ok(labels.includes('models') && labels.includes('targets'));
    assert.ok(!labels.includes('pipelines') && !labels.includes('version'));
  });

  it('hovers a key with its description; nothing on values or unknown keys', () => {
    const hover = hoverAt(schema, text, 7, 6);
    assert.deepEqual(hover?.path, ['pipelines', 'train', 'command']);
    assert.match(hover!.description, /shell/);
    assert.equal(hoverAt(schema, text, 7, 20), undefined);
    assert.equal(hoverAt(schema, 'nonsense: 1', 0, 2), undefined);
  });
});
