import type { FastBuffer } from './csvScan';
import { SCAN_KERNEL_WASM } from './scanKernelWasm';
import { kernelInstances, WASM_PAGE, type KernelMemory } from './wasmKernels';

interface ScanKernelExports {
  readonly memory: KernelMemory;
  readonly at: { readonly value: number };
  readonly slow: { value: number };
  readonly scanRows: (
    pos: number,
    end: number,
    maxRows: number,
    fields: number,
    table: number,
    delim: number,
    base: number,
    slowAt: number,
    slowCap: number,
  ) => number;
}

/** A field's kind in the kernel's table (scanKernelWat.ts). */
export const enum KernelKind {
  Skip = 0,
  Number = 1,
  Decimal = 2,
  Id = 3,
  Bounds = 4,
}

/** Records a kernel call types at most (each field's output holds this many rows). */
export const KERNEL_CALL_ROWS = 1024;
/** Bytes the fields' outputs may take: a file wider than 256 columns has fewer records a call (callRows). */
export const KERNEL_OUTPUT_BYTES = 2 << 20;

const TABLE_AT = 512;
const POW10 = Array.from({ length: 23 }, (_, k) => 10 ** k);
const DECIMAL_SCALES = [1n, 10n, 100n, 1000n, 10000n, 100000n, 1000000n, 10000000n, 100000000n, 1000000000n];

const instantiate = kernelInstances<ScanKernelExports>(SCAN_KERNEL_WASM);

/**
 * The typed CSV reader's record kernel (WebAssembly, scanKernelWat.ts) over one chunk at a time: load() copies the
 * chunk's whole records into its memory, rows() types records from a position, as RecordWalk's record() would, until
 * one needs the JS walk. One a thread (threadScanKernel; its memory: a chunk, the field table, callRows rows of each
 * field's cells).
 */
export class ScanKernel {
  private readonly kernel: ScanKernelExports;
  private fields = 0;
  /** Records a call types at most: KERNEL_CALL_ROWS, fewer for a wide file (its outputs within KERNEL_OUTPUT_BYTES). */
  callRows = KERNEL_CALL_ROWS;
  /** Numbers beyond the fast path a call lists at most (then it stops before the record that has one more). */
  private slowCap = 0;
  private outAt = 0;
  private slowAt = 0;
  private chunkAt = 0;
  private chunkCap = 0;
  /** The memory address of the loaded chunk's byte 0 (less the copy's start: address = base + index in the chunk). */
  base = 0;
  /** After rows(): the index in the chunk of the record the call stopped at (the next one to type). */
  stop = 0;
  /** The table as i32 (kind, output, scale, largest a field), and the memory; views valid until the next grow. */
  table = new Int32Array(0);
  memory: ArrayBuffer = new ArrayBuffer(0);

  constructor() {
    this.kernel = instantiate();
    const buffer = this.kernel.memory.buffer;
    new Float64Array(buffer, 0, POW10.length).set(POW10);
    new BigInt64Array(buffer, 192, DECIMAL_SCALES.length).set(DECIMAL_SCALES);
    this.views();
  }

  /** The address of field f's output for the call's row 0 (8 bytes a row). */
  outputOf(f: number): number {
    return this.outAt + f * this.callRows * 8;
  }

  /** Copies buf[from, to) into the kernel's memory, with room for `fields` fields (table and outputs). */
  load(buf: Uint8Array, from: number, to: number, fields: number): void {
    const bytes = to - from;
    if (fields > this.fields || bytes > this.chunkCap) {
      this.fields = Math.max(fields, this.fields);
      if (bytes > this.chunkCap) this.chunkCap = Math.max(bytes, this.chunkCap * 2);
      this.callRows = Math.max(1, Math.min(KERNEL_CALL_ROWS, Math.floor(KERNEL_OUTPUT_BYTES / (8 * this.fields))));
      this.slowCap = this.callRows * 4;
      this.outAt = (TABLE_AT + this.fields * 16 + 7) & ~7;
      this.slowAt = this.outAt + this.fields * this.callRows * 8;
      this.chunkAt = this.slowAt + this.slowCap * 12;
      const needed = this.chunkAt + this.chunkCap + 8;
      const memory = this.kernel.memory;
      if (needed > memory.buffer.byteLength) memory.grow(Math.ceil((needed - memory.buffer.byteLength) / WASM_PAGE));
      this.views();
    }
    new Uint8Array(this.memory, this.chunkAt, bytes).set(buf.subarray(from, to));
    this.base = this.chunkAt - from;
  }

  /**
   * Types the loaded chunk's records from index i while one starts before index end, at most maxRows, with the table
   * (fields × [kind, output, scale, largest]) set: the records typed; `stop` is then the index of the next record.
   */
  rows(i: number, end: number, maxRows: number, fields: number, delimiter: number, buf: FastBuffer): number {
    const kernel = this.kernel;
    kernel.slow.value = 0;
    const rows = kernel.scanRows(this.base + i, this.base + end, maxRows, fields, TABLE_AT, delimiter, this.base, this.slowAt, this.slowCap);
    this.stop = kernel.at.value - this.base;
    const slow = kernel.slow.value;
    if (slow > 0) {
      // the numbers beyond the fast path, as writeNumeral reads them
      const list = new Int32Array(this.memory, this.slowAt, slow * 3);
      const numbers = new Float64Array(this.memory);
      for (let k = 0; k < slow * 3; k += 3) numbers[list[k]! >> 3] = Number(buf.latin1Slice(list[k + 1]!, list[k + 2]!));
    }
    return rows;
  }

  private views(): void {
    this.memory = this.kernel.memory.buffer;
    this.table = new Int32Array(this.memory, TABLE_AT, this.fields * 4);
  }
}

let shared: ScanKernel | undefined;

/**
 * The thread's record kernel (one for every read of the thread: a read loads its chunk at each walk over it, and uses
 * the kernel only within that synchronous walk, so reads that take turns never see each other's bytes); none with
 * MLOOP_NO_SCAN_KERNEL=1 — the typed reader then walks every record in JS (for comparing the two, and a way out).
 */
export function threadScanKernel(): ScanKernel | undefined {
  if (process.env.MLOOP_NO_SCAN_KERNEL === '1') return undefined;
  return (shared ??= new ScanKernel());
}
