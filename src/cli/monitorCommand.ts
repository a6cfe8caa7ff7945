import type { Command } from 'commander';
import { existsSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { formatProblem, loadConfig } from '../core/config/loadConfig';
import { INTERVAL_PATTERN, intervalMs } from '../core/monitoring/configSchema';
import { monitorAndAlert, type ModelMonitorResult } from '../core/monitoring/monitor';
import { deliverAlert, type AlertDelivery } from '../core/monitoring/onAlert';
import { CONFIG_FILE } from '../core/project/init';
import type { DeployContext } from '../core/deploy/deploy';
import type { ServiceHealthReport } from '../core/monitoring/serviceHealth';
import { DeploymentRepository } from '../core/store/deployments';
import { openStore, type Store } from '../core/store/store';
import { CliExit, CliFailure, ExitCode } from './cliIo';
import type { CommandContext } from './trainCommand';

interface MonitorCliOptions {
  once?: boolean;
  every?: string;
  json?: boolean;
  store?: boolean;
}

/** --every: a number and a unit, from seconds to days. */
export function intervalMilliseconds(text: string): number | undefined {
  return INTERVAL_PATTERN.test(text) ? intervalMs(text) : undefined;
}

/**
 * `mloop monitor [model] --once | --every <interval> [--json]`: every check configured under monitoring: in
 * mloop.yaml (drift, performance from late labels, estimated performance, fairness per group), reports stored,
 * on_alert delivered. --once exits 0 = all good, 3 = an alert, 1 = an error; --every runs until stopped (Ctrl-C,
 * SIGTERM) and exits 0.
 */
export function registerMonitorCommand(program: Command, context: CommandContext): void {
  program.addCommand(
    context
      .child(
        'monitor',
        'run the checks of monitoring: in mloop.yaml (drift, performance from late labels, estimated performance, fairness per group) and the health of every serving target (process, health check, serving log, auto_rollback), and on_alert; --once exits 3 on an alert, 1 on an error',
      )
      .argument(
        '[model]',
        "only this model and the targets serving it (default: every model under monitoring: and every serving target; with --backend mlflow each model's champion on the server is copied here first)",
      )
      .option('--once', 'check once and exit (for cron and CI)')
      .option('--every <interval>', 'check now and then every interval (30s, 15m, 6h, 1d) until stopped; mloop.yaml is re-read each time')
      .option('--no-store', 'do not record the reports in the project store')
      .option('--json', 'print every result as JSON (with --every: one JSON line per check)')
      .action((model: string | undefined, options: MonitorCliOptions) => monitor(context, model, options)),
  );
}

interface CycleOutcome {
  readonly alerts: number;
  readonly errors: number;
}

async function monitor(context: CommandContext, only: string | undefined, options: MonitorCliOptions): Promise<void> {
  if (options.once && options.every) throw new CliFailure('pass --once or --every <interval>, not both');
  if (!options.once && !options.every) throw new CliFailure('pass --once (check once and exit) or --every <interval> (e.g. --every 15m)');
  const every = options.every === undefined ? undefined : intervalMilliseconds(options.every);
  if (options.every !== undefined && every === undefined)
    throw new CliFailure(`--every ${options.every}: give a number above 0 and a unit: 30s, 15m, 6h or 1d`);
  if (every === undefined) {
    const outcome = await cycle(context, only, options, false);
    // an error hides whether all is well, so it wins over an alert
    if (outcome.errors > 0) throw new CliExit(ExitCode.Failure);
    if (outcome.alerts > 0) throw new CliExit(ExitCode.Alert);
    return;
  }
  // the first check runs at once and must find a usable mloop.yaml; later ones report problems and go on
  await cycle(context, only, options, true);
  let stop: () => void = () => undefined;
  const stopped = new Promise<void>((resolve) => {
    stop = resolve;
  });
  let stopping = false;
  const onSignal = (): void => {
    stopping = true;
    stop();
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    while (!stopping) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([stopped, new Promise<void>((resolve) => (timer = setTimeout(resolve, every)))]);
      clearTimeout(timer);
      if (stopping) break;
      try {
        await cycle(context, only, options, true);
      } catch (error) {
        context.io.stderr.write(`mloop monitor: ${error instanceof Error ? error.message : String(error)} (checking again in ${options.every})\n`);
      }
    }
  } finally {
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
  }
  if (!options.json) context.io.stdout.write('mloop monitor: stopped\n');
}

