import * as vscode from 'vscode';
import { activeShadow } from '../../core/deploy/shadow';
import { isAlive } from '../../core/deploy/process';
import {
  DeploymentReplicaRepository,
  DeploymentRepository,
  type Deployment,
  type DeploymentReplica,
  type DeploymentStatus,
} from '../../core/store/deployments';
import { ServiceCheckRepository, type StoredServiceCheck } from '../../core/store/serviceChecks';
import type { Store } from '../../core/store/store';
import { ago, type TreeModel, type TreeNode } from '../base/storeTree';
import type { TeamDeployment } from '../../core/backends/teamOperations';

export type DeploymentsNode =
  /** modelName: a target only teammates have, with the model they serve there (Open Monitoring reads it). */
  | (TreeNode & { readonly kind: 'target'; readonly target: string; readonly modelName?: string })
  | (TreeNode & { readonly kind: 'deployment'; readonly deploymentId: number; readonly target: string })
  | (TreeNode & { readonly kind: 'replica'; readonly deploymentId: number; readonly target: string; readonly slot: number; readonly logPath: string })
  /** A deployment another workspace published to the team's MLflow server (read-only here). */
  | (TreeNode & { readonly kind: 'serverDeployment'; readonly target: string; readonly writer: string; readonly modelName: string; readonly version: number });

/** The replicas a deployment runs (or ran and lost): every row not stopped on purpose. */
const shownReplicas = (store: Store, deploymentId: number): DeploymentReplica[] =>
  new DeploymentReplicaRepository(store).ofDeployment(deploymentId).filter((r) => r.status !== 'stopped');

/** "2/3 healthy": replicas whose process runs, of the replicas the target asks for. */
export function replicaHealth(store: Store, deploymentId: number, expected: number | undefined): { healthy: number; expected: number } {
  const live = new DeploymentReplicaRepository(store).live(deploymentId);
  return { healthy: live.filter((r) => isAlive(r.pid)).length, expected: Math.max(expected ?? live.length, 1) };
}

const STATUS_ICON: Record<DeploymentStatus, vscode.ThemeIcon> = {
  pending: new vscode.ThemeIcon('clock'),
  in_progress: new vscode.ThemeIcon('sync~spin'),
  healthy: new vscode.ThemeIcon('pass', new vscode.ThemeColor('testing.iconPassed')),
  unhealthy: new vscode.ThemeIcon('error', new vscode.ThemeColor('testing.iconFailed')),
  failed: new vscode.ThemeIcon('error', new vscode.ThemeColor('testing.iconFailed')),
  rolled_back: new vscode.ThemeIcon('discard'),
  superseded: new vscode.ThemeIcon('archive'),
};

const HEALTH_MARK: Partial<Record<DeploymentStatus, string>> = { healthy: '✓', unhealthy: '✗', in_progress: '…', failed: '✗' };

const strategyLabel = (d: Deployment): string => d.strategy.replace('_', '/');

function deploymentTooltip(d: Deployment, service?: StoredServiceCheck): vscode.MarkdownString {
  const md = new vscode.MarkdownString(undefined, true);
  md.appendMarkdown(
    `**${d.modelName} v${d.version}** → \`${d.target}\` · ${strategyLabel(d)} · ${d.status.replace('_', ' ')} · ${d.trafficPercent}% traffic\n\n`,
  );
  md.appendMarkdown(`started ${new Date(d.createdAt).toLocaleString()} · updated ${new Date(d.updatedAt).toLocaleString()}\n\n`);
  if (d.health?.process?.url) md.appendMarkdown(`serving at ${d.health.process.url} (pid ${d.health.process.pid})\n\n`);
  if (d.health?.reason) md.appendText(`why: ${d.health.reason}\n\n`);
  if (d.health?.shadow) md.appendText(`shadow: ${d.health.shadow.summary} (as of ${new Date(d.health.shadow.at).toLocaleTimeString()})\n\n`);
  if (d.health?.lastCheck) md.appendText(`last check ${d.health.lastCheck.ok ? '✓' : '✗'} ${d.health.lastCheck.detail}\n\n`);
  if (service && service.deploymentId === d.deploymentId)
    md.appendText(`service check ${new Date(service.checkedAt).toLocaleTimeString()}: ${service.detail}\n\n`);
  for (const c of (d.health?.checks ?? []).slice(-8)) md.appendText(`${c.ok ? '✓' : '✗'} ${c.step}: ${c.detail}\n\n`);
  return md;
}

/**
 * Deployments by target: what serves now (version, strategy, health, traffic split while a rollout
 * runs), with every earlier deployment underneath. `targets` lists the ones mloop.yaml declares, so a
 * target shows before its first deployment.
 */
