/**
 * The paper's frequency filter (§6.5, "Filter"): keep only the top-K most frequent goods ids of the training data;
 * every other item's goods-id feature maps to one shared "rare" row. Items keep their own attributes (category,
 * brand), only the fine-grained goods-id feature is coarsened. K = 0 removes the goods-id feature altogether (every
 * item shares one row): the paper's "without goods_ids" setting.
 */
import type { ItemCatalog, SampleSet } from '../core/types.js';
import { countPerSample, forEachBehaviour } from '../core/occurrence.js';
import { goodsRowsOf, type GoodsCatalog } from '../core/goods-rows.js';

/** Per item: in how many samples it occurs (as candidate or in the truncated history), each sample counted once. */
export function itemSampleCounts(set: SampleSet, numItems: number, maxHistory: number): Float64Array {
  return countPerSample(set, numItems, (i, emit) => {
    emit(set.items[i]);
    forEachBehaviour(set, i, maxHistory, emit);
  });
}

/** Per goods row of the catalog (identity without `goodsRows`): in how many samples it occurs, once per sample. */
export function goodsRowSampleCounts(set: SampleSet, catalog: GoodsCatalog, maxHistory: number): Float64Array {
  const { rows, map } = goodsRowsOf(catalog);
  if (!map) return itemSampleCounts(set, catalog.numItems, maxHistory);
  return countPerSample(set, rows, (i, emit) => {
    if (map[set.items[i]] >= 0) emit(map[set.items[i]]);
    forEachBehaviour(set, i, maxHistory, (h) => map[h] >= 0 && emit(map[h]));
  });
}

/**
 * A copy of the catalog whose goods-id feature keeps the `topK` goods rows with the highest counts (`counts` per
 * current goods row, see {@link goodsRowSampleCounts}; ties: lower row first; rows never seen are never kept). Kept
 * rows become 0..K'−1 in their old order, all others share the rare row K'; items without a goods id (−1) keep −1.
 * The rare row starts at zero (`goodsOov`): an id nobody trained on adds nothing until trained.
 */
export function filterGoods<C extends ItemCatalog>(catalog: C, counts: Float64Array, topK: number): C {
  if (!(Number.isInteger(topK) && topK >= 0)) throw new Error(`goods filter: top-K must be a non-negative integer, got ${topK}`);
  const { rows, map } = goodsRowsOf(catalog);
  if (counts.length !== rows) throw new Error(`goods filter: ${counts.length} counts for ${rows} goods rows`);
  const order = Array.from({ length: rows }, (_, i) => i)
    .filter((i) => counts[i] > 0)
    .sort((a, b) => counts[b] - counts[a] || a - b);
  const kept = order.slice(0, topK).sort((a, b) => a - b);
  const rare = kept.length;
  const remap = new Int32Array(rows).fill(rare);
  kept.forEach((row, r) => (remap[row] = r));
  const goodsRows = new Int32Array(catalog.numItems);
  for (let i = 0; i < catalog.numItems; i++) {
    const old = map ? map[i] : i;
    goodsRows[i] = old < 0 ? -1 : remap[old];
  }
  return { ...catalog, goodsRows, numGoodsRows: rare + 1, goodsOov: true };
}
