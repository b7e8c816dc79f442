/**
 * The one CSV reader of every source: a streaming parser on bytes (so multi-GB files never become one JS string; V8
 * caps strings at ~512 MiB), fed chunk by chunk or a whole buffer at once, with two dialects:
 *
 *  - `rfc4180` (default) — RFC 4180: a field starting with `"` is quoted and may hold the delimiter, line breaks and
 *    doubled quotes (`""` → `"`); a quote inside an unquoted field is an ordinary character. A record ends at LF,
 *    CRLF or a lone CR. A quoted field not followed by the delimiter or a record end, and a quoted field still open at
 *    the end of the input, are bad records (reported to `onBad`; reading resumes after the next LF). A record running
 *    past 64 MiB (an unterminated quote swallowing the file) throws. Schema logs (CSV/TSV) and MovieLens' movies.csv
 *    use it.
 *  - `none` — line-oriented: a record is one line (`\n`, or `\r\n`: the CR is dropped; a lone CR is an ordinary
 *    character), split at every delimiter; quotes are ordinary characters. Exactly `line.split(delimiter)` over the
 *    lines of ./lines.ts. The Taobao tables use it (their documented format never quotes).
 *
 * Both: a UTF-8 BOM at the start of the input is dropped; line numbers are 1-based and count the record ends (and the
 * line breaks inside quoted fields); an empty line is reported as one empty field with `blank` set (whitespace is
 * data: a line of spaces is not blank). Only the columns set in `want` are decoded on the slow path (others are '');
 * records without quotes (the usual case) are decoded as one string and split, which is what makes this fast.
 */
import { readChunks, readChunksSync } from './files.js';

/** How quotes and line ends are read (see the file header). */
export type CsvQuoting = 'rfc4180' | 'none';

/** The dialect of a CSV file. */
export interface CsvDialect {
  /** Field separator: one ASCII character other than a quote, CR or LF. Default `,`. */
  delimiter?: string;
  /** `rfc4180` (default) or `none` (see the file header). */
  quoting?: CsvQuoting;
}

/**
 * One record: `fields[0 .. n)` (the array may be longer and is reused: copy what you keep), the line where the record
 * starts, and whether it is an empty line.
 */
export type CsvRecordHandler = (fields: string[], n: number, line: number, blank: boolean) => void;
/** A bad record (rfc4180 only): the line where it starts, what is wrong, and the line where the problem was found. */
export type CsvBadHandler = (line: number, what: string, atLine: number) => void;

/** Longest record (rfc4180) before the reader gives up: an unterminated quote would otherwise swallow the file. */
export const MAX_RECORD_BYTES = 64 << 20;

const QUOTE = 0x22;
const LF = 0x0a;
const CR = 0x0d;

/** The streaming reader (see the file header): `push` chunks, then `end`; or `read` / `readSync` a whole file. */
export class CsvReader {
  /** Columns to decode (1 = decode); null: all. Undecoded columns read as ''. May be set between records. */
  want: Uint8Array | null = null;
  private readonly delim: number;
  private readonly delimChar: string;
  private readonly quoted: boolean;
  private carry: Buffer | null = null;
  private line = 1;
  private started = false;
  private bom = false;
  private readonly fields: string[] = [];
  // positions of the next quote / CR at or after the parse position (rfc4180 fast path); -1: unknown
  private nextQuote = -1;
  private nextCr = -1;

  constructor(
    readonly file: string,
    dialect: CsvDialect,
    private readonly onRecord: CsvRecordHandler,
    private readonly onBad: CsvBadHandler = (line, what) => {
      throw new Error(`${file}:${line}: ${what}`);
    },
  ) {
    const d = dialect.delimiter ?? ',';
    if (d.length !== 1 || d.charCodeAt(0) > 127 || '"\r\n'.includes(d)) {
      throw new Error(`CSV delimiter must be one ASCII character other than a quote or newline, got ${JSON.stringify(d)}`);
    }
    this.delim = d.charCodeAt(0);
    this.delimChar = d;
    this.quoted = (dialect.quoting ?? 'rfc4180') === 'rfc4180';
  }