export function createDeploymentsTreeModel(options: {
  targets: () => readonly string[];
  /** The replicas mloop.yaml asks of a target (targets.<name>.replicas). */
  replicas?: (target: string) => number | undefined;
  /** With the MLflow backend: what other workspaces deployed, as published to the team's server. */
  team?: () => { readonly rows: readonly TeamDeployment[]; readonly location: string | undefined };
}): TreeModel<DeploymentsNode> {
  const teamRows = (target?: string): readonly TeamDeployment[] => (options.team?.().rows ?? []).filter((d) => target === undefined || d.target === target);
  return {
    roots(store: Store): DeploymentsNode[] {
      const repo = new DeploymentRepository(store);
      const all = repo.list();
      const declared = options.targets();
      const names = [...new Set([...declared, ...all.map((d) => d.target), ...teamRows().map((d) => d.target)])];
      return names.map((target): DeploymentsNode => {
        const history = all.filter((d) => d.target === target);
        const team = teamRows(target);
        if (history.length === 0 && team.length > 0 && !declared.includes(target)) return serverTargetNode(target, team, options.team?.().location);
        const current = repo.current(target);
        const rolling = history.find((d) => d.status === 'in_progress');
        const parts: string[] = [];
        // services outlive the editor on purpose: say when one was started by an earlier window, or has died since
        const pid = current?.health?.process?.pid;
        const gone = pid !== undefined && !isAlive(pid);
        const status: DeploymentStatus | undefined = gone ? 'unhealthy' : current?.status;
        if (current)
          parts.push(
            `${current.modelName} v${current.version}`,
            strategyLabel(current),
            `${HEALTH_MARK[status!] ?? ''} ${gone ? 'down' : current.status.replace('_', ' ')}`.trim(),
          );
        else parts.push('nothing serving');
        // what teammates serve on a target of the same name (their own service, published to the server)
        const teamServing = team.find((d) => d.status === 'healthy' || d.status === 'in_progress');
        if (teamServing) parts.push(`server: ${teamServing.modelName} v${teamServing.version} by ${teamServing.publishedBy}`);
        if (rolling)
          parts.push(`rolling out v${rolling.version}: ${rolling.trafficPercent}%${current ? ` / v${current.version} ${100 - rolling.trafficPercent}%` : ''}`);
        else if (current) parts.push(`${current.trafficPercent}%`);
        const expected = options.replicas?.(target);
        const replicas = current ? replicaHealth(store, current.deploymentId, expected) : undefined;
        if (replicas && (replicas.expected > 1 || replicas.healthy > 1)) parts.push(`${replicas.healthy}/${replicas.expected} healthy`);
        if (gone) parts.push('process gone');
        else if (pid !== undefined && current!.createdAt < performance.timeOrigin) parts.push('running since an earlier window');
        const lastCheck = current ? new ServiceCheckRepository(store).list(target, { limit: 1 })[0] : undefined;
        if (lastCheck?.deploymentId === current?.deploymentId && lastCheck?.alert && !gone) parts.push('⚠ alert');
        const shadow = activeShadow(store, target);
        if (shadow)
          parts.push(
            `shadow v${shadow.version}${shadow.health?.shadow?.disagreementRate != null ? `: ${(shadow.health.shadow.disagreementRate * 100).toFixed(1)}% disagree` : ''}`,
          );
        return {
          kind: 'target',
          id: `target:${target}`,
          target,
          label: target,
          description: parts.join(' · '),
          icon: rolling ? STATUS_ICON.in_progress : status ? STATUS_ICON[status] : new vscode.ThemeIcon('cloud'),
          contextValue: current ? 'target.serving' : 'target.empty',
          collapsible: history.length + team.length > 0,
          ...(current ? { tooltip: deploymentTooltip(current, lastCheck) } : {}),
        };
      });
    },
    children(store: Store, node: DeploymentsNode): DeploymentsNode[] {
      if (node.kind === 'deployment') {
        return shownReplicas(store, node.deploymentId).map((r) => {
          const running = isAlive(r.pid);
          const up = r.status !== 'failed' && running;
          return {
            kind: 'replica',
            id: `replica:${r.replicaId}`,
            deploymentId: r.deploymentId,
            target: node.target,
            slot: r.slot,
            logPath: r.logPath,
            label: `replica ${r.slot}`,
            description: [`port ${r.port}`, `pid ${r.pid}`, up ? `✓ ${r.status}` : running ? `✗ ${r.status}` : '✗ process gone'].join(' · '),
            icon: up ? STATUS_ICON.healthy : STATUS_ICON.unhealthy,
            contextValue: up ? 'replica.serving' : 'replica.down',
            collapsible: false,
            parent: node,
            tooltip: new vscode.MarkdownString().appendText(
              `replica ${r.slot} · http://127.0.0.1:${r.port} · pid ${r.pid} · ${r.status}${r.detail ? `: ${r.detail}` : ''}\nstarted ${new Date(r.startedAt).toLocaleString()}\nlog ${r.logPath}`,
            ),
          };
        });
      }
      if (node.kind !== 'target') return [];
      const shadow = activeShadow(store, node.target);
      const declared = node.contextValue !== 'server.target';
      const server = teamRows(node.target).map((d) => serverDeploymentNode(d, node, options.team?.().location, declared));
      const local = new DeploymentRepository(store).history(node.target).map((d): DeploymentsNode => {
        const shadowing = d.deploymentId === shadow?.deploymentId;
        const replicas = shownReplicas(store, d.deploymentId);
        return {
          kind: 'deployment',
          id: `deployment:${d.deploymentId}`,
          deploymentId: d.deploymentId,
          target: d.target,
          label: `${d.modelName} v${d.version}`,
          description: (shadowing
            ? ['shadow', 'mirrored traffic', d.health?.shadow?.summary ?? 'no report yet']
            : [strategyLabel(d), d.status.replace('_', ' '), `${d.trafficPercent}%`]
          )
            .concat(ago(d.updatedAt))
            .join(' · '),
          icon: shadowing ? new vscode.ThemeIcon('eye') : STATUS_ICON[d.status],
          contextValue: shadowing ? 'deployment.shadow' : `deployment.${d.status}`,
          // the replicas of a deployment that runs more than one process show under it
          collapsible: replicas.length > 1 || (replicas.length === 1 && replicas[0]!.status === 'failed'),
          parent: node,
          tooltip: deploymentTooltip(d),
        };
      });
      return [...local, ...server];
    },
  };
}

