import { type Command, InvalidArgumentError, Option } from 'commander';
import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { entriesAsCsv, entriesAsJsonl, exportEntries, verifyChain, type ChainVerification } from '../core/governance/auditChain';
import { TeamLedger } from '../core/backends/teamLedger';
import { type TeamTrailVerification, verifyTeamTrail } from '../core/governance/teamTrail';
import { AuditRepository } from '../core/store/audit';
import { migration010 } from '../core/store/migrations/010_audit_chain';
import { openStore, type Store } from '../core/store/store';
import { CliExit, ExitCode } from './cliIo';
import { formatTable, formatTime } from './format';
import { asking } from './remoteBackend';
import type { CommandContext } from './trainCommand';

interface AuditContext extends CommandContext {
  /** Opens the existing store read-only (never creates one). */
  withExistingStore<T>(fn: (store: Store, root: string) => T): T;
}

const parseLimit = (value: string): number => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected a whole number of at least 1.');
  return n;
};

const parseHash = (value: string): string => {
  if (!/^[0-9a-f]{64}$/i.test(value)) throw new InvalidArgumentError('expected a SHA-256 hash: 64 hexadecimal characters, as "mloop audit verify" prints it.');
  return value.toLowerCase();
};

/** `mloop audit [list] | verify | export`: the trail, its hash chain, and a file for auditors. */
export function registerAuditCommands(program: Command, context: AuditContext): void {
  const { io } = context;
  const out = (text: string): void => void io.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
  const json = (value: unknown): void => out(JSON.stringify(value, null, 2));

  /** A store from before the chain is upgraded once (its entries are chained then), so there is a chain to read. */
  const withChainedStore = <T>(fn: (store: Store) => T): T =>
    context.withExistingStore((store) => {
      if (store.schemaVersion >= migration010.version) return fn(store);
      const writable = openStore({ path: store.path });
      try {
        io.stderr.write(
          `mloop: upgraded ${store.path} to store schema ${writable.schemaVersion}; its existing audit entries were chained now, so the chain vouches for them from today on only\n`,
        );
        return fn(writable);
      } finally {
        writable.close();
      }
    });

  const audit = context.child('audit', 'the audit trail: who changed what in the registry and deployments, its hash chain, an export for auditors');

  audit.addCommand(
    context
      .child('audit list', 'list the entries, newest first (the default: "mloop audit" is "mloop audit list")')
      .option('--json', 'print as JSON')
      .option('-n, --limit <count>', 'at most this many entries', parseLimit)
      .action((options: { json?: boolean; limit?: number }) =>
        context.withExistingStore((store) => {
          const list = new AuditRepository(store).list({ limit: options.limit });
          if (options.json) return json(list);
          if (list.length === 0) return out('no audit entries yet');
          out(
            formatTable(
              ['when', 'who', 'action', 'what', 'change', 'why'],
              list.map((a) => [formatTime(a.at), a.actor, a.action, a.entityId, `${a.fromValue ?? '∅'} → ${a.toValue ?? '∅'}`, a.reason ?? '']),
            ),
          );
        }),
      ),
    { isDefault: true },
  );

  audit.addCommand(
    context
      .child(
        'audit verify',
        "check the hash chain of the audit trail; names the first edited, deleted, inserted or reordered entry. With --backend mlflow: the team trail on the server, every workspace's chain. Exit codes: 0 the chain is intact, 5 it is broken (or --expect-head is not in it), 1 the store or server cannot be read",
      )
      .option('--json', 'print the verdict as JSON')
      .option(
        '--expect-head <hash>',
        'a head hash printed by an earlier verify: fail unless that entry is still in the chain (detects a truncated trail)',
        parseHash,
      )
      .action(async (options: { json?: boolean; expectHead?: string }) => {
        const remote = context.remote?.();
        if (remote) {
          const team = await asking(() => verifyTeamTrail(new TeamLedger(remote)));
          if (options.json) json({ ...team, trail: undefined, entries: team.entries });
          else out(describeTeamVerdict(team));
          if (!team.ok) throw new CliExit(ExitCode.ChainBroken);
          return;
        }
        const verdict = withChainedStore((store) => verifyChain(store.db, { expectHead: options.expectHead }));
        if (options.json) json(verdict);
        else out(describeVerdict(verdict));
        if (!verdict.ok) throw new CliExit(ExitCode.ChainBroken);
      }),
  );

  audit.addCommand(
    context
      .child('audit export', 'write every entry, oldest first, with its prev_hash and hash (each line can be re-hashed by an auditor)')
      .addOption(new Option('--format <format>', 'jsonl (one JSON object per line) or csv (RFC 4180)').choices(['jsonl', 'csv']).default('jsonl'))
      .option('-o, --out <file>', 'write to this file instead of stdout')
      .action((options: { format: 'jsonl' | 'csv'; out?: string }) => {
        const text = withChainedStore((store) => {
          const entries = exportEntries(store.db);
          return options.format === 'csv' ? entriesAsCsv(entries) : entriesAsJsonl(entries);
        });
        if (options.out) writeFileSync(resolve(io.cwd, options.out), text);
        else io.stdout.write(text);
      }),
  );

  program.addCommand(audit);
}

export function describeTeamVerdict(verdict: TeamTrailVerification): string {
  const lines = verdict.problem
    ? [
        `team trail on ${verdict.server} broken: writer ${verdict.problem.writer} entry #${verdict.problem.auditId} (${formatTime(verdict.problem.at)}): ${verdict.problem.kind}`,
        `  ${verdict.problem.message}`,
      ]
    : [
        `team trail on ${verdict.server} verified ✓ ${verdict.entries} entr${verdict.entries === 1 ? 'y' : 'ies'} from ${verdict.writers.length} workspace${verdict.writers.length === 1 ? '' : 's'}`,
      ];
  for (const w of verdict.writers) lines.push(`  ${w.problem ? '✗' : '✓'} writer ${w.writer}: ${w.entries} entries by ${w.actors.join(', ')}; head ${w.head}`);
  return lines.join('\n');
}

export function describeVerdict(verdict: ChainVerification): string {
  const lines: string[] = [];
  if (verdict.problem) {
    const p = verdict.problem;
    lines.push(`chain broken at entry #${p.auditId} (${formatTime(p.at)}): ${p.kind}`, `  ${p.message}`);
  } else {
    lines.push(`chain verified ✓ ${verdict.entries} entr${verdict.entries === 1 ? 'y' : 'ies'}`);
  }
  if (verdict.expectedHeadFound === false) lines.push('the expected head is not in the chain: entries were removed or rewritten since it was recorded');
  if (!verdict.problem) lines.push(`head ${verdict.head}`);
  return lines.join('\n');
}
