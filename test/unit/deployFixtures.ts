import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ExperimentRepository } from '../../src/core/store/experiments';
import { ModelRepository } from '../../src/core/store/models';
import { RunRepository } from '../../src/core/store/runs';
import type { Store } from '../../src/core/store/store';
import { loadConfig } from '../../src/core/config/loadConfig';
import type { DeployContext } from '../../src/core/deploy/deploy';

/** The test model service (test/deploy/service.py) and the target command that starts it. */
export const SERVICE = resolve(__dirname, '../../../test/deploy/service.py');
export const serveCommand = `[python3, ${JSON.stringify(SERVICE)}, serve, --model, "\${model.path}", --port, "\${port}"]`;

/** The mloop.yaml lines of a gateway target named `name` that starts service.py, then `settings` (indented by the caller). */
export const gatewayTargetLines = (name: string, port: number, settings: readonly string[]): string[] => [
  `  ${name}:`,
  `    command: ${serveCommand}`,
  `    port: ${port}`,
  '    gateway: true',
  // MLOOP_TEST_GATEWAY_WORKERS=2: the gateway suites run against several gateway processes (gateway_workers)
  ...(process.env.MLOOP_TEST_GATEWAY_WORKERS ? [`    gateway_workers: ${process.env.MLOOP_TEST_GATEWAY_WORKERS}`] : []),
  ...settings,
];

/** A version's JSON "model" for service.py (version, shift, error_every, …) and, optionally, its stored gate verdict. */
export type ServiceModel = { version: number; gate?: boolean } & Record<string, unknown>;

/** Registers versions whose artifact is the JSON "model" service.py loads. */
export function registerServiceModels(store: Store, artifactRoot: string, name: string, files: readonly ServiceModel[]): void {
  const runs = new RunRepository(store);
  const experimentId = new ExperimentRepository(store).ensure('deploy').experimentId;
  const models = new ModelRepository(store);
  for (const { gate, ...model } of files) {
    const run = runs.create({ experimentId, status: 'RUNNING' });
    runs.finish(run.runId, { status: 'FINISHED' });
    const dir = join(artifactRoot, String(experimentId), run.runId, 'artifacts');
    mkdirSync(dir, { recursive: true });
    const text = JSON.stringify(model);
    writeFileSync(join(dir, 'model.json'), text);
    models.registerVersion({
      name,
      sourceRunId: run.runId,
      artifactPath: `runs:/${run.runId}/model.json`,
      artifactDigest: `sha256:${createHash('sha256').update(text).digest('hex')}`,
      actor: 'test',
      ...(gate === undefined
        ? {}
        : {
            gate: {
              passed: gate,
              result: { passed: gate, checks: [{ rule: 'accuracy >= 0.8', passed: gate, detail: `accuracy ${gate ? 0.9 : 0.5} >= 0.8` }] },
            },
          }),
    });
  }
}

/** Writes `text` as the project's mloop.yaml (the CLI reads it too) and returns the deploy context over it. */
export function deployProject(dir: string, store: Store, artifactRoot: string, text: string): DeployContext {
  writeFileSync(join(dir, 'mloop.yaml'), text);
  const { config, problems } = loadConfig(text, 'mloop.yaml');
  assert.ok(config, JSON.stringify(problems));
  return { store, artifactRoot, actor: 'tester', projectRoot: dir, config, trusted: true };
}
