import { z } from 'zod';
import { parseGateRule } from '../registry/gateRules';
import { datasetRulesSchema } from '../datasets/rulesSchema';
import { monitoringSchema } from '../drift/monitoringSchema';
import { serviceMonitorSchema } from '../monitoring/configSchema';

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
    format: z.enum(DATASET_FORMATS).optional().describe('File format; detected from the extension when omitted (.csv, .tsv, .jsonl, .parquet).'),
    rules: datasetRulesSchema.optional(),
    cache: z
      .boolean({ error: 'cache is true or false' })
      .optional()
      .describe(
        'Keep the bytes of every version in the content store (.mloop/cache/) so any version can be restored (default true). false for huge data kept elsewhere: versions are still recorded by digest, and restore says the bytes are not cached.',
      ),
  })
  .describe('A dataset your pipelines read.');

/** When a finished run registers its model: see the description of `register` below. */
export const REGISTER_POLICIES = ['always', 'if_better', 'manual'] as const;
export type RegisterPolicy = (typeof REGISTER_POLICIES)[number];

export const modelOutputSchema = z
  .strictObject({
    name: name('model').describe('Registered model name; a finished run registers a new version of it.'),
    path: z.string().min(1).describe('Path of the trained artifact the run writes (relative to mloop.yaml), e.g. model.pkl.'),
    register: z
      .enum(REGISTER_POLICIES, { error: `register is one of ${REGISTER_POLICIES.join(', ')}` })
      .default('if_better')
      .describe(
        'When a finished run registers a version: if_better (default) registers the first version and then only a run whose primary_metric beats every registered version (without a primary_metric: every run), so the registry holds improvements, not every experiment; always registers every finished run; manual never does (Register Model from Run… on the run, one click). A retrain always registers its candidate.',
      ),
  })
  .describe('The artifact this pipeline produces, registered as a model version when the run finishes.');

export const METRIC_GOALS = ['maximize', 'minimize'] as const;

export const primaryMetricSchema = z
  .union(
    [
      z.string().min(1),
      z.strictObject({
        name: z.string().min(1).describe('Metric key as the run logs it, e.g. accuracy.'),
        goal: z.enum(METRIC_GOALS).optional().describe('Whether a higher (maximize, the default) or lower (minimize) value is better.'),
      }),
    ],
    { error: 'primary_metric is a metric key or { name, goal }' },
  )
  .describe('The metric that summarises a run of this pipeline (shown in the Runs tree): a metric key, or { name, goal: maximize | minimize }.');

export const commandSchema = z
  .union([z.string().min(1, { error: 'the command is empty' }), z.array(z.string()).min(1, { error: 'the command needs at least the program to run' })], {
    error: 'command is a string (run in your shell) or a list of strings (the program and its arguments)',
  })
  .describe(
    'How to run the pipeline, from the folder of mloop.yaml. A string runs in your shell (trusted workspaces only); a list is the program and its arguments, run without a shell. ${params.x} is replaced by the value of param x (one shell word in a string command).',
  );

/** The most trials one sweep may queue unless a pipeline's sweep says otherwise. */
export const DEFAULT_MAX_TRIALS = 100;

const sweepValues = z.array(scalar).min(1, { error: 'give at least one value' });

