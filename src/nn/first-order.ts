import type { Backend, Float } from '../kernels/backend.js';
import type { Param } from './param.js';
import type { CatalogAttrs } from './item-encoder.js';
import { WeightBag } from './weight-bag.js';
import { FloatBuf } from './workspace.js';
import type { SampleField } from '../core/fields.js';
import { goodsRowsOf } from '../core/goods-rows.js';
import { countPerSample, forEachBehaviour } from '../core/occurrence.js';

/** Calls emit(row) for every row of one table an item looks up (none when the item lacks the feature). */
type IdsOf = (item: number, emit: (row: number) => void) => void;

/** One weight table of the first-order terms: the ids of the candidate, or of every valid behaviour. */
interface Part {
  bag: WeightBag;
  side: 'cand' | 'hist';
  idsOf: IdsOf;
}

/**
 * Logistic-regression terms over every id of a sample (LR, the first order of DeepFM, the linear part of
 * Wide&Deep's wide side):
 *   bias + Σ_tables Σ_{ids of the candidate} w[id] + Σ_tables Σ_{valid t} Σ_{ids of hist_t} w[id]
 * with one table per (side, feature): goods (by goods row; −1 = no goods id), the attribute bag, and each extra item
 * field of the catalog. Candidate-side and history-side ids have separate tables (a clicked-before item and the
 * candidate are different features). Positions t ≥ lengths[b] and ids < 0 contribute nothing and touch no table.
 *
 * Params: `<prefix>.bias` [1] (dense, no decay), `<prefix>.cand_goods`, `<prefix>.cand_attr`, `<prefix>.hist_goods`,
 * `<prefix>.hist_attr` (the attr tables are absent when the catalog has no attributes), then per extra item field
 * `<prefix>.cand_<name>` and `<prefix>.hist_<name>`, then per sample field (user profile, context) `<prefix>.user_<name>`
 * or `<prefix>.ctx_<name>` — all sparse [rows, 1].
 */
export class FirstOrderTerms {
  readonly bias: Param;
  readonly candGoods: WeightBag;
  readonly candAttr: WeightBag | null;
  readonly histGoods: WeightBag;
  readonly histAttr: WeightBag | null;
  private readonly parts: Part[];
  /** One weight table per sample field (user profile, context): `<prefix>.user_<name>` / `<prefix>.ctx_<name>`. */
  private readonly sampleBags: WeightBag[];
  private readonly out: FloatBuf;
  private B = 0;
  // Lookup emitters of forward (count, then fill), kept as fields so no closure is made per item.
  private n = 0;
  private fillIds: Int32Array = new Int32Array(0);
  private fillRows: Int32Array = new Int32Array(0);
  private fillK = 0;
  private fillB = 0;
  private readonly countOne = (): void => {
    this.n++;
  };
  private readonly put = (r: number): void => {
    this.fillIds[this.fillK] = r;
    this.fillRows[this.fillK++] = this.fillB;
  };

