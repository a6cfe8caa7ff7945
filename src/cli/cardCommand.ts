import { type Command, Option } from 'commander';
import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { buildModelCard, ModelCardError, modelCardHtml, modelCardMarkdown } from '../core/governance/modelCard';
import { compareModelCards, modelCardComparisonHtml, modelCardComparisonMarkdown } from '../core/governance/modelCardCompare';
import type { Store } from '../core/store/store';
import { CliFailure, openExistingStore } from './cliIo';
import { readConfig } from './registryCommands';
import type { CommandContext } from './trainCommand';

/** `model@3`, `model@v3`, `model/3` (a version), `model@alias`, or `model` (its champion). */
export function parseCardRef(text: string): { modelName: string; version?: number; alias?: string } {
  const m = /^([^@/]+)(?:([@/])(.+))?$/.exec(text);
  if (!m) throw new CliFailure(`"${text}" is not a model version: write model@3, model/3, model@alias or model (its champion)`);
  const [, modelName, separator, rest] = m;
  if (rest === undefined) return { modelName: modelName!, alias: 'champion' };
  const number = /^v?(\d+)$/i.exec(rest);
  if (number) return { modelName: modelName!, version: Number(number[1]) };
  if (separator === '@' && /^[\w-]+$/.test(rest)) return { modelName: modelName!, alias: rest };
  throw new CliFailure(`"${text}" is not a model version: write model@3, model/3, model@alias or model (its champion)`);
}

/** `mloop card <model@version> [--compare <model@version>] --format md|html|json [--out file]`: a deterministic model card from the store. */
export function registerCardCommand(program: Command, context: CommandContext & { withExistingStore<T>(fn: (store: Store) => T): T }): void {
  program.addCommand(
    context
      .child(
        'card',
        'a model card of one version from what the store holds and the card: section of mloop.yaml: intended use and limits, params, metrics, training data versions, commit, environment, gate verdict and prediction tests, evaluation (intervals, group fairness, importance), approvals, deployments, the monitoring summary (newest report of each check, alerts), the lineage graph (a mermaid block in md, an inline SVG in html) and its audit entries (the same store gives the same bytes); with --compare, what changed from that version to this one',
      )
      .argument(
        '<model>',
        "model@3, model/3, model@alias, model@latest (the newest version), or model (its champion); with --backend mlflow the server's version, copied here first",
      )
      .addOption(new Option('--format <format>', 'md (Markdown), html (one self-contained page) or json').choices(['md', 'html', 'json']).default('md'))
      .option('--compare <model>', 'compare with this version (the "before"), e.g. --compare model@champion')
      .option('-o, --out <file>', 'write to this file instead of stdout')
      .action(async (ref: string, options: { format: 'md' | 'html' | 'json'; compare?: string; out?: string }) => {
        await copyFromServer(context, [ref, ...(options.compare !== undefined ? [options.compare] : [])]);
        // intended use and limits come from mloop.yaml's card: section (a broken mloop.yaml is refused with its line:col)
        const config = readConfig(context.projectRoot());
        const cardOf = (text: string) => {
          const selector = parseCardRef(text);
          const section = config?.card?.[selector.modelName];
          return (store: Store) => buildModelCard(store, selector, section ? { card: section } : {});
        };
        const text = context.withExistingStore((store) => {
          try {
            const card = cardOf(ref)(store);
            if (options.compare !== undefined) {
              const comparison = compareModelCards(cardOf(options.compare)(store), card);
              if (options.format === 'json') return `${JSON.stringify(comparison, null, 2)}\n`;
              return options.format === 'html' ? modelCardComparisonHtml(comparison) : modelCardComparisonMarkdown(comparison);
            }
            if (options.format === 'json') return `${JSON.stringify(card, null, 2)}\n`;
            return options.format === 'html' ? modelCardHtml(card) : modelCardMarkdown(card);
          } catch (error) {
            if (error instanceof ModelCardError) throw new CliFailure(error.message);
            throw error;
          }
        });
        if (options.out) writeFileSync(resolve(context.io.cwd, options.out), text);
        else context.io.stdout.write(text);
      }),
  );
}

/**
 * With --backend mlflow the registry is the team's server: each named version (a number or an alias there; `latest`
 * is the store's newest) is copied into the store first, as evaluate and deploy do, so the card describes the server's
 * version with its mirrored run and lineage.
 */
async function copyFromServer(context: CommandContext, refs: readonly string[]): Promise<void> {
  if (!context.remote?.()) return;
  const { pullFromServer } = await import('./serverModel');
  const { store, root } = openExistingStore(context);
  try {
    for (const ref of refs) {
      const selector = parseCardRef(ref);
      if (selector.alias === 'latest') continue;
      await pullFromServer(context, store, root, selector, (m) => void context.io.stderr.write(`mloop: ${m}\n`));
    }
  } finally {
    store.close();
  }
}
