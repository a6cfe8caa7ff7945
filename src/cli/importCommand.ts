import type { Command } from 'commander';
import { importMlflow, type MlflowImportProgress, type MlflowImportReport } from '../core/mlflow/importStore';
import { MlflowSourceError } from '../core/mlflow/source';
import { registryActor } from '../core/registry/actor';
import { openStore } from '../core/store/store';
import { CliFailure } from './cliIo';
import { formatTable } from './format';
import type { CommandContext } from './trainCommand';

/** `mloop import mlflow <path|uri>`: copies an MLflow store (mlflow.db or mlruns/) into the project's store. */
export function registerImportCommand(program: Command, context: CommandContext): void {
  const { io } = context;
  const out = (text: string): void => void io.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
  const imports = context.child('import', 'bring existing data into the mloop store');
  imports.addCommand(
    context
      .child('import mlflow', "import MLflow's SQLite store (mlflow.db) or a legacy mlruns/ folder; safe to run again (Ctrl-C stops between runs)")
      .argument('<source>', 'path to mlflow.db or an mlruns folder (or a folder holding one), sqlite:///… or file:///…')
      .option('--json', 'print the report as JSON')
      .action(async (source: string, options: { json?: boolean }) => {
        const root = context.projectRoot();
        const store = openStore({ path: context.storePath(root) });
        const controller = new AbortController();
        const onSignal = (): void => controller.abort();
        process.once('SIGINT', onSignal);
        const progress = progressPrinter((text) => void io.stderr.write(text), Boolean((io.stderr as { isTTY?: boolean }).isTTY));
        try {
          const report = await importMlflow(store, { source, cwd: io.cwd, signal: controller.signal, onProgress: progress.update, actor: registryActor(root) });
          progress.done();
          if (options.json) return out(JSON.stringify(report, null, 2));
          printReport(out, report);
        } catch (error) {
          progress.done();
          if (controller.signal.aborted)
            throw new CliFailure('import cancelled: the runs imported so far are complete; run the same command again to continue');
          if (error instanceof MlflowSourceError) throw new CliFailure(error.message);
          throw error;
        } finally {
          process.off('SIGINT', onSignal);
          store.close();
        }
      }),
  );
  program.addCommand(imports);
}

function printReport(out: (text: string) => void, r: MlflowImportReport): void {
  out(`imported ${r.source.kind === 'sqlite' ? 'MLflow database' : 'MLflow folder'} ${r.source.location} (schema ${r.source.schema})`);
  const f = r.found;
  const w = r.written;
  out(
    formatTable(
      ['what', 'in MLflow', 'written now'],
      [
        ['experiments', String(f.experiments), `${w.experiments} new`],
        ['runs', String(f.runs), `${w.runsNew} new, ${w.runsUpdated} updated, ${w.runsUnchanged} unchanged`],
        ['params', String(f.params), ''],
        ['tags', String(f.tags), ''],
        ['metric points', String(f.metricPoints), ''],
        ['models', String(f.models), `${w.models} new`],
        ['model versions', String(f.modelVersions), `${w.modelVersions} new`],
        ['aliases', String(f.aliases), `${w.aliases} new`],
      ],
    ),
  );
  for (const warning of r.warnings) out(`warning: ${warning}`);
  for (const item of r.notImported) out(`not imported: ${item}`);
}

/** A bar redrawn in place on a terminal; a line per phase and every ~10% when piped. */
function progressPrinter(write: (text: string) => void, tty: boolean): { update: (p: MlflowImportProgress) => void; done: () => void } {
  let lastLine = '';
  let drawn = false;
  return {
    update(p) {
      const pct = p.total === 0 ? 100 : Math.floor((p.done / p.total) * 100);
      if (tty) {
        const width = 24;
        const filled = Math.round((pct / 100) * width);
        write(`\r${p.phase.padEnd(11)} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${p.done}/${p.total}`);
        drawn = true;
        return;
      }
      const line = `${p.phase} ${Math.floor(pct / 10)}`;
      if (line === lastLine) return;
      lastLine = line;
      write(`mloop: ${p.phase} ${p.done}/${p.total}\n`);
    },
    done() {
      if (tty && drawn) write('\n');
      drawn = false;
    },
  };
}
