import type { Command } from 'commander';
import type { MlflowBackend } from '../core/backends/mlflowBackend';
import { TeamLedger } from '../core/backends/teamLedger';
import { listTeamDeployments, listTeamDriftReports, listTeamMonitoringReports, syncWithTeam } from '../core/backends/teamOperations';
import { teamIdentity } from '../core/governance/teamApprovals';
import { registryActor } from '../core/registry/actor';
import { CliFailure, openExistingStore } from './cliIo';
import { formatTable, formatTime } from './format';
import { asking } from './remoteBackend';
import { rolloutOf } from './teamPublish';
import type { CommandContext } from './trainCommand';

/** `mloop team sync | deployments | reports`: what the workspaces of a team share through their MLflow server. */
export function registerTeamCommands(program: Command, context: CommandContext): void {
  const { io } = context;
  const out = (text: string): void => void io.stdout.write(`${text}\n`);
  const json = (value: unknown): void => out(JSON.stringify(value, null, 2));
  const server = (): MlflowBackend => {
    const backend = context.remote?.();
    if (!backend)
      throw new CliFailure(
        'the team commands need the server: pass --backend mlflow --tracking-uri http://host:port (or set MLOOP_BACKEND=mlflow and MLFLOW_TRACKING_URI)',
      );
    return backend;
  };

  const team = context.child('team', "a team on one MLflow server: publish this workspace's audit trail, deployments and monitoring reports, read everyone's");

  team.addCommand(
    context
      .child(
        'team sync',
        "publish what the server lacks of this workspace: deployment states, monitoring reports, then the audit chain's new entries (safe to repeat)",
      )
      .option('--json', 'print the counts as JSON')
      .action(async (options: { json?: boolean }) => {
        const backend = server();
        const { store, root } = openExistingStore(context);
        try {
          const ledger = new TeamLedger(backend);
          const result = await asking(async () =>
            syncWithTeam(store, ledger, { actor: (await teamIdentity(ledger, registryActor(root))).actor, rollout: rolloutOf(store, root) }),
          );
          if (options.json) return json(result);
          out(
            `published to ${backend.location} as workspace ${result.writer}: ${result.deployments} deployment state(s), ${result.reports} monitoring report(s), ${result.driftReports ?? 0} drift check(s), ${result.auditEntries} audit entr${result.auditEntries === 1 ? 'y' : 'ies'}${result.requests ? `, ${result.requests} approval request(s) made while it was unreachable` : ''}`,
          );
        } finally {
          store.close();
        }
      }),
  );

  team.addCommand(
    context
      .child('team deployments', "every workspace's deployments on the server, in their newest published state, newest first")
      .option('--json', 'print as JSON')
      .action(async (options: { json?: boolean }) => {
        const backend = server();
        const list = await asking(() => listTeamDeployments(new TeamLedger(backend)));
        if (options.json) return json(list);
        if (list.length === 0) return out(`no deployments published to ${backend.location}`);
        out(
          formatTable(
            ['workspace', 'id', 'model', 'target', 'strategy', 'traffic', 'status', 'updated', 'by'],
            list.map((d) => [
              d.writer,
              String(d.deploymentId),
              `${d.modelName} v${d.version}`,
              d.target,
              d.strategy,
              `${d.trafficPercent}%`,
              d.status,
              formatTime(d.updatedAt),
              d.publishedBy,
            ]),
          ),
        );
      }),
  );

  team.addCommand(
    context
      .child('team reports', "every workspace's monitoring reports (performance, fairness, estimated performance, drift) on the server, newest first")
      .option('--model <name>', 'only this model')
      .option('--json', 'print as JSON')
      .action(async (options: { model?: string; json?: boolean }) => {
        const backend = server();
        const ledger = new TeamLedger(backend);
        const where = options.model ? { modelName: options.model } : {};
        const [reports, drift] = await asking(() => Promise.all([listTeamMonitoringReports(ledger, where), listTeamDriftReports(ledger, where)]));
        // drift checks as reports of kind "drift" (alert: the data drifted), in one list newest first
        const list = [
          ...reports,
          ...drift.map(({ driftReportId, datasetDrift, ...d }) => ({ ...d, driftReportId, kind: 'drift' as const, alert: datasetDrift })),
        ].sort((a, b) => b.createdAt - a.createdAt || a.writer.localeCompare(b.writer));
        if (options.json) return json(list);
        if (list.length === 0) return out(`no monitoring reports published to ${backend.location}`);
        out(
          formatTable(
            ['workspace', 'model', 'check', 'alert', 'summary', 'when'],
            list.map((r) => [r.writer, r.modelName ?? '(no model)', r.kind, r.alert ? 'ALERT' : 'ok', r.summary, formatTime(r.createdAt)]),
          ),
        );
      }),
  );

  program.addCommand(team);
}
