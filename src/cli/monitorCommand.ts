import type { Command } from 'commander';
import { existsSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { formatProblem, loadConfig } from '../core/config/loadConfig';
import { monitorModel, type ModelMonitorResult } from '../core/monitoring/monitor';
import { CONFIG_FILE } from '../core/project/init';
import { openStore, type Store } from '../core/store/store';
import { CliExit, CliFailure, ExitCode } from './cliIo';
import type { CommandContext } from './trainCommand';

interface MonitorCliOptions {
  once?: boolean;
  json?: boolean;
  store?: boolean;
}

/**
 * `mloop monitor [model] --once [--json]`: every check configured under monitoring: in mloop.yaml (drift,
 * performance from late labels, fairness per group), reports stored. Exit 0 = all good, 3 = an alert, 1 = an error.
 */
export function registerMonitorCommand(program: Command, context: CommandContext): void {
  program.addCommand(
    context
      .child(
        'monitor',
        'run the checks of monitoring: in mloop.yaml (drift, performance from late labels, estimated performance, fairness per group); exit 3 on an alert, 1 on an error',
      )
      .argument('[model]', 'only this model (default: every model under monitoring:)')
      .option('--once', 'check once and exit (the only mode so far: run it from cron or CI)')
      .option('--no-store', 'do not record the reports in the project store')
      .option('--json', 'print every result as JSON')
      .action((model: string | undefined, options: MonitorCliOptions) => monitor(context, model, options)),
  );
}

async function monitor(context: CommandContext, only: string | undefined, options: MonitorCliOptions): Promise<void> {
  const { io } = context;
  if (!options.once) throw new CliFailure('pass --once: mloop monitor checks once and exits (repeated checks, --every, are not available yet)');
  const root = context.projectRoot();
  const configPath = join(root, CONFIG_FILE);
  if (!existsSync(configPath)) throw new CliFailure(`no ${CONFIG_FILE} in ${root}: nothing to monitor`);
  const shown = relative(io.cwd, configPath) || CONFIG_FILE;
  const { config, problems } = loadConfig(readFileSync(configPath, 'utf8'), shown);
  if (!config) throw new CliFailure(`${shown} has errors:\n${problems.map(formatProblem).join('\n')}`);
  const monitoring = config.monitoring ?? {};
  const models = only ? [only] : Object.keys(monitoring);
  if (models.length === 0) throw new CliFailure(`${shown} has no monitoring: section: nothing to monitor`);
  for (const m of models)
    if (!monitoring[m]) throw new CliFailure(`no monitoring.${m} in ${shown} (configured: ${Object.keys(monitoring).join(', ') || 'none'})`);
  const store: Store | undefined = options.store === false ? undefined : openStore({ path: context.storePath(root) });
  const results: ModelMonitorResult[] = [];
  try {
    for (const model of models) results.push(await monitorModel({ model, monitoring: monitoring[model]!, baseDir: root, ...(store ? { store } : {}) }));
  } finally {
    store?.close();
  }
  const alerts = results.reduce((n, r) => n + r.alerts.length, 0);
  const errors = results.reduce((n, r) => n + r.errors.length, 0);
  if (options.json) io.stdout.write(`${JSON.stringify({ alerts, errors, models: results }, null, 2)}\n`);
  else for (const r of results) io.stdout.write(summary(r));
  // an error hides whether all is well, so it wins over an alert
  if (errors > 0) throw new CliExit(ExitCode.Failure);
  if (alerts > 0) throw new CliExit(ExitCode.Drift);
}

function summary(r: ModelMonitorResult): string {
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
  return `${lines.join('\n')}\n`;
}
