import { environmentChanges, formatEnvironmentChange, type EnvironmentChange } from '../../shared/environmentFacts';
import { blocksToHtml, blocksToMarkdown, heading, list, table, text, type CardBlock } from './cardDocument';
import { cardNumber, type ModelCard } from './modelCard';

/** What changed from one version's card (`base`, e.g. the champion) to another's (`other`, e.g. the candidate). */
export interface ModelCardComparison {
  readonly base: { readonly model: string; readonly version: number; readonly aliases: readonly string[] };
  readonly other: { readonly model: string; readonly version: number; readonly aliases: readonly string[] };
  /** Every metric either version has, with other − base when both have it. */
  readonly metrics: readonly { name: string; before: number | null; after: number | null; delta: number | null }[];
  readonly params: readonly Change[];
  readonly data: readonly Change[];
  readonly code: Change | null;
  readonly environment: readonly EnvironmentChange[];
  readonly gate: { readonly before: Verdict; readonly after: Verdict; readonly rules: readonly Change[] };
  readonly predictionTests: { readonly before: string | null; readonly after: string | null };
  readonly evaluation: readonly { name: string; before: number | null; after: number | null; delta: number | null }[];
  readonly fairness: readonly { column: string; measure: string; before: number | null; after: number | null }[];
  readonly importance: readonly { feature: string; before: number | null; after: number | null; rankBefore: number | null; rankAfter: number | null }[];
  /** Intended use and limits (mloop.yaml `card:`) that differ. */
  readonly intendedUse: readonly Change[];
  /** The newest report of each check that differs (`check (subject)` → `ok|alert: summary`). */
  readonly monitoring: readonly Change[];
  /** Lineage nodes (`kind: label`) only one of the two versions has. */
  readonly lineage: { readonly added: readonly string[]; readonly removed: readonly string[] };
}

interface Change {
  readonly name: string;
  readonly before: string | null;
  readonly after: string | null;
}
type Verdict = 'passed' | 'failed' | 'not evaluated';

const keysOf = (...records: Readonly<Record<string, unknown>>[]): string[] => [...new Set(records.flatMap((r) => Object.keys(r)))].sort();
const changes = (before: Readonly<Record<string, string>>, after: Readonly<Record<string, string>>): Change[] =>
  keysOf(before, after)
    .filter((k) => before[k] !== after[k])
    .map((name) => ({ name, before: before[name] ?? null, after: after[name] ?? null }));
const verdict = (card: ModelCard): Verdict => (card.gate ? (card.gate.passed ? 'passed' : 'failed') : 'not evaluated');
const numbers = (before: Readonly<Record<string, number | null>>, after: Readonly<Record<string, number | null>>) =>
  keysOf(before, after).map((name) => {
    const b = before[name] ?? null;
    const a = after[name] ?? null;
    return { name, before: b, after: a, delta: a !== null && b !== null ? a - b : null };
  });

/** A deterministic comparison of two cards: the same two cards give the same result (and the same Markdown). */
export function compareModelCards(base: ModelCard, other: ModelCard): ModelCardComparison {
  const dataOf = (card: ModelCard): Record<string, string> =>
    Object.fromEntries((card.training?.data ?? []).map((d) => [`${d.dataset} (${d.context})`, d.digest]));
  const rulesOf = (card: ModelCard): Record<string, string> =>
    Object.fromEntries((card.gate?.checks ?? []).map((c) => [c.rule, `${c.passed ? 'pass' : 'fail'}: ${c.detail}`]));
  const evalOf = (card: ModelCard): Record<string, number | null> =>
    Object.fromEntries(Object.entries(card.evaluation?.metrics ?? {}).map(([k, m]) => [k, m?.value ?? null]));
  const fairnessOf = (card: ModelCard): Record<string, number | null> =>
    Object.fromEntries(
      (card.evaluation?.fairness ?? []).flatMap((f) => [
        [`${f.column}\u0000demographic parity difference`, f.demographicParityDifference],
        [`${f.column}\u0000demographic parity ratio`, f.demographicParityRatio],
        [`${f.column}\u0000equalized odds difference`, f.equalizedOddsDifference],
      ]),
    );
  const rank = (card: ModelCard, feature: string): number | null => {
    const i = card.evaluation?.importance.findIndex((x) => x.feature === feature) ?? -1;
    return i < 0 ? null : i + 1;
  };
  const importance = (card: ModelCard): Record<string, number> => Object.fromEntries((card.evaluation?.importance ?? []).map((x) => [x.feature, x.mean]));
  const ib = importance(base);
  const io = importance(other);
  const commitOf = (card: ModelCard): string | null =>
    card.training?.commit ? `${card.training.commit}${card.training.uncommittedChanges ? ' (with uncommitted changes)' : ''}` : null;
  const useOf = (card: ModelCard): Record<string, string> => {
    const u = card.intendedUse;
    if (!u) return {};
    const entries: [string, string][] = [
      ['intended use', u.intendedUse ?? ''],
      ['intended users', u.intendedUsers.join('; ')],
      ['limitations', u.limitations.join('; ')],
      ['out of scope', u.outOfScope.join('; ')],
      ['ethical considerations', u.ethicalConsiderations.join('; ')],
    ];
    return Object.fromEntries(entries.filter(([, v]) => v !== ''));
  };
  const monitoringOf = (card: ModelCard): Record<string, string> =>
    Object.fromEntries(card.monitoring.checks.map((c) => [`${c.check} (${c.subject})`, `${c.alert ? 'alert' : 'ok'}: ${c.summary}`]));
  const nodesOf = (card: ModelCard): Set<string> => new Set(card.lineage.nodes.map((n) => `${n.kind}: ${n.label}`));
  const nb = nodesOf(base);
  const no = nodesOf(other);
  return {
    base: { model: base.model, version: base.version, aliases: base.aliases },
    other: { model: other.model, version: other.version, aliases: other.aliases },
    metrics: numbers(base.metrics, other.metrics),
    params: changes(base.training?.params ?? {}, other.training?.params ?? {}),
    data: changes(dataOf(base), dataOf(other)),
    code: commitOf(base) === commitOf(other) ? null : { name: 'commit', before: commitOf(base), after: commitOf(other) },
    environment: environmentChanges(base.environment?.facts ?? {}, other.environment?.facts ?? {}),
    gate: { before: verdict(base), after: verdict(other), rules: changes(rulesOf(base), rulesOf(other)) },
    predictionTests: { before: base.predictionTests?.summary ?? null, after: other.predictionTests?.summary ?? null },
    evaluation: numbers(evalOf(base), evalOf(other)),
    fairness: numbers(fairnessOf(base), fairnessOf(other))
      .filter((f) => f.before !== f.after)
      .map((f) => {
        const [column, measure] = f.name.split('\u0000') as [string, string];
        return { column, measure, before: f.before, after: f.after };
      }),
    importance: keysOf(ib, io).map((feature) => ({
      feature,
      before: ib[feature] ?? null,
      after: io[feature] ?? null,
      rankBefore: rank(base, feature),
      rankAfter: rank(other, feature),
    })),
    intendedUse: changes(useOf(base), useOf(other)),
    monitoring: changes(monitoringOf(base), monitoringOf(other)),
    lineage: { added: [...no].filter((n) => !nb.has(n)).sort(), removed: [...nb].filter((n) => !no.has(n)).sort() },
  };
}

