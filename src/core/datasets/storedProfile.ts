import { DatasetRepository } from '../store/datasets';
import type { Store } from '../store/store';
import type { DatasetProfile } from './profile';

/**
 * The stored profile of a version when mloop computed it (MLflow-logged versions carry MLflow's own shape). Its own
 * module, so a drift check against a stored profile does not load the version-recording code (versions.ts re-exports it).
 */
export function storedProfile(store: Store, datasetVersionId: number): DatasetProfile | undefined {
  const docs = new DatasetRepository(store).versionDocuments(datasetVersionId);
  if (!docs?.profileJson) return undefined;
  try {
    const parsed = JSON.parse(docs.profileJson) as Partial<DatasetProfile>;
    return parsed.format === 1 && Array.isArray(parsed.columns) ? (parsed as DatasetProfile) : undefined;
  } catch {
    return undefined;
  }
}
