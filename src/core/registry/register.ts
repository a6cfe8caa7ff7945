import { copyFileSync, existsSync, mkdirSync, statSync } from 'node:fs';
import { dirname, isAbsolute, join, relative, resolve } from 'node:path';
import type { ApprovalPolicy } from '../governance/approvals';
import { ArtifactRepository } from '../store/artifacts';
import { ModelRepository, type ModelVersion } from '../store/models';
import { RunRepository, type Run } from '../store/runs';
import type { Store } from '../store/store';
import { RegistryError } from './errors';
import { readEvaluationFile, type Evaluation } from './evaluationFile';
import { evaluateGate, type GateCheck, type GateResult } from './gate';
import type { GateRule } from './gateRules';
import { artifactLocation, fileDigest, loggedModelDir, pathDigest, readMlflowSignature, runArtifactDir } from './modelArtifact';
import { artifactPredictor, failingCases, hasPredictionTests, PredictionTestError, runPredictionTests, type PredictionTestReport } from './predictionTests';
import type { PredictionTests } from '../config/schema';
import { pythonOf } from '../runs/environment';

/** What every registry operation needs: the store, where artifacts live, and who is acting. */
export interface RegistryContext {
  readonly store: Store;
  readonly artifactRoot: string;
  readonly actor: string;
}

/** A model's gate from mloop.yaml, ready to evaluate. */
export interface GateSpec {
  readonly rules: readonly GateRule[];
  /** The evaluation file the run writes, relative to the project (mloop.yaml's folder). */
  readonly evaluationFile?: string;
  /** The model's approval policy: promotion to champion then needs reviewers (mloop.yaml models.<name>.approvals). */
  readonly approvals?: ApprovalPolicy;
  /** Prediction tests run against the artifact (mloop.yaml models.<name>.tests). */
  readonly tests?: PredictionTests;
}

/** The gate verdict as stored on a version: the checks plus the evidence they were computed from. */
export interface StoredGate extends GateResult {
  readonly evidence: { readonly metrics: Readonly<Record<string, number>>; readonly slices: Evaluation['slices'] };
  /** Every prediction test case with input, expected and actual (when the model declares tests). */
  readonly predictionTests?: PredictionTestReport;
}

/** Gate checks whose rule starts with this come from the prediction tests (kept when a promotion re-evaluates the rules). */
export const PREDICTION_TEST_RULE = 'prediction tests';

/** Whether a gate has anything to check: rules or prediction tests. */
export const gateDeclared = (gate: GateSpec | undefined): boolean => (gate?.rules.length ?? 0) > 0 || hasPredictionTests(gate?.tests);

/** Runs the model's prediction tests against the artifact as gate checks: a summary, then one per failing case. */
export async function predictionTestChecks(
  ctx: RegistryContext,
  input: { gate?: GateSpec; artifactPath: string; projectRoot?: string },
): Promise<{ checks: GateCheck[]; report?: PredictionTestReport } | undefined> {
  if (!hasPredictionTests(input.gate?.tests)) return undefined;
  const location = artifactLocation(ctx.store, ctx.artifactRoot, input.artifactPath);
  const cwd = input.projectRoot ?? process.cwd();
  try {
    if (!location || !existsSync(location)) throw new PredictionTestError(`the artifact ${input.artifactPath} is not on this machine`);
    const report = await runPredictionTests(input.gate.tests, artifactPredictor({ python: pythonOf([], process.env, cwd), artifact: location, cwd }));
    const failing = failingCases(report).map(
      (detail): GateCheck => ({ rule: `${PREDICTION_TEST_RULE}: ${detail.slice(0, detail.indexOf(':'))}`, passed: false, detail }),
    );
    return { checks: [{ rule: PREDICTION_TEST_RULE, passed: report.passed, detail: report.summary }, ...failing], report };
  } catch (error) {
    if (!(error instanceof PredictionTestError)) throw error;
    return { checks: [{ rule: PREDICTION_TEST_RULE, passed: false, detail: error.message }] };
  }
}

export interface RegisterFromRunOptions {
  readonly runId: string;
  readonly modelName: string;
  /**
   * The artifact: a path the run stored among its artifacts, or a file the run wrote in the project
   * (the pipeline's `model.path`), which is then copied into the run's artifacts. Omitted: the model
   * the run logged with mlflow (log_model).
   */
  readonly artifactPath?: string;
  readonly projectRoot?: string;
  readonly gate?: GateSpec;
  readonly description?: string;
  /** When the run's own mlflow client already registered a version of this model, gate that one instead of adding another. */
  readonly reuseExisting?: boolean;
  readonly now?: number;
}

const bare = (digest: string | null | undefined): string | undefined => digest?.replace(/^sha256:/, '');

