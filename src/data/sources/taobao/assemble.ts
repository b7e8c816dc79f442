/**
 * From samples with temporary ids (chunks, see `TaobaoChunk`) to the Dataset, in three steps that work the same on
 * one chunk holding every sample (the in-memory loader) and on many chunks read back one at a time (the streamed
 * conversion into shards):
 *
 * *  1. `TaobaoCounter.add(chunk)` (./counter.ts) for every chunk: which items are used, each item's training occurrences (as candidate
 *     and at every history position a training sample covers) and its first one, each sample field's training counts
 *     and first sample, the split sizes and click counts;
 *  2. `finishTables`: the catalog (dense items in reading order, goods rows, attributes, item fields, price buckets)
 *     and the sample-field vocabularies, from the counts;
 *  3. `chunkSets(chunk)`: the chunk's train and test SampleSets with final ids; `datasetHead`: the rest of the Dataset.
 *
 * "First" is in the in-memory sample order (file order): each chunk carries every sample's position in that order, so
 * vocabularies assign ids in the same first-seen order whatever order the chunks hold the samples in.
 */
import { allocSampleSet } from '../../sample-set.js';
import type { Dataset, ItemCatalog, SampleSet } from '../../../core/types.js';
import { OOV_KEY, type ItemField, type SampleField } from '../../../core/fields.js';
import type { FieldVocab, VocabOptions } from '../../field-vocab.js';
import { Vocab } from '../../vocab.js';
import type { TaobaoChunk, TaobaoMeta } from './chunk.js';
import type { Ctx } from './context.js';
import { TaobaoCounter } from './counter.js';
import { PRICE_QUANTILES, priceOctave, upperBound, vocabFromCounts } from './vocab.js';

/** Step 2's result: the catalog, the sample fields, and the maps from temporary to final ids. */
export interface TaobaoTables {
  catalog: ItemCatalog;
  sampleFields: SampleField[];
  /** Temporary item → dense item (−1: unused). */
  dense: Int32Array;
  /** Per sample field: temporary id → final id, and the id of a missing value (OOV). */
  fieldIds: Int32Array[];
  fieldMissing: number[];
  numAds: number;
  boundaries: number[];
}

