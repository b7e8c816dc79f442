/**
 * A stable external sort of fixed-width binary records, for logs whose records do not fit in memory.
 *
 * A record is `words` unsigned 32-bit words; its first `keyWords` words are the key, compared as unsigned integers,
 * most significant word first (helpers below encode int32 and float64 values as order-preserving key words). Equal
 * keys keep the order the records were pushed in (the sort is stable), so "ties keep file order" needs no extra word.
 *
 * How: records are appended to an in-memory run of at most `memoryBytes` (8·words bytes per record: the run and the
 * radix sort's second buffer); a full run is sorted by an LSD radix sort on 11-bit digits (stable; a digit that is the
 * same in every record of the run is skipped, so e.g. user ids below 2^22 cost two passes, not three) and written to
 * its own file in `dir`. `finish()` returns a reader: over the in-memory run when nothing was spilled (and `spillLast`
 * is off), else over a k-way merge of the run files (a binary heap of cursors, each reading its run in blocks; ties go
 * to the earlier run, which keeps the merge stable). More than `maxFanIn` runs are first merged in passes, groups of
 * consecutive runs at a time, so no more files are open than that.
 *
 * Memory: at most `memoryBytes` while pushing and sorting; while merging, one block per run (the budget split among
 * them, 64 KiB to 8 MiB each). Disk: 4·words bytes per record, twice during a merge pass. `close()` deletes the run
 * files (the caller owns `dir`).
 */
