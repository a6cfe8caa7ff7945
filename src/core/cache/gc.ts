import { readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { DatasetCacheRepository } from '../store/datasetCache';
import type { Store } from '../store/store';
import { cacheRootOf, sealPath } from './contentStore';

/** A tmp file older than this is left over from an interrupted cache write or restore. */
const STALE_TMP_MS = 60 * 60 * 1000;

export interface GcOptions {
  readonly store: Store;
  readonly projectRoot: string;
  /** Keep the cached bytes of the newest N versions of each dataset (default: every version keeps its bytes). */
  readonly keepLast?: number;
  /** Report what would be freed; change nothing. */
  readonly dryRun?: boolean;
  readonly now?: number;
}

export interface GcVersion {
  readonly dataset: string;
  readonly datasetVersionId: number;
  readonly digest: string;
}

export interface GcReport {
  readonly dryRun: boolean;
  /** Versions whose bytes are (or would be) dropped from the cache. */
  readonly evictedVersions: GcVersion[];
  /** Versions kept although outside --keep-last: a registered model version or a deployment was trained on them. */
  readonly pinnedVersions: GcVersion[];
  readonly removedObjects: number;
  readonly freedBytes: number;
  /** Leftover temporary files removed (interrupted writes). */
  readonly removedTmpFiles: number;
}

/**
 * Removes cache objects that no kept version references. A version is kept when it is among the newest
 * `keepLast` of its dataset, or pinned: a run that read it produced a registered model version (deployed
 * or not), or a drift report uses it as reference. Versions neither kept nor pinned lose their bytes
 * (status 'evicted'; restoring one then says so). Objects of versions being cached right now are kept.
 */
export async function collectGarbage(options: GcOptions): Promise<GcReport> {
  const { store } = options;
  const repo = new DatasetCacheRepository(store);
  const now = options.now ?? Date.now();
  const root = cacheRootOf(options.projectRoot);
  const cached = new Set(repo.versionsWithStatus('cached'));
  const rows = store.db
    .prepare(
      `SELECT v.dataset_version_id AS id, v.digest AS digest, d.name AS dataset,
         row_number() OVER (PARTITION BY v.dataset_id ORDER BY v.created_at DESC, v.dataset_version_id DESC) AS rank
       FROM dataset_version v JOIN dataset d ON d.dataset_id = v.dataset_id`,
    )
    .all() as { id: number; digest: string; dataset: string; rank: number }[];
  const pinned = new Set(
    store.db
      .prepare(
        `SELECT i.dataset_version_id FROM run_input i JOIN model_version mv ON mv.source_run_id = i.run_id
         UNION SELECT i.dataset_version_id FROM run_input i JOIN model_version mv ON mv.source_run_id = i.run_id JOIN deployment dep ON dep.model_version_id = mv.model_version_id
         UNION SELECT reference_dataset_version_id FROM drift_report WHERE reference_dataset_version_id IS NOT NULL`,
      )
      .pluck()
      .all() as number[],
  );
  const keep = options.keepLast;
  const evicted: GcVersion[] = [];
  const pinnedOutside: GcVersion[] = [];
  const kept: number[] = [...repo.versionsWithStatus('pending')];
  for (const r of rows) {
    if (!cached.has(r.id)) continue;
    const version = { dataset: r.dataset, datasetVersionId: r.id, digest: r.digest };
    if (keep === undefined || r.rank <= keep) kept.push(r.id);
    else if (pinned.has(r.id)) {
      kept.push(r.id);
      pinnedOutside.push(version);
    } else evicted.push(version);
  }
  const referenced = repo.objectsOf(kept);
  const doomed: string[] = [];
  let freedBytes = 0;
  const objectsDir = join(root, 'objects');
  for (const prefix of await listOrEmpty(objectsDir)) {
    for (const rest of await listOrEmpty(join(objectsDir, prefix))) {
      if (referenced.has(prefix + rest)) continue;
      const file = join(objectsDir, prefix, rest);
      freedBytes += (await stat(file).catch(() => undefined))?.size ?? 0;
      doomed.push(file);
    }
  }
  for (const name of await listOrEmpty(join(root, 'tmp'))) {
    const file = join(root, 'tmp', name);
    const st = await stat(file).catch(() => undefined);
    if (!st || now - st.mtimeMs < STALE_TMP_MS) continue;
    freedBytes += st.size;
    doomed.push(file);
  }
  const removedTmpFiles = doomed.filter((f) => f.startsWith(join(root, 'tmp'))).length;
  if (!options.dryRun) {
    // the store stops promising the bytes before they go, so a crash in between never leaves a 'cached' version without objects
    store.transaction(() => {
      for (const v of evicted) repo.setState(v.datasetVersionId, 'evicted', { reason: `removed by mloop gc --keep-last ${keep}` });
    });
    for (const file of doomed) await rm(file, { force: true });
    // an object's seal goes with it (a seal without its object matches nothing, but need not linger)
    for (const file of doomed)
      if (file.startsWith(objectsDir))
        await rm(
          sealPath(
            root,
            file
              .slice(objectsDir.length + 1)
              .split(/[\\/]/)
              .join(''),
          ),
          { force: true },
        );
  }
  const removedObjects = doomed.length - removedTmpFiles;
  return { dryRun: options.dryRun ?? false, evictedVersions: evicted, pinnedVersions: pinnedOutside, removedObjects, freedBytes, removedTmpFiles };
}

async function listOrEmpty(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch {
    return [];
  }
}