/** Step 2 (see the file header). Throws when the train or the test split is empty. */
export function finishTables(k: TaobaoCounter, ctx: Ctx): TaobaoTables {
  const { meta, used, count, firstSample, firstSlot } = k;
  const { items } = meta;
  const T = items.size;
  const where = meta.buildOptions.testDay !== undefined && meta.layout !== 'sampled' ? ` (test day ${ctx.testDay}, UTC+8)` : '';
  if (k.nTrain === 0) throw new Error(`${ctx.name}: the train split is empty${where}${ctx.errors.hint()}`);
  if (k.nTest === 0) throw new Error(`${ctx.name}: the test split is empty${where}${ctx.errors.hint()}`);

  // ---- dense items in reading order ----
  const dense = new Int32Array(T).fill(-1);
  let numItems = 0;
  for (let t = 0; t < T; t++) if (used[t]) dense[t] = numItems++;
  const tmpOf = new Int32Array(numItems);
  for (let t = 0; t < T; t++) if (dense[t] >= 0) tmpOf[dense[t]] = t;
  const ad = items.ad.data;
  const cate = items.cate.data;
  const brand = items.brand.data;

  // A field's vocabulary over the training occurrences of the items carrying each value (first-seen order).
  const itemVocab = (name: string, col: Int32Array, keys: string[], opts: VocabOptions): FieldVocab => {
    const cnt = new Float64Array(keys.length);
    const fs = new Float64Array(keys.length).fill(Infinity);
    const fk = new Int32Array(keys.length);
    for (let t = 0; t < T; t++) {
      const v = col[t];
      if (v < 0 || count[t] === 0) continue;
      cnt[v] += count[t];
      if (firstSample[t] < fs[v] || (firstSample[t] === fs[v] && firstSlot[t] < fk[v])) {
        fs[v] = firstSample[t];
        fk[v] = firstSlot[t];
      }
    }
    const order = Array.from({ length: keys.length }, (_, v) => v)
      .filter((v) => cnt[v] > 0)
      .sort((a, b) => fs[a] - fs[b] || fk[a] - fk[b]);
    return vocabFromCounts(name, order.map((v) => keys[v]), order.map((v) => cnt[v]), opts);
  };
  const fieldOf = (name: string, col: Int32Array, keys: string[], opts: VocabOptions): ItemField => {
    const vocab = itemVocab(name, col, keys, opts);
    const idOf = new Int32Array(keys.length).fill(-2);
    const values = new Int32Array(numItems);
    for (let d = 0; d < numItems; d++) {
      const v = col[tmpOf[d]];
      if (v >= 0 && idOf[v] === -2) idOf[v] = vocab.id(keys[v]);
      values[d] = v < 0 ? -1 : idOf[v];
    }
    return { ...vocab.field(), values };
  };

  // goods rows: adgroup vocabulary (behaviour items: −1)
  const goodsVocab = itemVocab('adgroup', ad, items.adKeys.keys, ctx.vocab);
  const goodsRows = new Int32Array(numItems);
  for (let d = 0; d < numItems; d++) {
    const a = ad[tmpOf[d]];
    goodsRows[d] = a < 0 ? -1 : goodsVocab.id(items.adKeys.keys[a]);
  }

  // price buckets → a temporary key column
  const price = items.price.data;
  const priceKeys = new Vocab();
  const priceCol = new Int32Array(T).fill(-1);
  let bucketOf: (x: number) => string;
  const boundaries: number[] = [];
  if (meta.priceBuckets === 'log2') {
    bucketOf = priceOctave;
  } else {
    const prices: number[] = [];
    for (let t = 0; t < T; t++) if (ad[t] >= 0 && count[t] > 0 && !Number.isNaN(price[t])) prices.push(price[t]);
    prices.sort((a, b) => a - b);
    for (let q = 1; q < PRICE_QUANTILES; q++) {
      if (prices.length === 0) break;
      const b = prices[Math.floor((q * prices.length) / PRICE_QUANTILES)];
      if (boundaries.length === 0 || b > boundaries[boundaries.length - 1]) boundaries.push(b);
    }
    const bs = boundaries;
    bucketOf = (x) => {
      const k = upperBound(bs, 0, bs.length, x);
      if (bs.length === 0) return 'all';
      if (k === 0) return `<${bs[0]}`;
      if (k === bs.length) return `>=${bs[k - 1]}`;
      return `[${bs[k - 1]},${bs[k]})`;
    };
  }
  for (let t = 0; t < T; t++) if (used[t] && !Number.isNaN(price[t])) priceCol[t] = priceKeys.id(bucketOf(price[t]));

  const itemFields: ItemField[] = [
    fieldOf('brand', brand, items.brands.keys, ctx.vocab),
    fieldOf('campaign', items.campaign.data, items.campaigns.keys, ctx.vocab),
    fieldOf('customer', items.customer.data, items.customers.keys, ctx.vocab),
    fieldOf('price', priceCol, priceKeys.keys, {}),
  ];

  // attributes: the cate of each item (none for 'joined' ads only seen in histories)
  const attrId = new Int32Array(items.cates.size).fill(-1);
  const attrKeys: string[] = [];
  const attrOffsets = new Int32Array(numItems + 1);
  const attrList: number[] = [];
  for (let d = 0; d < numItems; d++) {
    const c = cate[tmpOf[d]];
    if (c >= 0) {
      if (attrId[c] < 0) {
        attrId[c] = attrKeys.length;
        attrKeys.push(items.cates.keys[c]);
      }
      attrList.push(attrId[c]);
    }
    attrOffsets[d + 1] = attrList.length;
  }
  const itemKeys = new Array<string>(numItems);
  let numAds = 0;
  for (let d = 0; d < numItems; d++) {
    const t = tmpOf[d];
    if (ad[t] >= 0) {
      itemKeys[d] = items.adKeys.keys[ad[t]];
      numAds++;
    } else {
      itemKeys[d] = `cate=${items.cates.keys[cate[t]]},brand=${brand[t] >= 0 ? items.brands.keys[brand[t]] : 'NULL'}`;
    }
  }
  const catalog: ItemCatalog = {
    numItems,
    numAttrs: attrKeys.length,
    attrOffsets,
    attrValues: Int32Array.from(attrList),
    goodsRows,
    numGoodsRows: goodsVocab.size,
    itemFields,
    itemKeys,
    attrKeys,
  };

  // ---- sample fields: vocabularies over the training samples, values in order of their first training sample ----
  const sampleFields: SampleField[] = [];
  const fieldIds: Int32Array[] = [];
  const fieldMissing: number[] = [];
  meta.fields.forEach((f, j) => {
    const cnt = k.fieldCount[j];
    const first = k.fieldFirst[j];
    const order: number[] = [];
    for (let v = 0; v < cnt.length; v++) if (cnt[v] > 0) order.push(v);
    order.sort((a, b) => first[a] - first[b]);
    const vocab = vocabFromCounts(f.name, order.map((v) => f.keys[v]), order.map((v) => cnt[v]), f.idLike ? ctx.vocab : {});
    fieldIds.push(Int32Array.from(f.keys, (key) => vocab.id(key)));
    fieldMissing.push(vocab.id(OOV_KEY));
    sampleFields.push({ ...vocab.field(), group: f.group });
  });
  return { catalog, sampleFields, dense, fieldIds, fieldMissing, numAds, boundaries };
}

