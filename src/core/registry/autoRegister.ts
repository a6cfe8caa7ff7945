import { primaryMetricOf, type Config, type Pipeline, type RegisterPolicy } from '../config/schema';
import { approvalPolicyOf } from '../governance/approvals';
import { parseGate } from './gateRules';
import { registerFromRun, type GateSpec, type RegistryContext, type StoredGate } from './register';
import { ModelRepository, type ModelVersion } from '../store/models';
import { RunRepository } from '../store/runs';
import type { Store } from '../store/store';

/** The gate of a model as mloop.yaml declares it (no rules: no gate). */
export function gateSpecFor(config: Config | undefined, modelName: string): GateSpec | undefined {
  const section = config?.models?.[modelName];
  if (!section) return undefined;
  return {
    rules: parseGate(section.gate as unknown[] | undefined),
    ...(section.evaluation ? { evaluationFile: section.evaluation } : {}),
    ...(section.tests ? { tests: section.tests } : {}),
    ...(section.approvals ? { approvals: approvalPolicyOf(section.approvals) } : {}),
  };
}

export interface AutoRegistration {
  readonly modelName: string;
  readonly version: ModelVersion;
  readonly gate: StoredGate | null;
  readonly reused: boolean;
}

/** A finished run the policy did not register, and why ("accuracy 0.81 does not beat v2's 0.83 (register: if_better)"). */
export interface SkippedRegistration {
  readonly modelName: string;
  readonly skipped: string;
}

/**
 * The run-completion hook: a FINISHED run of a pipeline with a `model:` section registers a version
 * of that model (or gates the one its mlflow client registered) with the model's gate, as its
 * `register:` policy allows. `policy` overrides it (a retrain always registers its candidate).
 */
export async function registerPipelineModel(
  ctx: RegistryContext,
  input: { config: Config; pipelineName: string; runId: string; status: string; projectRoot: string; policy?: RegisterPolicy },
): Promise<AutoRegistration | SkippedRegistration | undefined> {
  const pipeline = input.config.pipelines[input.pipelineName];
  const output = pipeline?.model;
  if (!pipeline || !output || input.status !== 'FINISHED') return undefined;
  const skipped = registrationSkipped(ctx.store, { pipeline, runId: input.runId, modelName: output.name, policy: input.policy ?? output.register });
  if (skipped) return { modelName: output.name, skipped };
  const result = await registerFromRun(ctx, {
    runId: input.runId,
    modelName: output.name,
    artifactPath: output.path,
    projectRoot: input.projectRoot,
    gate: gateSpecFor(input.config, output.name),
    reuseExisting: true,
  });
  return { modelName: output.name, ...result };
}

/** Why the policy keeps this run out of the registry, or undefined when it registers. */
export function registrationSkipped(store: Store, input: { pipeline: Pipeline; runId: string; modelName: string; policy: RegisterPolicy }): string | undefined {
  if (input.policy === 'always') return undefined;
  const models = new ModelRepository(store);
  const model = models.byName(input.modelName);
  const versions = model ? models.versions(model.modelId) : [];
  // a version its mlflow client already registered is gated, never dropped
  if (versions.some((v) => v.sourceRunId === input.runId)) return undefined;
  if (input.policy === 'manual') return 'register: manual in mloop.yaml';
  const metric = primaryMetricOf(input.pipeline);
  if (versions.length === 0 || !metric) return undefined;
  const value = new RunRepository(store).latestMetrics(input.runId)[metric.name];
  if (value === undefined) return `the run logged no ${metric.name} to compare (register: if_better)`;
  const better = (a: number, b: number): boolean => (metric.goal === 'minimize' ? a < b : a > b);
  let best: { version: number; value: number } | undefined;
  for (const v of versions) {
    const x = models.versionDetails(v.modelVersionId).metrics[metric.name];
    if (x !== undefined && (!best || better(x, best.value))) best = { version: v.version, value: x };
  }
  if (!best || better(value, best.value)) return undefined;
  return `${metric.name} ${formatValue(value)} does not beat v${best.version}'s ${formatValue(best.value)} (register: if_better)`;
}

const formatValue = (x: number): string => String(Number(x.toPrecision(4)));
