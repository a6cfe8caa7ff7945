import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

const ROOT = resolve(__dirname, '../../..');
export const DATA = join(ROOT, 'node_modules', 'vega-datasets', 'data');
export const WEATHER = join(DATA, 'seattle-weather.csv');
export const FLIGHTS = join(DATA, 'flights-3m.parquet');
export const PYTHON_REFERENCE = join(ROOT, 'test', 'datasets', 'profile_reference.py');

/** penguins.json (a JSON array) rewritten as JSONL, the format the readers take. */
export function penguinsJsonl(dir: string): string {
  const rows = JSON.parse(readFileSync(join(DATA, 'penguins.json'), 'utf8')) as unknown[];
  const file = join(dir, 'penguins.jsonl');
  writeFileSync(file, rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
  return file;
}