import { closeSync, mkdirSync, openSync, readSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';

/** Default memory budget of one sorter: 256 MiB. */
export const DEFAULT_SORT_MEMORY = 256 << 20;

/** Options of an `ExternalSorter`. */
export interface ExternalSortOptions {
  /** 32-bit words per record (≥ 1). */
  words: number;
  /** The first `keyWords` words are the key (1 ≤ keyWords ≤ words). */
  keyWords: number;
  /** Directory for the run files (created if missing). */
  dir: string;
  /** Memory budget in bytes for the in-memory run (and the merge blocks). Default 256 MiB; at least 64 KiB. */
  memoryBytes?: number;
  /** Most runs merged at once (≥ 2); more are merged in passes. Default 64. */
  maxFanIn?: number;
  /** Write the last run to disk even when it is the only one (frees its memory before reading). Default false. */
  spillLast?: boolean;
  /** Prefix of the run file names (several sorters may share a directory). Default `sort`. */
  name?: string;
}

/** Records in key order: call `next()`, then read the record's words at `rec[at .. at + words)`. */
export interface SortedReader {
  /** Advances to the next record; false when there is none (then `rec` / `at` are stale). */
  next(): boolean;
  /** The array holding the current record. */
  rec: Uint32Array;
  /** Offset of the current record's first word in `rec`. */
  at: number;
  /** Releases the reader's files (also done when `next()` returns false). */
  close(): void;
}

const DIGIT = 11;
const RADIX = 1 << DIGIT;
const MASK = RADIX - 1;
const SHIFTS = [0, 11, 22];

interface Run {
  file: string;
  records: number;
}

/** See the file header. Push records with `reserve()` (or `push`), then `finish()` once. */
export class ExternalSorter {
  readonly words: number;
  readonly keyWords: number;
  readonly dir: string;
  readonly memoryBytes: number;
  /** The in-memory run: records [0, n) at buf[0 .. n·words). Write a reserved record's words here. */
  buf: Uint32Array;
  private other: Uint32Array | null = null;
  private n = 0;
  private cap: number;
  private readonly maxRecords: number;
  private readonly maxFanIn: number;
  private readonly spillLast: boolean;
  private readonly name: string;
  private runs: Run[] = [];
  private files = 0;
  private finished = false;
  /** Records pushed. */
  records = 0;
  /** Runs written (including those of merge passes), bytes written to run files, merge passes before the last. */
  runsWritten = 0;
  bytesWritten = 0;
  mergePasses = 0;

  constructor(opts: ExternalSortOptions) {
    const { words, keyWords } = opts;
    if (!(Number.isInteger(words) && words >= 1)) throw new Error(`external sort: words must be a positive integer, got ${words}`);
    if (!(Number.isInteger(keyWords) && keyWords >= 1 && keyWords <= words)) {
      throw new Error(`external sort: keyWords must be an integer in 1..${words}, got ${keyWords}`);
    }
    this.words = words;
    this.keyWords = keyWords;
    this.dir = opts.dir;
    this.memoryBytes = Math.max(64 << 10, Math.floor(opts.memoryBytes ?? DEFAULT_SORT_MEMORY));
    this.maxRecords = Math.max(16, Math.floor(this.memoryBytes / (8 * words)));
    this.maxFanIn = Math.max(2, Math.floor(opts.maxFanIn ?? 64));
    this.spillLast = opts.spillLast ?? false;
    this.name = opts.name ?? 'sort';
    this.cap = Math.min(this.maxRecords, 1 << 12);
    this.buf = new Uint32Array(this.cap * words);
    mkdirSync(this.dir, { recursive: true });
  }

  /** Reserves the next record and returns the offset of its first word in `buf` (write all `words` words). */
  reserve(): number {
    if (this.n === this.cap || this.finished) this.makeRoom();
    this.records++;
    return this.n++ * this.words;
  }

  /** Appends one record (its first `words` values, each taken as an unsigned 32-bit word). */
  push(rec: ArrayLike<number>): void {
    const o = this.reserve();
    for (let k = 0; k < this.words; k++) this.buf[o + k] = rec[k];
  }

  /** Runs on disk so far. */
  get runCount(): number {
    return this.runs.length;
  }

  private makeRoom(): void {
    if (this.finished) throw new Error('external sort: push after finish');
    if (this.cap < this.maxRecords) {
      this.cap = Math.min(this.maxRecords, this.cap * 2);
      const b = new Uint32Array(this.cap * this.words);
      b.set(this.buf);
      this.buf = b;
      return;
    }
    this.spill();
  }

  /** Sorts the in-memory run in place (stable LSD radix sort); `buf` then holds it sorted. */
  private sortRun(): void {
    const n = this.n;
    const W = this.words;
    const K = this.keyWords;
    if (n < 2) return;
    let src = this.buf;
    // one pass for every digit's histogram
    const hist = new Uint32Array(K * 3 * RADIX);
    for (let i = 0, base = 0; i < n; i++, base += W) {
      for (let w = 0; w < K; w++) {
        const v = src[base + w];
        const h = w * 3 * RADIX;
        hist[h + (v & MASK)]++;
        hist[h + RADIX + ((v >>> 11) & MASK)]++;
        hist[h + 2 * RADIX + (v >>> 22)]++;
      }
    }
    if (this.other === null || this.other.length < n * W) this.other = new Uint32Array(this.cap * W);
    let dst = this.other;
    const off = new Uint32Array(RADIX);
    for (let w = K - 1; w >= 0; w--) {
      for (let j = 0; j < 3; j++) {
        const h = (w * 3 + j) * RADIX;
        const shift = SHIFTS[j];
        if (hist[h + ((src[w] >>> shift) & MASK)] === n) continue; // the same digit everywhere
        let sum = 0;
        for (let d = 0; d < RADIX; d++) {
          off[d] = sum;
          sum += hist[h + d];
        }
        if (W === 3) {
          for (let base = 0, end = n * 3; base < end; base += 3) {
            const o = off[(src[base + w] >>> shift) & MASK]++ * 3;
            dst[o] = src[base];
            dst[o + 1] = src[base + 1];
            dst[o + 2] = src[base + 2];
          }
        } else {
          for (let base = 0, end = n * W; base < end; base += W) {
            const o = off[(src[base + w] >>> shift) & MASK]++ * W;
            for (let k = 0; k < W; k++) dst[o + k] = src[base + k];
          }
        }
        const t = src;
        src = dst;
        dst = t;
      }
    }
    this.buf = src;
    this.other = dst;
  }

  /** Sorts the in-memory run and writes it to a new run file. */
  private spill(): void {
    if (this.n === 0) return;
    this.sortRun();
    const file = this.newFile();
    writeWords(file, this.buf, this.n * this.words);
    this.runs.push({ file, records: this.n });
    this.runsWritten++;
    this.bytesWritten += this.n * this.words * 4;
    this.n = 0;
  }

  private newFile(): string {
    return join(this.dir, `${this.name}-${process.pid}-${this.files++}.run`);
  }

  /**
   * Ends the input; returns a reader of every record in key order (stable). Call once. The reader's records live in
   * buffers it owns; copy what you keep across `next()` calls.
   */
  finish(): SortedReader {
    if (this.finished) throw new Error('external sort: finish called twice');
    this.finished = true;
    if (this.runs.length === 0 && !this.spillLast) {
      this.sortRun();
      const buf = this.buf;
      const n = this.n;
      const W = this.words;
      this.other = null;
      let i = -1;
      const reader: SortedReader = {
        rec: buf,
        at: 0,
        next() {
          if (++i >= n) return false;
          reader.at = i * W;
          return true;
        },
        close() {},
      };
      return reader;
    }
    this.spill();
    this.buf = new Uint32Array(0);
    this.other = null;
    while (this.runs.length > this.maxFanIn) {
      const next: Run[] = [];
      for (let g = 0; g < this.runs.length; g += this.maxFanIn) {
        const group = this.runs.slice(g, g + this.maxFanIn);
        if (group.length === 1) {
          next.push(group[0]);
          continue;
        }
        next.push(this.mergeToRun(group));
      }
      this.runs = next;
      this.mergePasses++;
    }
    return new MergeReader(this.runs, this.words, this.keyWords, this.blockBytes(this.runs.length));
  }

  private blockBytes(k: number): number {
    const per = Math.floor(this.memoryBytes / (k + 1));
    return Math.min(8 << 20, Math.max(64 << 10, per));
  }

  /** Merges consecutive runs into one new run file (deleting them). */
  private mergeToRun(group: Run[]): Run {
    const W = this.words;
    const reader = new MergeReader(group, W, this.keyWords, this.blockBytes(group.length + 1));
    const file = this.newFile();
    const fd = openSync(file, 'w');
    const out = new Uint32Array(Math.floor(this.blockBytes(group.length + 1) / 4 / W) * W);
    let o = 0;
    let records = 0;
    try {
      while (reader.next()) {
        const r = reader.rec;
        const a = reader.at;
        for (let k = 0; k < W; k++) out[o + k] = r[a + k];
        o += W;
        records++;
        if (o === out.length) {
          writeFd(fd, out, o);
          o = 0;
        }
      }
      if (o > 0) writeFd(fd, out, o);
    } finally {
      closeSync(fd);
      reader.close();
    }
    for (const r of group) rmSync(r.file, { force: true });
    this.runsWritten++;
    this.bytesWritten += records * W * 4;
    return { file, records };
  }

  /** Deletes the run files (readers must be closed first). */
  close(): void {
    for (const r of this.runs) rmSync(r.file, { force: true });
    this.runs = [];
    this.buf = new Uint32Array(0);
    this.other = null;
  }
}

function writeFd(fd: number, words: Uint32Array, count: number): void {
  const bytes = Buffer.from(words.buffer, words.byteOffset, count * 4);
  let done = 0;
  while (done < bytes.length) done += writeSync(fd, bytes, done, bytes.length - done);
}

function writeWords(file: string, words: Uint32Array, count: number): void {
  const fd = openSync(file, 'w');
  try {
    writeFd(fd, words, count);
  } finally {
    closeSync(fd);
  }
}

/** One run being merged: its file, read a block at a time. */
interface Cursor {
  fd: number;
  bytes: Buffer;
  words: Uint32Array;
  /** Records in the current block, the current one, and records still in the file. */
  len: number;
  pos: number;
  left: number;
}

/** The k-way merge of sorted runs (see the file header). */
class MergeReader implements SortedReader {
  rec: Uint32Array = new Uint32Array(0);
  at = 0;
  private readonly cursors: Cursor[];
  private readonly heap: Int32Array;
  private size = 0;
  private started = false;
  private closed = false;

  constructor(runs: Run[], private readonly W: number, private readonly K: number, blockBytes: number) {
    const recBytes = W * 4;
    const perBlock = Math.max(1, Math.floor(blockBytes / recBytes));
    this.cursors = [];
    try {
      for (const r of runs) {
        const bytes = Buffer.allocUnsafe(perBlock * recBytes);
        this.cursors.push({
          fd: openSync(r.file, 'r'),
          bytes,
          words: new Uint32Array(bytes.buffer, bytes.byteOffset, perBlock * W),
          len: 0,
          pos: 0,
          left: r.records,
        });
      }
    } catch (e) {
      this.close();
      throw e;
    }
    this.heap = new Int32Array(runs.length);
    this.k0 = new Uint32Array(runs.length);
    this.k1 = new Uint32Array(runs.length);
  }

  /** Reads the next block of cursor c; false when the run is exhausted. */
  private refill(c: Cursor): boolean {
    if (c.left === 0) return false;
    const recBytes = this.W * 4;
    const want = Math.min(c.left, c.bytes.length / recBytes) * recBytes;
    let got = 0;
    while (got < want) {
      const n = readSync(c.fd, c.bytes, got, want - got, null);
      if (n === 0) throw new Error('external sort: a run file ended early (was the temporary directory changed?)');
      got += n;
    }
    c.len = want / recBytes;
    c.pos = 0;
    c.left -= c.len;
    return true;
  }

  /** The first two key words of each cursor's current record (cached: the heap compares them most). */
  private readonly k0: Uint32Array;
  private readonly k1: Uint32Array;

  private load(c: number): void {
    const cur = this.cursors[c];
    const o = cur.pos * this.W;
    this.k0[c] = cur.words[o];
    if (this.K > 1) this.k1[c] = cur.words[o + 1];
  }

  /** Whether cursor a's record sorts before cursor b's (ties: the earlier run). */
  private less(a: number, b: number): boolean {
    const x0 = this.k0[a];
    const y0 = this.k0[b];
    if (x0 !== y0) return x0 < y0;
    const x1 = this.k1[a];
    const y1 = this.k1[b];
    if (x1 !== y1) return x1 < y1;
    if (this.K > 2) {
      const ca = this.cursors[a];
      const cb = this.cursors[b];
      const oa = ca.pos * this.W;
      const ob = cb.pos * this.W;
      for (let k = 2; k < this.K; k++) {
        const x = ca.words[oa + k];
        const y = cb.words[ob + k];
        if (x !== y) return x < y;
      }
    }
    return a < b;
  }

  private siftDown(i: number): void {
    const h = this.heap;
    const n = this.size;
    const x = h[i];
    for (;;) {
      let c = 2 * i + 1;
      if (c >= n) break;
      if (c + 1 < n && this.less(h[c + 1], h[c])) c++;
      if (!this.less(h[c], x)) break;
      h[i] = h[c];
      i = c;
    }
    h[i] = x;
  }

  next(): boolean {
    if (this.closed) return false;
    if (!this.started) {
      this.started = true;
      for (let k = 0; k < this.cursors.length; k++) {
        if (!this.refill(this.cursors[k])) continue;
        this.load(k);
        this.heap[this.size++] = k;
      }
      for (let i = (this.size >> 1) - 1; i >= 0; i--) this.siftDown(i);
    } else if (this.size > 0) {
      const top = this.heap[0];
      const c = this.cursors[top];
      c.pos++;
      if (c.pos === c.len && !this.refill(c)) {
        this.heap[0] = this.heap[--this.size];
      } else this.load(top);
      if (this.size > 0) this.siftDown(0);
    }
    if (this.size === 0) {
      this.close();
      return false;
    }
    const c = this.cursors[this.heap[0]];
    this.rec = c.words;
    this.at = c.pos * this.W;
    return true;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const c of this.cursors) closeSync(c.fd);
  }
}

