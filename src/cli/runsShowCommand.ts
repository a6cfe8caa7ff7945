import type { Command } from 'commander';
import { findRunByPrefix, runDetails, type RunDetails } from '../core/runs/runDetails';
import { describeVerdict } from '../core/store/reproductions';
import { RunCodeRepository } from '../core/store/runCode';
import type { Store } from '../core/store/store';
import { formatTable, formatTime } from './format';
import { CliFailure, openExistingStore } from './cliIo';
import type { CommandContext } from './trainCommand';

/** `mloop runs show <run-id> [--json]`: one run with its params, tags, last metric values, status and inputs. */
export function registerRunsShowCommand(runs: Command, context: CommandContext): void {
  runs.addCommand(
    context
      .child('runs show', 'show one run: status, params, tags, last metric values, inputs and artifacts')
      .argument('<run-id>', 'the run id, or a unique prefix of it')
      .option('--json', 'print as JSON')
      .action(async (runIdPrefix: string, options: { json?: boolean }) => {
        const remote = context.remote?.();
        if (remote && context.showRemoteRun) return context.showRemoteRun(remote, runIdPrefix, options, (t) => void context.io.stdout.write(`${t}\n`));
        withRun(context, runIdPrefix, (store, runId) => {
          const details = runDetails(store, runId)!;
          context.io.stdout.write(`${options.json ? JSON.stringify(toJson(details), null, 2) : formatDetails(details)}\n`);
        });
      }),
  );
}

/** `mloop runs diff <run-id>`: the uncommitted changes the run started with, as a patch for `git apply`. */
export function registerRunsDiffCommand(runs: Command, context: CommandContext): void {
  runs.addCommand(
    context
      .child('runs diff', 'print the uncommitted changes a run started with, as a binary-safe patch against its commit (pipe it to git apply)')
      .argument('<run-id>', 'the run id, or a unique prefix of it')
      .action((runIdPrefix: string) => {
        withRun(context, runIdPrefix, (store, runId) => {
          const changes = new RunCodeRepository(store).forRun(runId);
          if (!changes)
            throw new CliFailure(
              `run ${runId} has no uncommitted changes recorded (a clean work tree, no git repository, or a run from before mloop kept them)`,
            );
          if (changes.truncated || !changes.diff)
            throw new CliFailure(`the uncommitted changes of run ${runId} were ${changes.diffBytes} bytes or more, over the cap: they were not kept`);
          context.io.stdout.write(changes.diff);
        });
      }),
  );
}

/** JSON keeps NaN and infinities readable (JSON has no literal for them). */
function toJson(details: RunDetails): unknown {
  const number = (n: number): number | string => (Number.isFinite(n) ? n : String(n));
  return {
    ...details.run,
    experiment: details.experiment,
    params: details.params,
    tags: details.tags,
    metrics: Object.fromEntries(details.metrics.map((m) => [m.key, { value: number(m.value), step: m.step, timestamp: m.timestamp }])),
    inputs: details.inputs,
    artifacts: details.artifacts.map((a) => ({ path: a.path, digest: a.digest, size: a.size })),
    environment: details.environment ? { digest: details.environment.digest, ...details.environment.document } : null,
    uncommitted: details.codeChanges
      ? {
          commit: details.codeChanges.commit,
          diffBytes: details.codeChanges.diffBytes,
          truncated: details.codeChanges.truncated,
          untracked: details.codeChanges.untracked,
        }
      : null,
    reproduces: details.reproduces ?? null,
    reproducedBy: details.reproducedBy,
  };
}

