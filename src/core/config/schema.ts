import { z } from 'zod';
import { parseGateRule } from '../registry/gateRules';
import { datasetRulesSchema } from '../datasets/rulesSchema';
import { monitoringSchema } from '../drift/monitoringSchema';

// The descriptions below become hover docs and completion details in the editor (via the JSON Schema).

/** A name used as a map key: datasets, pipelines, params, models, targets. */
const NAME_PATTERN = /^[A-Za-z_][A-Za-z0-9_.-]*$/;
const name = (what: string): z.ZodString =>
  z.string().regex(NAME_PATTERN, { error: `a ${what} name starts with a letter or _ and contains only letters, digits, _, . and -` });

const scalar = z.union([z.string(), z.number(), z.boolean()], { error: 'expected a string, a number or true/false' });

export const DATASET_FORMATS = ['csv', 'tsv', 'jsonl', 'parquet'] as const;

export const datasetSchema = z
  .looseObject({
    path: z
      .string()
      .min(1)
      .describe('A file, a glob or a directory, relative to mloop.yaml. mloop versions it by content and pins the exact version each run read.'),
    format: z
      .enum(DATASET_FORMATS)
      .optional()
      .describe('File format; detected from the extension when omitted (.csv, .tsv, .jsonl, .parquet).'),
    rules: datasetRulesSchema.optional(),
  })
  .describe('A dataset your pipelines read.');

export const modelOutputSchema = z
  .strictObject({
    name: name('model').describe('Registered model name; a finished run registers a new version of it.'),
    path: z.string().min(1).describe('Path of the trained artifact the run writes (relative to mloop.yaml), e.g. model.pkl.'),
  })
  .describe('The artifact this pipeline produces, registered as a model version when the run finishes.');

export const METRIC_GOALS = ['maximize', 'minimize'] as const;

export const primaryMetricSchema = z
  .union([
    z.string().min(1),
    z.strictObject({
      name: z.string().min(1).describe('Metric key as the run logs it, e.g. accuracy.'),
      goal: z.enum(METRIC_GOALS).optional().describe('Whether a higher (maximize, the default) or lower (minimize) value is better.'),
    }),
  ], { error: 'primary_metric is a metric key or { name, goal }' })
  .describe('The metric that summarises a run of this pipeline (shown in the Runs tree): a metric key, or { name, goal: maximize | minimize }.');

export const commandSchema = z
  .union([
    z.string().min(1, { error: 'the command is empty' }),
    z.array(z.string()).min(1, { error: 'the command needs at least the program to run' }),
  ], { error: 'command is a string (run in your shell) or a list of strings (the program and its arguments)' })
  .describe(
    'How to run the pipeline, from the folder of mloop.yaml. A string runs in your shell (trusted workspaces only); a list is the program and its arguments, run without a shell. ${params.x} is replaced by the value of param x (one shell word in a string command).',
  );

export const pipelineSchema = z
  .strictObject({
    command: commandSchema,
    params: z
      .record(name('param'), scalar.describe('Default value; override it per run.'))
      .default({})
      .describe('Parameters with their default values, substituted into the command as ${params.name} and recorded with every run.'),
    inputs: z
      .array(z.string().describe('A dataset name declared under datasets.'))
      .default([])
      .describe('Datasets this pipeline reads; each run pins the version it read.'),
    outputs: z
      .array(z.string().describe('A path relative to mloop.yaml.'))
      .default([])
      .describe('Files this pipeline writes.'),
    model: modelOutputSchema.optional(),
    env: z
      .record(z.string().min(1), scalar.describe('Value of the variable (numbers and booleans are passed as text).'))
      .default({})
      .describe('Extra environment variables for the run.'),
    experiment: z.string().min(1).optional().describe('Experiment the runs are grouped under (default: "Default").'),
    primary_metric: primaryMetricSchema.optional(),
  })
  .describe('A way to train: a command with params, the datasets it reads and what it produces.');

// Sections owned by other features: accepted with a minimal documented shape until those features validate them.
export const modelSectionSchema = z
  .looseObject({
    gate: z
      .array(
        z.union([z.string(), z.looseObject({})], { error: 'a gate rule is a text such as "accuracy >= 0.8" or a mapping' }).superRefine((rule, ctx) => {
          const parsed = parseGateRule(rule);
          if ('error' in parsed) ctx.addIssue({ code: 'custom', message: parsed.error });
        }),
      )
      .optional()
      .describe(
        'Release gate checked at registration and before promotion to champion: "accuracy >= 0.8", "accuracy >= champion - 0.02" (not worse than the champion by more than 0.02), "accuracy gap by season <= 0.15" (slice check).',
      ),
    evaluation: z
      .string()
      .min(1)
      .optional()
      .describe('Evaluation JSON the run writes (relative to mloop.yaml): {"metrics": {...}, "slices": {"<column>": {"<value>": {"accuracy": 0.8}}}}. Its metrics and slices feed the gate.'),
  })
  .describe('A registered model and its release gate.');

export const targetSchema = z.looseObject({}).describe('A deployment target: a command template, an optional health check and smoke test.');

export const configSchema = z
  .strictObject({
    version: z.literal(1, { error: 'version must be 1' }).describe('Version of the mloop.yaml format. Always 1.'),
    datasets: z.record(name('dataset'), datasetSchema).default({}).describe('Data your pipelines read, by name.'),
    pipelines: z.record(name('pipeline'), pipelineSchema).default({}).describe('How to train, by pipeline name.'),
    models: z.record(name('model'), modelSectionSchema).optional().describe('Registered models and their release gates, by model name.'),
    targets: z.record(name('target'), targetSchema).optional().describe('Where models are deployed, by target name.'),
    monitoring: monitoringSchema.optional(),
  })
  .describe('mloop.yaml: how this project\'s data becomes a model, and where the model goes.');

export type Config = z.output<typeof configSchema>;
export type Pipeline = z.output<typeof pipelineSchema>;
export type DatasetDeclaration = z.output<typeof datasetSchema>;
export type ParamValue = z.output<typeof scalar>;

/** The primary metric of a pipeline with its goal made explicit (maximize unless stated). */
export function primaryMetricOf(pipeline: Pipeline): { name: string; goal: (typeof METRIC_GOALS)[number] } | undefined {
  const metric = pipeline.primary_metric;
  if (metric === undefined) return undefined;
  return typeof metric === 'string' ? { name: metric, goal: 'maximize' } : { name: metric.name, goal: metric.goal ?? 'maximize' };
}
