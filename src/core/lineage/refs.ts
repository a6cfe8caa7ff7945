import { findRunByPrefix } from '../runs/runDetails';
import type { Store } from '../store/store';
import { describeNode, parseNodeId } from './graph';

export type LineageLookup = { readonly id: string } | { readonly problem: string };

const FORMS =
  'a run id (or unique prefix), model@version, model@alias, models:/model/3, models:/model@alias, a dataset name, dataset@<digest prefix>, deployment:<id>, drift:<id>';

/**
 * Resolves what a user typed to a lineage node id:
 * `run:<id>` or a run id prefix · `<model>@<n|vN|alias>` · `<model>/<n>` · `models:/<model>/<n>` · `models:/<model>@<alias>` ·
 * `<dataset>` (its newest version) · `<dataset>@<digest prefix>` · `dataset:<name>` · `deployment:<id>` · `drift:<id>` · a node id.
 */
export function resolveLineageRef(store: Store, text: string): LineageLookup {
  const ref = text.trim();
  if (ref === '') return { problem: `give what to trace: ${FORMS}` };
  const asNode = parseNodeId(ref);
  if (asNode && asNode.kind !== 'run' && asNode.kind !== 'dataset' && asNode.kind !== 'code') {
    return describeNode(store, ref) ? { id: ref } : { problem: `no ${asNode.kind} with id ${asNode.key}` };
  }
  if (asNode?.kind === 'code') return describeNode(store, ref) ? { id: ref } : { problem: `"${ref}" is not a code node id` };
  if (asNode?.kind === 'run') return runRef(store, asNode.key);
  if (asNode?.kind === 'dataset') return /^\d+$/.test(asNode.key) && describeNode(store, ref) ? { id: ref } : datasetRef(store, asNode.key, true);

  const uri = /^models:\/([^/@]+)(?:\/(\d+)|@([\w-]+))$/.exec(ref);
  if (uri) return modelRef(store, uri[1]!, uri[2] ?? uri[3]!);
  const at = /^(.+?)[@/]([^@/]+)$/.exec(ref);
  if (at) {
    const [, name, selector] = at;
    if (modelId(store, name!) !== undefined) return modelRef(store, name!, selector!);
    if (datasetId(store, name!) !== undefined) return datasetRef(store, ref, true);
    return { problem: `no model or dataset named "${name}" (tried ${FORMS})` };
  }
  if (datasetId(store, ref) !== undefined) return datasetRef(store, ref, true);
  if (/^[0-9a-f]{1,32}$/i.test(ref)) return runRef(store, ref);
  if (modelId(store, ref) !== undefined) return { problem: `"${ref}" is a model: name a version, e.g. ${ref}@champion or ${ref}@1` };
  return { problem: `"${ref}" is not a run, model version or dataset in this store (use ${FORMS})` };
}

function runRef(store: Store, prefix: string): LineageLookup {
  const found = findRunByPrefix(store, prefix);
  return 'problem' in found ? found : { id: `run:${found.runId}` };
}

const modelId = (store: Store, name: string): number | undefined =>
  store.db.prepare('SELECT model_id FROM model WHERE name = ?').pluck().get(name) as number | undefined;
const datasetId = (store: Store, name: string): number | undefined =>
  store.db.prepare('SELECT dataset_id FROM dataset WHERE name = ?').pluck().get(name) as number | undefined;

function modelRef(store: Store, name: string, selector: string): LineageLookup {
  const id = modelId(store, name);
  if (id === undefined) return { problem: `no registered model named "${name}"` };
  const number = /^v?(\d+)$/i.exec(selector);
  const row = number
    ? store.db.prepare('SELECT model_version_id FROM model_version WHERE model_id = ? AND version = ?').pluck().get(id, Number(number[1]))
    : store.db.prepare('SELECT model_version_id FROM alias WHERE model_id = ? AND alias = ?').pluck().get(id, selector);
  if (row === undefined) return { problem: number ? `${name} has no version ${number[1]}` : `${name} has no alias "${selector}"` };
  return { id: `model:${row as number}` };
}

function datasetRef(store: Store, ref: string, allowDigest: boolean): LineageLookup {
  const [name, digest] = allowDigest && ref.includes('@') ? [ref.slice(0, ref.lastIndexOf('@')), ref.slice(ref.lastIndexOf('@') + 1)] : [ref, undefined];
  const id = datasetId(store, name);
  if (id === undefined) return { problem: `no dataset named "${name}"` };
  if (digest === undefined) {
    const newest = store.db
      .prepare('SELECT dataset_version_id FROM dataset_version WHERE dataset_id = ? ORDER BY created_at DESC, dataset_version_id DESC LIMIT 1')
      .pluck()
      .get(id) as number | undefined;
    return newest === undefined ? { problem: `dataset "${name}" has no versions yet (run "mloop datasets snapshot")` } : { id: `dataset:${newest}` };
  }
  const prefix = digest.replace(/^sha256:/, '').toLowerCase();
  if (!/^[0-9a-f]{1,64}$/.test(prefix)) return { problem: `"${digest}" is not a digest prefix (hexadecimal)` };
  const matches = store.db
    .prepare('SELECT dataset_version_id FROM dataset_version WHERE dataset_id = ? AND digest >= ? AND digest < ? LIMIT 3')
    .pluck()
    .all(id, prefix, `${prefix}g`) as number[];
  if (matches.length === 0) return { problem: `dataset "${name}" has no version with digest ${prefix}…` };
  if (matches.length > 1) return { problem: `digest prefix ${prefix} matches several versions of "${name}"; give more characters` };
  return { id: `dataset:${matches[0]!}` };
}
