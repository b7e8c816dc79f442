import type { Backend, Float } from '../kernels/backend.js';
import type { Param } from './param.js';
import type { Batch, ItemCatalog } from '../core/types.js';
import type { Rng } from '../util/rng.js';
import { Embedding } from './embedding.js';
import { FloatBuf, IntBuf } from './workspace.js';
import type { TableEval } from './eval-form.js';
import { goodsRowsOf } from '../core/goods-rows.js';
import { countPerSample, forEachBehaviour } from '../core/occurrence.js';
import { validateItemField, type ItemField } from '../core/fields.js';

export type CatalogAttrs = Pick<ItemCatalog, 'numItems' | 'numAttrs' | 'attrOffsets' | 'attrValues' | 'goodsRows' | 'numGoodsRows' | 'goodsOov'>
  & { itemFields?: ItemField[] };

export interface ItemEncoderOptions {
  goodsDim: number;
  /** Width of the mean-pooled attribute vector (0 ⇒ no attribute table). */
  attrDim: number;
  /** Adds the per-item bias table "item_bias" (dim 1, init 0, no decay). */
  itemBias: boolean;
  /** Std of the normal init of the goods/attr tables (default 0.01). */
  initStd?: number;
  /** Width of each extra item field's embedding (catalog.itemFields); default goodsDim. */
  fieldDim?: number;
  /** Keep every table outside the model, in a row store (see `Embedding`'s `external` option). Default false. */
  external?: boolean;
}

/** One extra item field (shop, brand, …): its table and the item → id column. */
export interface ItemFieldTable {
  field: ItemField;
  emb: Embedding;
}

/**
 * An item encoder in eval mode (see {@link encodeItemsEval}): e = [goods row, mean of the attribute rows, one row per
 * item field], D = goodsDim + attrDim + F·fieldDim wide.
 */
export interface ItemEncoderEval {
  /** Width of an item's encoding. */
  readonly D: number;
  /** Width of the goods part. */
  readonly goodsDim: number;
  /** Width of the attribute part (zeros when `attrs` is null). */
  readonly attrDim: number;
  /** Width of each item field's part. */
  readonly fieldDim: number;
  /** The goods table, indexed by goods row. */
  readonly goods: TableEval;
  /** The attribute table (null: no attributes, the attribute part is zeros). */
  readonly attrs: TableEval | null;
  /** One table per item field, in catalog order (`catalog.itemFields`). */
  readonly fields: readonly TableEval[];
  /** The per-item bias (1 wide, indexed by goods row), or null. */
  readonly bias: TableEval | null;
  /** Catalog item → goods row (−1: none); null: the item id is its goods row. */
  readonly goodsMap: Int32Array | null;
  /** The catalog the tables were built for (its attribute bags and item-field values). */
  readonly catalog: CatalogAttrs;
}

/**
 * Item encodings in eval mode from an {@link ItemEncoderEval}, for n items described by their goods row (−1: none,
 * zeros), attribute ids attrIds[attrStart[j] … attrStart[j + 1]) and item-field ids fieldIds[j·F + f] (−1: none):
 * out[j·D …] = e(item j). Items need not be in the catalog (a request may describe new ones). The attribute mean is
 * the encoder's arithmetic: the rows summed in order, then scaled by 1/#attrs rounded to the output's precision.
 */
