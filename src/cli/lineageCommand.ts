import { InvalidArgumentError, type Command } from 'commander';
import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { dataPathUsage, entryScriptUsage, type DataPathUsage, type EntryScriptUsage } from '../core/lineage/fileUsage';
import { lineageGraph, type LineageEdge, type LineageGraph, type LineageNode } from '../core/lineage/graph';
import { resolveLineageRef } from '../core/lineage/refs';
import { CliFailure, openExistingStore } from './cliIo';
import { asking } from './remoteBackend';
import { formatTime } from './format';
import type { CommandContext } from './trainCommand';

/** `mloop lineage <ref|file> [--depth N] [--json]`: what a node was made from and what was made from it. */
export function registerLineageCommand(program: Command, context: CommandContext): void {
  program.addCommand(
    context
      .child('lineage', 'trace a model version, run, dataset, deployment or drift report upstream and downstream; or a file (training script or data)')
      .argument(
        '<what>',
        'model@version, model@alias, models:/model/3, a run id (prefix), a dataset name (dataset@digest), deployment:<id>, drift:<id>, or a file path; with --backend mlflow: model@version|alias or a run id on the server',
      )
      .option('-d, --depth <hops>', 'hops upstream and downstream (default 3)', parseDepth, 3)
      .option('--json', 'print as JSON')
      .action(async (what: string, options: { depth: number; json?: boolean }) => {
        const write = (text: string): void => void context.io.stdout.write(`${text}\n`);
        const remote = context.remote?.();
        if (remote) {
          // --backend mlflow: model versions and runs of the tracking server, traced there
          const { remoteLineageGraph, resolveRemoteLineageRef } = await import('../core/backends/remoteLineage');
          const graph = await asking(async () => {
            const found = await resolveRemoteLineageRef(remote, what);
            if ('problem' in found) throw new CliFailure(found.problem);
            return remoteLineageGraph(remote, found.id, { depth: options.depth });
          });
          return write(options.json ? JSON.stringify(graph, null, 2) : formatGraph(graph));
        }
        const { store, root } = openExistingStore(context, { readonly: true });
        try {
          const file = resolve(context.io.cwd, what);
          const isFile = (what.includes('/') || what.includes('.')) && existsSync(file) && statSync(file).isFile();
          const found = resolveLineageRef(store, what);
          if ('problem' in found && isFile) {
            const script = entryScriptUsage(store, root, file);
            const data = dataPathUsage(store, root, file);
            if (options.json) return write(JSON.stringify({ file, asEntryScript: script, asData: data }, null, 2));
            return write(formatFileUsage(what, script, data));
          }
          if ('problem' in found) throw new CliFailure(found.problem);
          const graph = lineageGraph(store, found.id, { depth: options.depth });
          write(options.json ? JSON.stringify(graph, null, 2) : formatGraph(graph));
        } finally {
          store.close();
        }
      }),
  );
}

function parseDepth(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 50) throw new InvalidArgumentError(`--depth must be a whole number from 0 to 50 (got "${value}")`);
  return n;
}

const nodeLine = (n: LineageNode): string => `${n.kind.padEnd(10)} ${n.label}${n.detail ? `  (${n.detail})` : ''}`;

/** The root, then an indented tree upstream (←) and downstream (→); a node met twice is printed once and referenced after. */
export function formatGraph(graph: LineageGraph): string {
  const byId = new Map(graph.nodes.map((n) => [n.id, n]));
  const into = new Map<string, LineageEdge[]>();
  const outOf = new Map<string, LineageEdge[]>();
  for (const e of graph.edges) {
    into.set(e.to, [...(into.get(e.to) ?? []), e]);
    outOf.set(e.from, [...(outOf.get(e.from) ?? []), e]);
  }
  const root = byId.get(graph.root)!;
  const lines = [nodeLine(root)];
  const printed = new Set<string>([graph.root]);
  const walk = (id: string, indent: string, direction: 'up' | 'down'): void => {
    const edges = (direction === 'up' ? into.get(id) : outOf.get(id)) ?? [];
    for (const e of edges) {
      const other = direction === 'up' ? e.from : e.to;
      const node = byId.get(other);
      if (!node) continue;
      const arrow = direction === 'up' ? '←' : '→';
      if (printed.has(other)) {
        lines.push(`${indent}${arrow} ${node.kind} ${node.label} [${e.relation}] (above)`);
        continue;
      }
      printed.add(other);
      lines.push(`${indent}${arrow} ${nodeLine(node)} [${e.relation}]`);
      walk(other, `${indent}  `, direction);
    }
  };
  lines.push('upstream');
  const before = lines.length;
  walk(graph.root, '  ', 'up');
  if (lines.length === before) lines.push('  (nothing recorded)');
  lines.push('downstream');
  const after = lines.length;
  walk(graph.root, '  ', 'down');
  if (lines.length === after) lines.push('  (nothing recorded)');
  if (graph.truncated) lines.push(`(stopped at ${graph.nodes.length} nodes; narrow with --depth)`);
  return lines.join('\n');
}

export function formatFileUsage(written: string, script: EntryScriptUsage, data: readonly DataPathUsage[]): string {
  const lines: string[] = [];
  const models = (list: EntryScriptUsage['models']): string =>
    list.map((m) => `${m.modelName} v${m.version}${m.aliases.length ? ` (${m.aliases.map((a) => `@${a}`).join(' ')})` : ''}`).join(', ');
  if (script.runs > 0) {
    lines.push(`${written} is the entry script of ${script.runs} run${script.runs === 1 ? '' : 's'}`);
    const last = script.lastRun!;
    lines.push(
      `  last run ${last.name} (${last.runId.slice(0, 8)}) ${last.status.toLowerCase()} ${formatTime(last.startTime)}${last.gitCommit ? ` at commit ${last.gitCommit.slice(0, 8)}${last.gitDirty ? ' + uncommitted changes' : ''}` : ''}`,
    );
    if (script.models.length) lines.push(`  models: ${models(script.models)}`);
  }
  for (const d of data) {
    lines.push(`${written} is dataset "${d.name}" · ${d.versions} version${d.versions === 1 ? '' : 's'} · read by ${d.runs} run${d.runs === 1 ? '' : 's'}`);
    if (d.latest) lines.push(`  latest @${d.latest.digest.slice(0, 12)}${d.latest.profileLine ? ` · ${d.latest.profileLine}` : ''}`);
    if (d.models.length) lines.push(`  models trained on it: ${models(d.models)}`);
  }
  if (lines.length === 0) lines.push(`${written}: no run used it as its script and no dataset points at it`);
  return lines.join('\n');
}
