// `npm run demo` prints this: where the example stands in the loop (from `mloop status` / `mloop models list`)
// and the walkthrough step to do next, so the terminal and the editor say the same thing.
// Usage: node scripts/demoNextStep.mjs <workspace>
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const workspace = process.argv[2] ?? join(root, 'examples', 'weather');

function mloop(...args) {
  try {
    return JSON.parse(
      execFileSync(process.execPath, [join(root, 'dist', 'cli.js'), '--dir', workspace, ...args, '--json'], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'ignore'],
      }),
    );
  } catch {
    return undefined; // no project or no store yet: the first step
  }
}

/** The walkthrough's steps (package.json contributes.walkthroughs), each with what shows it is done. */
export function nextStep(hasConfig, status, models) {
  const champion = (models ?? []).some((m) => m.versions.some((v) => v.aliases.includes('champion')));
  if (!hasConfig) return '1/8 Open the example or initialise a project: mloop: Initialize Project';
  if (!status || status.runs === 0) return '2/8 Train: press ▶ Train above pipelines.train in mloop.yaml (or mloop: Train… in the palette)';
  if (status.modelVersions === 0) return '3/8 Open Metrics on the run, then 4/8 register it (Register Model from Run… on the run)';
  if (!champion) return '3/8 Open Metrics on the run, then 4/8 Promote to Champion on weather-clf v1 in the Models view';
  if (status.deployments === 0) return '5/8 Deploy: mloop: Deploy Version… (serve.py on http://127.0.0.1:8765)';
  return '6/8 Check drift: python simulate.py in examples/weather, then mloop: Check Drift…; 7/8 Retrain Model…; 8/8 Show Lineage';
}

if (process.argv[1] && new URL(import.meta.url).pathname === process.argv[1]) {
  const step = nextStep(existsSync(join(workspace, 'mloop.yaml')), mloop('status'), mloop('models', 'list'));
  process.stdout.write(`  Next step (walkthrough "Get started with mloop", Help › Get Started): ${step}\n`);
}
