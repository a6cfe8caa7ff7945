import { ArtifactRepository, type Artifact } from '../store/artifacts';
import { EnvironmentRepository, type StoredEnvironment } from '../store/environments';
import { ExperimentRepository } from '../store/experiments';
import { ReproductionRepository, type Reproduction } from '../store/reproductions';
import { RunCodeRepository, type StoredCodeChanges } from '../store/runCode';
import { RunRepository, type MetricPoint, type Run } from '../store/runs';
import type { Store } from '../store/store';

/** A dataset version a run read, as lineage records it. */
export interface RunInputVersion {
  readonly dataset: string;
  readonly digest: string;
  readonly path: string;
  readonly rowCount: number | null;
  readonly context: string;
}

export interface RunDetails {
  readonly run: Run;
  readonly experiment: string | undefined;
  readonly params: Record<string, string>;
  readonly tags: Record<string, string>;
  /** The last point of each metric. */
  readonly metrics: MetricPoint[];
  readonly inputs: RunInputVersion[];
  readonly artifacts: Artifact[];
  /** What the run started with (absent for runs from before mloop captured it, or while it is being captured). */
  readonly environment: StoredEnvironment | undefined;
  /** The uncommitted changes the run started with (absent: a clean work tree, no git, or a run from before this was kept). */
  readonly codeChanges: StoredCodeChanges | undefined;
  /** This run re-ran another exactly (mloop rerun --exact): the verdict. */
  readonly reproduces: Reproduction | undefined;
  /** Exact reruns of this run, newest first. */
  readonly reproducedBy: Reproduction[];
}

export type RunLookup = { readonly runId: string } | { readonly problem: string };

/** Finds a run by its id or a unique prefix of it (as git does with commits). */
export function findRunByPrefix(store: Store, prefix: string): RunLookup {
  const text = prefix.trim().toLowerCase();
  if (!/^[0-9a-f]{1,32}$/.test(text)) return { problem: `"${prefix}" is not a run id: run ids are 32 hexadecimal characters (a unique prefix is enough)` };
  const matches = store.db.prepare('SELECT run_id FROM run WHERE run_id >= ? AND run_id < ? ORDER BY run_id LIMIT 6').pluck().all(text, `${text}g`) as string[];
  if (matches.length === 1) return { runId: matches[0]! };
  if (matches.length === 0) return { problem: `no run with id ${text}${text.length < 32 ? '…' : ''}` };
  return {
    problem: `run id prefix ${text} is ambiguous: it matches ${matches.slice(0, 5).join(', ')}${matches.length > 5 ? ', …' : ''}; give more characters`,
  };
}

export function runDetails(store: Store, runId: string): RunDetails | undefined {
  const runs = new RunRepository(store);
  const run = runs.get(runId);
  if (!run) return undefined;
  const inputs = store.db
    .prepare(
      `SELECT d.name AS dataset, v.digest AS digest, v.path AS path, v.row_count AS rowCount, i.context AS context
       FROM run_input i JOIN dataset_version v ON v.dataset_version_id = i.dataset_version_id JOIN dataset d ON d.dataset_id = v.dataset_id
       WHERE i.run_id = ? ORDER BY d.name`,
    )
    .all(runId) as RunInputVersion[];
  return {
    run,
    experiment: new ExperimentRepository(store).get(run.experimentId)?.name,
    params: runs.params(runId),
    tags: runs.tags(runId),
    metrics: runs.latestMetricPoints(runId),
    inputs,
    artifacts: new ArtifactRepository(store).list(runId),
    environment: new EnvironmentRepository(store).forRun(runId),
    codeChanges: new RunCodeRepository(store).forRun(runId),
    reproduces: new ReproductionRepository(store).ofRun(runId),
    reproducedBy: new ReproductionRepository(store).reproductionsOf(runId),
  };
}