export function encodeItemsEval(e: ItemEncoderEval, n: number, goodsRow: ArrayLike<number>, attrStart: ArrayLike<number>,
  attrIds: ArrayLike<number>, fieldIds: ArrayLike<number>, out: Float, outOffset = 0): void {
  const { D, goodsDim, attrDim, fieldDim } = e;
  const G = e.goods.value;
  const At = e.attrs ? e.attrs.value : null;
  const F = e.fields.length;
  const f32 = out instanceof Float32Array;
  for (let j = 0; j < n; j++) {
    const o = outOffset + j * D;
    const g = goodsRow[j];
    if (g >= 0) {
      const s = g * goodsDim;
      for (let d = 0; d < goodsDim; d++) out[o + d] = G[s + d];
    } else {
      for (let d = 0; d < goodsDim; d++) out[o + d] = 0;
    }
    if (attrDim > 0) {
      const oa = o + goodsDim;
      for (let d = 0; d < attrDim; d++) out[oa + d] = 0;
      const s0 = attrStart[j];
      const s1 = attrStart[j + 1];
      if (At !== null && s1 > s0) {
        for (let k = s0; k < s1; k++) {
          const r = attrIds[k] * attrDim;
          for (let d = 0; d < attrDim; d++) out[oa + d] += At[r + d];
        }
        if (s1 - s0 > 1) {
          const inv = f32 ? Math.fround(1 / (s1 - s0)) : 1 / (s1 - s0);
          for (let d = 0; d < attrDim; d++) out[oa + d] *= inv;
        }
      }
    }
    let col = o + goodsDim + attrDim;
    for (let f = 0; f < F; f++, col += fieldDim) {
      const id = fieldIds[j * F + f];
      if (id >= 0) {
        const T = e.fields[f].value;
        const s = id * fieldDim;
        for (let d = 0; d < fieldDim; d++) out[col + d] = T[s + d];
      } else {
        for (let d = 0; d < fieldDim; d++) out[col + d] = 0;
      }
    }
  }
}

/**
 * Item representation e(i) = [goods_emb[i] (goodsDim), mean of attr_emb over i's attributes (attrDim), then one
 * fieldDim-wide embedding per extra item field of the catalog (`itemFields`: shop, brand, …; table `field.<name>`)],
 * D wide. A field an item has no value for (−1), and a goods row of −1, give zeros there.
 * Items without attributes get a zero attribute part; id −1 (padding) gives an all-zero row and no gradient.
 * With a goods filter in the catalog (`goodsRows`), the goods table and the item bias are indexed by goods row, so
 * filtered-out items share one goods row but keep their own attributes.
 *
 * One encoder owns the tables; each call site (candidates, history) gets its own {@link ItemLookup} via `lookup()`,
 * which keeps that site's ids and workspaces between forward and backward. All lookups accumulate into the same
 * sparse gradients, so calling backward on both the history and the candidate lookup in one step is correct.
 */
export class ItemEncoder {
  readonly D: number;
  readonly goods: Embedding;
  /** Null when attrDim is 0 or the catalog has no attributes (the attribute part is then all zeros). */
  readonly attrs: Embedding | null;
  readonly bias: Embedding | null;
  /** Every item has at most one attribute: the attribute part is a single gather (no segment mean). */
  readonly singleAttr: boolean;
  /** First attribute of each item (−1 if none); used on the single-attribute path. */
  readonly firstAttr: Int32Array;
  /** Item → goods-table row (null: identity). */
  readonly goodsMap: Int32Array | null;
  /** Extra item fields, in catalog order; each occupies fieldDim columns after the attribute part. */
  readonly fields: ItemFieldTable[];
  readonly fieldDim: number;

