import type { DatasetProfile } from '../../core/datasets/profile';

/** A profile as a Markdown table: one line per column. */
export function profileMarkdown(title: string, profile: DatasetProfile): string {
  const esc = (s: string): string => s.replace(/\|/g, '\\|');
  const lines = [
    `# ${esc(title)}`,
    '',
    `${profile.rows.toLocaleString('en-US')} rows · ${profile.columns.length} columns`,
    '',
    '| column | type | nulls | min | max | mean | std | median | top values |',
    '|---|---|---:|---:|---:|---:|---:|---:|---|',
  ];
  for (const c of profile.columns) {
    const n = c.numeric;
    const num = (v: number | null | undefined): string => (v === null || v === undefined ? '' : Number.isInteger(v) ? String(v) : v.toPrecision(5));
    const top = c.categorical
      ? c.categorical.top
          .slice(0, 5)
          .map((t) => `${esc(t.value)} (${t.count})`)
          .join(', ')
      : c.datetime
        ? `${c.datetime.min} → ${c.datetime.max}`
        : '';
    lines.push(
      `| ${esc(c.name)} | ${c.type} | ${c.nulls} | ${num(n?.min)} | ${num(n?.max)} | ${num(n?.mean)} | ${num(n?.std)} | ${num(n?.quantiles.values[50])} | ${top} |`,
    );
  }
  return `${lines.join('\n')}\n`;
}
