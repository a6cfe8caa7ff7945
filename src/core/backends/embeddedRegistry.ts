import { promote, removeAlias, rollbackAlias, rollbackTarget } from '../registry/aliases';
import { registerFromRun, type RegistryContext } from '../registry/register';
import { ModelRepository } from '../store/models';
import { RunRepository } from '../store/runs';
import type {
  ModelRegistry,
  RegistryAliasOptions,
  RegistryPromoteOptions,
  RegistryPromoteResult,
  RegistryRegisterOptions,
  RegistryRun,
  RegistryVersion,
} from './registry';

/** The registry workflow on the project's store: core/registry's gate, aliases and audit in one transaction each. */
export class EmbeddedRegistry implements ModelRegistry {
  readonly where = '';
  readonly asksArtifactPath = false;

  constructor(private readonly ctx: RegistryContext) {}

  get location(): string {
    return this.ctx.store.path;
  }

  async versions(modelName?: string): Promise<RegistryVersion[]> {
    const repo = new ModelRepository(this.ctx.store);
    const models = modelName === undefined ? repo.list() : [repo.byName(modelName)].filter((m) => m !== undefined);
    return models.flatMap((m) =>
      repo.versions(m.modelId).map((v) => ({ modelName: m.name, version: v.version, runId: v.sourceRunId, aliases: v.aliases, gatePassed: v.gatePassed })),
    );
  }

  async run(runId: string): Promise<RegistryRun | undefined> {
    const run = new RunRepository(this.ctx.store).get(runId);
    return run && { runId: run.runId, name: run.name, pipeline: run.pipeline };
  }

  async promote(options: RegistryPromoteOptions): Promise<RegistryPromoteResult> {
    const r = await promote(this.ctx, options);
    return { version: r.version.version, previous: r.previous, gate: r.gate, overridden: r.overridden };
  }

  async removeAlias(options: RegistryAliasOptions): Promise<number> {
    return removeAlias(this.ctx, options);
  }

  async rollbackTarget(modelName: string, alias: string): Promise<{ current: number | null; target: number | undefined }> {
    return rollbackTarget(this.ctx, modelName, alias);
  }

  rollbackAlias(options: RegistryAliasOptions): Promise<{ from: number | null; to: number }> {
    return rollbackAlias(this.ctx, options);
  }

  async registerFromRun(options: RegistryRegisterOptions): Promise<{ version: number; gate: RegistryPromoteResult['gate'] }> {
    const r = await registerFromRun(this.ctx, options);
    return { version: r.version.version, gate: r.gate };
  }
}