  constructor(readonly backend: Backend, readonly catalog: CatalogAttrs, readonly opts: ItemEncoderOptions,
    rng: Rng) {
    const { goodsDim, attrDim } = opts;
    const extra = catalog.itemFields ?? [];
    this.fieldDim = opts.fieldDim ?? goodsDim;
    this.D = goodsDim + attrDim + extra.length * this.fieldDim;
    const { numItems, attrOffsets, attrValues, numAttrs } = catalog;
    const names = new Set<string>();
    this.fields = extra.map((field, k) => {
      validateItemField(field, numItems);
      if (names.has(field.name)) throw new Error(`item catalog: duplicate item field "${field.name}"`);
      names.add(field.name);
      const emb = new Embedding(backend, `field.${field.name}`, field.size, this.fieldDim, rng.fork(10 + k), { initStd: opts.initStd, external: opts.external });
      const vals = field.values;
      emb.param.countRows = (set, maxHistory) =>
        countPerSample(set, field.size, (i, emit) => {
          const c = vals[set.items[i]];
          if (c >= 0) emit(c);
          forEachBehaviour(set, i, maxHistory, (h) => vals[h] >= 0 && emit(vals[h]));
        });
      return { field, emb };
    });
    if (attrOffsets.length !== numItems + 1) {
      throw new Error(`item catalog: attrOffsets has ${attrOffsets.length} entries, expected numItems+1 = ${numItems + 1}`);
    }
    const goodsRows = goodsRowsOf(catalog);
    this.goodsMap = goodsRows.map;
    this.goods = new Embedding(backend, 'goods_emb', goodsRows.rows, goodsDim, rng.fork(1), {
      initStd: opts.initStd, external: opts.external, zeroRows: catalog.goodsOov ? [goodsRows.rows - 1] : [],
    });
    this.attrs = attrDim > 0 && numAttrs > 0
      ? new Embedding(backend, 'attr_emb', numAttrs, attrDim, rng.fork(2), { initStd: opts.initStd, external: opts.external })
      : null;
    this.bias = opts.itemBias
      ? new Embedding(backend, 'item_bias', goodsRows.rows, 1, rng.fork(3), { initStd: 0, decay: false, external: opts.external })
      : null;
    const map = this.goodsMap;
    const row = map ? (item: number) => map[item] : (item: number) => item;
    this.goods.param.countRows = (set, maxHistory) =>
      countPerSample(set, goodsRows.rows, (i, emit) => {
        const c = row(set.items[i]);
        if (c >= 0) emit(c);
        forEachBehaviour(set, i, maxHistory, (h) => row(h) >= 0 && emit(row(h)));
      });
    if (this.attrs) {
      const { attrOffsets: off, attrValues: val } = catalog;
      const attrsOf = (item: number, emit: (r: number) => void) => {
        for (let j = off[item]; j < off[item + 1]; j++) emit(val[j]);
      };
      this.attrs.param.countRows = (set, maxHistory) =>
        countPerSample(set, numAttrs, (i, emit) => {
          attrsOf(set.items[i], emit);
          forEachBehaviour(set, i, maxHistory, (h) => attrsOf(h, emit));
        });
    }
    // The rows a batch looks up (candidates and the valid part of every history), for external tables' working sets.
    const batchItems = (batch: Batch, emit: (item: number) => void): void => {
      for (let b = 0; b < batch.size; b++) {
        const c = batch.items[b];
        if (c >= 0) emit(c);
        const len = Math.min(batch.lengths[b], batch.T);
        for (let t = 0, o = b * batch.T; t < len; t++) {
          const h = batch.hist[o + t];
          if (h >= 0) emit(h);
        }
      }
    };
    const goodsOf = (emit: (r: number) => void) => (item: number) => {
      const r = row(item);
      if (r >= 0) emit(r);
    };
    this.goods.param.batchRows = (batch, emit) => batchItems(batch, goodsOf(emit));
    if (this.bias) {
      // The item bias is looked up for candidates only.
      this.bias.param.batchRows = (batch, emit) => {
        const g = goodsOf(emit);
        for (let b = 0; b < batch.size; b++) if (batch.items[b] >= 0) g(batch.items[b]);
      };
    }
    if (this.attrs) {
      const { attrOffsets: off, attrValues: val } = catalog;
      this.attrs.param.batchRows = (batch, emit) => batchItems(batch, (item) => {
        for (let j = off[item]; j < off[item + 1]; j++) emit(val[j]);
      });
    }
    for (const { field, emb } of this.fields) {
      const vals = field.values;
      emb.param.batchRows = (batch, emit) => batchItems(batch, (item) => {
        const v = vals[item];
        if (v >= 0) emit(v);
      });
    }
    let single = true;
    this.firstAttr = new Int32Array(numItems);
    for (let i = 0; i < numItems; i++) {
      const a = attrOffsets[i];
      const b = attrOffsets[i + 1];
      if (b - a > 1) single = false;
      for (let j = a; j < b; j++) {
        const v = attrValues[j];
        if (v < 0 || v >= numAttrs) throw new Error(`item catalog: item ${i} has attribute id ${v}, expected 0..${numAttrs - 1}`);
      }
      this.firstAttr[i] = b > a ? attrValues[a] : -1;
    }
    this.singleAttr = single;
  }