  /** Lines read so far (the number of the next record's first line, minus one). */
  get lines(): number {
    return this.line - 1;
  }

  /** Feeds a chunk (its bytes are copied if kept, so the caller may reuse the buffer). */
  push(chunk: Buffer): void {
    let b = this.carry === null ? chunk : Buffer.concat([this.carry, chunk]);
    if (!this.started) {
      if (b.length < 3) {
        this.carry = Buffer.from(b);
        return;
      }
      b = this.begin(b);
    }
    const used = this.parse(b, false);
    this.carry = used < b.length ? Buffer.from(b.subarray(used)) : null;
    if (this.quoted && this.carry !== null && this.carry.length > MAX_RECORD_BYTES) {
      throw new Error(`${this.file}:${this.line}: a record runs past 64 MiB (an unterminated quoted field?)`);
    }
  }

  /** Ends the input (`last`: a final chunk, e.g. the whole input at once) and delivers the last record. */
  end(last?: Buffer): void {
    let b = this.carry;
    this.carry = null;
    if (last !== undefined) b = b === null ? last : Buffer.concat([b, last]);
    if (!this.started) {
      this.started = true;
      if (b !== null) b = this.begin(b);
    }
    if (b !== null && b.length > 0) this.parse(b, true);
    // `none` reads lines as ./lines.ts does: a file holding only a BOM is one empty line
    if (!this.quoted && this.bom && this.line === 1) this.onRecord([''], 1, this.line++, true);
  }

  /** Streams a plain or `.gz` file through the reader (push, then end). */
  async read(file: string = this.file): Promise<void> {
    await readChunks(file, (c) => this.push(c));
    this.end();
  }

  /** `read`, synchronously (a `.gz` file is decompressed at once). */
  readSync(file: string = this.file): void {
    readChunksSync(file, (c) => this.push(c));
    this.end();
  }

  private begin(b: Buffer): Buffer {
    this.started = true;
    if (b.length >= 3 && b[0] === 0xef && b[1] === 0xbb && b[2] === 0xbf) {
      this.bom = true;
      return b.subarray(3);
    }
    return b;
  }

  /** Parses the complete records of b (all of it when `eof`); returns the bytes consumed. */
  private parse(b: Buffer, eof: boolean): number {
    this.nextQuote = this.nextCr = -1;
    return this.quoted ? this.parseQuoted(b, eof) : this.parseLines(b, eof);
  }

  /** The `none` dialect: one record per line. */
  private parseLines(b: Buffer, eof: boolean): number {
    const n = b.length;
    let i = 0;
    while (i < n) {
      let le = b.indexOf(LF, i);
      let next: number;
      if (le < 0) {
        if (!eof) return i;
        le = next = n;
      } else next = le + 1;
      const ce = le > i && b[le - 1] === CR ? le - 1 : le;
      const parts = b.toString('utf8', i, ce).split(this.delimChar);
      this.onRecord(parts, parts.length, this.line++, ce === i);
      i = next;
    }
    return n;
  }