/** One pass: read mloop.yaml, run every model's checks, print, deliver on_alert. */
async function cycle(context: CommandContext, only: string | undefined, options: MonitorCliOptions, repeated: boolean): Promise<CycleOutcome> {
  const { io } = context;
  const root = context.projectRoot();
  const configPath = join(root, CONFIG_FILE);
  if (!existsSync(configPath)) throw new CliFailure(`no ${CONFIG_FILE} in ${root}: nothing to monitor`);
  const shown = relative(io.cwd, configPath) || CONFIG_FILE;
  const { config, problems } = loadConfig(readFileSync(configPath, 'utf8'), shown);
  if (!config) throw new CliFailure(`${shown} has errors:\n${problems.map(formatProblem).join('\n')}`);
  const monitoring = config.monitoring ?? {};
  const models = only ? (monitoring[only] ? [only] : []) : Object.keys(monitoring);
  const store: Store | undefined = options.store === false ? undefined : openStore({ path: context.storePath(root) });
  const results: (ModelMonitorResult & { on_alert?: readonly AlertDelivery[] })[] = [];
  const services: (ServiceHealthReport & { on_alert?: readonly AlertDelivery[] })[] = [];
  let summarize: ((r: ServiceHealthReport) => string) | undefined;
  const checkedAt = new Date().toISOString();
  try {
    // what serves on each target (of this model): process, health check, serving log; auto_rollback
    const serving = store
      ? Object.keys(config.targets ?? {}).filter((t) => {
          const current = new DeploymentRepository(store).current(t);
          return current !== undefined && (only === undefined || current.modelName === only);
        })
      : [];
    if (models.length === 0 && serving.length === 0) {
      if (only)
        throw new CliFailure(`no monitoring.${only} in ${shown} and no target serves ${only} (configured: ${Object.keys(monitoring).join(', ') || 'none'})`);
      throw new CliFailure(`${shown} has no monitoring: section and nothing is deployed: nothing to monitor`);
    }
    // with --backend mlflow the registry is the team's server: each model's champion there is copied first, so the
    // checks read its training data and validation metric (a model the server lacks is checked as this store holds it)
    const remote = store && models.length > 0 ? context.remote?.() : undefined;
    const { pullFromServer } = remote ? await import('./serverModel') : { pullFromServer: undefined };
    for (const model of models) {
      if (store && pullFromServer)
        await pullFromServer(context, store, root, { modelName: model }, (m) => void io.stderr.write(`mloop: ${m}\n`)).catch((error: Error) =>
          io.stderr.write(`mloop: ${model}: not copied from the server (${error.message}); checked as this workspace holds it\n`),
        );
      results.push(await monitorAndAlert({ model, monitoring: monitoring[model]!, baseDir: root, checkedAt, ...(store ? { store } : {}) }));
    }
    if (store && serving.length > 0) {
      // loaded only when something is served: the deploy code it brings (and node:http's ES module facade, which
      // loads Node's fetch) cost a check of the models alone ~50 ms before its first read
      const [health, { registryActor }, { artifactRootOf }] = await Promise.all([
        import('../core/monitoring/serviceHealth'),
        import('../core/registry/actor'),
        import('../core/store/artifactRoot'),
      ]);
      summarize = health.serviceSummary;
      const ctx: DeployContext = { store, artifactRoot: artifactRootOf(store.path), actor: registryActor(root), projectRoot: root, config, trusted: true };
      for (const target of serving) {
        const report = await health.checkService(ctx, target);
        if (!report) continue;
        const onAlert = monitoring[report.model]?.on_alert;
        const delivered =
          onAlert && report.alerts.length > 0
            ? await deliverAlert(onAlert, {
                model: report.model,
                alertCount: report.alerts.length,
                payload: { checked_at: checkedAt, service: report },
                cwd: root,
              })
            : undefined;
        services.push({ ...report, ...(delivered ? { on_alert: delivered } : {}) });
      }
    }
  } finally {
    store?.close();
  }
  const alerts = results.reduce((n, r) => n + r.alerts.length, 0) + services.reduce((n, s) => n + s.alerts.length, 0);
  const errors =
    results.reduce((n, r) => n + r.errors.length + (r.on_alert?.filter((d) => !d.ok).length ?? 0), 0) +
    services.reduce((n, s) => n + (s.on_alert?.filter((d) => !d.ok).length ?? 0), 0);
  if (options.json)
    io.stdout.write(
      repeated
        ? `${JSON.stringify({ checked_at: checkedAt, alerts, errors, models: results, services })}\n`
        : `${JSON.stringify({ alerts, errors, models: results, services }, null, 2)}\n`,
    );
  else {
    if (repeated) io.stdout.write(`── ${checkedAt}\n`);
    for (const r of results) io.stdout.write(summary(r));
    for (const r of services) io.stdout.write(serviceLines(r, summarize!));
  }
  return { alerts, errors };
}