  /** Eval form: the tables (views of the parameters), the widths and the item → goods-row map. */
  evalForm(): ItemEncoderEval {
    const { goodsDim, attrDim } = this.opts;
    return {
      D: this.D, goodsDim, attrDim, fieldDim: this.fieldDim,
      goods: this.goods.evalForm(),
      attrs: this.attrs ? this.attrs.evalForm() : null,
      fields: this.fields.map((f) => f.emb.evalForm()),
      bias: this.bias ? this.bias.evalForm() : null,
      goodsMap: this.goodsMap,
      catalog: this.catalog,
    };
  }

  /** A new call site with its own caches. */
  lookup(): ItemLookup {
    return new ItemLookup(this);
  }

  params(): Param[] {
    const ps = [this.goods.param];
    if (this.attrs) ps.push(this.attrs.param);
    if (this.bias) ps.push(this.bias.param);
    for (const f of this.fields) ps.push(f.emb.param);
    return ps;
  }

  zeroGrad(): void {
    this.goods.zeroGrad();
    this.attrs?.zeroGrad();
    this.bias?.zeroGrad();
    for (const f of this.fields) f.emb.zeroGrad();
  }
}

/** One call site of an {@link ItemEncoder}: forward caches the ids, backward accumulates into the shared tables. */
export class ItemLookup {
  private readonly ids: IntBuf;
  /** Goods-table rows of `ids` (only with a goods filter; otherwise `ids` is used directly). */
  private readonly goodsIds: IntBuf;
  /** Attribute lookups: one per (position, attribute), or one per position on the single-attribute path. */
  private readonly attrIds: IntBuf;
  /** Position of each attribute lookup (general path). */
  private readonly attrPos: IntBuf;
  /** 1/#attrs per position (0 when none), general path. */
  private readonly invCount: FloatBuf;
  private readonly out: FloatBuf;
  private readonly g: FloatBuf;
  private readonly a: FloatBuf;
  private readonly ga: FloatBuf;
  private readonly biasOut: FloatBuf;
  /** Per extra item field: ids of the last forward, and a [n, fieldDim] scratch. */
  private readonly fieldIds: IntBuf[];
  private readonly fieldOut: FloatBuf;
  private n = 0;
  private nAttr = 0;

  constructor(readonly enc: ItemEncoder) {
    const be = enc.backend;
    this.ids = new IntBuf(be);
    this.goodsIds = new IntBuf(be);
    this.attrIds = new IntBuf(be);
    this.attrPos = new IntBuf(be);
    this.invCount = new FloatBuf(be, 1);
    this.out = new FloatBuf(be, enc.D);
    this.g = new FloatBuf(be, enc.opts.goodsDim);
    this.a = new FloatBuf(be, enc.opts.attrDim);
    this.ga = new FloatBuf(be, enc.opts.attrDim);
    this.biasOut = new FloatBuf(be, 1);
    this.fieldIds = enc.fields.map(() => new IntBuf(be));
    this.fieldOut = new FloatBuf(be, enc.fieldDim);
  }

  /** Encodes n item ids (plain Int32Array; −1 = padding) into an n×D matrix owned by this lookup. */
  forward(items: ArrayLike<number>, n: number): Float {
    if (items.length < n) throw new RangeError(`item ids: ${items.length} given, ${n} expected`);
    const ids = this.ids.ensure(n);
    const numItems = this.enc.catalog.numItems;
    for (let i = 0; i < n; i++) {
      const id = items[i];
      if (id >= numItems) throw new RangeError(`item id ${id} at position ${i} is out of range (numItems = ${numItems})`);
      ids[i] = id < 0 ? -1 : id;
    }
    return this.encode(n);
  }

