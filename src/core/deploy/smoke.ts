import type { DatasetDeclaration } from '../config/schema';
import { datasetPath } from '../datasets/versions';
import { readBatches, type CellValue } from '../datasets/readers';
import { httpExchange, type CheckResult } from './health';
import { fillText, type TemplateValues } from './template';

export interface SmokeSpec {
  readonly dataset: string;
  readonly rows: number;
  readonly url: string;
}

/** The first `count` rows of a dataset as objects (what a client would send). */
export async function sampleRows(declaration: DatasetDeclaration, projectRoot: string, count: number): Promise<Record<string, CellValue>[]> {
  const rows: Record<string, CellValue>[] = [];
  for await (const batch of readBatches(datasetPath(projectRoot, declaration), {
    ...(declaration.format ? { format: declaration.format } : {}),
    maxRows: count,
  })) {
    const names = Object.keys(batch.columns);
    for (let i = 0; i < batch.rows; i++) rows.push(Object.fromEntries(names.map((n) => [n, batch.columns[n]![i] ?? null])));
  }
  return rows.slice(0, count);
}

/** POSTs {"rows": [...]} (header x-mloop-smoke: 1, so a service can leave it out of its prediction log) and expects {"predictions": [...]} with one non-null value per row. */
export async function smokeTest(spec: SmokeSpec, rows: readonly Record<string, CellValue>[], values: TemplateValues): Promise<CheckResult> {
  const url = fillText(spec.url, values, 'smoke.url');
  const what = `POST ${rows.length} rows of ${spec.dataset} to ${url}`;
  try {
    const { status, body } = await httpExchange(url, { method: 'POST', body: JSON.stringify({ rows }), timeoutMs: 30_000, headers: { 'x-mloop-smoke': '1' } });
    if (status !== 200) return { ok: false, detail: `${what} → ${status}: ${body.slice(0, 200)}` };
    let parsed: unknown;
    try {
      parsed = JSON.parse(body);
    } catch {
      return { ok: false, detail: `${what} → the answer is not JSON` };
    }
    const predictions = (parsed as { predictions?: unknown } | null)?.predictions;
    if (!Array.isArray(predictions)) return { ok: false, detail: `${what} → the answer has no "predictions" list` };
    if (predictions.length !== rows.length) return { ok: false, detail: `${what} → ${predictions.length} predictions for ${rows.length} rows` };
    const missing = predictions.findIndex((p) => p === null || p === undefined);
    if (missing >= 0) return { ok: false, detail: `${what} → prediction ${missing + 1} is null` };
    return { ok: true, detail: `${what} → ${predictions.length} predictions` };
  } catch (error) {
    return { ok: false, detail: `${what} → ${(error as Error).message}` };
  }
}
