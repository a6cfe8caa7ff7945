import { readFileSync, statSync } from 'node:fs';
import { z } from 'zod';

// The evaluation file a training run may write (see EVALUATION.md): overall metrics and, per column
// of the data, the metrics of each value of that column (the slices the gate checks for bias).

const metricMap = z.record(z.string().min(1), z.number());

export const evaluationSchema = z.strictObject({
  metrics: metricMap.optional().default({}),
  slices: z.record(z.string().min(1), z.record(z.string(), metricMap)).optional().default({}),
});

export type Evaluation = z.output<typeof evaluationSchema>;

export class EvaluationFileError extends Error {
  override readonly name = 'EvaluationFileError';
}

/**
 * Reads and validates an evaluation file. `notBefore` (ms) refuses a file last written before the
 * run started: a stale file from an earlier run must not vouch for this one.
 */
export function readEvaluationFile(path: string, options: { notBefore?: number } = {}): Evaluation {
  let text: string;
  let mtimeMs: number;
  try {
    mtimeMs = statSync(path).mtimeMs;
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new EvaluationFileError(`cannot read the evaluation file ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  if (options.notBefore !== undefined && mtimeMs + 1000 < options.notBefore) {
    throw new EvaluationFileError(
      `the evaluation file ${path} was last written before the run started (${new Date(mtimeMs).toISOString()}): the run did not write it`,
    );
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (error) {
    throw new EvaluationFileError(`${path} is not valid JSON: ${(error as Error).message}`);
  }
  const parsed = evaluationSchema.safeParse(data);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new EvaluationFileError(`${path}: field ${issue.path.length ? issue.path.join('.') : '(top level)'}: ${issue.message}`);
  }
  return parsed.data;
}
