/**
 * The paper's "Dropout" regularizer (§6.5): randomly discard a fraction of the behaviour ids of each training
 * sample. A row with L valid behaviours loses exactly ⌊rate·L⌋ of them, plus one more with probability
 * frac(rate·L) — so the expected number dropped is rate·L and every row's count is exact up to that rounding. The
 * dropped positions are a uniform random subset; the kept behaviours keep their order and move to the front, the
 * rest of the row is padding (−1). Nothing is rescaled (the paper drops ids; the model sees fewer behaviours).
 * The candidate is never dropped. Applied to training batches only.
 */
import type { Batch } from '../core/types.js';
import { Rng } from '../util/rng.js';

export class BehaviourDropout {
  private keep = new Uint8Array(0);
  /** Behaviours seen and dropped so far (for the run's record). */
  seen = 0;
  dropped = 0;

  constructor(readonly rate: number, private rng: Rng) {
    if (!(Number.isFinite(rate) && rate >= 0 && rate < 1)) throw new Error(`dropout rate must be in [0, 1), got ${rate}`);
  }

  /** The generator's state and the counts (saved with resumable checkpoints). */
  state(): { state: number; seen: number; dropped: number } {
    return { state: this.rng.state, seen: this.seen, dropped: this.dropped };
  }

  /** Continues from a saved {@link BehaviourDropout.state}. */
  restore(state: number, seen: number, dropped: number): void {
    this.rng = Rng.fromState(state);
    this.seen = seen;
    this.dropped = dropped;
  }

  /** Drops behaviours of the batch in place (its hist and lengths). */
  apply(batch: Batch): void {
    const { size, T, hist, lengths } = batch;
    if (this.keep.length < T) this.keep = new Uint8Array(T);
    const keep = this.keep;
    const rng = this.rng;
    for (let b = 0; b < size; b++) {
      const L = lengths[b];
      if (L === 0) continue;
      const x = this.rate * L;
      let k = Math.floor(x);
      if (rng.next() < x - k) k++;
      this.seen += L;
      this.dropped += k;
      if (k === 0) continue;
      // Choose k of the L positions: a partial Fisher–Yates over position indices, marked in `keep`.
      keep.fill(1, 0, L);
      let left = L;
      for (let d = 0; d < k; d++) {
        // The (r)-th still-kept position, r uniform in [0, left).
        let r = rng.int(left);
        let t = 0;
        for (;; t++) if (keep[t] && r-- === 0) break;
        keep[t] = 0;
        left--;
      }
      const row = b * T;
      let w = 0;
      for (let t = 0; t < L; t++) if (keep[t]) hist[row + w++] = hist[row + t];
      for (let t = w; t < L; t++) hist[row + t] = -1;
      lengths[b] = w;
    }
  }
}