export function requireFinishedRun(store: Store, runId: string): Run {
  const run = new RunRepository(store).get(runId);
  if (!run) throw new RegistryError(`no run ${runId} in the store`);
  if (run.status !== 'FINISHED') throw new RegistryError(`run ${runId} (${run.name}) is ${run.status}: only a FINISHED run can be registered`);
  return run;
}

interface ResolvedArtifact {
  readonly source: string;
  readonly digest: string;
  /** The run artifact to record (a file copied from the project). */
  readonly record?: { path: string; digest: string; size: number };
  readonly signature?: unknown;
}

async function resolveArtifact(ctx: RegistryContext, run: Run, options: RegisterFromRunOptions): Promise<ResolvedArtifact> {
  const loggedModel = ctx.store.db
    .prepare("SELECT o.model_id FROM run_output o JOIN logged_model l USING (model_id) WHERE o.run_id = ? AND l.status = 'READY' ORDER BY l.created_at DESC")
    .pluck()
    .get(run.runId) as string | undefined;
  const loggedDir = loggedModel ? loggedModelDir(ctx.store, ctx.artifactRoot, loggedModel) : undefined;
  const signature = loggedDir ? readMlflowSignature(loggedDir) : undefined;
  const runDir = runArtifactDir(ctx.artifactRoot, run.experimentId, run.runId);

  if (options.artifactPath === undefined) {
    if (!loggedModel || !loggedDir || !existsSync(loggedDir)) {
      throw new RegistryError(`run ${run.runId} logged no model with mlflow: name the artifact to register (e.g. model.pkl)`);
    }
    return { source: `models:/${loggedModel}`, digest: await pathDigest(loggedDir), signature };
  }

  const path = options.artifactPath.split('\\').join('/');
  if (isAbsolute(path) || path.split('/').includes('..')) throw new RegistryError(`artifact path ${path} must be relative and stay inside the run's artifacts`);
  const stored = join(runDir, path);
  const recorded = ctx.store.db.prepare('SELECT digest FROM artifact WHERE run_id = ? AND path = ?').pluck().get(run.runId, path) as string | null | undefined;
  if (existsSync(stored)) {
    const digest = await pathDigest(stored);
    if (recorded && bare(recorded) !== bare(digest)) {
      throw new RegistryError(
        `artifact ${path} of run ${run.runId} changed after the run stored it (digest ${bare(recorded)!.slice(0, 12)}… recorded, ${bare(digest)!.slice(0, 12)}… now)`,
      );
    }
    return { source: `runs:/${run.runId}/${path}`, digest, signature };
  }
  if (recorded !== undefined) throw new RegistryError(`artifact ${path} of run ${run.runId} is recorded but missing from ${runDir}`);

  const written = options.projectRoot ? resolve(options.projectRoot, path) : undefined;
  if (!written || !existsSync(written) || !statSync(written).isFile()) {
    throw new RegistryError(`run ${run.runId} produced no ${path}: it is neither among the run's artifacts nor in ${options.projectRoot ?? 'the project'}`);
  }
  const mtime = statSync(written).mtimeMs;
  // the project file is shared by every run of the pipeline: accept it only if this run wrote it
  if (mtime + 1000 < run.startTime)
    throw new RegistryError(`${relative(options.projectRoot!, written)} was last written before run ${run.runId} started: the run did not produce it`);
  if (run.endTime !== null && mtime > run.endTime + 5000) {
    throw new RegistryError(
      `${relative(options.projectRoot!, written)} was rewritten after run ${run.runId} ended (by a later run?): register that run instead`,
    );
  }
  mkdirSync(dirname(stored), { recursive: true });
  copyFileSync(written, stored);
  const digest = await fileDigest(stored);
  return { source: `runs:/${run.runId}/${path}`, digest, record: { path, digest, size: statSync(stored).size }, signature };
}

/** Gathers the evidence (run metrics, evaluation file, champion) and evaluates the gate. */
export function gateForRun(
  ctx: RegistryContext,
  input: {
    run: Run;
    modelName: string;
    gate: GateSpec;
    projectRoot?: string;
    excludeVersion?: number;
    now?: number;
    /** The prediction tests' checks and report (predictionTestChecks), when the model has tests. */
    tested?: { checks: GateCheck[]; report?: PredictionTestReport };
  },
): StoredGate {
  const { run, gate } = input;
  const metrics: Record<string, number> = { ...new RunRepository(ctx.store).latestMetrics(run.runId) };
  let slices: Evaluation['slices'] = {};
  const problems: GateCheck[] = [];
  let evaluationFile: string | undefined;
  if (gate.evaluationFile) {
    const inArtifacts = join(runArtifactDir(ctx.artifactRoot, run.experimentId, run.runId), gate.evaluationFile);
    const inProject = input.projectRoot ? resolve(input.projectRoot, gate.evaluationFile) : undefined;
    const path = existsSync(inArtifacts) ? inArtifacts : inProject;
    try {
      if (!path || !existsSync(path)) throw new Error(`the run wrote no evaluation file ${gate.evaluationFile}`);
      const evaluation = readEvaluationFile(path, path === inArtifacts ? {} : { notBefore: run.startTime });
      Object.assign(metrics, evaluation.metrics);
      slices = evaluation.slices;
      evaluationFile = gate.evaluationFile;
    } catch (error) {
      problems.push({ rule: `evaluation file ${gate.evaluationFile}`, passed: false, detail: (error as Error).message });
    }
  }
  const result = gateWithEvidence(ctx, {
    modelName: input.modelName,
    rules: gate.rules,
    metrics,
    slices,
    evaluationFile,
    problems: [...problems, ...(input.tested?.checks ?? [])],
    excludeVersion: input.excludeVersion,
    now: input.now,
  });
  return input.tested?.report ? { ...result, predictionTests: input.tested.report } : result;
}

