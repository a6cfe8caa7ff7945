import { type Command, InvalidArgumentError, Option } from 'commander';
import type { Config } from '../core/config/schema';
import { decideRequest } from '../core/governance/approvalDecision';
import { executeTeamPromotion, type RemoteRegistryContext } from '../core/backends/remoteRegistry';
import { TeamLedger } from '../core/backends/teamLedger';
import { type AnyApprovalRequest, ApprovalError, describeRequest, listRequests, type RequestStatus } from '../core/governance/approvals';
import { decideTeamRequest, listTeamRequests, type TeamContext, teamIdentity } from '../core/governance/teamApprovals';
import { registryActor } from '../core/registry/actor';
import { gateSpecFor } from '../core/registry/autoRegister';
import { RegistryError } from '../core/registry/errors';
import type { RegistryContext } from '../core/registry/register';
import { artifactRootOf } from '../core/store/artifactRoot';
import { CliFailure, openExistingStore } from './cliIo';
import { formatTable, formatTime } from './format';
import { asking } from './remoteBackend';
import { readConfig } from './registryCommands';
import type { CommandContext } from './trainCommand';

/** A request number as `mloop requests` shows it (3 or #3); the deploy command's --request takes the same. */
export const parseRequestId = (value: string): number => {
  const n = Number(value.replace(/^#/, ''));
  if (!Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError('expected a request number, e.g. 3 (see "mloop requests").');
  return n;
};

const approvalsOf = (r: AnyApprovalRequest): number => r.decisions.filter((d) => d.decision === 'approve').length;

/** `mloop requests`, `mloop approve <id>`, `mloop reject <id>`: the approval requests of promotions and protected deployments. */
export function registerApprovalCommands(program: Command, context: CommandContext): void {
  const { io } = context;
  const out = (text: string): void => void io.stdout.write(`${text}\n`);
  const json = (value: unknown): void => out(JSON.stringify(value, null, 2));

  const withGovernance = async <T>(fn: (ctx: RegistryContext, config: Config | undefined) => Promise<T> | T): Promise<T> => {
    const { store, root } = openExistingStore(context);
    try {
      return await fn({ store, artifactRoot: artifactRootOf(store.path), actor: registryActor(root) }, readConfig(root));
    } catch (error) {
      if (error instanceof ApprovalError || error instanceof RegistryError) throw new CliFailure(error.message);
      throw error;
    } finally {
      store.close();
    }
  };

  /** With --backend mlflow: the team's requests on the server, decided as the server's user (else this workspace's identity). */
  const withTeam = async <T>(fn: (ctx: TeamContext, registry: RemoteRegistryContext, config: Config | undefined) => Promise<T>): Promise<T> =>
    withGovernance(async (local, config) => {
      const backend = context.remote!()!;
      const ledger = new TeamLedger(backend);
      const who = await asking(() => teamIdentity(ledger, local.actor));
      return asking(() =>
        fn(
          { ledger, store: local.store, actor: who.actor, identityProven: who.proven },
          { backend, store: local.store, actor: who.actor, identityProven: who.proven },
          config,
        ),
      );
    });

  program.addCommand(
    context
      .child(
        'requests',
        "approval requests of promotions to champion and deployments to protected targets, newest first (with --backend mlflow: the team's, on the server)",
      )
      .addOption(new Option('--status <status>', 'only requests in this state').choices(['pending', 'approved', 'rejected', 'expired']))
      .option('--json', 'print as JSON')
      .action(async (options: { status?: RequestStatus; json?: boolean }) => {
        if (context.remote?.()) {
          return withTeam(async (team) => {
            const requests = await listTeamRequests(team.ledger, { status: options.status });
            if (options.json) return json(requests);
            if (requests.length === 0)
              return out(options.status ? `no ${options.status} requests on ${team.ledger.location}` : `no approval requests on ${team.ledger.location}`);
            out(
              formatTable(
                ['id', 'status', 'change', 'requested by', 'when', 'decided by', 'expires'],
                requests.map((r) => [
                  r.requestId,
                  r.status,
                  describeRequest(r),
                  r.requestedBy,
                  formatTime(r.requestedAt),
                  r.decidedBy ?? `${approvalsOf(r)}/${r.required}`,
                  r.status === 'pending' ? formatTime(r.expiresAt) : '',
                ]),
              ),
            );
          });
        }
        return withGovernance((ctx) => {
          const requests = listRequests(ctx.store, { status: options.status });
          if (options.json) return json(requests);
          if (requests.length === 0) return out(options.status ? `no ${options.status} requests` : 'no approval requests yet');
          out(
            formatTable(
              ['#', 'status', 'change', 'requested by', 'when', 'approvals', 'expires'],
              requests.map((r) => [
                String(r.requestId),
                r.status,
                describeRequest(r),
                r.requestedBy,
                formatTime(r.requestedAt),
                `${approvalsOf(r)}/${r.required}`,
                r.status === 'pending' ? formatTime(r.expiresAt) : '',
              ]),
            ),
          );
        });
      }),
  );

  const decision = (verb: 'approve' | 'reject', description: string): Command =>
    context
      .child(verb, description)
      .argument('<id>', 'the request number (see "mloop requests"); with --backend mlflow the request id on the server (its first characters suffice)')
      .requiredOption('-m, --comment <text>', "why (required; audited with your identity: git user.name and user.email, or the server's user)")
      .option('--json', 'print the request after the decision as JSON')
      .action(async (id: string, options: { comment: string; json?: boolean }) => {
        if (context.remote?.()) {
          return withTeam(async (team, registry, config) => {
            const outcome = await decideTeamRequest(team, {
              requestId: id,
              decision: verb,
              comment: options.comment,
              execute: async (r) => void (await executeTeamPromotion(registry, r, gateSpecFor(config, r.modelName))),
            });
            if (options.json) return json(outcome);
            const r = outcome.request;
            if (r.status === 'rejected') return out(`request ${r.requestId} rejected: ${describeRequest(r)} will not happen`);
            if (outcome.executed) return out(`request ${r.requestId} approved: done — ${describeRequest(r)}`);
            if (r.status === 'approved') return out(`request ${r.requestId} approved by ${r.decidedBy}`);
            out(`request ${r.requestId}: your approval is recorded (${approvalsOf(r)}/${r.required})`);
          });
        }
        let requestId: number;
        try {
          requestId = parseRequestId(id);
        } catch (error) {
          throw new CliFailure(`request "${id}": ${(error as Error).message}`);
        }
        return withGovernance(async (ctx, config) => {
          const before = listRequests(ctx.store).find((r) => r.requestId === requestId);
          const outcome = await decideRequest(ctx, {
            requestId,
            decision: verb,
            comment: options.comment,
            ...(before ? { gate: gateSpecFor(config, before.modelName) } : {}),
          });
          if (options.json) return json(outcome);
          const r = outcome.request;
          if (verb === 'reject') return out(`request #${r.requestId} rejected: ${describeRequest(r)} will not happen`);
          if (outcome.executed) return out(`request #${r.requestId} approved (${approvalsOf(r)}/${r.required}): done — ${describeRequest(r)}`);
          if (r.status === 'approved' && r.kind === 'deploy')
            return out(
              `request #${r.requestId} approved (${approvalsOf(r)}/${r.required}); deploy it with: mloop deploy ${r.modelName}/${r.version} --target ${r.subject} --request ${r.requestId}`,
            );
          if (r.status === 'approved') return out(`request #${r.requestId} approved (${approvalsOf(r)}/${r.required})`);
          out(`request #${r.requestId}: your approval is recorded (${approvalsOf(r)}/${r.required}); it needs ${r.required - approvalsOf(r)} more`);
        });
      });

  program.addCommand(
    decision(
      'approve',
      'approve a request as yourself (not its requester; a listed reviewer if the policy names them); the last approval needed makes the change',
    ),
  );
  program.addCommand(decision('reject', 'reject a request as yourself (not its requester); one rejection closes it'));
}
