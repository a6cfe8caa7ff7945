import { closeSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';

export const DEFAULT_LOG_CAP_BYTES = 50 * 1024 * 1024;
export const DEFAULT_TAIL_CHARS = 1024 * 1024;

/**
 * A run's output: appended to a log file up to a cap (then a truncation marker, and nothing more),
 * and the last `tailChars` characters kept in memory. Both bounded, so a flooding process cannot
 * fill the disk or the editor's memory.
 */
export class RunOutputLog {
  private fd: number | undefined;
  private written = 0;
  private truncatedAt: number | undefined;
  private readonly tailChunks: string[] = [];
  private tailLength = 0;

  constructor(
    readonly path: string,
    private readonly capBytes: number = DEFAULT_LOG_CAP_BYTES,
    private readonly tailChars: number = DEFAULT_TAIL_CHARS,
  ) {
    mkdirSync(dirname(path), { recursive: true });
    this.fd = openSync(path, 'a');
  }

  /** Whether the file stopped growing at the cap. */
  get truncated(): boolean {
    return this.truncatedAt !== undefined;
  }

  write(text: string): void {
    if (text === '') return;
    this.remember(text);
    if (this.fd === undefined || this.truncatedAt !== undefined) return;
    const bytes = Buffer.from(text, 'utf8');
    const room = this.capBytes - this.written;
    if (bytes.length <= room) {
      writeSync(this.fd, bytes);
      this.written += bytes.length;
      return;
    }
    if (room > 0) writeSync(this.fd, bytes.subarray(0, room));
    this.written += Math.max(0, room);
    this.truncatedAt = this.written;
    writeSync(this.fd, `\n[mloop] the log reached ${formatBytes(this.capBytes)}; further output was not stored\n`);
  }

  /** The most recent output, at most `tailChars` characters. */
  tail(): string {
    return this.tailChunks.join('');
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }

  private remember(text: string): void {
    const kept = text.length > this.tailChars ? text.slice(-this.tailChars) : text;
    this.tailChunks.push(kept);
    this.tailLength += kept.length;
    while (this.tailLength > this.tailChars) {
      const first = this.tailChunks[0]!;
      const excess = this.tailLength - this.tailChars;
      if (first.length <= excess) {
        this.tailChunks.shift();
        this.tailLength -= first.length;
      } else {
        // copy, so the kept part does not pin the whole original chunk in memory
        this.tailChunks[0] = Buffer.from(first.slice(excess), 'utf8').toString('utf8');
        this.tailLength -= excess;
      }
    }
  }
}

function formatBytes(bytes: number): string {
  return bytes >= 1024 * 1024 ? `${Math.round(bytes / (1024 * 1024))} MB` : `${bytes} bytes`;
}
