/**
 * The generic serving path (LR, Wide&Deep, PNN, DeepFM; any model): the training code's own `forward(batch, 'eval')`
 * on one Batch per request with the request's history repeated for every candidate.
 *
 * Batches hold catalog item ids, but a request may describe items the catalog does not have (unknown or absent goods
 * id, with a category and fields) and sample-field values whose table has no OOV row (zeros). So the model is rebuilt
 * once, at load, on an extended vocabulary:
 *  - the catalog gets `slots` virtual items after the real ones; per request, each item the catalog does not know is
 *    written into a virtual slot (its goods row — OOV row, hash bucket or −1 —, its attribute bag, its item-field
 *    ids), so every model layer reads it exactly as it reads a catalog item;
 *  - each sample field without an OOV row gets one extra all-zero row (table and first-order weight), the id of
 *    values that must contribute nothing.
 * Every parameter is copied from the loaded model (tables that grew keep their extra rows at zero), so on catalog
 * items the rebuilt model computes exactly what the loaded one does.
 */
import type { Backend, Float } from '../../kernels/backend.js';
import type { Batch, ItemCatalog } from '../../core/types.js';
import type { ItemField, SampleField } from '../../core/fields.js';
import type { Model } from '../../models/model.js';
import { createModel } from '../../models/index.js';
import { goodsRowsOf } from '../../core/goods-rows.js';
import { MAX_CATEGORY_VALUES, type RequestEncoder } from './request.js';

export class GenericScorer {
  readonly model: Model;
  private readonly numItems: number;
  private readonly attrOffsets: Int32Array;
  private readonly attrValues: Int32Array;
  private readonly attrBase: number;
  private readonly goodsRows: Int32Array;
  private readonly fieldValues: Int32Array[];
  /** Per sample field: the id that contributes zeros (the extra row), or −1 when the field has an OOV row. */
  private readonly zeroRow: Int32Array;
  private batch: Batch;
  private ids = new Int32Array(0);
  /** T of the last batch (attention weights of candidate c are at c·T … c·T + L). */
  T = 1;

  constructor(model: Model, catalog: ItemCatalog, sampleFields: readonly SampleField[], readonly slots: number, backend: Backend) {
    const n = catalog.numItems;
    const V = Math.max(1, slots);
    this.numItems = n;
    const total = n + V;
    const attrOffsets = new Int32Array(total + 1);
    attrOffsets.set(catalog.attrOffsets);
    const base = catalog.attrOffsets[n];
    const attrValues = new Int32Array(base + V * MAX_CATEGORY_VALUES + 2);
    attrValues.set(catalog.attrValues.subarray(0, base));
    // Virtual slot 0 starts with two attributes, so the encoder takes its general (mean-pooling) path, which is exact
    // for single-attribute items too: requests may give unknown items several categories.
    const multi = catalog.numAttrs > 0 ? 2 : 0;
    for (let v = 0; v < V; v++) attrOffsets[n + v + 1] = base + multi;
    this.attrBase = base;
    const { rows, map } = goodsRowsOf(catalog);
    const goodsRows = new Int32Array(total).fill(-1);
    for (let i = 0; i < n; i++) goodsRows[i] = map ? map[i] : i;
    const itemFields: ItemField[] = (catalog.itemFields ?? []).map((f) => {
      const values = new Int32Array(total).fill(-1);
      values.set(f.values.subarray(0, n));
      return { ...f, values };
    });
    const zeroRow = new Int32Array(sampleFields.length).fill(-1);
    const extFields: SampleField[] = sampleFields.map((f, i) => {
      if (f.oov || f.hashed) return f;
      zeroRow[i] = f.size;
      return { ...f, size: f.size + 1, keys: [...f.keys, ''] };
    });
    this.zeroRow = zeroRow;
    const ext = {
      numItems: total, numAttrs: catalog.numAttrs, attrOffsets, attrValues,
      goodsRows, numGoodsRows: rows, goodsOov: catalog.goodsOov,
      ...(itemFields.length ? { itemFields } : {}),
    };
    this.model = createModel(model.config, { backend, catalog: ext, seed: 0, sampleFields: extFields });
    copyWeights(model, this.model);
    this.attrOffsets = attrOffsets;
    this.attrValues = attrValues;
    this.goodsRows = goodsRows;
    this.fieldValues = itemFields.map((f) => f.values);
    this.batch = emptyBatch(sampleFields.length);
  }

