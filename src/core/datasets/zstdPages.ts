import * as zlib from 'node:zlib';

/**
 * What is used of a node:zlib ZstdDecompress stream's internals: its native handle's synchronous write (the call
 * zstdDecompressSync makes) and the two counts that write leaves behind ([output bytes left, input bytes left]).
 */
interface ZstdEngine {
  _handle: {
    writeSync(flush: number, input: Uint8Array, inOffset: number, inLength: number, out: Uint8Array, outOffset: number, outLength: number): void;
    reset(): void;
  } | null;
  readonly _writeState: Uint32Array;
  readonly _finishFlushFlag: number;
  readonly destroyed: boolean;
  on(event: 'error', listener: () => void): unknown;
  close(): void;
}

const ZstdDecompress = (zlib as unknown as { ZstdDecompress?: new () => ZstdEngine }).ZstdDecompress;

function usable(engine: ZstdEngine): boolean {
  const handle = engine._handle;
  return typeof handle?.writeSync === 'function' && typeof handle.reset === 'function' && engine._writeState instanceof Uint32Array;
}

/**
 * Zstandard frames (Parquet pages) decompressed by one native context, reused page after page, straight into the
 * caller's buffer. zstdDecompressSync makes a new context (and its window buffers) and a new output buffer for every
 * page: on flights-3m's 110 pages that was a third of the decompression's CPU and most of the scan's garbage (issue 16).
 *
 * This reaches into node:zlib's stream (its handle's writeSync, as zstdDecompressSync itself calls it); where that is
 * missing (another runtime) decompressInto returns false and the caller takes the public API. So it does on any error or
 * size mismatch, and the public API then reports it as it always did.
 */
export class ZstdPages {
  private engine: ZstdEngine | undefined;
  private unavailable = ZstdDecompress === undefined;

  /**
   * Decompresses the one frame `input` into out[0..size) (out holds at least size + 1 bytes: a frame that decodes to more
   * than `size` shows as a mismatch). False when it could not: no usable context, an error, or not exactly `size` bytes.
   */
  decompressInto(input: Uint8Array, out: Uint8Array, size: number): boolean {
    if (this.unavailable || out.length <= size) return false;
    let engine = this.engine;
    if (!engine || engine.destroyed) {
      engine = new ZstdDecompress!();
      // an error also comes as an 'error' event on the next tick: without a listener it would be uncaught
      engine.on('error', () => undefined);
      if (!usable(engine)) {
        this.unavailable = true;
        return false;
      }
      this.engine = engine;
    }
    const handle = engine._handle!;
    // a previous frame cut short (or a second frame after one) leaves the context mid-frame: start clean every time
    handle.reset();
    handle.writeSync(engine._finishFlushFlag, input, 0, input.length, out, 0, size + 1);
    if (engine.destroyed) return false; // a corrupt or truncated frame: the handle reported it and was closed
    const [outLeft, inLeft] = engine._writeState;
    return inLeft === 0 && size + 1 - outLeft! === size;
  }

  /** Frees the native context now (the scan is over) rather than whenever the collector finds it. */
  close(): void {
    if (this.engine && !this.engine.destroyed) this.engine.close();
    this.engine = undefined;
  }
}