/** Step 3: the train and test samples of a chunk (chunk order within each), sharing the chunk's mapped histValues. */
export function chunkSets(c: TaobaoChunk, meta: TaobaoMeta, t: TaobaoTables): { train: SampleSet; test: SampleSet } {
  const N = c.n;
  const { dense } = t;
  const histValues = new Int32Array(c.histValues.length);
  for (let k = 0; k < histValues.length; k++) histValues[k] = dense[c.histValues[k]];
  const F = meta.fields.length;
  const make = (isTest: number): SampleSet => {
    let size = 0;
    for (let i = 0; i < N; i++) if (c.test[i] === isTest) size++;
    const s = allocSampleSet(size, histValues);
    s.fieldValues = meta.fields.map(() => new Int32Array(size));
    let j = 0;
    for (let i = 0; i < N; i++) {
      if (c.test[i] !== isTest) continue;
      s.labels[j] = c.label[i];
      s.users[j] = c.user[i];
      s.items[j] = dense[c.item[i]];
      s.histStart[j] = c.histStart[i];
      s.histLen[j] = c.histLen[i];
      for (let f = 0; f < F; f++) {
        const by = meta.fields[f].byUser;
        const v = by !== undefined ? by[c.user[i]] : c.fields[f][i];
        s.fieldValues[f][j] = v < 0 ? t.fieldMissing[f] : t.fieldIds[f][v];
      }
      j++;
    }
    return s;
  };
  return { train: make(0), test: make(1) };
}

/** The Dataset without its samples. */
export function datasetHead(k: TaobaoCounter, t: TaobaoTables, ctx: Ctx): Omit<Dataset, 'train' | 'test'> {
  const { meta } = k;
  const { catalog, sampleFields, numAds, boundaries } = t;
  const { numItems } = catalog;
  for (const msg of ctx.errors.firsts()) ctx.progress(`taobao: skipped ${msg}`);
  ctx.progress(
    `taobao (${meta.layout}): ${meta.userKeys.length} users, ${numItems} items (${numAds} ads, ${numItems - numAds} behaviour items), ` +
      `${catalog.numAttrs} categories; ${k.nTrain} train / ${k.nTest} test samples`,
  );
  return {
    name: ctx.name,
    format: 'taobao',
    catalog,
    numUsers: meta.userKeys.length,
    userKeys: meta.userKeys,
    sampleFields,
    skipped: ctx.errors.skipped,
    skippedExamples: ctx.errors.examples(),
    buildOptions: {
      ...meta.buildOptions,
      maxHistory: ctx.maxHistory,
      vocab: { ...ctx.vocab },
      priceBuckets: meta.priceBuckets === 'log2' ? 'log2-octaves' : `quantiles-${PRICE_QUANTILES}`,
      onError: ctx.policy,
    },
    stats: {
      users: meta.userKeys.length,
      items: numItems,
      ads: numAds,
      behaviourItems: numItems - numAds,
      categories: catalog.numAttrs,
      goodsRows: catalog.numGoodsRows!,
      trainSamples: k.nTrain,
      testSamples: k.nTest,
      trainClicks: k.clicksTrain,
      testClicks: k.clicksTest,
      meanTrainHistory: k.nTrain > 0 ? k.histTrain / k.nTrain : 0,
      ...(boundaries.length > 0 ? { priceBuckets: boundaries.length + 1 } : {}),
      ...meta.stats,
    },
  };
}

/** The whole Dataset from one chunk holding every sample in file order (the in-memory loader). */
export function assemble(meta: TaobaoMeta, chunk: TaobaoChunk, ctx: Ctx): Dataset {
  meta.split?.(chunk);
  const counter = new TaobaoCounter(meta);
  counter.add(chunk);
  const tables = finishTables(counter, ctx);
  const { train, test } = chunkSets(chunk, meta, tables);
  return { ...datasetHead(counter, tables, ctx), train, test };
}
