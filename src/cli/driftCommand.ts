import { InvalidArgumentError, type Command } from 'commander';
import { existsSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import type { loadConfig } from '../core/config/loadConfig';
import { DatasetReadError } from '../core/datasets/readers';
import { runDriftCheck, type DriftCheckOptions, type DriftCheckResult } from '../core/drift/check';
import { DriftInputError } from '../core/drift/collect';
import { DRIFT_METHOD_NAMES, type DriftMethodChoice } from '../core/drift/report';
import { CONFIG_FILE } from '../core/project/init';
import { findProjectRoot } from '../core/project/locate';
import { openStore, type Store } from '../core/store/store';
import { CliExit, CliFailure, ExitCode } from './cliIo';
import { formatTable } from './format';
import type { CommandContext } from './trainCommand';

interface DriftCliOptions {
  reference?: string;
  current?: string;
  model?: string;
  method?: DriftMethodChoice;
  threshold?: number;
  columns?: string[];
  timeColumn?: string;
  window?: 'daily' | 'weekly' | 'monthly';
  label?: string;
  prediction?: string;
  driftShare?: number;
  json?: boolean;
  store?: boolean;
}

/**
 * `mloop drift --reference <file|dataset[@version]> --current <file> […] [--json]`: a CI gate.
 * Exit 0 = no dataset drift, 3 = dataset drift, 1 = error, 2 = usage.
 */
export function registerDriftCommand(program: Command, context: CommandContext): void {
  program.addCommand(
    context
      .child('drift', 'compare current data with a reference, column by column; exit 3 when the dataset drifted (a CI gate)')
      .option(
        '-r, --reference <file|dataset[@version]>',
        'reference data: a file, glob or folder, or a dataset in the store (@ a digest prefix, vN or latest); default: the training data of --model',
      )
      .option('-c, --current <file>', 'current data: a file, glob or folder (default: monitoring.<model>.current in mloop.yaml)')
      .option(
        '-m, --model <name>',
        "a registered model: its monitoring settings from mloop.yaml, and the report is stored with it (with --backend mlflow: the server's champion, copied here first)",
      )
      .option('--method <method>', `statistic for every column: ${DRIFT_METHOD_NAMES.join(' | ')}`, parseMethod)
      .option('--threshold <x>', 'threshold for the chosen method (p-value for ks/chisquare, score otherwise)', parsePositive)
      .option('--columns <a,b>', 'only these columns', (v: string) =>
        v
          .split(',')
          .map((c) => c.trim())
          .filter(Boolean),
      )
      .option('--time-column <name>', "column with each row's time: drift per window")
      .option('--window <daily|weekly|monthly>', 'window for drift over time', parseWindow)
      .option('--label <column>', 'true label column (performance per window)')
      .option('--prediction <column>', 'prediction column (performance per window)')
      .option('--drift-share <x>', 'dataset drift when at least this share of columns drift (default 0.5)', parseShare)
      .option('--no-store', 'do not record the report in the project store')
      .option('--json', 'print the report as JSON')
      .action((options: DriftCliOptions) => drift(context, options)),
  );
}

async function drift(context: CommandContext, options: DriftCliOptions): Promise<void> {
  const { io } = context;
  const root = findRoot(context);
  // the model's settings, the stored reports and the text output's helpers (a check of two files to JSON needs none)
  const { checkAndStore, checkOptionsFromMonitoring, driftHeadline, formatStatistic, methodLabel } = await import('../core/drift/monitor');
  let base: DriftCheckOptions | undefined;
  if (options.model) {
    if (!root) throw new CliFailure(`--model ${options.model}: no mloop project at or above ${io.cwd}`);
    const monitoring = (await loadMonitoring(root, io.cwd))?.[options.model];
    base = monitoring ? checkOptionsFromMonitoring(options.model, monitoring, root) : { model: options.model, baseDir: root, current: '' };
  }
  const current = options.current ?? (base?.current || undefined);
  if (!current)
    throw new CliFailure(`no current data: pass --current <file>${options.model ? ` or set monitoring.${options.model}.current in ${CONFIG_FILE}` : ''}`);
  if (!options.reference && !base) throw new CliFailure('no reference: pass --reference <file|dataset[@version]> or --model <name>');
  const drift = {
    ...base?.drift,
    ...(options.method ? { method: options.method } : {}),
    ...(options.threshold !== undefined ? { threshold: options.threshold } : {}),
    ...(options.driftShare !== undefined ? { driftShare: options.driftShare } : {}),
  };
  const check: DriftCheckOptions = {
    ...base,
    baseDir: options.current ? io.cwd : (base?.baseDir ?? io.cwd),
    current,
    ...(options.reference ? { reference: options.reference } : {}),
    ...(options.columns ? { columns: options.columns } : {}),
    ...(options.timeColumn ? { timeColumn: options.timeColumn } : {}),
    ...(options.window ? { window: options.window } : {}),
    ...(options.label ? { labelColumn: options.label } : {}),
    ...(options.prediction ? { predictionColumn: options.prediction } : {}),
    drift,
    onProgress: (message) => {
      if ((io.stderr as { isTTY?: boolean }).isTTY) io.stderr.write(`\r\x1b[Kmloop: ${message}`);
    },
  };
  if (check.window && !check.timeColumn) throw new CliFailure('--window needs --time-column');
  const storeFile = root && context.storePath(root);
  const writes = options.store !== false;
  // with --backend mlflow and --model, the server's champion is copied into the store first (a write, even with --no-store)
  const fromServer = Boolean(options.model && root && context.remote?.());
  const store: Store | undefined =
    storeFile && (existsSync(storeFile) || (options.model && (writes || fromServer)))
      ? openStore({ path: storeFile, readonly: !(writes || fromServer) })
      : undefined;
  let result: DriftCheckResult;
  let reportId: number | undefined;
  try {
    if (fromServer && store && root && options.model) {
      const { pullFromServer } = await import('./serverModel');
      await pullFromServer(context, store, root, { modelName: options.model }, (m) => void io.stderr.write(`mloop: ${m}\n`));
    }
    if (store && writes) {
      const done = await checkAndStore(store, check);
      result = done.result;
      reportId = done.stored.driftReportId;
    } else {
      result = await runDriftCheck({ ...check, ...(store ? { store } : {}), digestCurrent: false }); // the digest is for a stored report
    }
  } catch (error) {
    if (error instanceof DriftInputError || error instanceof DatasetReadError) throw new CliFailure(error.message);
    throw error;
  } finally {
    if ((io.stderr as { isTTY?: boolean }).isTTY) io.stderr.write('\r\x1b[K');
    store?.close();
  }
  const report = result.report;
  if (options.json) {
    io.stdout.write(
      `${JSON.stringify(
        {
          dataset_drift: report.dataset_drift,
          drift_share: report.drift_share,
          columns: report.columns.map(({ histogram: _h, score: _s, ...column }) => column),
          reference: result.reference,
          reference_rows: report.reference_rows,
          current_rows: report.current_rows,
          ...(result.windows.length ? { windows: result.windows } : {}),
          ...(reportId !== undefined ? { report_id: reportId } : {}),
        },
        null,
        2,
      )}\n`,
    );
  } else {
    io.stdout.write(`${driftHeadline(result, options.model)}\n`);
    io.stdout.write(
      `${formatTable(
        ['column', 'type', 'method', 'statistic', 'p-value', 'threshold', 'drift'],
        report.columns.map((c) =>
          c.status === 'skipped'
            ? [c.column, c.type, '—', '—', '—', '—', `skipped: ${c.reason}`]
            : [
                c.column,
                c.type,
                methodLabel(c.method),
                formatStatistic(c.statistic),
                formatStatistic(c.p_value),
                String(c.threshold),
                c.drifted ? 'DRIFT' : 'ok',
              ],
        ),
      )}\n`,
    );
    for (const w of result.windows)
      io.stdout.write(`window ${w.start}: ${w.rows} rows, share ${formatStatistic(w.drift_share)}${w.dataset_drift ? ' DRIFT' : ''}\n`);
    if (reportId !== undefined) io.stdout.write(`report #${reportId} stored · open it in VS Code: "mloop: Check Drift…" or the Models view\n`);
  }
  if (report.dataset_drift) throw new CliExit(ExitCode.Drift);
}

function findRoot(context: CommandContext): string | undefined {
  try {
    return context.projectRoot();
  } catch {
    return findProjectRoot(context.io.cwd);
  }
}

async function loadMonitoring(root: string, cwd: string): Promise<ReturnType<typeof monitoringOf>> {
  const configPath = join(root, CONFIG_FILE);
  if (!existsSync(configPath)) return undefined;
  const shown = relative(cwd, configPath) || CONFIG_FILE;
  const { formatProblem, loadConfig } = await import('../core/config/loadConfig');
  const { config, problems } = loadConfig(readFileSync(configPath, 'utf8'), shown);
  if (!config) throw new CliFailure(`${shown} has errors:\n${problems.map(formatProblem).join('\n')}`);
  return monitoringOf(config);
}

const monitoringOf = (config: NonNullable<ReturnType<typeof loadConfig>['config']>): (typeof config)['monitoring'] => config.monitoring;

function parseMethod(value: string): DriftMethodChoice {
  if (!(DRIFT_METHOD_NAMES as readonly string[]).includes(value)) throw new InvalidArgumentError(`expected one of ${DRIFT_METHOD_NAMES.join(', ')}.`);
  return value as DriftMethodChoice;
}

function parsePositive(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('expected a number above 0.');
  return n;
}

function parseShare(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0 || n > 1) throw new InvalidArgumentError('expected a share in (0, 1].');
  return n;
}

function parseWindow(value: string): 'daily' | 'weekly' | 'monthly' {
  if (value !== 'daily' && value !== 'weekly' && value !== 'monthly') throw new InvalidArgumentError('expected daily, weekly or monthly.');
  return value;
}
