/** Step 1 of ./assemble.ts: training occurrences counted chunk by chunk. */
import type { TaobaoChunk, TaobaoMeta } from './chunk.js';

/**
 * Step 1 (see the file header). An item's first training occurrence is the pair (sample position, slot): slot 0 the
 * candidate, 1 + k the k-th position of the sample's history — the order FieldVocabBuilder would see the values in.
 * Histories overlap (shared storage), so positions are counted with a difference array and their first occurrence
 * found with a union-find sweep over the chunk's training samples in sample order, visiting each position once:
 * O(samples + positions) per chunk, not O(Σ history lengths).
 */
export class TaobaoCounter {
  readonly used: Uint8Array;
  readonly count: Float64Array;
  readonly firstSample: Float64Array;
  readonly firstSlot: Int32Array;
  readonly fieldCount: Float64Array[];
  readonly fieldFirst: Float64Array[];
  nTrain = 0;
  nTest = 0;
  clicksTrain = 0;
  clicksTest = 0;
  histTrain = 0;

  constructor(readonly meta: TaobaoMeta) {
    const T = meta.items.size;
    this.used = new Uint8Array(T);
    this.count = new Float64Array(T);
    this.firstSample = new Float64Array(T).fill(Infinity);
    this.firstSlot = new Int32Array(T);
    this.fieldCount = meta.fields.map((f) => new Float64Array(f.keys.length));
    this.fieldFirst = meta.fields.map((f) => new Float64Array(f.keys.length).fill(Infinity));
  }

  private see(t: number, at: number, slot: number): void {
    const f = this.firstSample[t];
    if (at < f || (at === f && slot < this.firstSlot[t])) {
      this.firstSample[t] = at;
      this.firstSlot[t] = slot;
    }
  }

  /** Adds a chunk (its split final). */
  add(c: TaobaoChunk): void {
    const { used, count } = this;
    const hv = c.histValues;
    const H = hv.length;
    for (let k = 0; k < H; k++) used[hv[k]] = 1;
    const train: number[] = [];
    for (let i = 0; i < c.n; i++) {
      used[c.item[i]] = 1;
      if (c.test[i]) {
        this.nTest++;
        this.clicksTest += c.label[i];
      } else {
        this.nTrain++;
        this.clicksTrain += c.label[i];
        this.histTrain += c.histLen[i];
        train.push(i);
      }
    }
    const order = c.order;
    const at = (i: number): number => (order === null ? c.first + i : order[i]);
    if (order !== null) train.sort((a, b) => order[a] - order[b]);
    const cover = new Int32Array(H + 1);
    const next = new Int32Array(H + 1);
    for (let k = 0; k <= H; k++) next[k] = k;
    const find = (k: number): number => {
      while (next[k] !== k) {
        next[k] = next[next[k]];
        k = next[k];
      }
      return k;
    };
    for (const i of train) {
      const pos = at(i);
      const cand = c.item[i];
      count[cand]++;
      this.see(cand, pos, 0);
      const s = c.histStart[i];
      const e = s + c.histLen[i];
      cover[s]++;
      cover[e]--;
      for (let k = find(s); k < e; k = find(k + 1)) {
        this.see(hv[k], pos, 1 + (k - s));
        next[k] = k + 1;
      }
    }
    let run = 0;
    for (let k = 0; k < H; k++) {
      run += cover[k];
      count[hv[k]] += run;
    }
    // sample fields: training samples
    this.meta.fields.forEach((f, j) => {
      const cnt = this.fieldCount[j];
      const first = this.fieldFirst[j];
      const vals = f.byUser ?? c.fields[j];
      const byUser = f.byUser !== undefined;
      for (const i of train) {
        const v = vals[byUser ? c.user[i] : i];
        if (v < 0) continue;
        cnt[v]++;
        const pos = at(i);
        if (pos < first[v]) first[v] = pos;
      }
    });
  }
}