function formatDetails(d: RunDetails): string {
  const { run } = d;
  const ended = run.endTime === null ? '' : ` · ended ${formatTime(run.endTime)} (${formatDuration(run.endTime - run.startTime)})`;
  const exit = run.exitCode === null ? '' : ` (exit code ${run.exitCode})`;
  const code = [
    run.gitCommit ? `git ${run.gitCommit.slice(0, 12)}${run.gitDirty ? ' (uncommitted changes)' : ''}` : 'not in a git repository',
    run.entryFile ? `${run.entryFile} sha256 ${run.entryDigest?.slice(0, 12) ?? '?'}` : undefined,
  ].filter(Boolean);
  const lines = [
    formatTable(
      ['run', run.runId],
      [
        ['name', run.name],
        ['status', `${run.status}${exit}`],
        ['experiment', d.experiment ?? String(run.experimentId)],
        ['pipeline', run.pipeline ?? '—'],
        ['command', run.command ?? '—'],
        ['started', `${formatTime(run.startTime)}${ended}`],
        ['code', code.join(' · ')],
        ...(d.codeChanges
          ? [
              [
                'uncommitted',
                `${d.codeChanges.truncated ? `diff over ${formatBytesShort(d.codeChanges.diffBytes)} not kept` : `diff ${formatBytesShort(d.codeChanges.diffBytes)} kept ("mloop runs diff ${run.runId.slice(0, 8)}")`}${d.codeChanges.untracked.length ? ` · ${d.codeChanges.untracked.length} untracked: ${d.codeChanges.untracked.slice(0, 10).join(' ')}${d.codeChanges.untracked.length > 10 ? ' …' : ''}` : ''}`,
              ],
            ]
          : []),
        ...(d.reproduces ? [['reproduces', `${d.reproduces.originalRunId.slice(0, 8)}: ${describeVerdict(d.reproduces)}`]] : []),
        ...d.reproducedBy.map((r) => ['reproduced by', `${r.runId.slice(0, 8)}: ${describeVerdict(r)}`]),
      ],
    ),
  ];
  const section = (title: string, headers: string[], rows: string[][]): void => {
    lines.push('', rows.length ? formatTable([title, ...headers], rows) : `${title}: none`);
  };
  section(
    'params',
    ['value'],
    Object.entries(d.params).map(([k, v]) => [k, v]),
  );
  section(
    'metrics',
    ['last value', 'step'],
    d.metrics.map((m) => [m.key, String(m.value), String(m.step)]),
  );
  section(
    'tags',
    ['value'],
    Object.entries(d.tags).map(([k, v]) => [k, v]),
  );
  section(
    'inputs',
    ['version', 'rows', 'path'],
    d.inputs.map((i) => [i.dataset, i.digest.slice(0, 12), i.rowCount === null ? '' : String(i.rowCount), i.path]),
  );
  section(
    'artifacts',
    ['size', 'sha256'],
    d.artifacts.map((a) => [a.path, a.size === null ? '' : `${a.size} B`, a.digest?.slice(0, 12) ?? '']),
  );
  const env = d.environment?.document;
  if (!env) lines.push('', 'environment: not recorded (a run from before mloop captured environments)');
  else {
    const packages = env.python ? Object.entries(env.python.packages) : [];
    lines.push(
      '',
      formatTable(
        ['environment', d.environment!.digest.slice(0, 12)],
        [
          ['python', env.python ? `${env.python.version} · ${env.python.executable}` : `unknown (${env.pythonProblem ?? 'not asked'})`],
          ['packages', packages.length ? `${packages.length}: ${packages.map(([n, v]) => `${n}==${v}`).join(' ')}` : '—'],
          ['os', `${env.os.type} ${env.os.release} (${env.os.platform}, ${env.os.arch})`],
          ['cpu', `${env.cpu.count} × ${env.cpu.model}`],
          ['variables', Object.keys(env.env).length ? Object.keys(env.env).join(' ') : '—'],
          ['withheld', env.withheld.length ? `${env.withheld.join(' ')} (look like secrets: values not stored)` : '—'],
        ],
      ),
    );
  }
  return lines.join('\n');
}

function formatBytesShort(bytes: number): string {
  return bytes < 1024 ? `${bytes} B` : bytes < 1024 * 1024 ? `${(bytes / 1024).toFixed(1)} KB` : `${(bytes / 1048576).toFixed(1)} MB`;
}

function formatDuration(ms: number): string {
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const minutes = Math.floor(ms / 60_000);
  return minutes < 60 ? `${minutes} min ${Math.round((ms % 60_000) / 1000)} s` : `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}

/** Runs `fn` on the run a prefix names, in the project's existing store opened read-only (a listing never creates one). */
function withRun(context: CommandContext, runIdPrefix: string, fn: (store: Store, runId: string) => void): void {
  const { store } = openExistingStore(context, { readonly: true });
  try {
    const found = findRunByPrefix(store, runIdPrefix);
    if ('problem' in found) throw new CliFailure(found.problem);
    fn(store, found.runId);
  } finally {
    store.close();
  }
}
