import { relative } from 'node:path';
import type { Command } from 'commander';
import { evaluateVersion, DEFAULT_REPEATS, DEFAULT_SEED, DEFAULT_SHAP_ROWS, type ModelEvaluation } from '../core/evaluation/evaluate';
import { EvaluationError } from '../core/evaluation/evaluatorProcess';
import { explainPrediction, gatewayExplanation, parseRow, type PredictionExplanation } from '../core/evaluation/explain';
import { httpExchange } from '../core/deploy/health';
import { explainLoggedPrediction, findLoggedRequest, placeOf, predictionLogsOf } from '../core/evaluation/predictionLog';
import { GatewayRepository } from '../core/store/gatewayRoutes';
import { compareImportance, latestEvaluation, type ImportanceComparison } from '../core/evaluation/importance';
import { parseVersionSelector } from '../core/evaluation/target';
import { importanceOverWindows, type WindowImportanceReport } from '../core/evaluation/windowImportance';
import { registryActor } from '../core/registry/actor';
import { pythonOf } from '../core/runs/environment';
import { artifactRootOf } from '../core/store/artifactRoot';
import { pullFromServer } from './serverModel';
import type { Store } from '../core/store/store';
import { CliFailure, withWritableStore } from './cliIo';
import { formatTable } from './format';
import { readConfig } from './registryCommands';
import type { CommandContext } from './trainCommand';

const integer =
  (name: string) =>
  (text: string): number => {
    const n = Number(text);
    if (!Number.isSafeInteger(n) || n < 0) throw new CliFailure(`--${name} must be a whole number ≥ 0, not "${text}"`);
    return n;
  };

/** Ctrl-C aborts the helper (its process group is killed), then the command ends. */
async function withInterrupt<T>(fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  const abort = (): void => controller.abort();
  process.once('SIGINT', abort);
  try {
    return await fn(controller.signal);
  } finally {
    process.removeListener('SIGINT', abort);
  }
}

