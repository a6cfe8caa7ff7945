import { isMap, isScalar, LineCounter, parseDocument } from 'yaml';

/** Where a pipeline is declared in mloop.yaml (0-based line/character, for editor lenses and links). */
export interface PipelineLocation {
  readonly name: string;
  readonly line: number;
  readonly character: number;
}

/** The pipelines' key positions, read even from a file with errors elsewhere (lenses stay while typing). */
export function pipelineLocations(text: string): PipelineLocation[] {
  return sectionKeyLocations(text, 'pipelines');
}

/** The datasets' key positions in mloop.yaml (for hovers and lineage lenses). */
export function datasetLocations(text: string): PipelineLocation[] {
  return sectionKeyLocations(text, 'datasets');
}

function sectionKeyLocations(text: string, section: string): PipelineLocation[] {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, keepSourceTokens: true });
  const pipelines = isMap(doc.contents) ? doc.contents.get(section, true) : undefined;
  if (!isMap(pipelines)) return [];
  const locations: PipelineLocation[] = [];
  for (const pair of pipelines.items) {
    if (!isScalar(pair.key) || typeof pair.key.value !== 'string' || !pair.key.range) continue;
    const pos = lineCounter.linePos(pair.key.range[0]);
    locations.push({ name: pair.key.value, line: pos.line - 1, character: pos.col - 1 });
  }
  return locations;
}