  /**
   * Encodes a padded B×T history; positions t ≥ lengths[b] are treated as padding whatever id they hold, so they
   * yield zero rows and never touch a table.
   */
  forwardPadded(hist: ArrayLike<number>, lengths: ArrayLike<number>, B: number, T: number): Float {
    const n = B * T;
    if (hist.length < n) throw new RangeError(`history ids: ${hist.length} given, B×T = ${n} expected`);
    if (lengths.length < B) throw new RangeError(`history lengths: ${lengths.length} given, ${B} expected`);
    const ids = this.ids.ensure(n);
    const numItems = this.enc.catalog.numItems;
    for (let b = 0; b < B; b++) {
      const len = lengths[b];
      if (!(len >= 0 && len <= T)) throw new RangeError(`history length ${len} of row ${b} is outside 0..T = ${T}`);
      for (let t = 0; t < T; t++) {
        const r = b * T + t;
        const id = t < len ? hist[r] : -1;
        if (id >= numItems) throw new RangeError(`history item id ${id} at row ${b}, position ${t} is out of range (numItems = ${numItems})`);
        ids[r] = id < 0 ? -1 : id;
      }
    }
    return this.encode(n);
  }

  private encode(n: number): Float {
    const out = this.encodeBase(n);
    const enc = this.enc;
    if (enc.fields.length === 0 || n === 0) return out;
    const D = enc.D;
    const k = enc.fieldDim;
    const ids = this.ids.view;
    const tmp = this.fieldOut.ensure(n);
    let col = enc.opts.goodsDim + enc.opts.attrDim;
    enc.fields.forEach(({ field, emb }, f) => {
      const fid = this.fieldIds[f].ensure(n);
      const vals = field.values;
      for (let i = 0; i < n; i++) fid[i] = ids[i] < 0 ? -1 : vals[ids[i]];
      emb.forward(fid, n, tmp);
      for (let i = 0; i < n; i++) {
        const o = i * D + col;
        const s = i * k;
        for (let j = 0; j < k; j++) out[o + j] = tmp[s + j];
      }
      col += k;
    });
    return out;
  }

  /** The goods and attribute columns (the first goodsDim + attrDim of each row). */
  private encodeBase(n: number): Float {
    const enc = this.enc;
    const { goodsDim, attrDim } = enc.opts;
    const D = enc.D;
    const ids = this.ids.view;
    const out = this.out.ensure(n);
    this.n = n;
    if (n === 0) return out;
    const g = this.g.ensure(n);
    enc.goods.forward(this.goodsRowIds(n), n, g);
    for (let i = 0; i < n; i++) {
      const o = i * D;
      const s = i * goodsDim;
      for (let j = 0; j < goodsDim; j++) out[o + j] = g[s + j];
    }
    if (attrDim === 0) return out;
    const a = this.a.ensure(n);
    if (enc.attrs === null) {
      a.fill(0);
    } else if (enc.singleAttr) {
      const attrIds = this.attrIds.ensure(n);
      const first = enc.firstAttr;
      for (let i = 0; i < n; i++) attrIds[i] = ids[i] < 0 ? -1 : first[ids[i]];
      this.nAttr = n;
      enc.attrs.forward(attrIds, n, a);
    } else {
      const { attrOffsets, attrValues } = enc.catalog;
      let L = 0;
      for (let i = 0; i < n; i++) if (ids[i] >= 0) L += attrOffsets[ids[i] + 1] - attrOffsets[ids[i]];
      const attrIds = this.attrIds.ensure(L);
      const pos = this.attrPos.ensure(L);
      const inv = this.invCount.ensure(n);
      let l = 0;
      for (let i = 0; i < n; i++) {
        const id = ids[i];
        if (id < 0) {
          inv[i] = 0;
          continue;
        }
        const s = attrOffsets[id];
        const e = attrOffsets[id + 1];
        inv[i] = e > s ? 1 / (e - s) : 0;
        for (let j = s; j < e; j++, l++) {
          attrIds[l] = attrValues[j];
          pos[l] = i;
        }
      }
      this.nAttr = L;
      a.fill(0);
      if (L > 0) {
        const ga = this.ga.ensure(L);
        enc.attrs.forward(attrIds, L, ga);
        enc.backend.scatterAddRows(a, attrDim, pos, L, ga);
      }
      for (let i = 0; i < n; i++) {
        const c = inv[i];
        const o = i * attrDim;
        for (let j = 0; j < attrDim; j++) a[o + j] *= c;
      }
    }
    for (let i = 0; i < n; i++) {
      const o = i * D + goodsDim;
      const s = i * attrDim;
      for (let j = 0; j < attrDim; j++) out[o + j] = a[s + j];
    }
    return out;
  }

