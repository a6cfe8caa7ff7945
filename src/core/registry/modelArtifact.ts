import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { sha256File } from '../runs/codeVersion';
import type { Store } from '../store/store';

// Where registered artifacts live under the artifact root, laid out as the tracking server keeps them:
//   run files       <root>/<experiment id>/<run id>/artifacts/<path>       source runs:/<run id>/<path>
//   logged models   <root>/<experiment id>/models/<model id>/artifacts/   source models:/<model id>

export const runArtifactDir = (artifactRoot: string, experimentId: number, runId: string): string =>
  join(artifactRoot, String(experimentId), runId, 'artifacts');

export function loggedModelDir(store: Store, artifactRoot: string, loggedModelId: string): string | undefined {
  const row = store.db
    .prepare('SELECT l.experiment_id, e.artifact_location FROM logged_model l JOIN experiment e USING (experiment_id) WHERE l.model_id = ?')
    .get(loggedModelId) as { experiment_id: number; artifact_location: string | null } | undefined;
  if (!row) return undefined;
  // an experiment with its own (non-proxied) artifact location keeps its files elsewhere
  if (row.artifact_location && !row.artifact_location.startsWith('mlflow-artifacts:')) return undefined;
  return join(artifactRoot, String(row.experiment_id), 'models', loggedModelId, 'artifacts');
}

/** "sha256:<hex>" of one file. */
export async function fileDigest(path: string): Promise<string> {
  return `sha256:${await sha256File(path)}`;
}

/** A folder's digest: sha256 over its sorted relative paths and their file digests (a model saved as a directory). */
export async function folderDigest(dir: string): Promise<string> {
  const files = (readdirSync(dir, { recursive: true }) as string[])
    .map(String)
    .filter((f) => statSync(join(dir, f)).isFile())
    .sort();
  const hash = createHash('sha256');
  for (const f of files) hash.update(`${relative(dir, join(dir, f)).split('\\').join('/')}\0${await sha256File(join(dir, f))}\n`);
  return `sha256:${hash.digest('hex')}`;
}

export async function pathDigest(path: string): Promise<string> {
  return statSync(path).isDirectory() ? folderDigest(path) : fileDigest(path);
}

/** The signature an MLflow model folder declares in its MLmodel file (inputs/outputs as MLflow wrote them). */
export function readMlflowSignature(modelDir: string): unknown {
  let text: string;
  try {
    text = readFileSync(join(modelDir, 'MLmodel'), 'utf8');
  } catch {
    return undefined;
  }
  const doc = parseYaml(text) as { signature?: Record<string, unknown> } | null;
  const signature = doc?.signature;
  if (!signature || typeof signature !== 'object') return undefined;
  // MLflow stores inputs/outputs as JSON strings inside the YAML
  return Object.fromEntries(Object.entries(signature).map(([k, v]) => [k, typeof v === 'string' && /^[[{]/.test(v) ? safeJson(v) : v]));
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** Where a version's artifact is on disk, from its source URI; undefined when it is not kept here. */
export function artifactLocation(store: Store, artifactRoot: string, source: string | null): string | undefined {
  if (!source) return undefined;
  const logged = /^models:\/(m-[0-9a-f]+)$/.exec(source);
  if (logged) return loggedModelDir(store, artifactRoot, logged[1]!);
  const run = /^runs:\/([0-9a-f]{32})\/(.+)$/.exec(source);
  if (run) {
    const experimentId = store.db.prepare('SELECT experiment_id FROM run WHERE run_id = ?').pluck().get(run[1]) as number | undefined;
    return experimentId === undefined ? undefined : join(runArtifactDir(artifactRoot, experimentId, run[1]!), run[2]!);
  }
  return undefined;
}

/** The same digest as pathDigest, computed synchronously (request handlers of the tracking endpoint are synchronous). */
export function pathDigestSync(path: string): string {
  const fileHash = (p: string): string => createHash('sha256').update(readFileSync(p)).digest('hex');
  if (!statSync(path).isDirectory()) return `sha256:${fileHash(path)}`;
  const files = (readdirSync(path, { recursive: true }) as string[])
    .map(String)
    .filter((f) => statSync(join(path, f)).isFile())
    .sort();
  const hash = createHash('sha256');
  for (const f of files) hash.update(`${f.split('\\').join('/')}\0${fileHash(join(path, f))}\n`);
  return `sha256:${hash.digest('hex')}`;
}