// ---------------------------------------------------------------------------------------------------------------------
// Order-preserving key words

/** The key word of an int32: unsigned order equals signed order. */
export function int32Key(x: number): number {
  return (x ^ 0x80000000) >>> 0;
}

const f64 = new Float64Array(1);
const f64w = new Uint32Array(f64.buffer);
const LITTLE = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * Writes the two key words of a float64 (high word first) at out[at], so that unsigned word order equals numeric
 * order (−0 is taken as +0; NaN must not occur).
 */
export function putFloat64Key(out: Uint32Array, at: number, x: number): void {
  f64[0] = x + 0; // −0 → +0
  let hi = f64w[LITTLE ? 1 : 0];
  let lo = f64w[LITTLE ? 0 : 1];
  if (hi & 0x80000000) {
    hi = ~hi >>> 0;
    lo = ~lo >>> 0;
  } else {
    hi = (hi | 0x80000000) >>> 0;
  }
  out[at] = hi;
  out[at + 1] = lo;
}

/** The float64 of two key words written by `putFloat64Key`. */
export function float64FromKey(hi: number, lo: number): number {
  if (hi & 0x80000000) {
    hi = (hi & 0x7fffffff) >>> 0;
  } else {
    hi = ~hi >>> 0;
    lo = ~lo >>> 0;
  }
  f64w[LITTLE ? 1 : 0] = hi;
  f64w[LITTLE ? 0 : 1] = lo;
  return f64[0];
}