export const sweepSchema = z
  .strictObject({
    grid: z
      .record(name('param'), sweepValues)
      .optional()
      .describe('Every combination of these values of the pipeline params, e.g. { n_estimators: [100, 200], max_depth: [4, 8] } (4 trials).'),
    random: z
      .strictObject({
        trials: z.number().int().min(1).describe('How many trials to draw.'),
        seed: z.number().int().default(0).describe('Seed of the draw: the same seed draws the same trials (default 0).'),
        params: z
          .record(
            name('param'),
            z.union(
              [
                sweepValues,
                z.strictObject({
                  min: z.number(),
                  max: z.number(),
                  log: z.boolean().default(false).describe('Draw uniformly on a log scale (min > 0).'),
                  integer: z.boolean().default(false).describe('Round to an integer.'),
                }),
              ],
              { error: 'a random param is a list of values or { min, max, log?, integer? }' },
            ),
          )
          .describe('Per param: a list to pick from, or a range { min, max } (log: true for a log scale).'),
      })
      .optional()
      .describe('Trials drawn at random with a seed.'),
    list: z
      .array(z.record(name('param'), scalar))
      .min(1)
      .optional()
      .describe('Explicit trials: each a mapping of param overrides.'),
    max_parallel: z.number().int().min(1).default(1).describe('Trials running at once (default 1).'),
    max_trials: z
      .number()
      .int()
      .min(1)
      .default(DEFAULT_MAX_TRIALS)
      .describe(`A sweep with more trials than this is refused, with the count (default ${DEFAULT_MAX_TRIALS}).`),
  })
  .refine((s) => [s.grid, s.random, s.list].filter((x) => x !== undefined).length <= 1, { error: 'a sweep has one of grid, random or list' })
  .describe('Trials of this pipeline with other params (mloop sweep): a grid, a seeded random draw or an explicit list, queued in the store.');

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
    outputs: z.array(z.string().describe('A path relative to mloop.yaml.')).default([]).describe('Files this pipeline writes.'),
    model: modelOutputSchema.optional(),
    env: z
      .record(z.string().min(1), scalar.describe('Value of the variable (numbers and booleans are passed as text).'))
      .default({})
      .describe('Extra environment variables for the run.'),
    experiment: z.string().min(1).optional().describe('Experiment the runs are grouped under (default: "Default").'),
    primary_metric: primaryMetricSchema.optional(),
    sweep: sweepSchema.optional(),
  })
  .describe('A way to train: a command with params, the datasets it reads and what it produces.');

export const approvalsSchema = z
  .strictObject({
    required: z.number().int().min(1).max(20).default(1).describe('How many approvals, from people other than the requester, the change needs (default 1).'),
    reviewers: z
      .array(z.string().trim().min(1, { error: 'a reviewer is an email, a name or "Name <email>" (git user.name / user.email)' }))
      .default([])
      .describe('Who may approve: emails, names or "Name <email>" as git config user.name/user.email give them. Empty: anyone but the requester.'),
    expires_after: z
      .string()
      .regex(/^[1-9][0-9]*[mhdw]$/, { error: 'expires_after is a duration such as 30m, 12h, 7d or 2w' })
      .default('7d')
      .describe('How long a request stays open (m minutes, h hours, d days, w weeks; default 7d).'),
  })
  .describe('An approval policy: promoting to champion (or deploying to a protected target) creates a request that others approve.');
/** A stage's params: keys of params.yaml (dots for nesting), or { <file>: [keys] } for another YAML/JSON file, as in dvc.yaml. */
export const stageParamsSchema = z
  .array(
    z.union([z.string().min(1), z.record(z.string().min(1), z.array(z.string().min(1)).nullable())], {
      error: 'a stage param is a key of params.yaml (e.g. train.lr) or { <file>: [keys] }',
    }),
  )
  .default([])
  .describe('Params the stage reads: keys of params.yaml (dots for nesting, e.g. train.lr), or { other.yaml: [keys] }. A changed value reruns the stage.');

export const stageSchema = z
  .strictObject({
    command: commandSchema.optional(),
    cmd: commandSchema.optional().describe('The same as command (the dvc.yaml spelling).'),
    deps: z
      .array(z.string().min(1))
      .default([])
      .describe("What the stage reads: files, folders, other stages' outs, or a dataset by name. A changed digest reruns the stage."),
    outs: z
      .array(z.string().min(1))
      .default([])
      .describe(
        'Files or folders the stage writes (relative to mloop.yaml). A missing or changed out reruns the stage; a stage that consumes it runs after it.',
      ),
    params: stageParamsSchema,
    env: z
      .record(z.string().min(1), scalar.describe('Value of the variable (numbers and booleans are passed as text).'))
      .default({})
      .describe('Extra environment variables for the stage.'),
    experiment: z.string().min(1).optional().describe('Experiment the stage runs are grouped under (default: "Default").'),
  })
  .refine((s) => (s.command === undefined) !== (s.cmd === undefined), { error: 'a stage has a command (or cmd, as in dvc.yaml): exactly one of them' })
  .describe('A step of the project pipeline (mloop repro): a command, what it reads (deps, params) and what it writes (outs).');