/** `mloop evaluate` and `mloop explain`: a registered version measured on a dataset version, one prediction explained. */
export function registerEvaluateCommands(program: Command, context: CommandContext): void {
  const { io } = context;
  const withStore = <T>(fn: (store: Store, root: string) => Promise<T>): Promise<T> => withWritableStore(context, [EvaluationError], fn);
  const progress = (json: boolean | undefined) => (p: { done: number; total: number; message: string }) => {
    if (!json) io.stderr.write(`[${Math.round((p.done / p.total) * 100)}%] ${p.message}\n`);
  };

  program.addCommand(
    context
      .child(
        'evaluate',
        "evaluate a registered version on a dataset version in the project's Python: metrics with 95% intervals, confusion matrix, ROC/PR/calibration curves, group metrics, permutation importance and SHAP values (when shap is installed), stored with the version",
      )
      .argument('<model>', 'model@champion, model@alias, model/3, or model (its champion)')
      .requiredOption('--dataset <name[@digest]>', 'a dataset of mloop.yaml (its file as it is now) or a recorded version name@digest-prefix')
      .option('--label <column>', 'the column with the truth (default: monitoring.<model>.label, else the one non-feature column holding only known classes)')
      .option('--groups <columns>', 'comma-separated sensitive columns for group metrics (default: monitoring.<model>.groups)')
      .option('--positive-class <class>', 'the class counted as selected in the group metrics (default: monitoring.<model>.positive_class, or 1/true)')
      .option('--seed <n>', `seed of permutation importance and the SHAP sample (default ${DEFAULT_SEED})`, integer('seed'))
      .option('--repeats <n>', `permutations per feature (default ${DEFAULT_REPEATS})`, integer('repeats'))
      .option('--shap-rows <n>', `rows sampled for SHAP values (default ${DEFAULT_SHAP_ROWS})`, integer('shap-rows'))
      .option('--no-shap', 'skip SHAP values')
      .option('--compare <model>', 'also compare permutation importance with the newest evaluation of this version on the same data, e.g. model@champion')
      .option('--python <path>', "the interpreter (default: the active or the project's .venv, else python3)")
      .option('--json', 'print the stored evaluation as JSON')
      .action(
        (
          ref: string,
          options: {
            dataset: string;
            label?: string;
            groups?: string;
            positiveClass?: string;
            seed?: number;
            repeats?: number;
            shapRows?: number;
            shap: boolean;
            compare?: string;
            python?: string;
            json?: boolean;
          },
        ) =>
          withStore(async (store, root) => {
            const selector = parseVersionSelector(ref);
            await pullFromServer(context, store, root, selector, (m) => void io.stderr.write(`mloop: ${m}\n`));
            const { evaluationId, evaluation } = await withInterrupt((signal) =>
              evaluateVersion({
                store,
                artifactRoot: artifactRootOf(store.path),
                projectRoot: root,
                config: readConfig(root),
                model: selector,
                dataset: options.dataset,
                python: options.python ?? pythonOf([], process.env, root),
                actor: registryActor(root),
                ...(options.label ? { label: options.label } : {}),
                ...(options.groups
                  ? {
                      groups: options.groups
                        .split(',')
                        .map((g) => g.trim())
                        .filter(Boolean),
                    }
                  : {}),
                ...(options.positiveClass ? { positiveClass: options.positiveClass } : {}),
                ...(options.seed !== undefined ? { seed: options.seed } : {}),
                ...(options.repeats !== undefined ? { repeats: options.repeats } : {}),
                ...(options.shapRows !== undefined ? { shapRows: options.shapRows } : {}),
                noShap: !options.shap,
                signal,
                onProgress: progress(options.json),
              }),
            );
            let comparison: ImportanceComparison | undefined;
            if (options.compare) {
              const other = latestEvaluation(store, parseVersionSelector(options.compare), evaluation.dataset.digest);
              if (!other)
                throw new CliFailure(
                  `${options.compare} has no evaluation on ${evaluation.dataset.name}@${evaluation.dataset.digest.slice(0, 12)}: evaluate it first`,
                );
              comparison = compareImportance(other.evaluation, evaluation);
            }
            if (options.json) io.stdout.write(`${JSON.stringify({ evaluationId, ...evaluation, ...(comparison ? { comparison } : {}) }, null, 2)}\n`);
            else io.stdout.write(`${describeEvaluation(evaluationId, evaluation)}${comparison ? `\n${describeComparison(comparison)}` : ''}`);
          }),
      ),
  );

  program.addCommand(
    context
      .child(
        'explain',
        'explain one prediction of a registered version: the contribution of each feature (SHAP values when shap is installed, else occlusion against the means of the background data)',
      )
      .argument(
        '<model>',
        'model@champion, model@alias, model/3, or model (its champion); with --request: a target (its gateway, else the logs of its models) or a model (its predictions log)',
      )
      .option('--row <json>', 'the row as a JSON object of feature → value')
      .option(
        '--request <id>',
        "instead of --row: the row an earlier request sent (its x-request-id), explained by the version that answered it: by the target's gateway while it keeps the request (explain: on; its latest 1000 requests' rows, in memory), else from the predictions log of monitoring.<model>.current (its request_id and version fields); --json says which in source",
      )
      .option('--index <n>', "with --request: which of the request's rows (default 0)", integer('index'))
      .option('--dataset <name[@digest]>', 'background data (default: the dataset version that trained the version)')
      .option('--no-shap', 'use the occlusion fallback even when shap is installed')
      .option('--python <path>', "the interpreter (default: the active or the project's .venv, else python3)")
      .option('--json', 'print as JSON')
      .action((ref: string, options: { row?: string; request?: string; index?: number; dataset?: string; shap: boolean; python?: string; json?: boolean }) =>
        withStore(async (store, root) => {
          if ((options.row === undefined) === (options.request === undefined)) throw new CliFailure('give exactly one of --row <json> or --request <id>');
          if (options.request !== undefined) {
            if (options.dataset !== undefined || !options.shap || options.python !== undefined)
              throw new CliFailure("--request is explained by the target's gateway with its own settings: --dataset, --no-shap and --python do not apply");
            const found = await explainRequest(store, root, ref, options.request, options.index);
            const which = { explained_request: options.request, index: options.index ?? 0 };
            const { explanation, source } = found;
            io.stdout.write(
              options.json
                ? `${JSON.stringify({ ...which, ...explanation, source }, null, 2)}\n`
                : `request ${which.explained_request}, row ${which.index} (${source.kind === 'gateway' ? "from the gateway's memory" : `from the predictions log ${placeOf(root, source.file, source.line)}`}):\n${describeExplanation(explanation)}`,
            );
            return;
          }
          if (options.index !== undefined) throw new CliFailure('--index picks a row of --request: give --request <id>');
          const explanation = await withInterrupt((signal) =>
            explainPrediction({
              store,
              artifactRoot: artifactRootOf(store.path),
              projectRoot: root,
              config: readConfig(root),
              model: parseVersionSelector(ref),
              row: parseRow(options.row!),
              ...(options.dataset ? { dataset: options.dataset } : {}),
              python: options.python ?? pythonOf([], process.env, root),
              noShap: !options.shap,
              signal,
            }),
          );
          io.stdout.write(options.json ? `${JSON.stringify(explanation, null, 2)}\n` : describeExplanation(explanation));
        }),
      ),
  );

  program.addCommand(
    context
      .child(
        'importance',
        "follow permutation importance across the monitoring windows that have labels: the deployed version (else the champion) scored by the evaluate helper on each window's labelled rows, same seed; stored and shown in the Monitoring panel",
      )
      .argument('<model>', 'a model with monitoring: labels in mloop.yaml')
      .option('--use-version <ref>', 'this version instead of the deployed one: 3, v3 or an alias')
      .option('--seed <n>', `seed of the permutations (default ${DEFAULT_SEED}, as mloop evaluate)`, integer('seed'))
      .option('--repeats <n>', `permutations per feature (default ${DEFAULT_REPEATS})`, integer('repeats'))
      .option('--python <path>', "the interpreter (default: the active or the project's .venv, else python3)")
      .option('--json', 'print as JSON')
      .action((name: string, options: { useVersion?: string; seed?: number; repeats?: number; python?: string; json?: boolean }) =>
        withStore(async (store, root) => {
          const { report } = await withInterrupt((signal) =>
            importanceOverWindows({
              store,
              artifactRoot: artifactRootOf(store.path),
              projectRoot: root,
              config: readConfig(root),
              modelName: name,
              ...(options.useVersion !== undefined ? { model: parseVersionSelector(`${name}@${options.useVersion}`) } : {}),
              python: options.python ?? pythonOf([], process.env, root),
              ...(options.seed !== undefined ? { seed: options.seed } : {}),
              ...(options.repeats !== undefined ? { repeats: options.repeats } : {}),
              signal,
              onProgress: progress(options.json),
            }),
          );
          io.stdout.write(options.json ? `${JSON.stringify(report, null, 2)}\n` : describeWindowImportance(report));
        }),
      ),
  );
}

