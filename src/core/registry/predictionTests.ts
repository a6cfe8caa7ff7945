import { spawn } from 'node:child_process';
import type { PredictionTests } from '../config/schema';
import { httpExchange } from '../deploy/health';

type Cell = string | number | boolean | null;
type Row = Record<string, Cell>;

/** What a model answers for a batch of rows: one prediction each, and class probabilities when it has them. */
export interface PredictionBatch {
  readonly predictions: readonly unknown[];
  readonly probabilities?: readonly Record<string, number>[];
}

export type Predictor = (rows: readonly Row[]) => Promise<PredictionBatch>;

export interface PredictionCaseResult {
  readonly kind: 'golden' | 'invariance' | 'directional';
  readonly name: string;
  readonly input: Row;
  readonly change?: Row;
  readonly expected: string;
  readonly actual: string;
  readonly passed: boolean;
  /** The case could not be checked here (a class probability from a service that answers none). */
  readonly skipped?: string;
}

export interface PredictionTestReport {
  readonly passed: boolean;
  readonly cases: readonly PredictionCaseResult[];
  /** "prediction tests: 5 passed, 1 failed" */
  readonly summary: string;
}

export class PredictionTestError extends Error {
  override readonly name = 'PredictionTestError';
}

export const hasPredictionTests = (tests: PredictionTests | undefined): tests is PredictionTests =>
  (tests?.golden?.length ?? 0) + (tests?.invariance?.length ?? 0) + (tests?.directional?.length ?? 0) > 0;

const show = (v: unknown): string => (typeof v === 'number' ? Number(v.toPrecision(6)).toString() : JSON.stringify(v));

/** Runs every case on one batch (each case's input, then its changed input) and checks the answers. */
export async function runPredictionTests(tests: PredictionTests, predict: Predictor): Promise<PredictionTestReport> {
  const rows: Row[] = [];
  const add = (row: Row): number => rows.push(row) - 1;
  const golden = (tests.golden ?? []).map((c, i) => ({ c, name: c.name ?? `golden ${i + 1}`, at: add(c.input) }));
  const invariance = (tests.invariance ?? []).map((c, i) => ({
    c,
    name: c.name ?? `invariance ${i + 1}`,
    at: add(c.input),
    changed: add({ ...c.input, ...c.change }),
  }));
  const directional = (tests.directional ?? []).map((c, i) => ({
    c,
    name: c.name ?? `directional ${i + 1}`,
    at: add(c.input),
    changed: add({ ...c.input, ...c.change }),
  }));
  const batch = await predict(rows);
  if (batch.predictions.length !== rows.length)
    throw new PredictionTestError(`the model answered ${batch.predictions.length} predictions for ${rows.length} test rows`);
  const p = batch.predictions;
  const cases: PredictionCaseResult[] = [];
  for (const { c, name, at } of golden) {
    const actual = p[at];
    const passed =
      typeof c.expect === 'number' && typeof actual === 'number' ? Math.abs(actual - c.expect) <= (c.tolerance ?? 0) : String(actual) === String(c.expect);
    cases.push({
      kind: 'golden',
      name,
      input: c.input,
      expected: `${show(c.expect)}${c.tolerance ? ` ± ${c.tolerance}` : ''}`,
      actual: show(actual),
      passed,
    });
  }
  for (const { c, name, at, changed } of invariance) {
    const [a, b] = [p[at], p[changed]];
    const passed = typeof a === 'number' && typeof b === 'number' ? Math.abs(a - b) <= (c.tolerance ?? 0) : String(a) === String(b);
    cases.push({ kind: 'invariance', name, input: c.input, change: c.change, expected: `unchanged ${show(a)}`, actual: show(b), passed });
  }
  for (const { c, name, at, changed } of directional) {
    const what = c.class === undefined ? 'the prediction' : `P(${c.class})`;
    const base = { kind: 'directional' as const, name, input: c.input, change: c.change, expected: `${what} ${c.expect}s` };
    let a: unknown;
    let b: unknown;
    if (c.class === undefined) [a, b] = [p[at], p[changed]];
    else if (!batch.probabilities) {
      cases.push({ ...base, actual: 'no class probabilities in the answer', passed: true, skipped: 'the model answers no class probabilities' });
      continue;
    } else [a, b] = [batch.probabilities[at]?.[String(c.class)] ?? null, batch.probabilities[changed]?.[String(c.class)] ?? null];
    const numbers = typeof a === 'number' && typeof b === 'number';
    const passed = typeof a === 'number' && typeof b === 'number' && (c.expect === 'increase' ? b > a : b < a);
    cases.push({ ...base, actual: numbers ? `${show(a)} → ${show(b)}` : `${show(a)} → ${show(b)} (not numbers)`, passed });
  }
  const failed = cases.filter((x) => !x.passed).length;
  const skipped = cases.filter((x) => x.skipped).length;
  return {
    passed: failed === 0,
    cases,
    summary: `prediction tests: ${cases.length - failed - skipped} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`,
  };
}

