/** One `${params.name}` placeholder inside a command string; offsets index the string. */
export interface ParamReference {
  readonly name: string;
  readonly start: number;
  readonly end: number;
}

// `${ params.x }` with optional inner spaces; any other `${…}` (e.g. ${HOME}) is left to the shell.
const PARAM_REFERENCE = /\$\{\s*params\.([^}\s]*)\s*\}/g;

export function findParamReferences(text: string): ParamReference[] {
  return [...text.matchAll(PARAM_REFERENCE)].map((m) => ({ name: m[1]!, start: m.index, end: m.index + m[0].length }));
}
