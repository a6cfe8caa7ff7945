import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parse } from 'yaml';
import { loadConfig } from '../../src/core/config/loadConfig';
import { deployVersion, type DeployContext } from '../../src/core/deploy/deploy';
import { openStore, type Store } from '../../src/core/store/store';
import { registerServiceModels } from './deployFixtures';
import { tempDir } from './fixtures';

const EXAMPLE = resolve(__dirname, '../../../examples/kserve');

describe('examples/kserve: a canary on KServe rendered as InferenceService specs', function () {
  this.timeout(30_000);
  let dir: string;
  let cleanup: () => void;
  let store: Store;
  let ctx: DeployContext;

  before(() => {
    ({ dir, cleanup } = tempDir('mloop-kserve-'));
    copyFileSync(join(EXAMPLE, 'render_isvc.py'), join(dir, 'render_isvc.py'));
    store = openStore({ path: join(dir, '.mloop', 'mloop.db') });
    registerServiceModels(store, join(dir, '.mloop', 'artifacts'), 'weather-clf', [{ version: 1 }, { version: 2 }]);
    const { config, problems } = loadConfig(readFileSync(join(EXAMPLE, 'mloop.yaml'), 'utf8'), 'examples/kserve/mloop.yaml');
    assert.deepEqual(problems, [], 'the example mloop.yaml is valid');
    const target = config!.targets!.kserve!;
    // no cluster here: render without --apply, and no kubectl health check
    const command = (target.command as string[]).filter((a) => a !== '--apply').map((a) => (a === 'python' ? 'python3' : a));
    const kserve = { ...target, command, health: undefined, bake_seconds: 0 };
    ctx = {
      store,
      artifactRoot: join(dir, '.mloop', 'artifacts'),
      actor: 'tester',
      projectRoot: dir,
      config: { ...config!, targets: { kserve } },
      trusted: true,
    };
  });

  after(() => {
    store.close();
    cleanup();
  });

  const rendered = (): unknown => parse(readFileSync(join(dir, 'deploy', 'isvc.yaml'), 'utf8'));
  const spec = (version: number, canary?: number): unknown => ({
    apiVersion: 'serving.kserve.io/v1beta1',
    kind: 'InferenceService',
    metadata: { name: 'weather-clf', annotations: { 'mloop/model-version': String(version) } },
    spec: {
      predictor: {
        ...(canary === undefined ? {} : { canaryTrafficPercent: canary }),
        model: { modelFormat: { name: 'sklearn' }, storageUri: `s3://my-models/weather-clf/${version}` },
      },
    },
  });

  it('each canary step renders canaryTrafficPercent for the new version, and 100 promotes it (field left out)', async () => {
    const first = await deployVersion(ctx, { modelName: 'weather-clf', version: 1, target: 'kserve', strategy: 'direct' });
    assert.equal(first.status, 'healthy', first.reason);
    assert.deepEqual(rendered(), spec(1));
    const canary = await deployVersion(ctx, { modelName: 'weather-clf', version: 2, target: 'kserve' });
    assert.equal(canary.status, 'healthy', canary.reason);
    assert.deepEqual(
      canary.checks.map((c) => c.step),
      ['traffic 10%: command', 'traffic 50%: command', 'traffic 100%: command'],
    );
    assert.deepEqual(rendered(), spec(2));
    // what the 10 % step applied, rendered again by the same command line
    const argv = (ctx.config.targets!.kserve!.command as string[]).map((a) =>
      a.replaceAll('${model.name}', 'weather-clf').replaceAll('${model.version}', '2').replaceAll('${traffic}', '10'),
    );
    const r = spawnSync(argv[0]!, argv.slice(1), { cwd: dir, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(rendered(), spec(2, 10));
  });

  it('refuses a name Kubernetes would refuse, before writing anything', () => {
    const r = spawnSync(
      'python3',
      ['render_isvc.py', '--name', 'Weather_CLF', '--version', '1', '--storage-uri', 's3://x/1', '--traffic', '10', '--out', 'bad.yaml'],
      {
        cwd: dir,
        encoding: 'utf8',
      },
    );
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /--name 'Weather_CLF' is not a Kubernetes name/);
  });
});
