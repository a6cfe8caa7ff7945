/** The string literal under the cursor, if any: `"data/x.csv"`, `'data/x.csv'` or a backtick string on one line. */
export function stringLiteralAt(line: string, character: number): { text: string; start: number; end: number } | undefined {
  const literal = /(["'`])((?:\\.|(?!\1)[^\\])*)\1/g;
  for (let match = literal.exec(line); match; match = literal.exec(line)) {
    const start = match.index;
    const end = start + match[0].length;
    if (character >= start && character <= end) return { text: match[2]!, start, end };
  }
  return undefined;
}
