import type { ParamValue } from '../config/schema';

/**
 * A name that tells runs apart at a glance: the pipeline, its ordinal, and only the params that differ from the
 * pipeline's defaults, e.g. "train #3 max_depth=4" ("train #1" for the defaults). Editable later (Rename Run).
 */
export function readableRunName(input: {
  pipelineName: string;
  ordinal: number;
  defaults: Readonly<Record<string, ParamValue>>;
  params: Readonly<Record<string, string>>;
}): string {
  const changed = Object.entries(input.params)
    .filter(([key, value]) => key in input.defaults && String(input.defaults[key]) !== value)
    .map(([key, value]) => `${key}=${value}`);
  return [`${input.pipelineName} #${input.ordinal}`, ...changed].join(' ');
}
