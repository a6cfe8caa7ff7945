import type { Config } from '../config/schema';
import { parseGate } from './gateRules';
import { registerFromRun, type GateSpec, type RegistryContext, type StoredGate } from './register';
import type { ModelVersion } from '../store/models';

/** The gate of a model as mloop.yaml declares it (no rules: no gate). */
export function gateSpecFor(config: Config | undefined, modelName: string): GateSpec | undefined {
  const section = config?.models?.[modelName] as { gate?: unknown[]; evaluation?: string } | undefined;
  if (!section) return undefined;
  return { rules: parseGate(section.gate), ...(section.evaluation ? { evaluationFile: section.evaluation } : {}) };
}

export interface AutoRegistration {
  readonly modelName: string;
  readonly version: ModelVersion;
  readonly gate: StoredGate | null;
  readonly reused: boolean;
}

/**
 * The run-completion hook: a FINISHED run of a pipeline with a `model:` section registers a version
 * of that model (or gates the one its mlflow client registered) with the model's gate.
 */
export async function registerPipelineModel(
  ctx: RegistryContext,
  input: { config: Config; pipelineName: string; runId: string; status: string; projectRoot: string },
): Promise<AutoRegistration | undefined> {
  const output = input.config.pipelines[input.pipelineName]?.model;
  if (!output || input.status !== 'FINISHED') return undefined;
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
