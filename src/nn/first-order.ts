import type { Backend, Float } from './backend.js';
import type { Param } from './param.js';
import type { CatalogAttrs } from './item-encoder.js';
import { WeightBag } from './weight-bag.js';
import { FloatBuf } from './workspace.js';
import { goodsRowsOf } from '../data/goods-filter.js';
import { countPerSample, forEachBehaviour } from '../data/occurrence.js';

/**
 * Logistic-regression terms over every id of a sample (LR, the first order of DeepFM, the linear part of
 * Wide&Deep's wide side):
 *   bias + w_cg[candidate] + Σ_{a ∈ attrs(candidate)} w_ca[a] + Σ_{valid t} w_hg[hist_t] + Σ_{valid t} Σ_{a ∈ attrs(hist_t)} w_ha[a]
 * Candidate-side and history-side ids have separate tables (a clicked-before item and the candidate are different
 * features). Positions t ≥ lengths[b] and ids < 0 contribute nothing and touch no table.
 *
 * Params: `<prefix>.bias` [1] (dense, no decay), `<prefix>.cand_goods` [numItems, 1], `<prefix>.cand_attr`
 * [numAttrs, 1], `<prefix>.hist_goods` [numItems, 1], `<prefix>.hist_attr` [numAttrs, 1] (sparse; the attr tables
 * are absent when the catalog has no attributes).
 */
export class FirstOrderTerms {
  readonly bias: Param;
  readonly candGoods: WeightBag;
  readonly candAttr: WeightBag | null;
  readonly histGoods: WeightBag;
  readonly histAttr: WeightBag | null;
  private readonly out: FloatBuf;
  private B = 0;
  /** Item → goods-table row (identity without a goods filter). */
  private readonly goodsRow: (item: number) => number;

  constructor(backend: Backend, readonly prefix: string, readonly catalog: CatalogAttrs) {
    const { numAttrs, attrOffsets: off, attrValues: val } = catalog;
    const goods = goodsRowsOf(catalog);
    const map = goods.map;
    this.goodsRow = map ? (item) => map[item] : (item) => item;
    const row = this.goodsRow;
    this.bias = { name: `${prefix}.bias`, shape: [1], value: backend.alloc(1), grad: backend.alloc(1), decay: false };
    this.candGoods = new WeightBag(backend, `${prefix}.cand_goods`, goods.rows);
    this.candAttr = numAttrs > 0 ? new WeightBag(backend, `${prefix}.cand_attr`, numAttrs) : null;
    this.histGoods = new WeightBag(backend, `${prefix}.hist_goods`, goods.rows);
    this.histAttr = numAttrs > 0 ? new WeightBag(backend, `${prefix}.hist_attr`, numAttrs) : null;
    this.out = new FloatBuf(backend, 1);
    // n_j of each table, per field (a candidate id and the same id among behaviours are different features).
    const attrsOf = (item: number, emit: (r: number) => void) => {
      for (let j = off[item]; j < off[item + 1]; j++) emit(val[j]);
    };
    this.candGoods.param.countRows = (set) => countPerSample(set, goods.rows, (i, emit) => emit(row(set.items[i])));
    this.histGoods.param.countRows = (set, mh) =>
      countPerSample(set, goods.rows, (i, emit) => forEachBehaviour(set, i, mh, (h) => emit(row(h))));
    if (this.candAttr) this.candAttr.param.countRows = (set) => countPerSample(set, numAttrs, (i, emit) => attrsOf(set.items[i], emit));
    if (this.histAttr) {
      this.histAttr.param.countRows = (set, mh) =>
        countPerSample(set, numAttrs, (i, emit) => forEachBehaviour(set, i, mh, (h) => attrsOf(h, emit)));
    }
  }