/** Each failing case on one line: kind, name, input (and change), expected, actual. */
export function failingCases(report: PredictionTestReport): string[] {
  return report.cases
    .filter((c) => !c.passed)
    .map(
      (c) =>
        `${c.kind} "${c.name}": input ${JSON.stringify(c.input)}${c.change ? ` changed by ${JSON.stringify(c.change)}` : ''}: expected ${c.expected}, got ${c.actual}`,
    );
}

/**
 * Loads a pickled (or joblib, or MLflow pyfunc) model and predicts the rows read from stdin as a DataFrame, keeping
 * the model's own feature columns when it knows them (feature_names_in_); class probabilities via predict_proba.
 */
const ARTIFACT_PREDICT = `
import json, os, pickle, sys
path = sys.argv[1]
rows = json.load(sys.stdin)["rows"]
import pandas as pd
if os.path.isdir(path):
    import mlflow.pyfunc
    model = mlflow.pyfunc.load_model(path)
else:
    try:
        with open(path, "rb") as f:
            model = pickle.load(f)
    except Exception:
        import joblib
        model = joblib.load(path)
frame = pd.DataFrame(rows)
names = getattr(model, "feature_names_in_", None)
if names is not None:
    missing = [str(n) for n in names if n not in frame.columns]
    if missing:
        sys.exit("the test rows lack the model's features: " + ", ".join(missing))
    frame = frame[list(names)]
plain = lambda v: v.item() if hasattr(v, "item") else v
out = {"predictions": [plain(v) for v in model.predict(frame)]}
if hasattr(model, "predict_proba") and hasattr(model, "classes_"):
    classes = [str(plain(c)) for c in model.classes_]
    out["probabilities"] = [{c: float(p) for c, p in zip(classes, row)} for row in model.predict_proba(frame)]
print(json.dumps(out))
`;

/** Predicts with the artifact in a Python child process (args array, no shell); its error names the artifact. */
export function artifactPredictor(options: { python: string; artifact: string; cwd: string; timeoutMs?: number }): Predictor {
  return (rows) =>
    new Promise((done, fail) => {
      const child = spawn(options.python, ['-c', ARTIFACT_PREDICT, options.artifact], { cwd: options.cwd, stdio: ['pipe', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 120_000);
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString('utf8')));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
      child.on('error', (error) => {
        clearTimeout(timer);
        fail(new PredictionTestError(`cannot start ${options.python} to load ${options.artifact}: ${error.message}`));
      });
      child.on('close', (code) => {
        clearTimeout(timer);
        if (code !== 0) {
          const last = stderr.trim().split('\n').at(-1) ?? '';
          return fail(new PredictionTestError(`${options.python} could not predict with ${options.artifact} (exit ${code}): ${last}`));
        }
        try {
          done(JSON.parse(stdout.trim().split('\n').at(-1) ?? '') as PredictionBatch);
        } catch {
          fail(new PredictionTestError(`${options.python} printed no predictions for ${options.artifact}`));
        }
      });
      child.stdin.end(JSON.stringify({ rows }));
    });
}

/** Predicts through a running service: POST {"rows": [...]} (x-mloop-smoke: 1), expects {"predictions": [...], "probabilities"?: [...]}. */
export function servicePredictor(url: string): Predictor {
  return async (rows) => {
    const { status, body } = await httpExchange(url, { method: 'POST', body: JSON.stringify({ rows }), timeoutMs: 30_000, headers: { 'x-mloop-smoke': '1' } });
    if (status !== 200) throw new PredictionTestError(`POST ${url} → ${status}: ${body.slice(0, 200)}`);
    let parsed: { predictions?: unknown; probabilities?: unknown };
    try {
      parsed = JSON.parse(body) as typeof parsed;
    } catch {
      throw new PredictionTestError(`POST ${url} → the answer is not JSON`);
    }
    if (!Array.isArray(parsed.predictions)) throw new PredictionTestError(`POST ${url} → the answer has no "predictions" list`);
    return {
      predictions: parsed.predictions,
      ...(Array.isArray(parsed.probabilities) ? { probabilities: parsed.probabilities as Record<string, number>[] } : {}),
    };
  };
}