/** Evaluates rules on stored evidence against the current champion (not itself). */
export function gateWithEvidence(
  ctx: RegistryContext,
  input: {
    modelName: string;
    rules: readonly GateRule[];
    metrics: Readonly<Record<string, number>>;
    slices: Evaluation['slices'];
    evaluationFile?: string;
    problems?: readonly GateCheck[];
    excludeVersion?: number;
    now?: number;
  },
): StoredGate {
  const models = new ModelRepository(ctx.store);
  const model = models.byName(input.modelName);
  const champion = model ? models.versionByAlias(model.modelId, 'champion') : undefined;
  const championEvidence =
    champion && champion.version !== input.excludeVersion ? { version: champion.version, metrics: championMetrics(models, champion) } : undefined;
  const result = evaluateGate(
    input.rules,
    { metrics: input.metrics, slices: input.slices, champion: championEvidence, evaluationFile: input.evaluationFile },
    input.now,
  );
  const checks = [...(input.problems ?? []), ...result.checks];
  return { ...result, passed: checks.every((c) => c.passed), checks, evidence: { metrics: input.metrics, slices: input.slices } };
}

/** The champion's metrics as its own gate saw them (evaluation file included), else its registration snapshot. */
function championMetrics(models: ModelRepository, champion: ModelVersion): Record<string, number> {
  const details = models.versionDetails(champion.modelVersionId);
  const stored = details.gate as Partial<StoredGate> | null;
  return { ...details.metrics, ...(stored?.evidence?.metrics ?? {}) };
}

/**
 * Registers a version of `modelName` from a finished run: artifact (copied into the run's artifacts
 * and digested), metrics snapshot, MLflow signature when the run logged a model, and the gate
 * verdict. The version, the artifact row and the audit row commit in one transaction.
 */
export async function registerFromRun(
  ctx: RegistryContext,
  options: RegisterFromRunOptions,
): Promise<{ version: ModelVersion; gate: StoredGate | null; reused: boolean }> {
  const run = requireFinishedRun(ctx.store, options.runId);
  const models = new ModelRepository(ctx.store);
  const model = models.byName(options.modelName);
  const existing = options.reuseExisting && model ? models.versions(model.modelId).find((v) => v.sourceRunId === run.runId) : undefined;
  if (existing) {
    const tested = await predictionTestChecks(ctx, { gate: options.gate, artifactPath: existing.artifactPath ?? '', projectRoot: options.projectRoot });
    const gate = gateDeclared(options.gate)
      ? gateForRun(ctx, {
          run,
          modelName: options.modelName,
          gate: options.gate!,
          projectRoot: options.projectRoot,
          excludeVersion: existing.version,
          now: options.now,
          tested,
        })
      : null;
    if (gate) models.setGateResult({ modelVersionId: existing.modelVersionId, passed: gate.passed, result: gate, actor: ctx.actor, now: options.now });
    return { version: models.versionById(existing.modelVersionId)!, gate, reused: true };
  }
  const artifact = await resolveArtifact(ctx, run, options);
  const tested = await predictionTestChecks(ctx, { gate: options.gate, artifactPath: artifact.source, projectRoot: options.projectRoot });
  const gate = gateDeclared(options.gate)
    ? gateForRun(ctx, { run, modelName: options.modelName, gate: options.gate!, projectRoot: options.projectRoot, now: options.now, tested })
    : null;
  const version = ctx.store.transaction(() => {
    if (artifact.record) new ArtifactRepository(ctx.store).record({ runId: run.runId, ...artifact.record, now: options.now });
    return models.registerVersion({
      name: options.modelName,
      sourceRunId: run.runId,
      artifactPath: artifact.source,
      artifactDigest: artifact.digest,
      metrics: gate?.evidence.metrics ?? new RunRepository(ctx.store).latestMetrics(run.runId),
      signature: artifact.signature,
      gate: gate ? { passed: gate.passed, result: gate } : undefined,
      description: options.description,
      actor: ctx.actor,
      now: options.now,
    });
  });
  return { version, gate, reused: false };
}
