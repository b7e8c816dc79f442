/**
 * Mini-batches over a SampleSet: seeded shuffle per epoch, histories truncated to the most recent `maxHistory`
 * behaviours and right-padded with −1 to the longest (truncated) history in the batch.
 *
 * Buffers are allocated once per Batcher and reused: a yielded Batch (and every array in it) is only valid until the
 * next one is requested. Copy what you need to keep. `T` is at least 1 (a batch whose histories are all empty gets
 * one column of padding) so kernels never see a zero-width tensor; `lengths` stays 0 for those rows.
 */
import type { Batch, SampleSet } from '../core/types.js';
import { Rng } from '../util/rng.js';

/** Options of a `Batcher`. */
export interface BatcherOptions {
  /** Samples per batch; a positive integer (the constructor throws otherwise). */
  batchSize: number;
  /** Keep at most this many most-recent behaviours (≤ 0 or Infinity: keep all). */
  maxHistory: number;
  /** Shuffle the sample order every epoch (seeded; training). False: stored order (evaluation). */
  shuffle: boolean;
  /** Shuffle seed; the epoch number is mixed in so every epoch has its own order. Default 1. */
  seed?: number;
  /** Drop a last partial batch (training). Default false. */
  dropLast?: boolean;
}

/**
 * Cuts a SampleSet into padded mini-batches, one epoch at a time (see the file header: the yielded Batch and its arrays
 * are reused, valid only until the next batch is requested).
 */
export class Batcher {
  /** The samples batched (held by reference, not copied). */
  readonly set: SampleSet;
  /** Samples per batch; the last batch of an epoch may be smaller unless `dropLast`. */
  readonly batchSize: number;
  /**
   * History cap in effect: the option (floored), or the longest history in `set` when the option was ≤ 0 or
   * Infinity.
   */
  readonly maxHistory: number;
  /** Whether each epoch's order is a seeded shuffle. */
  readonly shuffle: boolean;
  /** Shuffle seed in effect (default 1). */
  readonly seed: number;
  /** Whether a last partial batch is dropped. */
  readonly dropLast: boolean;
  private readonly order: Int32Array;
  private readonly buf: {
    labels: Float32Array;
    users: Int32Array;
    items: Int32Array;
    lengths: Int32Array;
    index: Int32Array;
    hist: Int32Array;
    fields: Int32Array[];
  };
  /** Views of `buf.hist` by length (size×T), so steady-state batches allocate nothing. */
  private readonly histViews = new Map<number, Int32Array>();
  private partial: Omit<Batch, 'size' | 'T' | 'hist'> | null = null;
  private partialFields: Int32Array[] | null = null;
  private readonly batch: Batch;

  constructor(set: SampleSet, opts: BatcherOptions) {
    if (!(Number.isInteger(opts.batchSize) && opts.batchSize > 0)) {
      throw new Error(`batchSize must be a positive integer, got ${opts.batchSize}`);
    }
    this.set = set;
    this.batchSize = opts.batchSize;
    this.shuffle = opts.shuffle;
    this.seed = opts.seed ?? 1;
    this.dropLast = opts.dropLast ?? false;
    let longest = 0;
    for (let i = 0; i < set.size; i++) if (set.histLen[i] > longest) longest = set.histLen[i];
    const mh = opts.maxHistory > 0 && Number.isFinite(opts.maxHistory) ? Math.floor(opts.maxHistory) : longest;
    this.maxHistory = mh;
    const B = this.batchSize;
    this.buf = {
      labels: new Float32Array(B),
      users: new Int32Array(B),
      items: new Int32Array(B),
      lengths: new Int32Array(B),
      index: new Int32Array(B),
      hist: new Int32Array(B * Math.max(1, Math.min(mh, longest))),
      fields: (set.fieldValues ?? []).map(() => new Int32Array(B)),
    };
    this.order = new Int32Array(set.size);
    for (let i = 0; i < set.size; i++) this.order[i] = i;
    const { fields, ...rest } = this.buf;
    this.batch = { size: 0, T: 0, ...rest, ...(set.fieldValues ? { fieldValues: fields } : {}) };
  }

  /** Number of batches per epoch. */
  get numBatches(): number {
    const n = this.set.size;
    return this.dropLast ? Math.floor(n / this.batchSize) : Math.ceil(n / this.batchSize);
  }

  /** The sample order of an epoch (a copy). */
  epochOrder(epoch: number): Int32Array {
    this.prepare(epoch);
    return this.order.slice();
  }