const testInput = z
  .record(z.string(), scalar.nullable())
  .refine((row) => Object.keys(row).length > 0, { error: 'an input row names at least one column' })
  .describe('One input row, as a client sends it: column -> value.');

const testName = z.string().min(1).optional().describe('Shown in the report (default: the kind and position).');

export const predictionTestsSchema = z
  .strictObject({
    golden: z
      .array(
        z.strictObject({
          name: testName,
          input: testInput,
          expect: scalar.describe('The expected prediction: a class, or a number (with tolerance).'),
          tolerance: z.number().min(0).optional().describe('A number prediction may differ from expect by this much (default 0).'),
        }),
      )
      .optional()
      .describe('Rows with their expected prediction.'),
    invariance: z
      .array(
        z.strictObject({
          name: testName,
          input: testInput,
          change: testInput.describe('Columns changed in the input: the prediction must stay the same.'),
          tolerance: z.number().min(0).optional().describe('A number prediction may move by this much (default 0).'),
        }),
      )
      .optional()
      .describe('Perturbations that must not change the prediction.'),
    directional: z
      .array(
        z.strictObject({
          name: testName,
          input: testInput,
          change: testInput.describe('Columns changed in the input.'),
          expect: z.enum(['increase', 'decrease']).describe('Which way the number prediction (or the probability of class) must move.'),
          class: scalar.optional().describe("A classifier: the class whose probability must move (needs the model's predict_proba)."),
        }),
      )
      .optional()
      .describe('Changes that must move a number prediction, or a class probability, one way.'),
  })
  .describe(
    'Prediction tests: run in the release gate against the registered artifact and in the deploy smoke test against the running service; a failed case fails the gate.',
  );

// Sections owned by other features: accepted with a minimal documented shape until those features validate them.
export const modelSectionSchema = z
  .looseObject({
    approvals: approvalsSchema.optional(),
    gate: z
      .array(
        z.union([z.string(), z.looseObject({})], { error: 'a gate rule is a text such as "accuracy >= 0.8" or a mapping' }).superRefine((rule, ctx) => {
          const parsed = parseGateRule(rule);
          if ('error' in parsed) ctx.addIssue({ code: 'custom', message: parsed.error });
        }),
      )
      .optional()
      .describe(
        'Release gate checked at registration and before promotion to champion: "accuracy >= 0.8", "accuracy >= champion - 0.02" (not worse than the champion by more than 0.02), "accuracy gap by season <= 0.15" (slice check), "true_positive_rate by sex >= 0.7" (every group), "lower(true_positive_rate) by sex >= 0.7" (every group\'s 95% interval; needs each group\'s n and positives), "upper(accuracy gap) by sex <= 0.15", "demographic_parity_difference by sex <= 0.1" (between the groups).',
      ),
    tests: predictionTestsSchema.optional(),
    evaluation: z
      .string()
      .min(1)
      .optional()
      .describe(
        'Evaluation JSON the run writes (relative to mloop.yaml): {"metrics": {...}, "slices": {"<column>": {"<value>": {"accuracy": 0.8}}}}. Its metrics and slices feed the gate.',
      ),
    label: z.string().min(1).optional().describe('The column of a dataset holding the truth, for `mloop evaluate` (default: guessed from the model).'),
    prepare: z
      .string()
      .regex(/^[A-Za-z_][\w.]*:[A-Za-z_]\w*$/, { error: 'write module:function, e.g. features:add_month' })
      .optional()
      .describe(
        "module:function of the project (imported from the folder of mloop.yaml) that turns a dataset frame into the model's inputs (derived columns such as month from date), applied by `mloop evaluate` and `mloop explain` before predicting.",
      ),
  })
  .describe('A registered model and its release gate.');

export const DEPLOY_STRATEGIES = ['direct', 'canary', 'blue_green', 'shadow', 'rolling'] as const;

/** Variables a target's templates may use as ${name}; any other ${…} is left alone (for the shell). */
export const TARGET_VARIABLES = [
  'model.name',
  'model.version',
  'model.uri',
  'model.path',
  'target',
  'traffic',
  'port',
  'url',
  'candidate.url',
  'stable.url',
  'project',
] as const;