/** Where `mloop explain --request` found the row: the gateway's memory, or the predictions log (file, 1-based line). */
type RequestSource = { readonly kind: 'gateway' } | { readonly kind: 'predictions_log'; readonly file: string; readonly line: number };

/**
 * Row `index` of request `requestId`, explained by the version that answered it: by the gateway of `ref` while it keeps
 * the request's body (POST /explain {request_id, index}); else (no gateway, it does not answer, or it no longer keeps
 * the body: restarted, beyond its memory, explain: off) from the predictions log monitoring reads, in this process.
 */
async function explainRequest(
  store: Store,
  root: string,
  ref: string,
  requestId: string,
  index: number | undefined,
): Promise<{ explanation: PredictionExplanation; source: RequestSource }> {
  const record = new GatewayRepository(store).get(ref);
  let why: string | undefined;
  if (record) {
    const asked = await askGateway(record.port, ref, requestId, index);
    if ('explanation' in asked) return { explanation: asked.explanation, source: { kind: 'gateway' } };
    why = asked.notKept;
  }
  const config = readConfig(root);
  const routed = record ? [...new Set(record.routes.map((r) => r.modelName))] : [];
  const models = routed.length ? routed : config?.monitoring?.[ref] ? [ref] : undefined;
  const logged = await findLoggedRequest({ projectRoot: root, config, requestId, ...(index !== undefined ? { index } : {}), ...(models ? { models } : {}) });
  if (!logged) {
    const logs = (await predictionLogsOf(root, config, models)).map((l) => `${l.model}: ${relative(root, l.pattern) || l.pattern}`);
    throw new CliFailure(
      `${why ? `${why}; and r` : 'R'}equest ${requestId}${index ? ` row ${index}` : ''} is not in the predictions log${logs.length ? `s (${logs.join(', ')})` : 's: no monitoring.<model>.current in mloop.yaml'}`,
    );
  }
  const explanation = await withInterrupt((signal) =>
    explainLoggedPrediction(
      { store, artifactRoot: artifactRootOf(store.path), projectRoot: root, config, python: pythonOf([], process.env, root), signal },
      logged,
    ),
  );
  return { explanation, source: { kind: 'predictions_log', file: logged.file, line: logged.line } };
}

/** POST /explain {request_id, index} to a target's gateway: its explanation, or why the log must be read instead. */
async function askGateway(
  port: number,
  target: string,
  requestId: string,
  index: number | undefined,
): Promise<{ explanation: PredictionExplanation } | { notKept: string }> {
  let answer: { status: number; body: string };
  try {
    answer = await httpExchange(`http://127.0.0.1:${port}/explain`, {
      method: 'POST',
      body: JSON.stringify({ request_id: requestId, ...(index !== undefined ? { index } : {}) }),
      // the version's explainer may have to load first (up to 120 s in the gateway)
      timeoutMs: 150_000,
    });
  } catch (error) {
    return { notKept: `the gateway of target "${target}" does not answer on port ${port} (${(error as Error).message})` };
  }
  let body: Record<string, unknown>;
  try {
    body = JSON.parse(answer.body) as Record<string, unknown>;
  } catch {
    throw new CliFailure(`the gateway of target "${target}" answered ${answer.status} without JSON`);
  }
  // 404: the gateway does not keep the body (restarted, beyond its latest requests, too large) or explain: is off
  if (answer.status === 404) return { notKept: `the gateway of target "${target}" does not keep it (${String(body.error ?? '')})` };
  if (answer.status !== 200) throw new CliFailure(`the gateway of target "${target}" answered ${answer.status}: ${String(body.error ?? answer.body)}`);
  return { explanation: gatewayExplanation(body, `the training data of v${String(body.version)} (the gateway's snapshot)`) };
}

