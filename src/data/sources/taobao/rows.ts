/**
 * Samples of the row layouts ('joined', 'sampled': one sample per line, its history on the line) collected into
 * `TaobaoChunk`s: all of them in one chunk (the in-memory loader), or a chunk handed to `onChunk` every `chunkRows`
 * rows (the streamed conversion spills it to disk). A row may share the stored history of the previous row (equal
 * history, same user); whether it is equal is decided the same way across chunk boundaries, only the storage restarts.
 */
import { IntColumn } from '../../vocab.js';
import type { TaobaoChunk } from './chunk.js';

export class TaobaoRows {
  private user = new IntColumn(1 << 12);
  private item = new IntColumn(1 << 12);
  private label = new IntColumn(1 << 12);
  private test = new IntColumn(1 << 12);
  private start = new IntColumn(1 << 12);
  private len = new IntColumn(1 << 12);
  private hist = new IntColumn(1 << 16);
  private fields: IntColumn[];
  /** Rows in chunks already taken. */
  private before = 0;
  /** The previous row's user and history (for sharing), and where it is stored in the current chunk (−1: not). */
  private prevUser = -1;
  private prevHist = new Int32Array(16);
  private prevLen = -1;
  private prevStart = -1;
  /** Rows whose history equals the previous row's (same user): stored once. */
  shared = 0;
  /** Hand the rows to `onChunk` whenever the current chunk reaches this many. */
  chunkRows = Infinity;
  onChunk: ((c: TaobaoChunk) => void) | null = null;

  /** `fields`: number of per-sample field columns (the chunk's `fields`, in order). */
  constructor(readonly numFields: number) {
    this.fields = Array.from({ length: numFields }, () => new IntColumn(1 << 12));
  }

  /** Rows added so far. */
  get size(): number {
    return this.before + this.user.length;
  }

  /** Forgets the previous row (no sharing across this point, e.g. a new file). */
  breakSharing(): void {
    this.prevUser = -1;
  }

  /**
   * Adds a row: its history is h[from, to) (temporary item ids); `share`: store it once with the previous row's when
   * equal and of the same user. `fields`: one temporary id per field column.
   */
  add(user: number, item: number, label: number, test: number, h: ArrayLike<number>, from: number, to: number, fields: ArrayLike<number>, share: boolean): void {
    const L = to - from;
    let same = share && user === this.prevUser && L === this.prevLen;
    for (let k = 0; same && k < L; k++) if (this.prevHist[k] !== h[from + k]) same = false;
    if (same) this.shared++;
    if (!same || this.prevStart < 0) {
      this.prevStart = this.hist.length;
      for (let k = from; k < to; k++) this.hist.push(h[k]);
    }
    if (!same && share) {
      if (this.prevHist.length < L) this.prevHist = new Int32Array(Math.max(L, 2 * this.prevHist.length));
      for (let k = 0; k < L; k++) this.prevHist[k] = h[from + k];
    }
    this.prevUser = user;
    this.prevLen = L;
    this.start.push(this.prevStart);
    this.len.push(L);
    this.user.push(user);
    this.item.push(item);
    this.label.push(label);
    this.test.push(test);
    for (let f = 0; f < this.numFields; f++) this.fields[f].push(fields[f]);
    if (this.user.length >= this.chunkRows && this.onChunk !== null) this.onChunk(this.take());
  }

  /** The rows of the current chunk; starts a new one. */
  take(): TaobaoChunk {
    const n = this.user.length;
    const chunk: TaobaoChunk = {
      n,
      order: null,
      first: this.before,
      user: this.user.toArray(),
      item: this.item.toArray(),
      label: Uint8Array.from(this.label.data.subarray(0, n)),
      test: Uint8Array.from(this.test.data.subarray(0, n)),
      histStart: this.start.toArray(),
      histLen: this.len.toArray(),
      histValues: this.hist.toArray(),
      fields: this.fields.map((c) => c.toArray()),
    };
    this.before += n;
    this.user = new IntColumn(1 << 12);
    this.item = new IntColumn(1 << 12);
    this.label = new IntColumn(1 << 12);
    this.test = new IntColumn(1 << 12);
    this.start = new IntColumn(1 << 12);
    this.len = new IntColumn(1 << 12);
    this.hist = new IntColumn(1 << 16);
    this.fields = this.fields.map(() => new IntColumn(1 << 12));
    this.prevStart = -1; // stored histories are shared within a chunk only
    return chunk;
  }
}
