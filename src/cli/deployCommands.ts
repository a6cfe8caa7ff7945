import type { Command } from 'commander';
import { existsSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { formatProblem, loadConfig } from '../core/config/loadConfig';
import { DEPLOY_STRATEGIES, type Config } from '../core/config/schema';
import {
  restartTarget,
  deployVersion,
  rollbackDeployment,
  servingDeployments,
  stopAllTargets,
  stopTarget,
  type DeployContext,
  type DeployOutcome,
} from '../core/deploy/deploy';
import { DeployError } from '../core/deploy/errors';
import { checkService, serviceSummary } from '../core/monitoring/serviceHealth';
import { promoteShadow, shadowReport, stopShadow } from '../core/deploy/shadow';
import { abTargetReportLive, promoteAbWinner, startAbTest, stopAbTest, type AbTargetReport } from '../core/gateway/abRollout';
import { z } from 'zod';
import { CONFIG_FILE } from '../core/project/init';
import { registryActor } from '../core/registry/actor';
import { RegistryError } from '../core/registry/errors';
import { defaultRetrainModel, RetrainError } from '../core/retrain/recipe';
import { retrainModel } from '../core/retrain/retrain';
import { DatasetGateError } from '../core/datasets/versions';
import type { DeploymentStrategy } from '../core/store/deployments';
import { startTrackingServer } from '../core/tracking/server';
import { CliExit, CliFailure, ExitCode, openExistingStore } from './cliIo';
import { ApprovalRequiredError } from '../core/governance/approvals';
import { artifactRootOf } from '../core/store/artifactRoot';
import { parseRequestId } from './approvalCommands';
import { teamContextFor } from './teamPublish';
import { pullFromServer } from './serverModel';
import { asking } from './remoteBackend';
import type { MlflowBackend } from '../core/backends/mlflowBackend';
import { type PublishedVersion, PublishRequestError, publishStoredVersion, publishVersionToServer } from '../core/backends/publishVersion';
import { pythonOf } from '../core/runs/environment';
import type { CommandContext } from './trainCommand';

/** `model@alias`, `model/3`, `model/v3` or `model` (its champion). */
export function parseModelRef(text: string): { modelName: string; version?: number; alias?: string } {
  const at = /^([^@/]+)@([\w-]+)$/.exec(text);
  if (at) return { modelName: at[1]!, alias: at[2]! };
  const slash = /^([^@/]+)\/v?(\d+)$/.exec(text);
  if (slash) return { modelName: slash[1]!, version: Number(slash[2]) };
  if (/^[^@/]+$/.test(text)) return { modelName: text, alias: 'champion' };
  throw new CliFailure(`"${text}" is not a model reference: write model@alias, model/<version> or model (its champion)`);
}

const requestNumber = (text: string): number => {
  try {
    return parseRequestId(text);
  } catch (error) {
    throw new CliFailure(`--request "${text}": ${(error as Error).message}`);
  }
};

/** The server version a retrain of this model starts from: its champion, else its newest (undefined: the server lacks the model). */
async function serverBase(backend: MlflowBackend, modelName: string): Promise<{ version: number } | undefined> {
  return asking(async () => {
    if (!(await backend.listModels()).some((m) => m.name === modelName)) return undefined;
    const versions = await backend.modelVersions(modelName);
    const base = versions.find((v) => v.aliases.includes('champion')) ?? [...versions].sort((a, b) => b.version - a.version)[0];
    return base ? { version: base.version } : undefined;
  });
}

/** Ctrl-C cancels the deployment or the run (which then rolls back / stops cleanly). */
function interruptible(io: CommandContext['io']): { signal: AbortSignal; dispose(): void } {
  const controller = new AbortController();
  const onSignal = (): void => {
    io.stderr.write('\nmloop: cancelling…\n');
    controller.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return {
    signal: controller.signal,
    dispose: () => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    },
  };
}

/** `mloop deploy`, `mloop rollback`, `mloop health`, `mloop undeploy`, `mloop retrain`. */
export function registerDeployCommands(program: Command, context: CommandContext): void {
  const { io } = context;
  const out = (text: string): void => void io.stdout.write(`${text}\n`);
  const err = (text: string): void => void io.stderr.write(`mloop: ${text}\n`);

  const withProject = async <T>(fn: (ctx: DeployContext) => Promise<T>): Promise<T> => {
    const root = context.projectRoot();
    const configPath = join(root, CONFIG_FILE);
    if (!existsSync(configPath)) throw new CliFailure(`no ${CONFIG_FILE} in ${root}: run "mloop init" to write one`);
    const shown = relative(io.cwd, configPath) || CONFIG_FILE;
    const { config, problems } = loadConfig(readFileSync(configPath, 'utf8'), shown);
    for (const problem of problems) io.stderr.write(`${formatProblem(problem)}\n`);
    if (!config) throw new CliFailure(`${shown} has errors (above); fix them first`);
    const { store } = openExistingStore(context, { root });
    try {
      // with the MLflow backend a protected target's approvals are on the team's server, as its user
      const team = await teamContextFor(context.remote?.(), store, root, { offline: true });
      // the user typed this in their own terminal: their shell commands may run
      return await fn({
        store,
        artifactRoot: artifactRootOf(store.path),
        actor: team?.actor ?? registryActor(root),
        ...(team ? { team } : {}),
        projectRoot: root,
        config: config as Config,
        trusted: true,
      });
    } catch (error) {
      if (error instanceof DeployError || error instanceof RegistryError || error instanceof RetrainError || error instanceof DatasetGateError)
        throw new CliFailure(error.message);
      if (error instanceof ApprovalRequiredError) {
        const r = error.request;
        const server = typeof r.requestId === 'string' ? ' --backend mlflow' : '';
        out(`mloop: ${error.message}; once approved: mloop deploy ${r.modelName}/${r.version} --target ${r.subject} --request ${r.requestId}${server}`);
        throw new CliExit(ExitCode.ApprovalRequired);
      }
      throw error;
    } finally {
      store.close();
    }
  };

  const report = (outcome: DeployOutcome, json: boolean | undefined): void => {
    if (json)
      out(
        JSON.stringify(
          {
            status: outcome.status,
            reason: outcome.reason ?? null,
            deployment: outcome.deployment,
            checks: outcome.checks,
            ...(outcome.shadow ? { shadow: outcome.shadow } : {}),
          },
          null,
          2,
        ),
      );
    if (outcome.status === 'shadowing') {
      if (!json)
        out(
          `mloop: ${outcome.deployment.modelName} v${outcome.deployment.version} runs as a shadow on ${outcome.deployment.target} at ${outcome.deployment.health?.process?.url ?? '?'}: ${outcome.shadow?.summary ?? ''}\nmloop: later: mloop shadow ${outcome.deployment.target} (report) · --promote · --stop`,
        );
      return;
    }
    if (outcome.status !== 'healthy') throw new CliFailure(`${outcome.status === 'rolled_back' ? 'rolled back' : 'deployment failed'}: ${outcome.reason}`);
    if (!json)
      out(
        `mloop: ${outcome.deployment.modelName} v${outcome.deployment.version} serves on ${outcome.deployment.target}${outcome.deployment.health?.gateway ? ` at ${outcome.deployment.health.gateway.url} (gateway; the version on ${outcome.deployment.health.process?.url ?? '?'})` : outcome.deployment.health?.process?.url ? ` at ${outcome.deployment.health.process.url}` : ''}`,
      );
  };

  const abText = (r: AbTargetReport): string => {
    const num = (v: number | null, digits = 4): string => (v === null ? '–' : Number(v.toPrecision(digits)).toString());
    const [champion, challenger] = r.arms;
    const rows = [
      ['arm', 'version', 'split', 'n', 'mean', 'sd'],
      ...[r.control, r.treatment].map((s, i) => [
        r.arms[i]!.role,
        `v${r.arms[i]!.version}`,
        `${num(r.arms[i]!.split, 3)}%`,
        String(s.n),
        num(s.mean),
        num(s.sd),
      ]),
    ];
    const widths = rows[0]!.map((_, c) => Math.max(...rows.map((row) => row[c]!.length)));
    return [
      r.aa
        ? `A/A test on ${r.target} since ${new Date(r.since).toISOString()}: ${champion!.modelName} v${champion!.version} in both arms (a check of the setup: any decision but continue is a false positive), ${r.binary ? 'binary' : 'continuous'} reward`
        : `A/B test on ${r.target} since ${new Date(r.since).toISOString()}: ${champion!.modelName} v${champion!.version} (champion) vs ${challenger!.modelName} v${challenger!.version} (challenger), ${r.binary ? 'binary' : 'continuous'} reward`,
      ...rows.map((row) =>
        row
          .map((cell, c) => cell.padEnd(widths[c]!))
          .join('  ')
          .trimEnd(),
      ),
      r.lift
        ? `lift ${r.lift.absolute >= 0 ? '+' : ''}${num(r.lift.absolute)}${r.lift.relative === null ? '' : ` (${r.lift.relative >= 0 ? '+' : ''}${num(100 * r.lift.relative, 3)}%)`}, always-valid ${Math.round(100 * (1 - r.alpha))}% interval [${Number.isFinite(r.lift.interval[0]) ? num(r.lift.interval[0]) : '−∞'}, ${Number.isFinite(r.lift.interval[1]) ? num(r.lift.interval[1]) : '∞'}], always-valid p = ${num(r.pValue, 3)}`
        : 'lift –',
      `decision: ${r.decision.replace('_', ' ')} — ${r.reason}`,
      `guardrails: ${r.guardrails.map((g) => `v${g.version} ${g.requests} requests, ${g.errorRate === null ? '–' : `${num(100 * g.errorRate, 3)}%`} errors, p95 ${num(g.p95LatencyMs, 3)} ms`).join('; ')}`,
      `feedback for unknown request ids: ${r.unknownFeedback}`,
    ].join('\n');
  };

  const abOptions = z.strictObject({
    start: z.string().min(1).optional(),
    split: z.coerce.number({ error: '--split is a number' }).gt(0, { error: '--split is above 0' }).lt(100, { error: '--split is below 100' }).default(50),
    stop: z.boolean().optional(),
    promote: z.boolean().optional(),
    bandit: z.boolean().optional(),
    aa: z.boolean().optional(),
    reason: z.string().optional(),
    override: z.string().optional(),
    json: z.boolean().optional(),
  });

  program.addCommand(
    context
      .child('ab', 'A/B test on a gateway target: start a challenger beside the serving version, report the always-valid statistics, stop')
      .argument('<target>', 'target name under targets: in mloop.yaml (gateway: true)')
      .option('--start <model>', 'start the challenger (model@alias, model/<version>) and split the traffic')
      .option('--split <percent>', "the challenger's share of the requests with --start (default 50)")
      .option('--bandit', 'with --start: Thompson sampling moves the split toward the version with more reward (binary rewards, 5% floor per arm)')
      .option(
        '--aa',
        'start an A/A test: a second process of the serving version as the challenger, a check of the setup (any decision but continue is a false positive)',
      )
      .option('--stop', 'end the test: all traffic back to the serving version, the challenger stopped')
      .option(
        '--promote',
        'Promote Winner: when the report says ship, the challenger becomes @champion and is deployed to the target (blue/green); the test ends',
      )
      .option('-r, --reason <text>', 'why (recorded in the audit trail)')
      .option(
        '--override <reason>',
        'with --start: a challenger whose release gate failed or was never evaluated; with --promote: promote although the decision is not ship (audited)',
      )
      .option('--json', 'print the report as JSON')
      .action((target: string, raw: Record<string, unknown>) =>
        withProject(async (ctx) => {
          const parsed = abOptions.safeParse(raw);
          if (!parsed.success) throw new CliFailure(parsed.error.issues.map((i) => i.message).join('; '));
          const options = parsed.data;
          if ([options.start, options.aa, options.stop, options.promote].filter(Boolean).length > 1)
            throw new CliFailure('--start, --aa, --stop and --promote exclude each other');
          if (options.promote) {
            const cancel = interruptible(io);
            try {
              const promoted = await promoteAbWinner(ctx, {
                target,
                ...(options.override ? { override: options.override } : {}),
                ...(options.reason ? { reason: options.reason } : {}),
                signal: cancel.signal,
                onProgress: (m) => err(m),
              });
              const winner = promoted.report.arms[1]!;
              if (!options.json && promoted.outcome.status === 'healthy')
                out(`mloop: ${winner.modelName} v${winner.version} won (${promoted.report.decision}) and is now ${winner.modelName}@champion`);
              return report(promoted.outcome, options.json);
            } finally {
              cancel.dispose();
            }
          }
          const abReport =
            options.start || options.aa
              ? await startAbTest(ctx, {
                  target,
                  ...(options.start ? parseModelRef(options.start) : { modelName: '', aa: true }),
                  split: options.split,
                  ...(options.bandit ? { bandit: true } : {}),
                  ...(options.reason ? { reason: options.reason } : {}),
                  ...(options.override ? { override: options.override } : {}),
                })
              : options.stop
                ? await stopAbTest(ctx, { target, ...(options.reason ? { reason: options.reason } : {}) })
                : await abTargetReportLive(ctx.store, target);
          out(
            options.json
              ? JSON.stringify(abReport, null, 2)
              : `${options.stop ? 'mloop: the A/B test ended; the serving version takes all traffic again\n' : ''}${abText(abReport)}`,
          );
        }),
      ),
  );

  program.addCommand(
    context
      .child(
        'deploy',
        'deploy a model version to a target from mloop.yaml (health checks, smoke test, automatic rollback); a protected target needs an approved request (exit 6: request created)',
      )
      .argument('<model>', 'model@alias, model/<version>, or model (its champion)')
      .requiredOption('-t, --target <name>', 'target name under targets: in mloop.yaml')
      .option('-s, --strategy <strategy>', `override the target's strategy (${DEPLOY_STRATEGIES.join(' | ')})`)
      .option('-r, --reason <text>', 'why (recorded in the audit trail)')
      .option('--override <reason>', 'deploy a version whose release gate failed or was never evaluated (the reason is audited)')
      .option('--request <id>', 'a protected target: the approved request this deployment carries out (see "mloop requests"; a hex id with --backend mlflow)')
      .option('--json', 'print the outcome as JSON')
      .action((ref: string, options: { target: string; strategy?: string; reason?: string; override?: string; request?: string; json?: boolean }) =>
        withProject(async (ctx) => {
          if (options.strategy !== undefined && !(DEPLOY_STRATEGIES as readonly string[]).includes(options.strategy)) {
            throw new CliFailure(`unknown strategy "${options.strategy}" (${DEPLOY_STRATEGIES.join(', ')})`);
          }
          const cancel = interruptible(io);
          try {
            await pullFromServer(context, ctx.store, ctx.projectRoot, parseModelRef(ref), err, cancel.signal);
            const outcome = await deployVersion(ctx, {
              ...parseModelRef(ref),
              target: options.target,
              ...(options.strategy ? { strategy: options.strategy as DeploymentStrategy } : {}),
              ...(options.reason ? { reason: options.reason } : {}),
              ...(options.override !== undefined ? { override: options.override } : {}),
              ...(options.request !== undefined ? { approvedRequestId: ctx.team ? options.request.replace(/^#/, '') : requestNumber(options.request) } : {}),
              signal: cancel.signal,
              onProgress: err,
            });
            report(outcome, options.json);
          } finally {
            cancel.dispose();
          }
        }),
      ),
  );

  // rollback and restart: a deployment on the target's serving version, cancellable, its outcome reported
  for (const [name, description, run] of [
    ['rollback', 'put back the version that served on a target before the current one', rollbackDeployment],
    ['restart', 'start the version serving on a target again (after its process died), audited', restartTarget],
  ] as const)
    program.addCommand(
      context
        .child(name, description)
        .argument('<target>', 'target name')
        .option('-r, --reason <text>', 'why (recorded in the audit trail)')
        .option('--json', 'print the outcome as JSON')
        .action((target: string, options: { reason?: string; json?: boolean }) =>
          withProject(async (ctx) => {
            const cancel = interruptible(io);
            try {
              report(await run(ctx, { target, ...(options.reason ? { reason: options.reason } : {}), signal: cancel.signal, onProgress: err }), options.json);
            } finally {
              cancel.dispose();
            }
          }),
        ),
    );

  program.addCommand(
    context
      .child(
        'health',
        'check what serves on a target now: process, health check, and latency/errors/request rate from its serving log; stored for uptime (exit 1 when down, 3 on an alert)',
      )
      .argument('<target>', 'target name')
      .option('--json', 'print as JSON')
      .action((target: string, options: { json?: boolean }) =>
        withProject(async (ctx) => {
          const cancel = interruptible(io);
          try {
            const r = await checkService(ctx, target, { signal: cancel.signal, onProgress: err });
            if (!r) throw new DeployError(`nothing is deployed to target "${target}", or a deployment of it is in progress`);
            if (options.json) out(JSON.stringify({ ...r, ok: r.up }, null, 2));
            else {
              out(`${r.up ? '✓' : '✗'} ${target}: ${r.model} v${r.version} · ${r.detail}`);
              out(`  ${serviceSummary(r)}`);
              for (const note of r.notes) out(`  note: ${note}`);
              for (const a of r.alerts) out(`  ALERT ${a.message}`);
            }
            if (!r.up) throw new CliFailure(`${target} is unhealthy`);
            if (r.alerts.length > 0) throw new CliExit(ExitCode.Alert);
          } finally {
            cancel.dispose();
          }
        }),
      ),
  );

  program.addCommand(
    context
      .child('shadow', 'report the disagreement rate of the shadow on a target (from its shadow log); --promote or --stop it')
      .argument('<target>', 'target name')
      .option('--promote', 'deploy the shadow version for real (blue/green, with health checks and rollback)')
      .option('--stop', 'turn mirroring off and stop the shadow')
      .option('-r, --reason <text>', 'why (recorded in the audit trail)')
      .option('--json', 'print as JSON')
      .action((target: string, options: { promote?: boolean; stop?: boolean; reason?: string; json?: boolean }) =>
        withProject(async (ctx) => {
          if (options.promote && options.stop) throw new CliFailure('--promote and --stop exclude each other');
          if (options.promote) {
            const cancel = interruptible(io);
            try {
              const outcome = await promoteShadow(ctx, {
                target,
                ...(options.reason ? { reason: options.reason } : {}),
                signal: cancel.signal,
                onProgress: err,
              });
              return report(outcome, options.json);
            } finally {
              cancel.dispose();
            }
          }
          const { deployment, report: shadow } = options.stop
            ? await stopShadow(ctx, { target, ...(options.reason ? { reason: options.reason } : {}) })
            : shadowReport(ctx, target);
          if (options.json)
            out(JSON.stringify({ target, model: deployment.modelName, version: deployment.version, stopped: options.stop === true, ...shadow }, null, 2));
          else out(`mloop: shadow ${deployment.modelName} v${deployment.version} on ${target} ${shadow.summary}${options.stop ? ' · stopped' : ''}`);
        }),
      ),
  );

  program.addCommand(
    context
      .child('undeploy', 'stop what serves on a target, or on every target with --all (services outlive the editor that started them)')
      .argument('[target]', 'target name')
      .option('-a, --all', 'every target that serves something')
      .option('--dry-run', 'with --all: list what would stop, stop nothing')
      .option('-r, --reason <text>', 'why (recorded in the audit trail)')
      .action((target: string | undefined, options: { all?: boolean; dryRun?: boolean; reason?: string }) =>
        withProject(async (ctx) => {
          if (Boolean(options.all) === (target !== undefined)) throw new CliFailure('name a target, or stop every target with --all (not both)');
          const reason = options.reason ? { reason: options.reason } : {};
          if (!options.all) {
            const stopped = await stopTarget(ctx, { target: target!, ...reason });
            return out(stopped ? `mloop: stopped ${stopped.modelName} v${stopped.version} on ${target}` : `mloop: nothing serves on ${target}`);
          }
          if (options.dryRun) {
            const serving = servingDeployments(ctx.store);
            if (serving.length === 0) return out('mloop: nothing serves on any target');
            for (const { deployment: d, running } of serving)
              out(
                `mloop: ${d.modelName} v${d.version} on ${d.target}${d.health?.process ? ` (pid ${d.health.process.pid}${d.health.process.url ? `, ${d.health.process.url}` : ''}${running ? '' : ', process gone'})` : ''}`,
              );
            return undefined;
          }
          const stopped = await stopAllTargets(ctx, reason);
          out(
            stopped.length
              ? stopped.map((d) => `mloop: stopped ${d.modelName} v${d.version} on ${d.target}`).join('\n')
              : 'mloop: nothing serves on any target',
          );
        }),
      ),
  );

  program.addCommand(
    context
      .child(
        'retrain',
        "retrain a model with the recipe of its champion (pipeline, params, latest valid data), register, gate, set @challenger. With --backend mlflow and a model of the server: its champion is copied from the server first, and the new version is registered there as the model's next version (its run, data, gate, @challenger; the artifact as an MLflow model). Exit codes: 0 retrained (and published), 1 not retrained, 4 retrained but the version failed its gate, 8 retrained here but not published to the server (the version stays in this workspace)",
      )
      .argument('[model]', "model name (default: the model with an open drift alert, else the champion's model)")
      .option('--override-validation <reason>', 'run even if an input fails its validation rules (audited)')
      .option('--json', "print the outcome as JSON (the run's output goes to stderr)")
      .action((name: string | undefined, options: { overrideValidation?: string; json?: boolean }) =>
        withProject(async (ctx) => {
          const pick = name ? { modelName: name } : defaultRetrainModel(ctx.store);
          if (!pick) throw new CliFailure('which model? name it: mloop retrain <model> (no drift alert and no champion to default to)');
          const backend = context.remote?.();
          const onServer = backend ? await serverBase(backend, pick.modelName) : undefined;
          const tracking = await startTrackingServer({
            store: ctx.store,
            artifactRoot: ctx.artifactRoot,
            log: (line) => void io.stderr.write(`mloop tracking: ${line}\n`),
          });
          const cancel = interruptible(io);
          try {
            // a model of the team's server: its champion (with its run's lineage) is the base, copied here first
            if (onServer)
              await pullFromServer(context, ctx.store, ctx.projectRoot, { modelName: pick.modelName, version: onServer.version }, err, cancel.signal);
            const outcome = await retrainModel(ctx, {
              config: ctx.config,
              projectRoot: ctx.projectRoot,
              modelName: pick.modelName,
              trusted: true,
              tracking: { uri: tracking.uri, token: tracking.token },
              ...('driftReportId' in pick && pick.driftReportId !== undefined ? { driftReportId: pick.driftReportId } : {}),
              ...(options.overrideValidation ? { overrideValidation: options.overrideValidation } : {}),
              signal: cancel.signal,
              onProgress: err,
              onOutput: (text) => void (options.json ? io.stderr : io.stdout).write(text),
            });
            let published: PublishedVersion | undefined;
            let notPublished: string | undefined;
            if (onServer && backend) {
              try {
                published = await publishVersionToServer(
                  {
                    store: ctx.store,
                    artifactRoot: ctx.artifactRoot,
                    actor: ctx.actor,
                    ...(ctx.team?.identityProven ? { identityProven: true } : {}),
                    backend,
                    python: pythonOf([], process.env, ctx.projectRoot),
                    signal: cancel.signal,
                  },
                  {
                    modelName: pick.modelName,
                    projectRoot: ctx.projectRoot,
                    version: outcome.version.version,
                    retrainedFrom: outcome.recipe.base.version,
                    challenger: outcome.challenger,
                    onProgress: err,
                  },
                );
                err(
                  `${pick.modelName} v${outcome.version.version} registered on ${published.server} as v${published.serverVersion} (run ${published.serverRunId})`,
                );
              } catch (error) {
                if (cancel.signal.aborted) throw error;
                notPublished = error instanceof Error ? error.message : String(error);
              }
            }
            const version = published?.version.version ?? outcome.version.version;
            const summary = published ? `${outcome.summary} · v${published.serverVersion} on ${published.server}` : outcome.summary;
            if (options.json) {
              out(
                JSON.stringify(
                  {
                    model: pick.modelName,
                    runId: outcome.runId,
                    version,
                    server: published ? { uri: published.server, version: published.serverVersion, runId: published.serverRunId } : null,
                    gatePassed: outcome.gate?.passed ?? null,
                    challenger: outcome.challenger,
                    metric: outcome.metric,
                    champion: outcome.champion,
                    summary,
                    recipe: outcome.recipe,
                  },
                  null,
                  2,
                ),
              );
            } else {
              out(`mloop: ${summary}`);
            }
            if (notPublished !== undefined) {
              err(`${pick.modelName} v${outcome.version.version} was retrained in this workspace but not registered on ${backend!.location}: ${notPublished}`);
              throw new CliExit(ExitCode.NotPublished);
            }
            if (!outcome.challenger && outcome.gate && !outcome.gate.passed) {
              err(`${pick.modelName} v${version} failed its gate; @challenger was not moved`);
              throw new CliExit(ExitCode.GateFailed);
            }
          } finally {
            cancel.dispose();
            await tracking.close();
          }
        }),
      ),
  );

  program.addCommand(
    context
      .child(
        'publish',
        "register a version of this workspace's store on the team's MLflow server, through the same upload as a retrain's (its run, data, gate verdict, @challenger when it holds it here; the artifact as an MLflow model): a retrain that ended with exit 8, or a version trained here. Needs --backend mlflow. Idempotent: a version the server already has (sent from here, or a copy of one of its versions) is left alone and said so. Exit codes: 0 published or already there, 1 no such version, 8 not published (the reason is printed; a run made on the server is deleted or ended FAILED)",
      )
      .argument('<version>', 'model/<version> (the number in this workspace), e.g. weather-clf/3')
      .option('--json', 'print the outcome as JSON')
      .action((ref: string, options: { json?: boolean }) =>
        withProject(async (ctx) => {
          const parsed = parseModelRef(ref);
          if (parsed.version === undefined) throw new CliFailure(`"${ref}": name the version to publish as model/<version> (e.g. ${parsed.modelName}/3)`);
          const backend = context.remote?.();
          if (!backend)
            throw new CliFailure(
              'publish sends a version to the team server: pass --backend mlflow --tracking-uri http://host:port (or set MLOOP_BACKEND=mlflow and MLFLOW_TRACKING_URI)',
            );
          const cancel = interruptible(io);
          try {
            const outcome = await publishStoredVersion(
              {
                store: ctx.store,
                artifactRoot: ctx.artifactRoot,
                actor: ctx.actor,
                ...(ctx.team?.identityProven ? { identityProven: true } : {}),
                backend,
                python: pythonOf([], process.env, ctx.projectRoot),
                signal: cancel.signal,
              },
              { modelName: parsed.modelName, version: parsed.version, projectRoot: ctx.projectRoot, onProgress: err },
            );
            if (options.json) {
              out(
                JSON.stringify(
                  outcome.outcome === 'published'
                    ? {
                        outcome: 'published',
                        model: parsed.modelName,
                        version: outcome.published.version.version,
                        server: { uri: outcome.published.server, version: outcome.published.serverVersion, runId: outcome.published.serverRunId },
                        retrainedFrom: outcome.retrainedFrom,
                        resumed: outcome.resumed,
                      }
                    : {
                        outcome: 'already',
                        model: parsed.modelName,
                        version: outcome.version.version,
                        server: { uri: outcome.server, source: outcome.source },
                        how: outcome.how,
                      },
                  null,
                  2,
                ),
              );
            } else if (outcome.outcome === 'published') {
              out(
                `mloop: ${parsed.modelName} v${parsed.version} registered on ${outcome.published.server} as v${outcome.published.serverVersion} (run ${outcome.published.serverRunId})${outcome.retrainedFrom !== null ? `, retrained from v${outcome.retrainedFrom}` : ''}${outcome.resumed ? ' — resumed from an earlier attempt' : ''}`,
              );
            } else {
              out(
                `mloop: ${parsed.modelName} v${parsed.version} is already on ${outcome.server} as ${outcome.source}${outcome.how === 'copy' ? " (this workspace's copy of it)" : ''}: nothing to publish`,
              );
            }
          } catch (error) {
            if (error instanceof PublishRequestError) throw new CliFailure(error.message);
            if (cancel.signal.aborted) throw error;
            err(`${parsed.modelName} v${parsed.version} was not published to ${backend.location}: ${error instanceof Error ? error.message : String(error)}`);
            throw new CliExit(ExitCode.NotPublished);
          } finally {
            cancel.dispose();
          }
        }),
      ),
  );
}