/** One row per feature, one column per window: the importance timeline as text. */
export function describeWindowImportance(r: WindowImportanceReport): string {
  const lines = [
    `${r.model} v${r.version} (${r.chosen}): permutation importance per monitoring window (${r.scoring}; seed ${r.seed}, ${r.nRepeats} repeats)`,
    formatTable(
      ['feature', ...r.windows.map((w) => `${w.window} (${w.rows})`)],
      r.features.map((f, i) => [f, ...r.windows.map((w) => num(w.mean[i]))]),
    ),
  ];
  if (r.skipped.length) lines.push(`not enough labelled rows: ${r.skipped.map((s) => `${s.window} (${s.rows})`).join(', ')}`);
  return `${lines.join('\n')}\n`;
}

const num = (x: number | null | undefined): string => (x === null || x === undefined || !Number.isFinite(x) ? '—' : x.toFixed(4));

export function describeEvaluation(id: number, e: ModelEvaluation): string {
  const lines = [
    `evaluation #${id}: ${e.model} v${e.version} (${e.flavour}, ${e.modelClass}) on ${e.dataset.name}@${e.dataset.digest.slice(0, 12)}, ${e.rows} rows, label ${e.label}`,
    '',
    formatTable(
      ['metric', 'value', '95% interval'],
      Object.entries(e.metrics).map(([k, m]) => [k, num(m?.value), m && m.lower !== null ? `${num(m.lower)} – ${num(m.upper)} (${m.interval})` : '—']),
    ),
    '',
    'permutation importance (mean drop of the score ± std):',
    formatTable(
      ['feature', 'importance', 'std'],
      e.permutationImportance.features
        .map((f, i) => ({ f, m: e.permutationImportance.mean[i]!, s: e.permutationImportance.std[i]! }))
        .sort((a, b) => b.m - a.m)
        .map((r) => [r.f, num(r.m), num(r.s)]),
    ),
    '',
    e.shap.status === 'computed'
      ? `SHAP values: ${e.shap.rows.length} rows (${e.shap.explainer} explainer, shap ${e.shap.version})`
      : `SHAP values: ${e.shap.message}`,
    ...(e.fairness
      ? [`group metrics: ${e.fairness.columns.map((c) => `${c.column} (demographic parity difference ${num(c.demographic_parity_difference)})`).join(', ')}`]
      : []),
    ...e.notes.map((n) => `note: ${n}`),
    '',
  ];
  return lines.join('\n');
}

export function describeComparison(c: ImportanceComparison): string {
  return [
    `permutation importance: ${c.base.model} v${c.base.version} → v${c.other.version}${c.sameData ? '' : ` (different data: ${c.base.dataset} vs ${c.other.dataset})`}`,
    formatTable(
      ['feature', `v${c.base.version}`, `v${c.other.version}`, 'change'],
      c.rows.map((r) => [
        r.feature,
        r.base ? `${num(r.base.mean)} (#${r.base.rank})` : '—',
        r.other ? `${num(r.other.mean)} (#${r.other.rank})` : '—',
        num(r.change),
      ]),
    ),
    '',
  ].join('\n');
}

export function describeExplanation(x: PredictionExplanation): string {
  const order = x.features.map((f, i) => ({ f, c: x.contributions[i]! })).sort((a, b) => Math.abs(b.c) - Math.abs(a.c));
  return [
    `${x.model} v${x.version} predicts ${JSON.stringify(x.predicted)}; explained output: ${x.outputs.length > 1 ? `probability of ${x.output}` : x.output} = ${num(x.value)}`,
    `method: ${x.method}${x.explainer ? ` (${x.explainer})` : ''}, background ${x.background}`,
    formatTable(
      ['feature', 'value', 'contribution'],
      [
        ['(base)', '', num(x.base_value)],
        ...order.map((o) => [o.f, JSON.stringify(x.row[o.f]), num(o.c)]),
        // occlusion is not additive: the rest is the features' interaction; SHAP's rest is shap's own rounding
        ...(Math.abs(x.interaction) > 1e-9 ? [[x.method === 'shap' ? '(rounding in shap)' : '(interaction)', '', num(x.interaction)]] : []),
      ],
    ),
    x.note,
    '',
  ].join('\n');
}