const templateText = (what: string): z.ZodString =>
  z
    .string()
    .min(1, { error: `${what} is empty` })
    .superRefine((text, ctx) => {
      for (const m of text.matchAll(/\$\{\s*((?:model|candidate|stable)\.[^}\s]*)\s*\}/g)) {
        if (!(TARGET_VARIABLES as readonly string[]).includes(m[1]!))
          ctx.addIssue({ code: 'custom', message: `unknown variable \${${m[1]}} (known: ${TARGET_VARIABLES.map((v) => `\${${v}}`).join(', ')})` });
      }
    });

const targetCommandSchema = z
  .union([templateText('the command'), z.array(templateText('an argument')).min(1, { error: 'the command needs at least the program to run' })], {
    error: 'command is a string (run in your shell) or a list of strings (the program and its arguments)',
  })
  .describe(
    'Command template run from the folder of mloop.yaml. Variables: ${model.name} ${model.version} ${model.uri} ${model.path} (local artifact) ${target} ${traffic} (percent) ${port} ${url} ${candidate.url} ${stable.url} ${project}. A list runs without a shell; a string runs in your shell (trusted workspaces only).',
  );

export const healthCheckSchema = z
  .strictObject({
    url: templateText('url').optional().describe('HTTP URL checked with GET, e.g. ${url}/health.'),
    status: z.number().int().min(100).max(599).default(200).describe('Expected HTTP status (default 200).'),
    json_field: z.string().min(1).optional().describe('A field of the JSON answer that must be present (dots for nesting), e.g. status.'),
    json_equals: scalar.optional().describe('The value json_field must have, e.g. ok.'),
    command: targetCommandSchema.optional().describe('A command that exits 0 when the service is healthy (instead of url).'),
    timeout_seconds: z.number().positive().default(30).describe('How long a started version may take to become healthy (default 30).'),
    interval_ms: z.number().int().min(10).default(250).describe('Pause between checks while waiting or baking (default 250).'),
  })
  .refine((h) => (h.url === undefined) !== (h.command === undefined), { error: 'a health check has either url or command' })
  .describe('How mloop knows a version is healthy: an HTTP URL (expected status, optional JSON field) or a command.');

export const smokeTestSchema = z
  .strictObject({
    dataset: z.string().min(1).describe('A dataset declared under datasets: its first rows are sent.'),
    rows: z.number().int().min(1).max(10_000).default(10).describe('How many rows to send (default 10).'),
    url: templateText('url')
      .default('${url}/predict')
      .describe('Where to POST {"rows": [...]}; the answer must be {"predictions": [...]} with one non-null value per row.'),
  })
  .describe('A smoke test: send rows of a dataset, expect one valid prediction per row.');

export const canaryAnalysisSchema = z
  .strictObject({
    max_error_rate_increase: z
      .number()
      .min(0)
      .max(1)
      .optional()
      .describe('Largest allowed rise of the share of 5xx answers, canary minus stable over the bake window (0.01 = one point).'),
    max_p95_ratio: z
      .number()
      .min(1)
      .optional()
      .describe("Largest allowed canary p95 latency over the stable version's (1.5 = 50 % slower); latencies under 1 ms count as 1 ms."),
    max_prediction_drift: z
      .number()
      .positive()
      .optional()
      .describe(
        "Largest allowed population stability index between the arms' predictions (classes as categories, numbers in 10 bins at the stable quantiles); 0.1 moderate, 0.25 large.",
      ),
    min_requests: z
      .number()
      .int()
      .min(0)
      .default(20)
      .describe('Requests each arm must answer within a bake window for a verdict; fewer fails the step (default 20, 0 accepts an idle canary).'),
  })
  .refine((a) => a.max_error_rate_increase !== undefined || a.max_p95_ratio !== undefined || a.max_prediction_drift !== undefined, {
    error: 'analysis needs at least one of max_error_rate_increase, max_p95_ratio, max_prediction_drift',
  })
  .describe(
    "Canary analysis: after each step's bake, the canary and the stable version are compared on the serving log (the gateway's, or monitor.serving_log for a target whose route: command or cluster splits the traffic); a failed comparison rolls the canary back.",
  );

