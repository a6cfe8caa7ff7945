import { findParamReferences } from '../config/paramReferences';
import type { ParamValue, Pipeline } from '../config/schema';

/** A param override or reference the user must fix; the message names the param. */
export class ParamError extends Error {
  override readonly name = 'ParamError';
}

/**
 * What to spawn. `shell`: the user's command line (runs only in a trusted workspace), with every
 * substituted value quoted as one word. `args`: program and arguments, no shell involved.
 */
export type ResolvedCommand =
  | { readonly kind: 'shell'; readonly command: string; readonly params: Readonly<Record<string, string>> }
  | { readonly kind: 'args'; readonly args: readonly string[]; readonly params: Readonly<Record<string, string>> };

/** The command as a person reads it (stored with the run, shown in the terminal). */
export function displayCommand(resolved: ResolvedCommand): string {
  return resolved.kind === 'shell' ? resolved.command : resolved.args.map(quoteIfNeeded).join(' ');
}

/** Substitutes `${params.x}` with the defaults overridden by `overrides` (already validated strings). */
export function resolveCommand(pipeline: Pick<Pipeline, 'command' | 'params'>, overrides: Readonly<Record<string, string>> = {}): ResolvedCommand {
  const params = effectiveParams(pipeline.params, overrides);
  const valueOf = (name: string): string => {
    const value = params[name];
    if (value === undefined) throw new ParamError(`the command uses \${params.${name}} but the pipeline declares no param "${name}"`);
    return value;
  };
  if (typeof pipeline.command === 'string') {
    return { kind: 'shell', command: substituteQuoted(pipeline.command, valueOf), params };
  }
  const args = pipeline.command.map((arg) => substitute(arg, valueOf));
  return { kind: 'args', args, params };
}

/** Declared defaults as text, with overrides applied; an override of an undeclared param is refused. */
export function effectiveParams(defaults: Readonly<Record<string, ParamValue>>, overrides: Readonly<Record<string, string>>): Record<string, string> {
  for (const name of Object.keys(overrides)) {
    if (!Object.hasOwn(defaults, name)) throw new ParamError(unknownParamMessage(name, defaults));
  }
  const params: Record<string, string> = {};
  for (const [name, value] of Object.entries(defaults)) params[name] = overrides[name] ?? String(value);
  return params;
}

/**
 * Parses `--param k=v` values. Each value must fit its default's type (a number for a number,
 * true/false for a boolean); the error names the param and says what was expected.
 */
export function parseParamOverrides(assignments: readonly string[], defaults: Readonly<Record<string, ParamValue>>): Record<string, string> {
  const overrides: Record<string, string> = {};
  for (const assignment of assignments) {
    const eq = assignment.indexOf('=');
    if (eq <= 0) throw new ParamError(`"${assignment}" is not a param override: write name=value, e.g. ${Object.keys(defaults)[0] ?? 'lr'}=0.01`);
    const name = assignment.slice(0, eq).trim();
    const value = assignment.slice(eq + 1);
    if (!Object.hasOwn(defaults, name)) throw new ParamError(unknownParamMessage(name, defaults));
    if (Object.hasOwn(overrides, name)) throw new ParamError(`param "${name}" is given twice`);
    const declared = defaults[name]!;
    if (typeof declared === 'number' && (value.trim() === '' || !Number.isFinite(Number(value)))) {
      throw new ParamError(`param "${name}" expects a number (default ${declared}), got "${value}"`);
    }
    if (typeof declared === 'boolean' && value !== 'true' && value !== 'false') {
      throw new ParamError(`param "${name}" expects true or false (default ${declared}), got "${value}"`);
    }
    overrides[name] = value;
  }
  return overrides;
}

function unknownParamMessage(name: string, defaults: Readonly<Record<string, ParamValue>>): string {
  const declared = Object.keys(defaults);
  return `unknown param "${name}": ${declared.length ? `the pipeline declares ${declared.join(', ')}` : 'the pipeline declares no params'}`;
}

function substitute(template: string, valueOf: (name: string) => string): string {
  let out = '';
  let last = 0;
  for (const ref of findParamReferences(template)) {
    out += template.slice(last, ref.start) + valueOf(ref.name);
    last = ref.end;
  }
  return out + template.slice(last);
}

/**
 * Substitutes into a shell command line so each value is exactly one literal word, whatever it
 * contains. The quoting context at the placeholder is tracked: inside "…" or '…' the quote is
 * closed first and reopened after, because single quotes are literal inside double quotes.
 */
function substituteQuoted(template: string, valueOf: (name: string) => string): string {
  const refs = findParamReferences(template);
  let out = '';
  let last = 0;
  let context: QuoteContext = 'none';
  for (const ref of refs) {
    context = scanQuoteContext(template, last, ref.start, context);
    const quoted = shellQuote(valueOf(ref.name));
    const wrapped = context === 'double' ? `"${quoted}"` : context === 'single' ? `'${quoted}'` : quoted;
    out += template.slice(last, ref.start) + wrapped;
    last = ref.end;
  }
  return out + template.slice(last);
}

type QuoteContext = 'none' | 'single' | 'double';

function scanQuoteContext(text: string, from: number, to: number, context: QuoteContext): QuoteContext {
  for (let i = from; i < to; i++) {
    const c = text[i];
    if (context === 'single') {
      if (c === "'") context = 'none';
    } else if (c === '\\') {
      i++; // an escaped character never opens or closes a quote
    } else if (context === 'double') {
      if (c === '"') context = 'none';
    } else if (c === "'") context = 'single';
    else if (c === '"') context = 'double';
  }
  return context;
}

/** POSIX single-quote escaping: nothing inside '…' is special; a ' becomes '\''. */
export function shellQuote(value: string): string {
  return `'${value.replaceAll("'", `'\\''`)}'`;
}

function quoteIfNeeded(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : shellQuote(arg);
}
