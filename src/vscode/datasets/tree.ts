import * as vscode from 'vscode';
import type { DatasetDeclaration } from '../../core/config/schema';
import { describeColumn, type ColumnProfile } from '../../core/datasets/profile';
import { storedProfile } from '../../core/datasets/versions';
import { DatasetCacheRepository, type VersionCacheState } from '../../core/store/datasetCache';
import { DatasetRepository } from '../../core/store/datasets';
import type { Store } from '../../core/store/store';
import { ago, type TreeModel, type TreeNode } from '../base/storeTree';

export type DatasetsNode =
  | (TreeNode & { readonly kind: 'dataset'; readonly name: string; readonly datasetId: number | undefined })
  | (TreeNode & { readonly kind: 'datasetVersion'; readonly name: string; readonly datasetVersionId: number; readonly path: string })
  | (TreeNode & { readonly kind: 'datasetColumn'; readonly name: string; readonly datasetVersionId: number; readonly column: string });

const plural = (n: number, word: string): string => `${n.toLocaleString('en-US')} ${word}${n === 1 ? '' : 's'}`;

/**
 * Datasets (those in the store and those mloop.yaml declares but that have no version yet) →
 * content-addressed versions newest first (short digest, rows, age, used by N runs, ✓/✗) →
 * columns with their type and a one-line profile.
 */
export function createDatasetsTreeModel(options: { declared: () => Readonly<Record<string, DatasetDeclaration>> | undefined }): TreeModel<DatasetsNode> {
  return {
    roots(store: Store): DatasetsNode[] {
      const repo = new DatasetRepository(store);
      const declared = options.declared() ?? {};
      const stored = repo.list();
      const nodes: DatasetsNode[] = stored.map((d) => {
        const versions = repo.versions(d.datasetId);
        const dvc = versions[0]?.digestAlgorithm === 'md5-dvc';
        const where = declared[d.name]?.path ?? d.uri;
        return {
          kind: 'dataset',
          id: `dataset:${d.name}`,
          name: d.name,
          datasetId: d.datasetId,
          label: d.name,
          description: [where, plural(versions.length, 'version'), dvc ? 'DVC' : undefined, d.source === 'mlflow' ? 'from mlflow.log_input' : undefined]
            .filter(Boolean)
            .join(' · '),
          tooltip: `${d.name}\n${where}\nsource: ${d.source}${declared[d.name] ? ' (declared in mloop.yaml)' : ''}${dvc ? '\nmanaged by DVC: the digest is DVC’s md5' : ''}`,
          icon: new vscode.ThemeIcon('database'),
          contextValue: declared[d.name] ? 'dataset.declared' : `dataset.${d.source}`,
          collapsible: versions.length > 0,
        };
      });
      for (const [name, declaration] of Object.entries(declared)) {
        if (stored.some((d) => d.name === name)) continue;
        nodes.push({
          kind: 'dataset',
          id: `dataset:${name}`,
          name,
          datasetId: undefined,
          label: name,
          description: `${declaration.path} · no version yet`,
          tooltip: `${name}\n${declaration.path}\nDeclared in mloop.yaml; a version is recorded when a pipeline that reads it starts, or with Profile / Validate.`,
          icon: new vscode.ThemeIcon('database'),
          contextValue: 'dataset.declared',
          collapsible: false,
        });
      }
      return nodes.sort((a, b) => (a.label < b.label ? -1 : a.label > b.label ? 1 : 0));
    },

    children(store: Store, node: DatasetsNode): DatasetsNode[] {
      const repo = new DatasetRepository(store);
      if (node.kind === 'dataset') {
        if (node.datasetId === undefined) return [];
        const cache = new DatasetCacheRepository(store);
        return repo.versions(node.datasetId).map((v) => {
          const cached = cache.state(v.datasetVersionId);
          const validation = repo.latestValidation(v.datasetVersionId);
          const check = validation ? (validation.passed ? '✓' : '✗') : undefined;
          return {
            kind: 'datasetVersion',
            id: `datasetVersion:${v.datasetVersionId}`,
            name: node.name,
            datasetVersionId: v.datasetVersionId,
            path: v.path,
            label: v.digest.slice(0, 12),
            description: [v.rowCount === null ? undefined : plural(v.rowCount, 'row'), ago(v.createdAt), `used by ${plural(v.usedByRuns, 'run')}`, check]
              .filter(Boolean)
              .join(' · '),
            tooltip: `${v.digestAlgorithm}:${v.digest}\n${v.path}${v.sizeBytes === null ? '' : `\n${v.sizeBytes.toLocaleString('en-US')} bytes`}\ncreated ${new Date(v.createdAt).toLocaleString()} · origin: ${v.origin}${validation ? `\nvalidation: ${validation.passed ? 'passed' : 'failed'} (${new Date(validation.at).toLocaleString()})` : ''}\n${cacheLine(cached)}`,
            icon: validation
              ? new vscode.ThemeIcon(
                  validation.passed ? 'pass' : 'error',
                  new vscode.ThemeColor(validation.passed ? 'testing.iconPassed' : 'testing.iconFailed'),
                )
              : new vscode.ThemeIcon('versions'),
            contextValue: `datasetVersion.${v.origin}`,
            collapsible: storedProfile(store, v.datasetVersionId) !== undefined,
            parent: node,
          };
        });
      }
      if (node.kind === 'datasetVersion') {
        const profile = storedProfile(store, node.datasetVersionId);
        return (profile?.columns ?? []).map((c) => ({
          kind: 'datasetColumn',
          id: `datasetColumn:${node.datasetVersionId}:${c.name}`,
          name: node.name,
          datasetVersionId: node.datasetVersionId,
          column: c.name,
          label: c.name,
          description: `${c.type} · ${describeColumn(c)}`,
          tooltip: columnTooltip(c),
          icon: new vscode.ThemeIcon(COLUMN_ICONS[c.type] ?? 'symbol-field'),
          contextValue: 'datasetColumn',
          collapsible: false,
          parent: node,
        }));
      }
      return [];
    },
  };
}

