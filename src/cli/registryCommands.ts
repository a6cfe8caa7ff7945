import type { Command } from 'commander';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { formatProblem, loadConfig } from '../core/config/loadConfig';
import type { Config, RegisterPolicy } from '../core/config/schema';
import { CONFIG_FILE } from '../core/project/init';
import { registryActor } from '../core/registry/actor';
import { findModel, promote, removeAlias, rollbackAlias, CHAMPION } from '../core/registry/aliases';
import { gateSpecFor, registerPipelineModel, type AutoRegistration, type SkippedRegistration } from '../core/registry/autoRegister';
import { RegistryError } from '../core/registry/errors';
import { ApprovalRequiredError } from '../core/governance/approvals';
import { registerFromRun, type RegistryContext, type StoredGate } from '../core/registry/register';
import { findRunByPrefix } from '../core/runs/runDetails';
import { ModelRepository } from '../core/store/models';
import type { Store } from '../core/store/store';
import { CliExit, CliFailure, ExitCode, openExistingStore } from './cliIo';
import { formatTable, formatTime } from './format';
import type { CommandContext } from './trainCommand';
import { artifactRootOf } from '../core/store/artifactRoot';

/** The store's artifact folder: beside the store file, as the tracking server keeps it. */

/** After `mloop train`: registers the pipeline's model; an error is reported, never thrown past the run. */
export async function registerAfterRun(input: {
  store: Store;
  artifactRoot: string;
  root: string;
  config: Config;
  pipelineName: string;
  runId: string;
  status: string;
  /** Overrides the pipeline's `register:` policy (`mloop train --register always` in CI). */
  policy?: RegisterPolicy;
}): Promise<{ result?: AutoRegistration; skipped?: SkippedRegistration; error?: string }> {
  try {
    const ctx: RegistryContext = { store: input.store, artifactRoot: input.artifactRoot, actor: registryActor(input.root) };
    const result = await registerPipelineModel(ctx, {
      config: input.config,
      pipelineName: input.pipelineName,
      runId: input.runId,
      status: input.status,
      projectRoot: input.root,
      ...(input.policy ? { policy: input.policy } : {}),
    });
    if (result && 'skipped' in result) return { skipped: result };
    return result ? { result } : {};
  } catch (error) {
    return { error: (error as Error).message };
  }
}

export function describeRegistration(r: { modelName: string; version: { version: number }; gate: StoredGate | null; reused?: boolean }): string {
  const gate = r.gate ? `gate ${r.gate.passed ? '✓' : '✗'} (${r.gate.checks.map((c) => `${c.passed ? '✓' : '✗'} ${c.detail}`).join('; ')})` : 'no gate';
  return `${r.reused ? 'gated' : 'registered'} ${r.modelName} v${r.version.version} · ${gate}`;
}

/** mloop.yaml of the project when there is one (none: undefined); its errors stop the command. */
export function readConfig(root: string): Config | undefined {
  const path = join(root, CONFIG_FILE);
  if (!existsSync(path)) return undefined;
  const { config, problems } = loadConfig(readFileSync(path, 'utf8'), path);
  if (!config) throw new CliFailure(`${path} has errors:\n${problems.map(formatProblem).join('\n')}`);
  return config;
}

const parseVersion = (text: string): number => {
  const n = Number(text.replace(/^v/i, ''));
  if (!Number.isSafeInteger(n) || n < 1) throw new CliFailure(`"${text}" is not a version number (expected e.g. 3 or v3)`);
  return n;
};

