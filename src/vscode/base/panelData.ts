import { RunRepository } from '../../core/store/runs';
import type { Store } from '../../core/store/store';
import type { RunInfo } from '../../protocol/common';

/** The runs that still exist, in the order asked for (a deleted run simply drops out). */
export function runInfos(store: Store, runIds: readonly string[]): RunInfo[] {
  const repo = new RunRepository(store);
  const out: RunInfo[] = [];
  for (const runId of new Set(runIds)) {
    const run = repo.get(runId);
    if (run) out.push({ runId: run.runId, name: run.name, status: run.status, startTime: run.startTime, endTime: run.endTime });
  }
  return out;
}