  /**
   * Logits of the candidates of request r of the encoded group (owned by the model, valid until the next call).
   * With DIN, the attention weights are then `model.attention()` (candidate c, behaviour t at c·T + t).
   */
  score(enc: RequestEncoder, r: number): Float {
    const c0 = enc.candStarts[r];
    const N = enc.candStarts[r + 1] - c0;
    const b0 = enc.behStarts[r];
    const L = enc.behStarts[r + 1] - b0;
    const T = Math.max(1, L);
    this.T = T;
    if (N + L > this.slots) throw new Error(`serving: ${N + L} items exceed the ${this.slots} virtual item slots`);
    if (this.ids.length < N + L) this.ids = new Int32Array(2 * (N + L));
    const ids = this.ids;
    // Items the catalog does not know go into virtual slots v = 0, 1, … (CSR written in slot order).
    const { itemIndex, goodsRows, attrStarts, attrIds, fieldIds } = enc;
    const F = enc.F;
    let v = 0;
    let ap = this.attrBase;
    const off = this.attrOffsets;
    const vals = this.attrValues;
    const put = (j: number, k: number): void => {
      const known = itemIndex[j];
      if (known >= 0) {
        ids[k] = known;
        return;
      }
      const slot = this.numItems + v++;
      ids[k] = slot;
      this.goodsRows[slot] = goodsRows[j];
      off[slot] = ap;
      for (let a = attrStarts[j]; a < attrStarts[j + 1]; a++) vals[ap++] = attrIds[a];
      off[slot + 1] = ap;
      for (let f = 0; f < F; f++) this.fieldValues[f][slot] = fieldIds[j * F + f];
    };
    for (let c = 0; c < N; c++) put(c0 + c, c);
    for (let t = 0; t < L; t++) put(enc.C + b0 + t, N + t);
    const b = this.ensureBatch(N, T);
    for (let c = 0; c < N; c++) {
      b.items[c] = ids[c];
      b.lengths[c] = L;
      const o = c * T;
      for (let t = 0; t < L; t++) b.hist[o + t] = ids[N + t];
      for (let t = L; t < T; t++) b.hist[o + t] = -1;
    }
    const S = enc.S;
    const sIds = enc.sampleIds;
    for (let f = 0; f < S; f++) {
      const id = sIds[r * S + f];
      b.fieldValues![f].fill(id >= 0 ? id : this.zeroRow[f], 0, N);
    }
    return this.model.forward(b, 'eval');
  }

  private ensureBatch(N: number, T: number): Batch {
    let b = this.batch;
    if (b.items.length < N || b.hist.length < N * T) {
      const cap = Math.max(N, 2 * b.items.length);
      const S = b.fieldValues?.length ?? 0;
      b = {
        size: 0, T: 1,
        labels: new Float32Array(cap), users: new Int32Array(cap), items: new Int32Array(cap),
        hist: new Int32Array(Math.max(N * T, b.hist.length * 2)), lengths: new Int32Array(cap), index: new Int32Array(cap),
        ...(S > 0 ? { fieldValues: Array.from({ length: S }, () => new Int32Array(cap)) } : {}),
      };
      this.batch = b;
    }
    b.size = N;
    b.T = T;
    return b;
  }
}

function emptyBatch(S: number): Batch {
  return {
    size: 0, T: 1, labels: new Float32Array(8), users: new Int32Array(8), items: new Int32Array(8),
    hist: new Int32Array(8), lengths: new Int32Array(8), index: new Int32Array(8),
    ...(S > 0 ? { fieldValues: Array.from({ length: S }, () => new Int32Array(8)) } : {}),
  };
}

/** Copies every parameter and buffer by name; a destination table with more rows keeps the extra rows at zero. */
export function copyWeights(from: Model, to: Model): void {
  const src = new Map(from.params().map((p) => [p.name, p]));
  for (const p of to.params()) {
    const q = src.get(p.name);
    if (!q) throw new Error(`serving: the loaded model has no parameter "${p.name}"`);
    const same = q.shape.length === p.shape.length && q.shape.every((d, i) => i === 0 ? d <= p.shape[0] : d === p.shape[i]);
    if (!same) throw new Error(`serving: parameter "${p.name}" has shape [${q.shape}], cannot serve it as [${p.shape}]`);
    p.value.fill(0);
    p.value.set(q.value.subarray(0, p.value.length));
  }
  const bufs = from.buffers();
  for (const [name, b] of Object.entries(to.buffers())) {
    const s = bufs[name];
    if (!s || s.length !== b.length) throw new Error(`serving: buffer "${name}" missing or of another size`);
    b.set(s);
  }
}