function cacheLine(state: VersionCacheState | undefined): string {
  switch (state?.status) {
    case 'cached':
      return 'bytes kept in .mloop/cache (Restore This Version)';
    case 'disabled':
      return 'bytes not cached (cache: false)';
    case 'evicted':
      return 'bytes removed by mloop gc';
    case 'failed':
      return `bytes not cached: ${state.reason ?? 'caching failed'}`;
    case 'pending':
      return 'bytes being cached';
    default:
      return 'bytes not cached (recorded before mloop kept dataset bytes)';
  }
}

const COLUMN_ICONS: Record<string, string> = {
  number: 'symbol-number',
  string: 'symbol-string',
  boolean: 'symbol-boolean',
  datetime: 'calendar',
  null: 'circle-slash',
};

function columnTooltip(c: ColumnProfile): string {
  const lines = [
    `${c.name} (${c.type})`,
    `${c.count.toLocaleString('en-US')} values · ${c.nulls.toLocaleString('en-US')} null${c.mismatched ? ` · ${c.mismatched} not ${c.type}` : ''}`,
  ];
  if (c.numeric) {
    const q = c.numeric.quantiles.values;
    lines.push(
      `min ${c.numeric.min} · max ${c.numeric.max} · mean ${c.numeric.mean.toPrecision(6)}${c.numeric.std === null ? '' : ` · std ${c.numeric.std.toPrecision(6)}`}`,
    );
    lines.push(`p25 ${q[25]} · median ${q[50]} · p75 ${q[75]} (${c.numeric.quantiles.method})`);
  }
  if (c.categorical)
    lines.push(`${c.categorical.distinct}${c.categorical.capped ? '+' : ''} distinct: ${c.categorical.top.map((t) => `${t.value} ${t.count}`).join(', ')}`);
  if (c.datetime) lines.push(`${c.datetime.min} → ${c.datetime.max}`);
  return lines.join('\n');
}