const serverIcon = (d: TeamDeployment): vscode.ThemeIcon =>
  new vscode.ThemeIcon(
    'cloud',
    d.status === 'healthy'
      ? new vscode.ThemeColor('testing.iconPassed')
      : d.status === 'failed' || d.status === 'unhealthy'
        ? new vscode.ThemeColor('testing.iconFailed')
        : undefined,
  );

function serverTooltip(d: TeamDeployment, location: string | undefined, declared: boolean): vscode.MarkdownString {
  return new vscode.MarkdownString().appendText(
    `${d.modelName} v${d.version} → ${d.target} · ${d.strategy.replace('_', '/')} · ${d.status.replace('_', ' ')} · ${d.trafficPercent}% traffic
` +
      `from the team server${location ? ` ${location}` : ''}: deployed in workspace ${d.writer} by ${d.publishedBy}
` +
      `started ${new Date(d.createdAt).toLocaleString()} · updated ${new Date(d.updatedAt).toLocaleString()}
` +
      'Read-only: it runs on their machine; this workspace only reads it (mloop team deployments lists the same).\n' +
      `Open Monitoring shows ${d.modelName}'s monitoring in this workspace (its champion copied from the server first)` +
      (declared ? `; Open Rollout Panel shows this workspace's own rollout of ${d.target}, not theirs.` : '.'),
  );
}

/**
 * A teammate's deployment, as published to the server: marked as from the server, read-only. Its actions: Open
 * Monitoring of its model, and Open Rollout Panel when this workspace declares the same target (`.declared`).
 */
function serverDeploymentNode(d: TeamDeployment, parent: DeploymentsNode, location: string | undefined, declared: boolean): DeploymentsNode {
  return {
    kind: 'serverDeployment',
    id: `server-deployment:${d.writer}:${d.deploymentId}`,
    target: d.target,
    writer: d.writer,
    modelName: d.modelName,
    version: d.version,
    label: `${d.modelName} v${d.version}`,
    description: [
      'server',
      d.strategy.replace('_', '/'),
      d.status.replace('_', ' '),
      `by ${d.publishedBy}`,
      ago(d.updatedAt),
      ...(d.rollout?.gatewayState ? [gatewayLabel(d.rollout.gatewayState)] : []),
    ].join(' · '),
    icon: serverIcon(d),
    contextValue: declared ? 'server.deployment.declared' : 'server.deployment',
    collapsible: false,
    parent,
    tooltip: serverTooltip(d, location, declared),
  };
}

/** A teammate's gateway as their newest published state saw it: "gateway up on host" or "gateway down on host (why)". */
const gatewayLabel = (g: NonNullable<NonNullable<TeamDeployment['rollout']>['gatewayState']>): string =>
  g.health === 'up' ? `gateway up on ${g.host}` : `gateway down on ${g.host}${g.detail ? ` (${g.detail})` : ''}`;

/** A target this workspace does not declare, where teammates deployed (from the server). */
function serverTargetNode(target: string, team: readonly TeamDeployment[], location: string | undefined): DeploymentsNode {
  const serving = team.find((d) => d.status === 'healthy' || d.status === 'in_progress') ?? team[0]!;
  return {
    kind: 'target',
    id: `target:${target}`,
    target,
    label: target,
    description: ['server', `${serving.modelName} v${serving.version}`, serving.status.replace('_', ' '), `by ${serving.publishedBy}`].join(' · '),
    icon: serverIcon(serving),
    modelName: serving.modelName,
    contextValue: 'server.target',
    collapsible: true,
    tooltip: serverTooltip(serving, location, false),
  };
}