  /** Goods-table rows of the last forward's ids (−1 for padding); the ids themselves without a goods filter. */
  private goodsRowIds(n: number): Int32Array {
    const map = this.enc.goodsMap;
    if (!map) return this.ids.view;
    const ids = this.ids.view;
    const out = this.goodsIds.ensure(n);
    for (let i = 0; i < n; i++) out[i] = ids[i] < 0 ? -1 : map[ids[i]];
    return out;
  }

  /** Per-item bias of the ids of the last forward (n values; 0 for padding). Requires itemBias. */
  forwardBias(): Float {
    const bias = this.enc.bias;
    if (!bias) throw new Error('item encoder has no item bias');
    const out = this.biasOut.ensure(this.n);
    bias.forward(this.goodsRowIds(this.n), this.n, out);
    return out;
  }

  /** Accumulates dBias (n values) into the item-bias table. */
  backwardBias(dBias: Float): void {
    const bias = this.enc.bias;
    if (!bias) throw new Error('item encoder has no item bias');
    bias.backward(this.goodsRowIds(this.n), this.n, dBias);
  }

  /** Accumulates dOut (n×D, the gradient of the last forward's output) into the shared tables' sparse gradients. */
  backward(dOut: Float): void {
    this.backwardBase(dOut);
    const enc = this.enc;
    const n = this.n;
    if (enc.fields.length === 0 || n === 0) return;
    const D = enc.D;
    const k = enc.fieldDim;
    const tmp = this.fieldOut.ensure(n);
    let col = enc.opts.goodsDim + enc.opts.attrDim;
    enc.fields.forEach(({ emb }, f) => {
      for (let i = 0; i < n; i++) {
        const o = i * D + col;
        const s = i * k;
        for (let j = 0; j < k; j++) tmp[s + j] = dOut[o + j];
      }
      emb.backward(this.fieldIds[f].view, n, tmp);
      col += k;
    });
  }

  private backwardBase(dOut: Float): void {
    const enc = this.enc;
    const { goodsDim, attrDim } = enc.opts;
    const D = enc.D;
    const n = this.n;
    if (n === 0) return;
    const ids = this.ids.view;
    const g = this.g.ensure(n);
    for (let i = 0; i < n; i++) {
      const o = i * D;
      const s = i * goodsDim;
      for (let j = 0; j < goodsDim; j++) g[s + j] = dOut[o + j];
    }
    enc.goods.backward(this.goodsRowIds(n), n, g);
    if (attrDim === 0 || enc.attrs === null) return;
    const a = this.a.ensure(n);
    if (enc.singleAttr) {
      for (let i = 0; i < n; i++) {
        const o = i * D + goodsDim;
        const s = i * attrDim;
        for (let j = 0; j < attrDim; j++) a[s + j] = dOut[o + j];
      }
      enc.attrs.backward(this.attrIds.view, n, a);
      return;
    }
    const L = this.nAttr;
    if (L === 0) return;
    const inv = this.invCount.view;
    for (let i = 0; i < n; i++) {
      const o = i * D + goodsDim;
      const s = i * attrDim;
      const c = inv[i];
      for (let j = 0; j < attrDim; j++) a[s + j] = dOut[o + j] * c;
    }
    // Each attribute lookup l of position p receives dA[p] / #attrs(p): a gather of the scaled rows by position.
    const ga = this.ga.ensure(L);
    enc.backend.gather(a, attrDim, this.attrPos.view, L, ga);
    enc.attrs.backward(this.attrIds.view, L, ga);
  }
}