export const targetSchema = z
  .strictObject({
    command: targetCommandSchema,
    serve: z
      .boolean()
      .default(true)
      .describe(
        'true (default): the command is the long-running service, which mloop starts, keeps and stops. false: the command deploys elsewhere and exits (run again at every traffic step).',
      ),
    port: z
      .number()
      .int()
      .min(1)
      .max(65535)
      .optional()
      .describe('The port the service answers on (serve: true). Omitted: a free port is picked for each deployment.'),
    route: targetCommandSchema
      .optional()
      .describe('Run at every traffic step of a canary or shadow deployment to split traffic (${traffic}, ${candidate.url}, ${stable.url}).'),
    health: healthCheckSchema.optional(),
    smoke: smokeTestSchema.optional(),
    strategy: z
      .enum(DEPLOY_STRATEGIES)
      .default('direct')
      .describe('direct | canary | blue_green | shadow | rolling (default direct; rolling replaces the replicas max_unavailable at a time, gateway: true).'),
    replicas: z
      .number()
      .int()
      .min(1)
      .max(32)
      .default(1)
      .describe(
        'How many processes serve each deployed version behind the gateway (default 1; more than 1 needs gateway: true). The gateway balances across the healthy ones.',
      ),
    max_unavailable: z
      .number()
      .int()
      .min(1)
      .default(1)
      .describe(
        'Rolling updates: how many replicas are replaced at a time (default 1); the new ones start and pass their checks before as many old ones leave the rotation.',
      ),
    steps: z
      .array(z.number().int().min(1).max(100))
      .min(1)
      .default([10, 50, 100])
      .refine((s) => s.every((v, i) => i === 0 || v > s[i - 1]!), { error: 'canary steps go up, e.g. [10, 50, 100]' })
      .describe('Canary traffic percentages, in order (default [10, 50, 100]).'),
    bake_seconds: z.number().min(0).default(5).describe('How long each canary step runs, health checked, before the next (default 5).'),
    analysis: canaryAnalysisSchema.optional(),
    timeout_seconds: z.number().positive().default(120).describe('Longest a deploy command (serve: false) may run (default 120).'),
    default: z.boolean().optional().describe('The target the status bar shows (default: the first).'),
    protected: z
      .boolean()
      .default(false)
      .describe(
        'true: only the version holding the @champion alias may be deployed here, and a deployment needs approval (the approvals of this target, else of the model, else one approval).',
      ),
    approvals: approvalsSchema.optional(),
    shadow_log: z
      .string()
      .min(1)
      .optional()
      .describe(
        'Shadow strategy: the JSON-lines file (relative to mloop.yaml) where the serving version logs each mirrored row with ts, shadow_version, prediction and shadow_prediction (or shadow_error); mloop reports the disagreement rate from it.',
      ),
    monitor: serviceMonitorSchema.optional(),
    gateway: z
      .boolean()
      .default(false)
      .describe(
        "true: mloop runs a traffic gateway on the target's port and the versions on private ports behind it; a switch, a rollback and canary steps are routing changes with no failed request (needs serve: true and port).",
      ),
    explain: z
      .union([
        z.boolean(),
        z.strictObject({
          timeout_seconds: z
            .number()
            .positive()
            .max(3600)
            .default(30)
            .describe(
              'Longest one row may take in a loaded explainer (default 30): later, 504 and that explainer is restarted. Loading the version (first request) has 120 s of its own.',
            ),
          max_pending: z
            .number()
            .int()
            .min(1)
            .max(1024)
            .default(16)
            .describe("Requests one version's explainer holds, the one being explained included (default 16); more: 503."),
        }),
      ])
      .default(false)
      .describe(
        'true (or the options): the gateway answers POST /explain {"row": {...}} with the contributions of each feature to the routed version\'s prediction (the numbers of `mloop explain`), from a Python explainer per version kept warm in the project\'s Python (gateway: true); POST /explain {"request_id": id} explains the row an earlier request sent, by the version that answered it (each gateway process keeps its latest 1000 requests\' bodies in memory while this is on). Off by default: /explain answers 404.',
      ),
    gateway_workers: z
      .union([z.literal('auto'), z.number().int().min(1).max(64)])
      .optional()
      .describe(
        'How many gateway processes serve the port (gateway: true; default 1): a number, or auto for one per core. They share the port (SO_REUSEPORT; Linux, Node >= 22.12), the routes, the A/B assignment, the bandit and the serving log. A changed setting restarts the gateway at the next deploy.',
      ),
  })
  .superRefine((t, ctx) => {
    if (t.gateway && !t.serve)
      ctx.addIssue({ code: 'custom', path: ['gateway'], message: 'gateway: true needs serve: true (mloop runs the versions behind it)' });
    if (t.gateway && t.port === undefined)
      ctx.addIssue({ code: 'custom', path: ['gateway'], message: 'gateway: true needs port: the port the gateway listens on' });
    if (t.explain !== false && !t.gateway)
      ctx.addIssue({ code: 'custom', path: ['explain'], message: 'explain needs gateway: true (the gateway answers /explain beside the versions)' });
    if (t.gateway_workers !== undefined && !t.gateway)
      ctx.addIssue({ code: 'custom', path: ['gateway_workers'], message: 'gateway_workers needs gateway: true (the processes of the traffic gateway)' });
    if (t.replicas > 1 && !t.gateway)
      ctx.addIssue({ code: 'custom', path: ['replicas'], message: 'replicas above 1 need gateway: true (the gateway balances across them on the port)' });
    if (t.strategy === 'rolling' && !t.gateway)
      ctx.addIssue({ code: 'custom', path: ['strategy'], message: 'strategy rolling needs gateway: true (each replica is replaced by a routing change)' });
    if (Number.isInteger(t.replicas) && t.replicas >= 1 && t.max_unavailable > t.replicas)
      ctx.addIssue({
        code: 'custom',
        path: ['max_unavailable'],
        message: `max_unavailable (${t.max_unavailable}) is more than replicas (${t.replicas}): at most all replicas are replaced at a time`,
      });
    if (t.analysis && !t.gateway && !t.monitor?.serving_log)
      ctx.addIssue({
        code: 'custom',
        path: ['analysis'],
        message:
          'analysis needs a serving log to compare the arms on: gateway: true, or monitor.serving_log (written by the versions behind your route: command)',
      });
    else if (t.analysis && !t.gateway && t.serve && !t.route)
      ctx.addIssue({
        code: 'custom',
        path: ['analysis'],
        message: 'analysis without the gateway needs route: (the command that splits the traffic at each canary step)',
      });
  })
  .describe('A deployment target: a command template, an optional health check and smoke test.');

