/**
 * A small assembler for WebAssembly written in the text format's flat (one instruction a line) form, for the few
 * kernels whose speed in a cold process matters (issue 16): V8 compiles a WebAssembly module with its baseline
 * compiler (Liftoff) as it is instantiated, so a kernel runs compiled from its first call, where a JS loop starts in
 * the interpreter and is compiled while it runs. Only what the kernels use is known here; anything else throws when
 * the module is assembled: by scripts/wasm-kernels.mjs, which writes the bytes the product loads, and in the unit
 * test that checks those bytes are the kernel's source assembled.
 *
 * Syntax of a body: one instruction a line, `;;` comments, `$name` for locals, globals, functions and labels (declared
 * without the `$`);
 * `block $l`, `loop $l` and `if` (optionally `if i32`: a result) open a label that `br $l` / `br_if $l` name, `end`
 * closes it; loads and stores take byte alignment and an optional `offset=N` (a constant added to the address).
 */

export type ValType = 'i32' | 'i64' | 'f64';

export interface WatFunction {
  readonly name: string;
  readonly params: readonly (readonly [string, ValType])[];
  readonly result?: ValType;
  readonly locals?: readonly (readonly [string, ValType])[];
  /** Exported under its name. */
  readonly exported?: boolean;
  readonly body: string;
}

export interface WatModule {
  /** Memory in 64 KiB pages, exported as `memory`. */
  readonly memoryPages: number;
  /** Mutable globals, exported under their names. */
  readonly globals?: readonly (readonly [string, ValType])[];
  readonly functions: readonly WatFunction[];
}

const TYPE_CODE: Record<ValType, number> = { i32: 0x7f, i64: 0x7e, f64: 0x7c };

/** Instructions without immediates. */
const PLAIN: Partial<Record<string, number>> = {
  unreachable: 0x00,
  nop: 0x01,
  else: 0x05,
  end: 0x0b,
  return: 0x0f,
  drop: 0x1a,
  select: 0x1b,
  'i32.eqz': 0x45,
  'i32.eq': 0x46,
  'i32.ne': 0x47,
  'i32.lt_s': 0x48,
  'i32.lt_u': 0x49,
  'i32.gt_s': 0x4a,
  'i32.gt_u': 0x4b,
  'i32.le_s': 0x4c,
  'i32.le_u': 0x4d,
  'i32.ge_s': 0x4e,
  'i32.ge_u': 0x4f,
  'i64.eqz': 0x50,
  'i64.eq': 0x51,
  'i64.ne': 0x52,
  'i64.lt_s': 0x53,
  'i64.lt_u': 0x54,
  'i64.gt_s': 0x55,
  'i64.gt_u': 0x56,
  'i64.le_u': 0x58,
  'i64.ge_u': 0x5a,
  'i32.add': 0x6a,
  'i32.sub': 0x6b,
  'i32.mul': 0x6c,
  'i32.div_u': 0x6e,
  'i32.and': 0x71,
  'i32.or': 0x72,
  'i32.xor': 0x73,
  'i32.shl': 0x74,
  'i32.shr_s': 0x75,
  'i32.shr_u': 0x76,
  'i64.add': 0x7c,
  'i64.sub': 0x7d,
  'i64.mul': 0x7e,
  'i64.div_s': 0x7f,
  'i64.and': 0x83,
  'i64.or': 0x84,
  'i64.shl': 0x86,
  'i64.shr_u': 0x88,
  'i32.wrap_i64': 0xa7,
  'i64.extend_i32_u': 0xad,
  'f64.convert_i32_u': 0xb8,
  'f64.convert_i64_s': 0xb9,
  'f64.convert_i64_u': 0xba,
  'f64.neg': 0x9a,
  'f64.mul': 0xa2,
  'f64.div': 0xa3,
};

/** Memory instructions, emitted with alignment 0 (a hint: unaligned access is allowed) and the offset written after them. */
const MEMORY: Partial<Record<string, number>> = {
  'i32.load': 0x28,
  'i64.load': 0x29,
  'f64.load': 0x2b,
  'i32.load8_u': 0x2d,
  'i32.load16_u': 0x2f,
  'i32.store': 0x36,
  'i64.store': 0x37,
  'f64.store': 0x39,
  'i32.store8': 0x3a,
};

function uleb(n: number, out: number[]): void {
  do {
    let b = n & 0x7f;
    n = Math.floor(n / 128);
    if (n > 0) b |= 0x80;
    out.push(b);
  } while (n > 0);
}

function sleb(n: bigint, out: number[]): void {
  for (;;) {
    const b = Number(n & 0x7fn);
    n >>= 7n;
    if ((n === 0n && (b & 0x40) === 0) || (n === -1n && (b & 0x40) !== 0)) {
      out.push(b);
      return;
    }
    out.push(b | 0x80);
  }
}

/** An export's name (ASCII here). */
function name(s: string, out: number[]): void {
  uleb(s.length, out);
  for (let i = 0; i < s.length; i++) out.push(s.charCodeAt(i));
}

function section(id: number, body: number[], out: number[]): void {
  out.push(id);
  uleb(body.length, out);
  out.push(...body);
}

