/**
 * Line readers shared by the line-oriented sources (JSON lines, amazon-seq, din-remapped, Taobao's behaviour log):
 * a file, plain or `.gz` (./files.ts), split into UTF-8 lines.
 *
 * Line rules: `\n` or `\r\n` end a line (a lone `\r` does not); a final line without a newline is a line, a trailing
 * newline does not make an extra empty line; a UTF-8 BOM at the start of line 1 is dropped. Line numbers are 1-based.
 */
import { readChunks, readChunksSync } from './files.js';

/** Receives one line (without its ending) and its 1-based number. */
export type LineHandler = (line: string, lineNo: number) => void;

/** Splits a byte stream into UTF-8 lines by the rules of the file header. */
export class LineSplitter {
  private pending: Buffer[] = [];
  private lineNo = 0;
  constructor(private readonly onLine: LineHandler) {}

  /** Feeds a chunk. The chunk's bytes are copied if kept, so the caller may reuse its buffer. */
  push(chunk: Buffer): void {
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(10, start);
      if (nl < 0) break;
      if (this.pending.length > 0) {
        this.pending.push(chunk.subarray(start, nl));
        const line = Buffer.concat(this.pending);
        this.pending = [];
        this.emit(line, 0, line.length);
      } else {
        this.emit(chunk, start, nl);
      }
      start = nl + 1;
    }
    if (start < chunk.length) this.pending.push(Buffer.from(chunk.subarray(start)));
  }

  /** Flushes the last line; returns the number of lines emitted. */
  end(): number {
    if (this.pending.length > 0) {
      const line = Buffer.concat(this.pending);
      this.pending = [];
      if (line.length > 0) this.emit(line, 0, line.length);
    }
    return this.lineNo;
  }

  private emit(buf: Buffer, s: number, e: number): void {
    if (e > s && buf[e - 1] === 13) e--;
    let line = buf.toString('utf8', s, e);
    this.lineNo++;
    if (this.lineNo === 1 && line.charCodeAt(0) === 0xfeff) line = line.slice(1);
    this.onLine(line, this.lineNo);
  }
}

/** Calls onLine for every line of a plain or `.gz` file, synchronously. Returns the number of lines. */
export function readLinesSync(file: string, onLine: LineHandler): number {
  const split = new LineSplitter(onLine);
  readChunksSync(file, (chunk) => split.push(chunk));
  return split.end();
}

/** Calls onLine for every line of a plain or `.gz` file, streaming. Resolves to the number of lines. */
export async function readLines(file: string, onLine: LineHandler): Promise<number> {
  const split = new LineSplitter(onLine);
  await readChunks(file, (chunk) => split.push(chunk));
  return split.end();
}