export const reproducesSchema = z
  .strictObject({
    tolerance: z
      .number()
      .min(0)
      .default(1e-9)
      .describe('Largest relative difference |a − b| / max(|a|, |b|) at which a metric of a rerun still equals the original (default 1e-9).'),
  })
  .describe('How mloop rerun --exact decides that a rerun reproduced its original run.');

export const remoteSchema = z
  .strictObject({
    url: z
      .string()
      .min(1)
      .refine((u) => !/^[a-z][a-z0-9+.-]*:\/\//i.test(u) || /^s3:\/\/[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](\/.*)?$/i.test(u), {
        error: 'url is a folder path or s3://bucket/prefix',
      })
      .describe("Where the team's cache lives: a folder (an NFS mount, relative to mloop.yaml or absolute) or s3://bucket/prefix."),
    endpoint_url: z
      .url({ error: 'endpoint_url is a URL such as http://127.0.0.1:9000' })
      .optional()
      .describe(
        'An S3-compatible server other than AWS (MinIO, Ceph, moto). Credentials come from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY or the AWS profile, never from this file.',
      ),
    region: z.string().min(1).optional().describe("The bucket's region (default: AWS_REGION, AWS_DEFAULT_REGION, the profile's, else us-east-1)."),
  })
  .describe('The shared cache of dataset versions: mloop datasets push uploads the objects it lacks, pull downloads them (digest verified).');

const cardText = z.string({ error: 'expected text' }).trim().min(1, { error: 'expected text, not an empty string' });
const cardList = z.union([cardText, z.array(cardText, { error: 'expected a list of texts' })], { error: 'expected a text or a list of texts' }).optional();