  constructor(backend: Backend, readonly prefix: string, readonly catalog: CatalogAttrs,
    readonly sampleFields: readonly SampleField[] = []) {
    const { numAttrs, attrOffsets: off, attrValues: val } = catalog;
    const goods = goodsRowsOf(catalog);
    const map = goods.map;
    const goodsOf: IdsOf = map ? (item, emit) => map[item] >= 0 && emit(map[item]) : (item, emit) => emit(item);
    const attrsOf: IdsOf = (item, emit) => {
      for (let j = off[item]; j < off[item + 1]; j++) emit(val[j]);
    };
    this.bias = { name: `${prefix}.bias`, shape: [1], value: backend.alloc(1), grad: backend.alloc(1), decay: false };
    this.candGoods = new WeightBag(backend, `${prefix}.cand_goods`, goods.rows);
    this.candAttr = numAttrs > 0 ? new WeightBag(backend, `${prefix}.cand_attr`, numAttrs) : null;
    this.histGoods = new WeightBag(backend, `${prefix}.hist_goods`, goods.rows);
    this.histAttr = numAttrs > 0 ? new WeightBag(backend, `${prefix}.hist_attr`, numAttrs) : null;
    this.parts = [{ bag: this.candGoods, side: 'cand', idsOf: goodsOf }];
    if (this.candAttr) this.parts.push({ bag: this.candAttr, side: 'cand', idsOf: attrsOf });
    this.parts.push({ bag: this.histGoods, side: 'hist', idsOf: goodsOf });
    if (this.histAttr) this.parts.push({ bag: this.histAttr, side: 'hist', idsOf: attrsOf });
    for (const f of catalog.itemFields ?? []) {
      const v = f.values;
      const idsOf: IdsOf = (item, emit) => v[item] >= 0 && emit(v[item]);
      this.parts.push({ bag: new WeightBag(backend, `${prefix}.cand_${f.name}`, f.size), side: 'cand', idsOf });
      this.parts.push({ bag: new WeightBag(backend, `${prefix}.hist_${f.name}`, f.size), side: 'hist', idsOf });
    }
    this.sampleBags = sampleFields.map((f, i) => {
      const bag = new WeightBag(backend, `${prefix}.${f.group === 'user' ? 'user' : 'ctx'}_${f.name}`, f.size);
      bag.param.countRows = (set) => countPerSample(set, f.size, (s, emit) => emit(set.fieldValues![i][s]));
      return bag;
    });
    this.out = new FloatBuf(backend, 1);
    // n_j of each table, per side (a candidate id and the same id among behaviours are different features).
    for (const { bag, side, idsOf } of this.parts) {
      const rows = bag.param.shape[0];
      bag.param.countRows = side === 'cand'
        ? (set) => countPerSample(set, rows, (i, emit) => idsOf(set.items[i], emit))
        : (set, mh) => countPerSample(set, rows, (i, emit) => forEachBehaviour(set, i, mh, (h) => idsOf(h, emit)));
    }
  }

  /** The terms [B] (owned by this layer, valid until the next forward). */
  forward(items: ArrayLike<number>, hist: ArrayLike<number>, lengths: ArrayLike<number>, B: number, T: number,
    fieldValues?: readonly Int32Array[]): Float {
    checkIds(items, hist, lengths, B, T, this.catalog.numItems);
    const F = this.sampleBags.length;
    if ((fieldValues?.length ?? 0) !== F) throw new Error(`${this.prefix}: the batch has ${fieldValues?.length ?? 0} sample fields, the model expects ${F}`);
    this.B = B;
    const out = this.out.ensure(B);
    out.fill(this.bias.value[0]);
    for (const part of this.parts) {
      // Two passes over the same items: count the lookups, then fill them (emitters are instance fields, so the hot
      // loop allocates nothing).
      this.n = 0;
      this.visit(part, items, hist, lengths, B, T, this.countOne);
      const { ids, rows } = part.bag.prepare(this.n);
      this.fillIds = ids;
      this.fillRows = rows;
      this.fillK = 0;
      this.visit(part, items, hist, lengths, B, T, this.put);
      part.bag.forwardAdd(out);
    }
    this.sampleBags.forEach((bag, f) => {
      const col = fieldValues![f];
      const size = this.sampleFields[f].size;
      const { ids, rows } = bag.prepare(B);
      for (let b = 0; b < B; b++) {
        if (!(col[b] >= 0 && col[b] < size)) throw new RangeError(`sample field "${this.sampleFields[f].name}": id ${col[b]} at row ${b} is outside 0..${size - 1}`);
        ids[b] = col[b];
        rows[b] = b;
      }
      bag.forwardAdd(out);
    });
    return out;
  }

  /** Calls part.idsOf for the candidate of each row, or for every valid behaviour, with `fillB` set to the row. */
  private visit(part: Part, items: ArrayLike<number>, hist: ArrayLike<number>, lengths: ArrayLike<number>, B: number,
    T: number, emit: (row: number) => void): void {
    const idsOf = part.idsOf;
    for (let b = 0; b < B; b++) {
      this.fillB = b;
      if (part.side === 'cand') {
        if (items[b] >= 0) idsOf(items[b], emit);
        continue;
      }
      for (let t = 0; t < lengths[b]; t++) {
        const id = hist[b * T + t];
        if (id >= 0) idsOf(id, emit);
      }
    }
  }

  /** Accumulates gradients for dOut [B] of the last forward. */
  backward(dOut: Float): void {
    const B = this.B;
    let s = 0;
    for (let b = 0; b < B; b++) s += dOut[b];
    this.bias.grad[0] += s;
    for (const p of this.parts) p.bag.backward(dOut);
    for (const bag of this.sampleBags) bag.backward(dOut);
  }

  params(): Param[] {
    return [this.bias, ...this.parts.map((p) => p.bag.param), ...this.sampleBags.map((b) => b.param)];
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
