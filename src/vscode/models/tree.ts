import * as vscode from 'vscode';
import type { StoredGate } from '../../core/registry/register';
import { DriftReportRepository } from '../../core/store/driftReports';
import { ModelRepository } from '../../core/store/models';
import { MonitoringReportRepository } from '../../core/store/monitoringReports';
import type { Store } from '../../core/store/store';
import type { Backend } from '../../core/backends/backend';
import { ago, type RemoteTreeModel, type TreeModel, type TreeNode } from '../base/storeTree';

export type ModelsNode =
  | (TreeNode & { readonly kind: 'model'; readonly modelId: number; readonly modelName: string })
  | (TreeNode & {
      readonly kind: 'modelVersion';
      readonly modelId: number;
      readonly modelName: string;
      readonly version: number;
      readonly modelVersionId: number;
      readonly aliases: readonly string[];
      readonly sourceRunId: string | null;
    });

/** contextValue of a version row: menus offer Remove/Roll Back Alias only where an alias exists. */
const versionContext = (aliases: readonly string[]): string =>
  aliases.includes('champion') ? 'modelVersion.champion' : aliases.length ? 'modelVersion.aliased' : 'modelVersion';

/** Registered models, each with its versions newest first: alias badges, gate ✓/✗, source run, age. */
export const modelsTreeModel: TreeModel<ModelsNode> = {
  roots(store: Store): ModelsNode[] {
    const repo = new ModelRepository(store);
    const reports = new MonitoringReportRepository(store);
    const drift = new DriftReportRepository(store);
    return repo.list().map((m) => {
      const versions = repo.versions(m.modelId);
      const champion = versions.find((v) => v.aliases.includes('champion'));
      // the newest report of each monitoring check (the editor's or a headless mloop monitor's)
      const alerts = [
        ...(drift.list({ modelId: m.modelId, limit: 1 })[0]?.datasetDrift ? ['drift'] : []),
        ...reports.alertingKinds(m.name).map((k) => k.replace('_', ' ')),
      ];
      return {
        kind: 'model',
        id: `model:${m.modelId}`,
        modelId: m.modelId,
        modelName: m.name,
        label: m.name,
        description: [
          `${versions.length} version${versions.length === 1 ? '' : 's'}`,
          champion && `champion v${champion.version}`,
          alerts.length ? `⚠ alert: ${alerts.join(', ')}` : undefined,
        ]
          .filter(Boolean)
          .join(' · '),
        icon: alerts.length ? new vscode.ThemeIcon('warning', new vscode.ThemeColor('list.warningForeground')) : new vscode.ThemeIcon('package'),
        contextValue: 'model',
        collapsible: versions.length > 0,
      };
    });
  },
  children(store: Store, node: ModelsNode): ModelsNode[] {
    if (node.kind !== 'model') return [];
    return new ModelRepository(store).versions(node.modelId).map((v) => ({
      kind: 'modelVersion',
      id: `modelVersion:${v.modelVersionId}`,
      modelId: v.modelId,
      modelName: node.modelName,
      version: v.version,
      modelVersionId: v.modelVersionId,
      aliases: v.aliases,
      sourceRunId: v.sourceRunId,
      label: `v${v.version}`,
      description: [
        v.aliases.map((a) => `@${a}`).join(' '),
        v.gatePassed === null ? undefined : v.gatePassed ? 'gate ✓' : 'gate ✗',
        v.sourceRunId ? `run ${v.sourceRunId.slice(0, 8)}` : undefined,
        v.stage && v.stage !== 'None' ? `stage ${v.stage} (read-only)` : undefined,
        ago(v.createdAt),
      ]
        .filter(Boolean)
        .join(' · '),
      icon: v.aliases.includes('champion')
        ? new vscode.ThemeIcon('star-full', new vscode.ThemeColor('charts.yellow'))
        : v.gatePassed === false
          ? new vscode.ThemeIcon('symbol-class', new vscode.ThemeColor('testing.iconFailed'))
          : new vscode.ThemeIcon('symbol-class'),
      contextValue: versionContext(v.aliases),
      collapsible: false,
      parent: node,
    }));
  },
  tooltip(store: Store, node: ModelsNode): vscode.MarkdownString | undefined {
    if (node.kind !== 'modelVersion') return undefined;
    const repo = new ModelRepository(store);
    const v = repo.versionById(node.modelVersionId);
    if (!v) return undefined;
    const details = repo.versionDetails(v.modelVersionId);
    const md = new vscode.MarkdownString(undefined, true);
    md.appendMarkdown(`**${node.modelName} v${v.version}**${v.aliases.length ? ` · ${v.aliases.map((a) => `\`@${a}\``).join(' ')}` : ''}\n\n`);
    md.appendMarkdown(`registered ${new Date(v.createdAt).toLocaleString()}${v.sourceRunId ? ` from run \`${v.sourceRunId}\`` : ''}\n\n`);
    if (v.artifactPath)
      md.appendMarkdown(`artifact \`${v.artifactPath}\`${v.artifactDigest ? ` · \`${v.artifactDigest.replace(/^sha256:/, '').slice(0, 12)}\`` : ''}\n\n`);
    const gate = details.gate as StoredGate | null;
    if (gate?.checks) {
      md.appendMarkdown(`**gate ${gate.passed ? '✓ passed' : '✗ failed'}**${gate.championVersion ? ` (vs champion v${gate.championVersion})` : ''}\n\n`);
      for (const c of gate.checks) md.appendMarkdown(`- ${c.passed ? '✓' : '✗'} \`${c.rule}\` — ${c.detail}\n`);
      md.appendMarkdown('\n');
    }
    const metrics = Object.entries(details.metrics);
    if (metrics.length)
      md.appendMarkdown(`**metrics** ${metrics.map(([k, value]) => `\`${k}=${Number.isInteger(value) ? value : value.toPrecision(4)}\``).join(' ')}\n\n`);
    const signature = details.signature as { inputs?: { name?: string; type?: string }[] } | null;
    if (signature?.inputs?.length) md.appendMarkdown(`**signature** ${signature.inputs.map((i) => `\`${i.name ?? '?'}: ${i.type ?? '?'}\``).join(' ')}`);
    return md;
  },
};

export type RemoteModelsNode =
  | (TreeNode & { readonly kind: 'model'; readonly modelName: string })
  | (TreeNode & { readonly kind: 'modelVersion'; readonly modelName: string; readonly version: number; readonly aliases: readonly string[] })
  /** A version of the workspace's store the server has not got (a retrain that ended "not published"): Publish to Team Server. */
  | (TreeNode & {
      readonly kind: 'localVersion';
      readonly modelName: string;
      readonly version: number;
      readonly aliases: readonly string[];
      readonly sourceRunId: string | null;
    });

/** Registered models of the MLflow server with their versions (newest first) and aliases. */
export const serverModelsTreeModel: RemoteTreeModel = {
  async roots(backend: Backend): Promise<TreeNode[]> {
    const models = await backend.listModels();
    return models.map((m): RemoteModelsNode => {
      const aliases = Object.entries(m.aliases);
      const champion = m.aliases.champion;
      return {
        kind: 'model',
        id: `remote-model:${m.name}`,
        modelName: m.name,
        label: m.name,
        description: [
          champion !== undefined ? `champion v${champion}` : undefined,
          aliases.length ? `${aliases.length} alias${aliases.length === 1 ? '' : 'es'}` : undefined,
          m.updatedAt ? ago(m.updatedAt) : undefined,
        ]
          .filter(Boolean)
          .join(' · '),
        icon: new vscode.ThemeIcon('package'),
        contextValue: 'server.model',
        collapsible: true,
      };
    });
  },
  async children(backend: Backend, node: TreeNode, store: Store | undefined): Promise<TreeNode[]> {
    const n = node as RemoteModelsNode;
    if (n.kind !== 'model') return [];
    const versions = await backend.modelVersions(n.modelName);
    const { unpublishedVersions } = await import('../../core/backends/publishVersion');
    // what this workspace holds of the model and the server lacks, first: it is the row that asks for an action
    const onlyHere = store
      ? unpublishedVersions(store, backend.location, n.modelName).map(
          (v): RemoteModelsNode => ({
            kind: 'localVersion',
            id: `local-modelVersion:${n.modelName}:${v.modelVersionId}`,
            modelName: n.modelName,
            version: v.version,
            aliases: v.aliases,
            sourceRunId: v.sourceRunId,
            label: `v${v.version} (this workspace)`,
            description: [
              'not on the server',
              v.aliases.map((a) => `@${a} here`).join(' '),
              v.gatePassed === null ? undefined : v.gatePassed ? 'gate ✓' : 'gate ✗',
              v.sourceRunId ? `run ${v.sourceRunId.slice(0, 8)}` : undefined,
              ago(v.createdAt),
            ]
              .filter(Boolean)
              .join(' · '),
            tooltip: `${n.modelName} v${v.version} is in this workspace's store only: ${backend.location} has not got it (a retrain whose upload failed, or a version trained here).\nPublish to Team Server registers it there as the model's next version.`,
            icon: new vscode.ThemeIcon('cloud-upload', new vscode.ThemeColor('list.warningForeground')),
            contextValue: 'local.modelVersion.unpublished',
            collapsible: false,
            parent: node,
          }),
        )
      : [];
    return [
      ...onlyHere,
      ...versions.map(
        (v): RemoteModelsNode => ({
          kind: 'modelVersion',
          id: `remote-modelVersion:${n.modelName}:${v.version}`,
          modelName: n.modelName,
          version: v.version,
          aliases: v.aliases,
          label: `v${v.version}`,
          description: [v.aliases.map((a) => `@${a}`).join(' '), v.runId ? `run ${v.runId.slice(0, 8)}` : undefined, v.createdAt ? ago(v.createdAt) : undefined]
            .filter(Boolean)
            .join(' · '),
          tooltip: `${n.modelName} v${v.version}${v.source ? `\nsource ${v.source}` : ''}${v.runId ? `\nrun ${v.runId}` : ''}`,
          icon: v.aliases.includes('champion')
            ? new vscode.ThemeIcon('star-full', new vscode.ThemeColor('charts.yellow'))
            : new vscode.ThemeIcon('symbol-class'),
          contextValue: `server.${versionContext(v.aliases)}`,
          collapsible: false,
          parent: node,
        }),
      ),
    ];
  },
};
