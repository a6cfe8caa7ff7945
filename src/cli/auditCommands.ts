import { type Command, InvalidArgumentError, Option } from 'commander';
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { entriesAsCsv, entriesAsJsonl, exportEntries, verifyChain, type ChainVerification } from '../core/governance/auditChain';
import { TeamLedger } from '../core/backends/teamLedger';
import {
  type AuditSigningConfig,
  AuditSigningError,
  SIGNING_NAMESPACE,
  type SignatureVerification,
  signPendingEntries,
  unsignedAfterStart,
  verifySignatures,
} from '../core/governance/auditSigning';
import { type TeamTrailVerification, verifyTeamTrail } from '../core/governance/teamTrail';
import { AuditRepository } from '../core/store/audit';
import { migration010 } from '../core/store/migrations/010_audit_chain';
import { openStore, type Store } from '../core/store/store';
import { CliExit, CliFailure, ExitCode, openExistingStore } from './cliIo';
import { formatTable, formatTime } from './format';
import { readConfig } from './registryCommands';
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
      .option(
        '--allowed-signers <file>',
        "check every entry's SSH signature against this allowed-signers file (default: audit.signing.allowed_signers of mloop.yaml)",
      )
      .action(async (options: { json?: boolean; expectHead?: string; allowedSigners?: string }) => {
        const remote = context.remote?.();
        if (remote) {
          const team = await asking(() => verifyTeamTrail(new TeamLedger(remote)));
          if (options.json) json({ ...team, trail: undefined, entries: team.entries });
          else out(describeTeamVerdict(team));
          if (!team.ok) throw new CliExit(ExitCode.ChainBroken);
          return;
        }
        const signing = signingConfig(context.projectRoot(), options.allowedSigners);
        const { verdict, signatures, presence } = withChainedStore((store) => {
          const chain = verifyChain(store.db, { expectHead: options.expectHead });
          // signatures are checked on an intact chain (a broken one is already the first bad entry)
          const checked = chain.ok && signing?.allowedSigners ? signed(() => verifySignatures(store, signing)) : undefined;
          // without an allowed-signers file, signing at write time is still checked for entries that carry none
          const since = chain.ok && !checked ? unsignedAfterStart(store) : undefined;
          return { verdict: chain, signatures: checked, presence: since?.start === undefined ? undefined : since };
        });
        const unsigned = presence !== undefined && presence.unsigned.length > 0;
        if (options.json)
          json(
            signatures
              ? { ...verdict, ok: verdict.ok && signatures.ok, signatures }
              : presence
                ? { ...verdict, ok: verdict.ok && !unsigned, signingStart: presence.start, unsignedAfterStart: presence.unsigned }
                : verdict,
          );
        else out(describeVerdict(verdict) + (signatures ? `\n${describeSignatures(signatures)}` : presence ? `\n${describePresence(presence)}` : ''));
        if (!verdict.ok || (signatures && !signatures.ok) || unsigned) throw new CliExit(ExitCode.ChainBroken);
      }),
  );

  audit.addCommand(
    context
      .child(
        'audit sign',
        "sign every entry not signed yet with an SSH key in git's signing format (ssh-keygen -Y sign; key from audit.signing.key of mloop.yaml or git config user.signingkey)",
      )
      .option('--key <file>', 'the SSH private key to sign with (overrides the configured one)')
      .option('--json', 'print the count as JSON')
      .action((options: { key?: string; json?: boolean }) => {
        const root = context.projectRoot();
        const config = signingConfig(root, undefined, options.key);
        if (!config?.key) throw new CliFailure('no signing key: pass --key, set audit.signing.key in mloop.yaml, or git config user.signingkey');
        const { store } = openExistingStore(context, { root });
        try {
          const count = signed(() => signPendingEntries(store, config));
          if (options.json) return json({ signed: count });
          out(count ? `signed ${count} entr${count === 1 ? 'y' : 'ies'} with ${config.key}` : 'every entry is already signed');
        } finally {
          store.close();
        }
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

/** Signing problems (no ssh-keygen, a key it cannot use) are one-line CLI failures. */
function signed<T>(fn: () => T): T {
  try {
    return fn();
  } catch (error) {
    if (error instanceof AuditSigningError) throw new CliFailure(error.message);
    throw error;
  }
}

const gitConfigValue = (cwd: string, key: string): string | undefined => {
  try {
    return execFileSync('git', ['config', key], { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 5000 }).trim() || undefined;
  } catch {
    return undefined;
  }
};

/** audit.signing of mloop.yaml with paths resolved (~ and relative to the project), the flags winning; undefined when unused. */
function signingConfig(root: string, allowedSigners?: string, key?: string): AuditSigningConfig | undefined {
  const section = readConfig(root)?.audit?.signing;
  const path = (p: string | undefined, base: string): string | undefined =>
    p === undefined ? undefined : p.startsWith('~/') ? join(homedir(), p.slice(2)) : resolve(base, p);
  const resolvedKey = path(key, process.cwd()) ?? path(section?.key, root) ?? path(section ? gitConfigValue(root, 'user.signingkey') : undefined, root);
  const resolvedSigners = path(allowedSigners, process.cwd()) ?? path(section?.allowed_signers, root);
  if (!resolvedKey && !resolvedSigners) return undefined;
  return {
    ...(resolvedKey ? { key: resolvedKey } : {}),
    ...(resolvedSigners ? { allowedSigners: resolvedSigners } : {}),
    namespace: section?.namespace ?? SIGNING_NAMESPACE,
  };
}

export function describeSignatures(v: SignatureVerification): string {
  if (v.problem) return `signatures: broken at entry #${v.problem.auditId} (${formatTime(v.problem.at)}): ${v.problem.kind}\n  ${v.problem.message}`;
  const since = v.signingStart === undefined ? '' : ` (signed at write time since entry #${v.signingStart})`;
  return `signatures verified ✓ ${v.signed} entr${v.signed === 1 ? 'y' : 'ies'} signed by ${v.signers.join(', ') || 'nobody'}${since}`;
}

/** Signing at write time checked without an allowed-signers file: which entries carry no signature at all. */
function describePresence(p: { start: number | undefined; unsigned: readonly number[] }): string {
  const list = p.unsigned.map((id) => `#${id}`).join(', ');
  return p.unsigned.length
    ? `signatures: ${p.unsigned.length} entr${p.unsigned.length === 1 ? 'y' : 'ies'} written after signing at write time began (entry #${p.start}) carr${p.unsigned.length === 1 ? 'ies' : 'y'} no signature: ${list}`
    : `signed at write time since entry #${p.start}: every entry since carries a signature (set audit.signing.allowed_signers to check them)`;
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