  private prepare(epoch: number): void {
    const order = this.order;
    for (let i = 0; i < order.length; i++) order[i] = i;
    if (this.shuffle) new Rng((this.seed ^ Math.imul(epoch + 1, 0x9e3779b1)) >>> 0).shuffle(order);
  }

  /** Iterates the batches of one epoch (epoch numbers start at 0). */
  *epoch(epoch = 0): Generator<Batch, void, undefined> {
    this.prepare(epoch);
    const n = this.set.size;
    const nb = this.numBatches;
    for (let b = 0; b < nb; b++) {
      const start = b * this.batchSize;
      yield this.fill(start, Math.min(n, start + this.batchSize));
    }
  }

  /**
   * Iterates the batches of epoch 0, like `epoch(0)`: every `for … of` over the Batcher yields the same order, so
   * call `epoch(k)` to get a new shuffle per epoch.
   */
  [Symbol.iterator](): Generator<Batch, void, undefined> {
    return this.epoch(0);
  }

  private fill(start: number, end: number): Batch {
    const s = this.set;
    const size = end - start;
    const { labels, users, items, lengths, index, hist } = this.buf;
    const mh = this.maxHistory;
    let T = 1;
    for (let r = 0; r < size; r++) {
      const i = this.order[start + r];
      index[r] = i;
      labels[r] = s.labels[i];
      users[r] = s.users[i];
      items[r] = s.items[i];
      const len = s.histLen[i] < mh ? s.histLen[i] : mh;
      lengths[r] = len;
      if (len > T) T = len;
    }
    const fv = s.fieldValues;
    if (fv) {
      const out = this.buf.fields;
      for (let f = 0; f < fv.length; f++) for (let r = 0; r < size; r++) out[f][r] = fv[f][index[r]];
    }
    const hv = s.histValues;
    for (let r = 0; r < size; r++) {
      const i = index[r];
      const len = lengths[r];
      const from = s.histStart[i] + s.histLen[i] - len; // most recent `len`
      const row = r * T;
      for (let t = 0; t < len; t++) hist[row + t] = hv[from + t];
      for (let t = len; t < T; t++) hist[row + t] = -1;
    }
    const batch = this.batch;
    batch.size = size;
    batch.T = T;
    const hl = size * T;
    let view = this.histViews.get(hl);
    if (view === undefined) {
      view = hist.subarray(0, hl);
      this.histViews.set(hl, view);
    }
    batch.hist = view;
    if (size === this.batchSize) {
      batch.labels = labels;
      batch.users = users;
      batch.items = items;
      batch.lengths = lengths;
      batch.index = index;
      if (fv) batch.fieldValues = this.buf.fields;
    } else {
      if (this.partial === null || this.partial.labels.length !== size) {
        this.partial = {
          labels: labels.subarray(0, size),
          users: users.subarray(0, size),
          items: items.subarray(0, size),
          lengths: lengths.subarray(0, size),
          index: index.subarray(0, size),
        };
      }
      Object.assign(batch, this.partial);
      if (fv) {
        if (this.partialFields === null || this.partialFields[0]?.length !== size) this.partialFields = this.buf.fields.map((a) => a.subarray(0, size));
        batch.fieldValues = this.partialFields;
      }
    }
    return batch;
  }
}

/**
 * How often each item id occurs in a training SampleSet, as candidate and inside histories (each sample's history
 * counted once per sample, truncated to the most recent `maxHistory` like the batcher feeds it). MBA regularization
 * scales each embedding row's penalty by 1/count. O(samples + histValues) via a coverage difference array.
 */
export function countItemOccurrences(set: SampleSet, numItems: number, maxHistory = 0): Float64Array {
  const counts = new Float64Array(numItems);
  const H = set.histValues.length;
  const diff = new Float64Array(H + 1);
  const limit = maxHistory > 0 && Number.isFinite(maxHistory) ? maxHistory : Infinity;
  for (let i = 0; i < set.size; i++) {
    counts[set.items[i]]++;
    const len = Math.min(set.histLen[i], limit);
    if (len === 0) continue;
    const end = set.histStart[i] + set.histLen[i];
    diff[end - len]++;
    diff[end]--;
  }
  let cover = 0;
  for (let k = 0; k < H; k++) {
    cover += diff[k];
    if (cover !== 0) counts[set.histValues[k]] += cover;
  }
  return counts;
}
