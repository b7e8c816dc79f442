/**
 * The Amazon protocol of the DIN paper (§6.1), shared by amazon-seq and amazon-raw, in memory and streamed: a user
 * with behaviours b1..bn (time order) gives training samples predicting b(k+1) from b1..bk for k = 1..n−2 and one test
 * sample predicting bn from b1..b(n−1); every positive is followed by one negative with the same history and a
 * candidate drawn uniformly (seeded `Rng`) from the items the user never touched. The history b1..b(n−1) is one block
 * that all the user's samples point into.
 *
 * Negatives are drawn from one generator, user after user in dense-id order, pair after pair: any path that visits
 * the users in that order with the same sequences draws exactly the same negatives (the streamed conversions do).
 */
import { putPair } from '../sample-set.js';
import type { SampleShardWriter } from '../stream/sample-writer.js';
import type { SampleSet } from '../../core/types.js';
import { Rng } from '../../util/rng.js';

/** Where a user's samples go: one history block, then (positive, negative) pairs pointing into it. */
export interface AmazonSink {
  /** The user's history block: values[from, to). */
  block(values: ArrayLike<number>, from: number, to: number): void;
  /** A positive (candidate `pos`) and its negative (`neg`) of user u, history [0, len) of the block. */
  pair(test: boolean, u: number, pos: number, neg: number, len: number): void;
}

export class AmazonProtocol {
  private readonly rng: Rng;
  private readonly mark: Int32Array;

  constructor(readonly numItems: number, seed: number) {
    this.rng = new Rng(seed);
    this.mark = new Int32Array(numItems); // mark[item] === u + 1 ⇔ user u touched item
  }

  /**
   * Emits user u's samples for behaviours seq[s, s + n) (n ≥ 2); returns false, emitting nothing, when the user
   * touched every item (no negative exists).
   */
  user(u: number, seq: ArrayLike<number>, s: number, n: number, sink: AmazonSink): boolean {
    const { mark, numItems, rng } = this;
    let distinct = 0;
    for (let k = 0; k < n; k++) {
      const it = seq[s + k];
      if (mark[it] !== u + 1) {
        mark[it] = u + 1;
        distinct++;
      }
    }
    if (distinct >= numItems) return false;
    sink.block(seq, s, s + n - 1);
    const negative = (): number => {
      for (;;) {
        const c = rng.int(numItems);
        if (mark[c] !== u + 1) return c;
      }
    };
    for (let k = 1; k <= n - 2; k++) sink.pair(false, u, seq[s + k], negative(), k);
    sink.pair(true, u, seq[s + n - 1], negative(), n - 1);
    return true;
  }
}

/** An Amazon-protocol sink writing into preallocated train/test sets sharing `histValues`. */
export class SetSink implements AmazonSink {
  private h = 0;
  private base = 0;
  private tr = 0;
  private te = 0;
  constructor(readonly train: SampleSet, readonly test: SampleSet) {}
  block(values: ArrayLike<number>, from: number, to: number): void {
    this.base = this.h;
    const hv = this.train.histValues;
    for (let k = from; k < to; k++) hv[this.h++] = values[k];
  }
  pair(test: boolean, u: number, pos: number, neg: number, len: number): void {
    if (test) this.te = putPair(this.test, this.te, u, pos, neg, this.base, len);
    else this.tr = putPair(this.train, this.tr, u, pos, neg, this.base, len);
  }
}

/** An Amazon-protocol sink writing into shards. */
export class ShardSink implements AmazonSink {
  constructor(private readonly w: SampleShardWriter) {}
  block(values: ArrayLike<number>, from: number, to: number): void {
    this.w.block(values, from, to);
  }
  pair(test: boolean, u: number, pos: number, neg: number, len: number): void {
    this.w.add(test, 1, u, pos, 0, len);
    this.w.add(test, 0, u, neg, 0, len);
  }
}