/** `mloop models show|register|alias|promote|rollback`: registry changes from a terminal, audited like the editor's. */
export function registerRegistryCommands(models: Command, context: CommandContext): void {
  const { io } = context;
  const out = (text: string): void => void io.stdout.write(`${text}\n`);
  const json = (value: unknown): void => out(JSON.stringify(value, null, 2));

  /** A writable store (registry changes write), the project's config and the acting user. */
  const withRegistry = async <T>(fn: (ctx: RegistryContext, config: Config | undefined, root: string) => Promise<T> | T): Promise<T> => {
    const { store, root } = openExistingStore(context);
    try {
      return await fn({ store, artifactRoot: artifactRootOf(store.path), actor: registryActor(root) }, readConfig(root), root);
    } catch (error) {
      if (error instanceof RegistryError) throw new CliFailure(error.message);
      if (error instanceof ApprovalRequiredError) {
        io.stdout.write(`mloop: ${error.message}\n`);
        throw new CliExit(ExitCode.ApprovalRequired);
      }
      throw error;
    } finally {
      store.close();
    }
  };

  models.addCommand(
    context
      .child('models show', 'one model: its versions (aliases, gate, source run, digest) and alias history')
      .argument('<model>', 'registered model name')
      .option('--json', 'print as JSON')
      .action((name: string, options: { json?: boolean }) =>
        withRegistry((ctx) => {
          const model = findModel(ctx, name);
          const repo = new ModelRepository(ctx.store);
          const versions = repo.versions(model.modelId).map((v) => ({ ...v, ...repo.versionDetails(v.modelVersionId) }));
          const aliases = [
            ...new Set(
              ctx.store.db.prepare('SELECT DISTINCT alias FROM alias_history WHERE model_id = ? ORDER BY alias').pluck().all(model.modelId) as string[],
            ),
          ];
          const history = Object.fromEntries(aliases.map((a) => [a, repo.aliasHistory(model.modelId, a)]));
          if (options.json) return json({ ...model, versions, aliasHistory: history });
          out(`${model.name} · ${versions.length} version${versions.length === 1 ? '' : 's'}`);
          if (versions.length) {
            out(
              formatTable(
                ['version', 'aliases', 'gate', 'run', 'registered', 'artifact'],
                versions.map((v) => [
                  `v${v.version}`,
                  v.aliases.map((a) => `@${a}`).join(' '),
                  v.gatePassed === null ? '—' : v.gatePassed ? '✓ passed' : '✗ failed',
                  v.sourceRunId?.slice(0, 8) ?? '—',
                  formatTime(v.createdAt),
                  `${v.artifactPath ?? '—'}${v.artifactDigest ? ` ${v.artifactDigest.replace(/^sha256:/, '').slice(0, 12)}` : ''}`,
                ]),
              ),
            );
          }
          for (const [alias, changes] of Object.entries(history)) {
            out(`\n@${alias} history`);
            out(
              formatTable(
                ['when', 'who', 'action', 'change', 'why'],
                changes.map((c) => [
                  formatTime(c.changedAt),
                  c.actor ?? '',
                  c.action ?? '',
                  `${c.fromVersion ? `v${c.fromVersion}` : '∅'} → ${c.toVersion ? `v${c.toVersion}` : '∅'}`,
                  c.reason ?? '',
                ]),
              ),
            );
          }
        }),
      ),
  );

  models.addCommand(
    context
      .child(
        'models register',
        'register a version of a model from a finished run (the gate from mloop.yaml is evaluated). Exit codes: 0 registered (gate passed or no gate), 1 not registered, 4 registered but the version failed its release gate',
      )
      .argument('<run-id>', 'the run id, or a unique prefix of it')
      .option('-m, --model <name>', "model name (default: the model of the run's pipeline)")
      .option(
        '-a, --artifact <path>',
        "the artifact: a run artifact path or a file the run wrote (default: the pipeline's model.path, else the model the run logged with mlflow)",
      )
      .option('--json', 'print as JSON')
      .action((runPrefix: string, options: { model?: string; artifact?: string; json?: boolean }) =>
        withRegistry(async (ctx, config, root) => {
          const found = findRunByPrefix(ctx.store, runPrefix);
          if ('problem' in found) throw new CliFailure(found.problem);
          const pipeline = ctx.store.db.prepare('SELECT pipeline FROM run WHERE run_id = ?').pluck().get(found.runId) as string | null;
          const declared = pipeline ? config?.pipelines[pipeline]?.model : undefined;
          const modelName = options.model ?? declared?.name;
          if (!modelName) throw new CliFailure(`run ${found.runId} has no pipeline with a model: section; name the model with --model`);
          const artifactPath = options.artifact ?? (declared && declared.name === modelName ? declared.path : undefined);
          const result = await registerFromRun(ctx, { runId: found.runId, modelName, artifactPath, projectRoot: root, gate: gateSpecFor(config, modelName) });
          if (options.json) json({ model: modelName, version: result.version, gate: result.gate });
          else out(describeRegistration({ modelName, ...result }));
          if (result.gate && !result.gate.passed) {
            io.stderr.write(`mloop: ${modelName} v${result.version.version} was registered but failed its release gate (exit ${ExitCode.GateFailed})\n`);
            throw new CliExit(ExitCode.GateFailed);
          }
        }),
      ),
  );

  models.addCommand(
    context
      .child(
        'models promote',
        'point an alias (champion by default) at a version; champion requires a passing gate, and approval when the model has an approvals policy (exit 6: request created)',
      )
      .argument('<model>', 'registered model name')
      .argument('<version>', 'version number, e.g. 3 or v3')
      .option('--alias <alias>', 'the alias to move', CHAMPION)
      .option('--override <reason>', 'promote although the gate failed; the reason is audited')
      .option('--reason <text>', 'why (audited)')
      .option('--json', 'print as JSON')
      .action((name: string, versionText: string, options: { alias: string; override?: string; reason?: string; json?: boolean }) =>
        withRegistry(async (ctx, config) => {
          const result = await promote(ctx, {
            modelName: name,
            version: parseVersion(versionText),
            alias: options.alias,
            overrideReason: options.override,
            reason: options.reason,
            gate: gateSpecFor(config, name),
          });
          if (options.json) return json(result);
          out(
            `${name}@${options.alias}: ${result.previous ? `v${result.previous}` : '∅'} → v${result.version.version}${result.overridden ? ' (gate failed, overridden)' : result.gate ? ' (gate ✓)' : ''}`,
          );
        }),
      ),
  );

  models.addCommand(
    context
      .child('models alias', 'set, move or remove an alias (champion goes through the gate, as in promote)')
      .argument('<model>', 'registered model name')
      .argument('<alias>', 'alias name (letters, digits, _ and -; not "latest" or v<number>)')
      .argument('[version]', 'version to point it at (omit with --remove)')
      .option('--remove', 'remove the alias')
      .option('--override <reason>', 'for champion: promote although the gate failed')
      .option('--reason <text>', 'why (audited)')
      .option('--json', 'print as JSON')
      .action(
        (name: string, alias: string, versionText: string | undefined, options: { remove?: boolean; override?: string; reason?: string; json?: boolean }) =>
          withRegistry(async (ctx, config) => {
            if (options.remove) {
              if (versionText !== undefined) throw new CliFailure('give either a version or --remove, not both');
              const was = removeAlias(ctx, { modelName: name, alias, reason: options.reason });
              return options.json ? json({ model: name, alias, removed: was }) : out(`${name}@${alias} removed (was v${was})`);
            }
            if (versionText === undefined) throw new CliFailure('which version? e.g. "mloop models alias weather-clf challenger 3"');
            const result = await promote(ctx, {
              modelName: name,
              version: parseVersion(versionText),
              alias,
              overrideReason: options.override,
              reason: options.reason,
              gate: gateSpecFor(config, name),
            });
            if (options.json) return json(result);
            out(`${name}@${alias}: ${result.previous ? `v${result.previous}` : '∅'} → v${result.version.version}`);
          }),
      ),
  );

  models.addCommand(
    context
      .child('models rollback', 'move an alias back to the version it pointed at before (champion by default)')
      .argument('<model>', 'registered model name')
      .option('--alias <alias>', 'the alias to roll back', CHAMPION)
      .option('--reason <text>', 'why (audited)')
      .option('--json', 'print as JSON')
      .action((name: string, options: { alias: string; reason?: string; json?: boolean }) =>
        withRegistry(async (ctx) => {
          const result = await rollbackAlias(ctx, { modelName: name, alias: options.alias, reason: options.reason });
          if (options.json) return json({ model: name, alias: options.alias, ...result });
          out(`${name}@${options.alias} rolled back: ${result.from ? `v${result.from}` : '∅'} → v${result.to}`);
        }),
      ),
  );
}