const label = (side: ModelCardComparison['base']): string =>
  `v${side.version}${side.aliases.length ? ` (${side.aliases.map((a) => `@${a}`).join(', ')})` : ''}`;
const signed = (x: number | null): string => (x === null ? '—' : `${x > 0 ? '+' : ''}${cardNumber(x)}`);
const NO_CHANGE = 'No change.';

export function modelCardComparisonBlocks(c: ModelCardComparison): CardBlock[] {
  const b = label(c.base);
  const o = label(c.other);
  const tests = c.predictionTests;
  const numbers = (rows: ModelCardComparison['metrics'], none: string): CardBlock =>
    table(
      ['metric', b, o, 'change'],
      rows.map((m) => [m.name, cardNumber(m.before), cardNumber(m.after), signed(m.delta)]),
      none,
    );
  const changed = (what: string, rows: readonly Change[]): CardBlock =>
    table(
      [what, b, o],
      rows.map((r) => [r.name, r.before, r.after]),
      NO_CHANGE,
    );
  return [
    heading(1, `Model card changes: ${c.other.model} ${b} → ${o}`),
    list([
      `Release gate: ${c.gate.before !== c.gate.after ? `${c.gate.before} → ${c.gate.after}` : c.gate.after}`,
      `Prediction tests: ${tests.before === tests.after ? (tests.after ?? 'none configured') : `${tests.before ?? 'none'} → ${tests.after ?? 'none'}`}`,
      `Code: ${c.code ? `${c.code.before ?? 'not recorded'} → ${c.code.after ?? 'not recorded'}` : 'same commit'}`,
    ]),
    heading(2, 'Metrics'),
    numbers(c.metrics, 'No metrics.'),
    heading(2, 'Gate rules'),
    changed('rule', c.gate.rules),
    heading(2, 'Parameters'),
    changed('param', c.params),
    heading(2, 'Training data'),
    changed('dataset', c.data),
    heading(2, 'Environment'),
    c.environment.length ? list(c.environment.map(formatEnvironmentChange)) : text(NO_CHANGE),
    heading(2, 'Evaluation'),
    numbers(c.evaluation, 'Neither version was evaluated.'),
    heading(2, 'Group fairness'),
    table(
      ['column', 'measure', b, o],
      c.fairness.map((f) => [f.column, f.measure, cardNumber(f.before), cardNumber(f.after)]),
      NO_CHANGE,
    ),
    heading(2, 'Permutation importance'),
    table(
      ['feature', `${b} (rank)`, `${o} (rank)`],
      c.importance.map((i) => [i.feature, `${cardNumber(i.before)} (${i.rankBefore ?? '—'})`, `${cardNumber(i.after)} (${i.rankAfter ?? '—'})`]),
      'Neither version was evaluated.',
    ),
    heading(2, 'Intended use and limits'),
    changed('field', c.intendedUse),
    heading(2, 'Monitoring'),
    changed('check', c.monitoring),
    heading(2, 'Lineage'),
    c.lineage.added.length || c.lineage.removed.length
      ? list([...c.lineage.removed.map((n) => `only ${b}: ${n}`), ...c.lineage.added.map((n) => `only ${o}: ${n}`)])
      : text(NO_CHANGE),
  ];
}

/** The comparison as Markdown (a pull request comment, a CI job summary). */
export const modelCardComparisonMarkdown = (c: ModelCardComparison): string => blocksToMarkdown(modelCardComparisonBlocks(c));

export const modelCardComparisonHtml = (c: ModelCardComparison): string =>
  blocksToHtml(`Model card changes: ${c.other.model} v${c.base.version} → v${c.other.version}`, modelCardComparisonBlocks(c));