export const cardSectionSchema = z
  .strictObject({
    intended_use: cardText.optional().describe('What the model is for: the decision it supports and the population it was built for.'),
    intended_users: cardList.describe('Who is expected to use its predictions.'),
    limitations: cardList.describe('Known limits: where it is weak, data it has not seen, assumptions that must hold.'),
    out_of_scope: cardList.describe('Uses it must not be put to.'),
    ethical_considerations: cardList.describe('Risks to people, sensitive attributes, fairness caveats, and how they are handled.'),
  })
  .describe('The intended use and limits of one model, printed at the top of every model card (mloop card, the Model Card panel).');

const auditSchema = z
  .strictObject({
    sign_with: z
      .string()
      .min(1)
      .optional()
      .describe(
        'Sign each audit entry as it is written with this SSH private key (relative to mloop.yaml, ~ allowed; ssh-keygen -Y sign). A write whose signature fails is not made. mloop audit verify then names any entry after that point that carries no signature.',
      ),
    signing: z
      .strictObject({
        key: z
          .string()
          .min(1)
          .optional()
          .describe('The SSH private key that signs entries (relative to mloop.yaml, ~ allowed); omitted: git config user.signingkey.'),
        allowed_signers: z
          .string()
          .min(1)
          .optional()
          .describe("The allowed-signers file (git's gpg.ssh.allowedSignersFile format) that mloop audit verify trusts."),
        namespace: z.string().min(1).default('mloop-audit').describe('The ssh-keygen -Y namespace of the signatures.'),
      })
      .optional()
      .describe('Sign audit entries with an SSH key (mloop audit sign) and check the signatures in mloop audit verify.'),
  })
  .describe('The audit trail.');

export const configSchema = z
  .strictObject({
    version: z.literal(1, { error: 'version must be 1' }).describe('Version of the mloop.yaml format. Always 1.'),
    datasets: z.record(name('dataset'), datasetSchema).default({}).describe('Data your pipelines read, by name.'),
    pipelines: z.record(name('pipeline'), pipelineSchema).default({}).describe('How to train, by pipeline name.'),
    models: z.record(name('model'), modelSectionSchema).optional().describe('Registered models and their release gates, by model name.'),
    targets: z.record(name('target'), targetSchema).optional().describe('Where models are deployed, by target name.'),
    monitoring: monitoringSchema.optional(),
    stages: z
      .record(name('stage'), stageSchema)
      .optional()
      .describe('Stages of the project pipeline, shaped like dvc.yaml: run in dependency order by mloop repro, skipped when nothing they read changed.'),
    reproduces: reproducesSchema.optional(),
    remote: remoteSchema.optional(),
    audit: auditSchema.optional(),
    card: z.record(name('model'), cardSectionSchema).optional().describe('Model cards: the intended use and limits of each model, by model name.'),
  })
  .describe("mloop.yaml: how this project's data becomes a model, and where the model goes.");

export type Config = z.output<typeof configSchema>;
export type Pipeline = z.output<typeof pipelineSchema>;
export type DatasetDeclaration = z.output<typeof datasetSchema>;
export type ParamValue = z.output<typeof scalar>;
export type DeployTarget = z.output<typeof targetSchema>;
export type PredictionTests = z.output<typeof predictionTestsSchema>;
export type CanaryAnalysisConfig = z.output<typeof canaryAnalysisSchema>;
export type SweepDeclaration = z.output<typeof sweepSchema>;
export type StageDeclaration = z.output<typeof stageSchema>;
export type StageParamsDeclaration = z.output<typeof stageParamsSchema>;
export type CardSection = z.output<typeof cardSectionSchema>;

/** The primary metric of a pipeline with its goal made explicit (maximize unless stated). */
export function primaryMetricOf(pipeline: Pipeline): { name: string; goal: (typeof METRIC_GOALS)[number] } | undefined {
  const metric = pipeline.primary_metric;
  if (metric === undefined) return undefined;
  return typeof metric === 'string' ? { name: metric, goal: 'maximize' } : { name: metric.name, goal: metric.goal ?? 'maximize' };
}