  /** The `rfc4180` dialect. */
  private parseQuoted(b: Buffer, eof: boolean): number {
    const n = b.length;
    const d = this.delim;
    const fields = this.fields;
    let i = 0;
    while (i < n) {
      const rs = i;
      // ---- fast path: a record without quotes, ending at LF or CRLF ----
      let le = b.indexOf(LF, i);
      if (le >= 0 || eof) {
        if (le < 0) le = n;
        if (this.nextQuote < i) this.nextQuote = nextOf(b, QUOTE, i);
        if (this.nextCr < i) this.nextCr = nextOf(b, CR, i);
        if (this.nextQuote >= le) {
          let ce = le;
          let fast = this.nextCr >= le;
          if (!fast && this.nextCr === le - 1 && le < n) {
            ce = le - 1; // CRLF
            fast = true;
          }
          if (fast) {
            const parts = b.toString('utf8', i, ce).split(this.delimChar);
            this.onRecord(parts, parts.length, this.line++, ce === i);
            i = le < n ? le + 1 : n;
            continue;
          }
        }
      }
      // ---- slow path: quoted fields, lone CRs, or a record cut by the chunk end ----
      let lines = 0;
      let nf = 0;
      let bad: string | null = null;
      for (;;) {
        const want = this.want === null || this.want[nf] === 1;
        if (i < n && b[i] === QUOTE) {
          let j = i + 1;
          let esc = false;
          for (;;) {
            if (j >= n) break;
            const c = b[j];
            if (c === QUOTE) {
              if (j + 1 < n && b[j + 1] === QUOTE) {
                esc = true;
                j += 2;
                continue;
              }
              if (j + 1 >= n && !eof) {
                j = n; // a doubled quote may straddle the chunk boundary: wait for more
              }
              break;
            }
            if (c === LF) lines++;
            j++;
          }
          if (j >= n) {
            if (!eof) return rs;
            bad = 'unterminated quoted field (expected a closing ")';
            i = n;
            break;
          }
          if (want) {
            const s = b.toString('utf8', i + 1, j);
            fields[nf] = esc ? s.replace(/""/g, '"') : s;
          } else fields[nf] = '';
          nf++;
          i = j + 1;
          if (i >= n && !eof) return rs;
          if (i < n && b[i] !== d && b[i] !== LF && b[i] !== CR) {
            bad = `unexpected character after a closing quote (expected ${JSON.stringify(this.delimChar)} or end of line)`;
            const nl = b.indexOf(LF, i);
            if (nl < 0) {
              if (!eof) return rs;
              i = n;
            } else i = nl; // the LF ends the record below
            break;
          }
        } else {
          let j = i;
          while (j < n) {
            const c = b[j];
            if (c === d || c === LF || c === CR) break;
            j++;
          }
          if (j >= n && !eof) return rs;
          fields[nf++] = want ? b.toString('utf8', i, j) : '';
          i = j;
        }
        if (i < n && b[i] === d) {
          i++;
          continue;
        }
        break;
      }
      if (i < n && b[i] === CR) {
        if (i + 1 >= n && !eof) return rs;
        i++;
      }
      if (i < n && b[i] === LF) i++;
      const line = this.line;
      this.line += 1 + lines;
      if (bad !== null) this.onBad(line, bad, line + lines);
      else this.onRecord(fields, nf, line, nf === 1 && fields[0] === '' && (b[rs] === LF || b[rs] === CR || rs >= n));
    }
    return n;
  }
}

/** Index of the next byte `c` in b at or after `from`, or b.length. */
function nextOf(b: Buffer, c: number, from: number): number {
  const k = b.indexOf(c, from);
  return k < 0 ? b.length : k;
}

/** Receives one record of `parseCsv` and the line it starts on. */
export type CsvRowHandler = (fields: string[], line: number) => void;

/**
 * Calls `onRow(fields, line)` for every record of a whole buffer (rfc4180, comma); `line` is the 1-based line where
 * the record starts. Blank lines are reported as a single empty field (`['']`) so the caller can count them. Throws
 * (naming `file` and the line) on an unterminated quoted field or stray characters after a closing quote.
 */
export function parseCsv(buf: Uint8Array, file: string, onRow: CsvRowHandler): void {
  const b = Buffer.isBuffer(buf) ? buf : Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  const reader = new CsvReader(file, {}, (fields, n, line) => onRow(fields.slice(0, n), line), (line, what, atLine) => {
    throw new Error(`${file}:${what.startsWith('unterminated') ? line : atLine}: ${what}`);
  });
  reader.end(b);
}

/** `parseCsv` over a whole (plain or `.gz`) file. */
export function readCsvFile(file: string, onRow: CsvRowHandler): void {
  new CsvReader(file, {}, (fields, n, line) => onRow(fields.slice(0, n), line), (line, what, atLine) => {
    throw new Error(`${file}:${what.startsWith('unterminated') ? line : atLine}: ${what}`);
  }).readSync();
}
