import { z } from 'zod';
import { stageParamsSchema } from '../config/schema';
import { normalizeStagePath, stageParamsOf, type StageDefinition, type StagePath } from './stageGraph';

export const DVC_FILE = 'dvc.yaml';

/** An out, metric or plot of dvc.yaml: a path, or { path: options } (cache, persist… are DVC's to read). */
const dvcPathEntry = z.union([
  z.string().min(1),
  z.record(z.string().min(1), z.unknown()).refine((entry) => Object.keys(entry).length === 1, { error: 'an entry is a path or { <path>: options }' }),
]);

const dvcStageSchema = z
  .looseObject({
    cmd: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)], { error: 'cmd is a command or a list of commands run one after another' }).optional(),
    wdir: z.string().min(1).optional(),
    deps: z.array(z.string().min(1)).default([]),
    outs: z.array(dvcPathEntry).default([]),
    metrics: z.array(dvcPathEntry).default([]),
    plots: z.array(dvcPathEntry).default([]),
    params: stageParamsSchema,
  })
  .superRefine((stage, ctx) => {
    for (const key of ['foreach', 'matrix'] as const) {
      if (key in stage)
        ctx.addIssue({ code: 'custom', path: [key], message: `${key} stages are not read by mloop yet: write each stage out, or run them with dvc` });
    }
    if (!('foreach' in stage) && !('matrix' in stage) && stage.cmd === undefined) ctx.addIssue({ code: 'custom', message: 'a stage needs a cmd' });
  });

/** dvc.yaml: only `stages:` matters to mloop; vars, plots and artifacts at the top are DVC's. */
export const dvcFileSchema = z.looseObject({ stages: z.record(z.string().min(1), dvcStageSchema).default({}) });

export type DvcFile = z.output<typeof dvcFileSchema>;

/** The stages of dvc.yaml as mloop stages; DVC's list of commands runs as one shell line joined by &&. */
export function stagesFromDvc(dvc: DvcFile, file: string): StageDefinition[] {
  return Object.entries(dvc.stages).map(([name, stage]) => {
    const at = ['stages', name];
    const wdir = stage.wdir ? normalizeStagePath(stage.wdir, '') : '';
    const paths = (entries: readonly (string | Record<string, unknown>)[], key: string): StagePath[] =>
      entries.map((entry, i) => {
        const written = typeof entry === 'string' ? entry : Object.keys(entry)[0]!;
        // a { path: options } entry is located at its mapping, which starts with the path
        return { path: normalizeStagePath(written, wdir), written, at: [...at, key, i] };
      });
    const cmd = stage.cmd!;
    return {
      name,
      command: typeof cmd === 'string' ? cmd : cmd.join(' && '),
      wdir: wdir === '.' ? '' : wdir,
      deps: stage.deps.map((dep, i) => ({ path: normalizeStagePath(dep, wdir), written: dep, at: [...at, 'deps', i] })),
      outs: [...paths(stage.outs, 'outs'), ...paths(stage.metrics, 'metrics'), ...paths(stage.plots, 'plots')],
      params: stageParamsOf(stage.params, wdir, [...at, 'params']),
      env: {},
      experiment: undefined,
      file,
      at,
    };
  });
}
