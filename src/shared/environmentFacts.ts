/**
 * A run's environment as flat facts (what Compare diffs): `python`, `os`, `cpu`, `package:<name>`,
 * `env:<NAME>`. The host flattens the stored document; the page and the CLI show the differences.
 */
export type EnvironmentFacts = Readonly<Record<string, string>>;

export interface EnvironmentChange {
  readonly fact: string;
  readonly before: string | undefined;
  readonly after: string | undefined;
}

/** What differs from `base` to `other`, packages by name, in a stable order (python, os, cpu, packages, env). */
export function environmentChanges(base: EnvironmentFacts, other: EnvironmentFacts): EnvironmentChange[] {
  const order = (fact: string): number => (fact.startsWith('package:') ? 3 : fact.startsWith('env:') ? 4 : ['python', 'os', 'cpu'].indexOf(fact));
  return [...new Set([...Object.keys(base), ...Object.keys(other)])]
    .filter((fact) => base[fact] !== other[fact])
    .sort((a, b) => order(a) - order(b) || (a < b ? -1 : a > b ? 1 : 0))
    .map((fact) => ({ fact, before: base[fact], after: other[fact] }));
}

/** "scikit-learn 1.9.1 → 1.8.0", "numpy added 2.1.0", "env OMP_NUM_THREADS 4 → 8". */
export function formatEnvironmentChange(change: EnvironmentChange): string {
  const name = change.fact.startsWith('package:')
    ? change.fact.slice('package:'.length)
    : change.fact.startsWith('env:')
      ? `env ${change.fact.slice(4)}`
      : change.fact;
  if (change.before === undefined) return `${name} added ${change.after}`;
  if (change.after === undefined) return `${name} removed (was ${change.before})`;
  return `${name} ${change.before} → ${change.after}`;
}
