import { shellQuote } from '../runs/resolveCommand';

/** Values for a target's ${…} variables (see TARGET_VARIABLES); unset ones are refused when used. */
export type TemplateValues = Readonly<Partial<Record<string, string>>>;

const VARIABLE = /\$\{\s*([A-Za-z_][\w]*(?:\.[\w]+)?)\s*\}/g;
const KNOWN = new Set(['model.name', 'model.version', 'model.uri', 'model.path', 'target', 'traffic', 'port', 'url', 'candidate.url', 'stable.url', 'project']);

export class TemplateError extends Error {
  override readonly name = 'TemplateError';
}

function substitute(text: string, values: TemplateValues, quote: (v: string) => string, where: string): string {
  return text.replace(VARIABLE, (whole, name: string) => {
    if (!KNOWN.has(name)) return whole; // ${HOME} and friends are the shell's
    const value = values[name];
    if (value === undefined) throw new TemplateError(`${where} uses \${${name}}, which has no value at this step`);
    return quote(value);
  });
}

/** Fills one text (a URL): values are inserted as they are. */
export const fillText = (text: string, values: TemplateValues, where: string): string => substitute(text, values, (v) => v, where);

/**
 * What to spawn for a command template: a list becomes an args array (no shell; each value stays
 * inside its argument); a string runs in a POSIX shell with each value quoted as one word.
 */
export function fillCommand(command: string | readonly string[], values: TemplateValues, where: string): { argv: string[]; display: string; shell: boolean } {
  if (typeof command === 'string') {
    const line = substitute(command, values, shellQuote, where);
    return { argv: process.platform === 'win32' ? ['cmd.exe', '/d', '/s', '/c', line] : ['/bin/sh', '-c', line], display: line, shell: true };
  }
  const argv = command.map((arg) => substitute(arg, values, (v) => v, where));
  return { argv, display: argv.join(' '), shell: false };
}