  /** The terms [B] (owned by this layer, valid until the next forward). */
  forward(items: ArrayLike<number>, hist: ArrayLike<number>, lengths: ArrayLike<number>, B: number, T: number): Float {
    const { numItems, attrOffsets, attrValues } = this.catalog;
    checkIds(items, hist, lengths, B, T, numItems);
    const row = this.goodsRow;
    this.B = B;
    const out = this.out.ensure(B);
    out.fill(this.bias.value[0]);
    // Candidate goods and attributes.
    let nAttr = 0;
    let nCand = 0;
    for (let b = 0; b < B; b++) {
      const id = items[b];
      if (id < 0) continue;
      nCand++;
      nAttr += attrOffsets[id + 1] - attrOffsets[id];
    }
    {
      const { ids, rows } = this.candGoods.prepare(nCand);
      let k = 0;
      for (let b = 0; b < B; b++) {
        if (items[b] < 0) continue;
        ids[k] = row(items[b]);
        rows[k++] = b;
      }
      this.candGoods.forwardAdd(out);
    }
    if (this.candAttr) {
      const { ids, rows } = this.candAttr.prepare(nAttr);
      let k = 0;
      for (let b = 0; b < B; b++) {
        const id = items[b];
        if (id < 0) continue;
        for (let j = attrOffsets[id]; j < attrOffsets[id + 1]; j++) {
          ids[k] = attrValues[j];
          rows[k++] = b;
        }
      }
      this.candAttr.forwardAdd(out);
    }
    // History goods and attributes, valid positions only.
    let nHist = 0;
    nAttr = 0;
    for (let b = 0; b < B; b++) {
      for (let t = 0; t < lengths[b]; t++) {
        const id = hist[b * T + t];
        if (id < 0) continue;
        nHist++;
        nAttr += attrOffsets[id + 1] - attrOffsets[id];
      }
    }
    {
      const { ids, rows } = this.histGoods.prepare(nHist);
      let k = 0;
      for (let b = 0; b < B; b++) {
        for (let t = 0; t < lengths[b]; t++) {
          const id = hist[b * T + t];
          if (id < 0) continue;
          ids[k] = row(id);
          rows[k++] = b;
        }
      }
      this.histGoods.forwardAdd(out);
    }
    if (this.histAttr) {
      const { ids, rows } = this.histAttr.prepare(nAttr);
      let k = 0;
      for (let b = 0; b < B; b++) {
        for (let t = 0; t < lengths[b]; t++) {
          const id = hist[b * T + t];
          if (id < 0) continue;
          for (let j = attrOffsets[id]; j < attrOffsets[id + 1]; j++) {
            ids[k] = attrValues[j];
            rows[k++] = b;
          }
        }
      }
      this.histAttr.forwardAdd(out);
    }
    return out;
  }

  /** Accumulates gradients for dOut [B] of the last forward. */
  backward(dOut: Float): void {
    const B = this.B;
    let s = 0;
    for (let b = 0; b < B; b++) s += dOut[b];
    this.bias.grad[0] += s;
    this.candGoods.backward(dOut);
    this.candAttr?.backward(dOut);
    this.histGoods.backward(dOut);
    this.histAttr?.backward(dOut);
  }

  params(): Param[] {
    const ps = [this.bias, this.candGoods.param];
    if (this.candAttr) ps.push(this.candAttr.param);
    ps.push(this.histGoods.param);
    if (this.histAttr) ps.push(this.histAttr.param);
    return ps;
  }
}

/** Range checks of a batch's ids (the encoder does the same for the embedding models). */
export function checkIds(items: ArrayLike<number>, hist: ArrayLike<number>, lengths: ArrayLike<number>, B: number,
  T: number, numItems: number): void {
  if (items.length < B) throw new RangeError(`item ids: ${items.length} given, ${B} expected`);
  if (hist.length < B * T) throw new RangeError(`history ids: ${hist.length} given, B×T = ${B * T} expected`);
  if (lengths.length < B) throw new RangeError(`history lengths: ${lengths.length} given, ${B} expected`);
  for (let b = 0; b < B; b++) {
    if (items[b] >= numItems) throw new RangeError(`item id ${items[b]} at position ${b} is out of range (numItems = ${numItems})`);
    const len = lengths[b];
    if (!(len >= 0 && len <= T)) throw new RangeError(`history length ${len} of row ${b} is outside 0..T = ${T}`);
    for (let t = 0; t < len; t++) {
      const id = hist[b * T + t];
      if (id >= numItems) throw new RangeError(`history item id ${id} at row ${b}, position ${t} is out of range (numItems = ${numItems})`);
    }
  }
}