function serviceLines(r: ServiceHealthReport & { on_alert?: readonly AlertDelivery[] }, serviceSummary: (r: ServiceHealthReport) => string): string {
  const lines = [`target ${r.target}: ${r.up ? (r.alerts.length ? `${r.alerts.length} ALERT(S)` : 'ok') : 'DOWN'}`, `  ${serviceSummary(r)}`, `  ${r.detail}`];
  for (const note of r.notes) lines.push(`  note: ${note}`);
  for (const a of r.alerts) lines.push(`  ALERT service: ${a.message}`);
  for (const d of r.on_alert ?? []) lines.push(`  ${d.ok ? 'on_alert' : 'ERROR on_alert'}: ${d.detail}`);
  return `${lines.join('\n')}\n`;
}

function summary(r: ModelMonitorResult & { on_alert?: readonly AlertDelivery[] }): string {
  const lines = [`${r.model}: ${r.errors.length ? 'ERROR' : r.alerts.length ? `${r.alerts.length} ALERT(S)` : 'ok'}`];
  if (r.drift) lines.push(`  drift: ${r.drift.headline}${r.drift.report_id !== undefined ? ` (report #${r.drift.report_id})` : ''}`);
  if (r.performance) {
    const p = r.performance;
    lines.push(
      `  performance (${p.task}): ${p.counts.joined} of ${p.counts.predictions} predictions labelled, ${p.windows.filter((w) => w.status === 'ok').length} of ${p.windows.length} window(s) with enough data${p.report_id !== undefined ? ` (report #${p.report_id})` : ''}`,
    );
    for (const w of p.windows) {
      const main = p.task === 'classification' ? 'accuracy' : 'rmse';
      const e = w.metrics[main];
      lines.push(
        `    ${w.start}: ${w.status === 'ok' && e ? `${main} ${e.value.toFixed(3)} [${e.lower?.toFixed(3) ?? '—'}, ${e.upper?.toFixed(3) ?? '—'}] n = ${w.n}` : `not enough data (n = ${w.n})`}`,
      );
    }
    for (const note of p.notes) lines.push(`    note: ${note}`);
  }
  if (r.estimated_performance) {
    const e = r.estimated_performance;
    const calibrated = e.calibration.filter((c) => c.applied).map((c) => c.class);
    lines.push(
      `  estimated performance (CBPE, no labels needed): reference accuracy ${e.reference.accuracy.toFixed(3)} (n = ${e.reference.n}), calibrated: ${calibrated.length ? calibrated.join(', ') : 'none'}${e.report_id !== undefined ? ` (report #${e.report_id})` : ''}`,
    );
    for (const w of e.windows) {
      const a = w.metrics.accuracy;
      const realised = w.realised?.accuracy;
      lines.push(
        `    ${w.start}: ${w.status === 'ok' && a ? `estimated accuracy ${a.value.toFixed(3)} [${a.lower?.toFixed(3) ?? '—'}, ${a.upper?.toFixed(3) ?? '—'}] n = ${w.n}${realised !== undefined ? ` · realised ${realised.toFixed(3)} (n = ${w.realised_n})` : ''}` : `not enough data (n = ${w.n})`}`,
      );
    }
    for (const note of e.notes) lines.push(`    note: ${note}`);
  }
  if (r.fairness) {
    for (const c of r.fairness.columns)
      lines.push(
        `  fairness ${c.column}: parity difference ${c.demographic_parity_difference.toFixed(3)}, ratio ${c.demographic_parity_ratio?.toFixed(3) ?? '—'}, equalized odds difference ${c.equalized_odds_difference.toFixed(3)}`,
      );
  }
  for (const a of r.alerts) lines.push(`  ALERT ${a.check}: ${a.message}`);
  for (const e of r.errors) lines.push(`  ERROR ${e.check}: ${e.message}`);
  for (const d of r.on_alert ?? []) lines.push(`  ${d.ok ? 'on_alert' : 'ERROR on_alert'}: ${d.detail}`);
  return `${lines.join('\n')}\n`;
}
