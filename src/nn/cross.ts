import type { Backend, Float } from '../kernels/backend.js';
import type { Param } from './param.js';
import type { CatalogAttrs } from './item-encoder.js';
import { WeightBag } from './weight-bag.js';
import { FloatBuf } from './workspace.js';
import { goodsRowsOf } from '../core/goods-rows.js';
import { countPerSample, forEachBehaviour } from '../core/occurrence.js';

/** Hash seeds of the two cross kinds: fixed constants, so a checkpoint's buckets never depend on the run's seed. */
export const CROSS_SEED_GOODS = 0x9747b28c;
export const CROSS_SEED_ATTR = 0x5bd1e995;

function mixWord(h: number, k: number): number {
  k = Math.imul(k, 0xcc9e2d51);
  k = (k << 15) | (k >>> 17);
  k = Math.imul(k, 0x1b873593);
  h ^= k;
  h = (h << 13) | (h >>> 19);
  return (Math.imul(h, 5) + 0xe6546b64) | 0;
}

/**
 * MurmurHash3 (x86, 32-bit) of the two 32-bit words (a, b) with the given seed, reduced to [0, buckets).
 * Order matters: (behaviour, candidate) and (candidate, behaviour) are different features.
 */
export function crossHash(a: number, b: number, seed: number, buckets: number): number {
  let h = mixWord(mixWord(seed | 0, a | 0), b | 0);
  h ^= 8;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return (h >>> 0) % buckets;
}

/**
 * The wide part's cross-product features (Wide&Deep, as the paper's competitor uses them): for every valid behaviour
 * t of row b, the pair (hist_t, candidate) — and, with `attrCross`, every pair (attribute of hist_t, attribute of the
 * candidate) — is hashed into one table `<name>` [buckets, 1] of scalar weights (init 0), and the row's term is the
 * sum of the hit weights. Goods and attribute pairs use different hash seeds. Padded positions, empty histories and
 * items without a goods id add nothing. Extra item fields (catalog.itemFields) are not crossed: they reach Wide&Deep
 * through its first-order terms and deep part.
 */
export class HashedCross {
  readonly bag: WeightBag;
  private readonly out: FloatBuf;
  private B = 0;
  /** Item → goods row (the goods filter applies to crosses too; identity without one). */
  private readonly goodsRow: (item: number) => number;

  constructor(backend: Backend, name: string, readonly buckets: number, readonly catalog: CatalogAttrs,
    readonly attrCross: boolean) {
    if (!(Number.isInteger(buckets) && buckets >= 1)) throw new Error(`${name}: buckets must be a positive integer, got ${buckets}`);
    this.bag = new WeightBag(backend, name, buckets);
    this.out = new FloatBuf(backend, 1);
    const map = goodsRowsOf(catalog).map;
    this.goodsRow = map ? (item) => map[item] : (item) => item;
    const { attrOffsets: off, attrValues: val } = catalog;
    this.bag.param.countRows = (set, mh) =>
      countPerSample(set, buckets, (i, emit) => {
        const c = set.items[i];
        const gc = this.goodsRow(c);
        forEachBehaviour(set, i, mh, (h) => {
          if (gc >= 0 && this.goodsRow(h) >= 0) emit(crossHash(this.goodsRow(h), gc, CROSS_SEED_GOODS, buckets));
          if (!attrCross) return;
          for (let a = off[h]; a < off[h + 1]; a++) {
            for (let b = off[c]; b < off[c + 1]; b++) emit(crossHash(val[a], val[b], CROSS_SEED_ATTR, buckets));
          }
        });
      });
  }

  /** Terms [B] (owned by this layer). Ids are assumed range-checked (see checkIds). */
  forward(items: ArrayLike<number>, hist: ArrayLike<number>, lengths: ArrayLike<number>, B: number, T: number): Float {
    const { attrOffsets, attrValues } = this.catalog;
    const attr = this.attrCross;
    const nb = this.buckets;
    const row = this.goodsRow;
    this.B = B;
    let n = 0;
    for (let b = 0; b < B; b++) {
      const c = items[b];
      if (c < 0) continue;
      const nc = attrOffsets[c + 1] - attrOffsets[c];
      for (let t = 0; t < lengths[b]; t++) {
        const h = hist[b * T + t];
        if (h < 0) continue;
        n += (row(h) >= 0 && row(c) >= 0 ? 1 : 0) + (attr ? nc * (attrOffsets[h + 1] - attrOffsets[h]) : 0);
      }
    }
    const { ids, rows } = this.bag.prepare(n);
    let k = 0;
    for (let b = 0; b < B; b++) {
      const c = items[b];
      if (c < 0) continue;
      for (let t = 0; t < lengths[b]; t++) {
        const h = hist[b * T + t];
        if (h < 0) continue;
        if (row(h) >= 0 && row(c) >= 0) {
          ids[k] = crossHash(row(h), row(c), CROSS_SEED_GOODS, nb);
          rows[k++] = b;
        }
        if (!attr) continue;
        for (let i = attrOffsets[h]; i < attrOffsets[h + 1]; i++) {
          for (let j = attrOffsets[c]; j < attrOffsets[c + 1]; j++) {
            ids[k] = crossHash(attrValues[i], attrValues[j], CROSS_SEED_ATTR, nb);
            rows[k++] = b;
          }
        }
      }
    }
    const out = this.out.ensure(B);
    out.fill(0);
    this.bag.forwardAdd(out);
    return out;
  }

  backward(dOut: Float): void {
    if (this.B > 0) this.bag.backward(dOut);
  }

  params(): Param[] {
    return [this.bag.param];
  }
}