/** Assembles one function's body (locals declarations and code). */
function assembleBody(f: WatFunction, functions: ReadonlyMap<string, number>, globals: ReadonlyMap<string, number>): number[] {
  const locals = new Map<string, number>();
  for (const [n] of f.params) locals.set(`$${n}`, locals.size);
  for (const [n] of f.locals ?? []) locals.set(`$${n}`, locals.size);
  const code: number[] = [];
  uleb(f.locals?.length ?? 0, code);
  for (const [, t] of f.locals ?? []) {
    code.push(1, TYPE_CODE[t]);
  }
  const labels: (string | undefined)[] = [];
  // one pass over the whitespace-separated tokens: each instruction takes at most one operand token (a cold process
  // runs this in V8's interpreter, so it is kept to one regular expression over the whole body)
  const tokens = f.body.replace(/;;[^\n]*/g, '').match(/\S+/g) ?? [];
  let t = 0;
  const fail = (message: string): never => {
    throw new Error(`wat: function ${f.name}, instruction ${t} (${tokens[t - 1] ?? ''}): ${message}`);
  };
  const operand = (): string => tokens[t++] ?? fail('missing operand');
  const ref = (table: ReadonlyMap<string, number>, what: string): number => {
    const arg = operand();
    return table.get(arg) ?? fail(`unknown ${what} ${arg}`);
  };
  while (t < tokens.length) {
    const op = tokens[t++]!;
    if (op === 'block' || op === 'loop' || op === 'if') {
      code.push(op === 'block' ? 0x02 : op === 'loop' ? 0x03 : 0x04);
      const label = tokens[t]?.startsWith('$') ? tokens[t++] : undefined;
      const result = tokens[t] === 'i32' || tokens[t] === 'i64' || tokens[t] === 'f64' ? (tokens[t++] as ValType) : undefined;
      code.push(result ? TYPE_CODE[result] : 0x40);
      labels.push(label);
    } else if (op === 'br' || op === 'br_if') {
      const label = operand();
      const at = labels.lastIndexOf(label);
      if (at < 0) fail(`no enclosing label ${label}`);
      code.push(op === 'br' ? 0x0c : 0x0d);
      uleb(labels.length - 1 - at, code);
    } else if (op === 'local.get' || op === 'local.set' || op === 'local.tee') {
      code.push(op === 'local.get' ? 0x20 : op === 'local.set' ? 0x21 : 0x22);
      uleb(ref(locals, 'local'), code);
    } else if (op === 'global.get' || op === 'global.set') {
      code.push(op === 'global.get' ? 0x23 : 0x24);
      uleb(ref(globals, 'global'), code);
    } else if (op === 'call') {
      code.push(0x10);
      uleb(ref(functions, 'function'), code);
    } else if (op === 'i32.const' || op === 'i64.const') {
      const arg = operand();
      if (!/^-?\d+$/.test(arg)) fail(`${op} needs an integer, not ${arg}`);
      code.push(op === 'i32.const' ? 0x41 : 0x42);
      sleb(op === 'i32.const' ? BigInt(Number(arg) | 0) : BigInt.asIntN(64, BigInt(arg)), code);
    } else if (MEMORY[op] !== undefined) {
      code.push(MEMORY[op], 0);
      const offset = tokens[t]?.startsWith('offset=') ? Number(tokens[t++]!.slice(7)) : 0;
      if (!(Number.isInteger(offset) && offset >= 0 && offset < 2 ** 32)) fail(`bad offset ${tokens[t - 1]}`);
      uleb(offset, code);
    } else if (PLAIN[op] !== undefined) {
      if (op === 'end') {
        if (labels.length === 0) fail('`end` without a block');
        labels.pop();
      }
      code.push(PLAIN[op]);
    } else fail(`unknown instruction ${op}`);
  }
  if (labels.length > 0) fail(`${labels.length} block(s) not closed`);
  code.push(0x0b);
  const out: number[] = [];
  uleb(code.length, out);
  out.push(...code);
  return out;
}

/** The module's binary. */
export function assembleWat(module: WatModule): Uint8Array {
  const functions = new Map(module.functions.map((f, i) => [`$${f.name}`, i]));
  const globals = new Map((module.globals ?? []).map(([n], i) => [`$${n}`, i]));
  const out = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];
  const types: number[] = [];
  uleb(module.functions.length, types);
  for (const f of module.functions) {
    types.push(0x60);
    uleb(f.params.length, types);
    for (const [, t] of f.params) types.push(TYPE_CODE[t]);
    if (f.result) types.push(1, TYPE_CODE[f.result]);
    else types.push(0);
  }
  section(1, types, out);
  const funcs: number[] = [];
  uleb(module.functions.length, funcs);
  module.functions.forEach((_, i) => uleb(i, funcs));
  section(3, funcs, out);
  const memory: number[] = [1, 0];
  uleb(module.memoryPages, memory);
  section(5, memory, out);
  const globalSection: number[] = [];
  uleb(module.globals?.length ?? 0, globalSection);
  for (const [, t] of module.globals ?? []) {
    globalSection.push(TYPE_CODE[t], 1); // mutable
    if (t === 'f64') globalSection.push(0x44, 0, 0, 0, 0, 0, 0, 0, 0);
    else globalSection.push(t === 'i32' ? 0x41 : 0x42, 0);
    globalSection.push(0x0b);
  }
  section(6, globalSection, out);
  const exports: number[] = [];
  const exportedFunctions = module.functions.filter((f) => f.exported);
  uleb(1 + exportedFunctions.length + (module.globals?.length ?? 0), exports);
  name('memory', exports);
  exports.push(0x02, 0);
  for (const f of exportedFunctions) {
    name(f.name, exports);
    exports.push(0x00);
    uleb(functions.get(`$${f.name}`)!, exports);
  }
  for (const [n, i] of globals) {
    name(n.slice(1), exports);
    exports.push(0x03);
    uleb(i, exports);
  }
  section(7, exports, out);
  const codeSection: number[] = [];
  uleb(module.functions.length, codeSection);
  for (const f of module.functions) codeSection.push(...assembleBody(f, functions, globals));
  section(10, codeSection, out);
  return Uint8Array.from(out);
}
