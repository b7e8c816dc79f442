/**
 * The goods rows of a catalog: which row of the goods-id tables (goods embedding, item bias) each item uses. The
 * catalog's goods filter (src/data/goods-filter.ts) may map several items to one shared row, and items without a goods
 * id to none; without a filter every item is its own row. Shared by the item encoder, the models' first-order terms,
 * the serving engine and the data layer.
 */
import type { ItemCatalog } from './types.js';

/** The part of an item catalog that decides goods rows. */
export type GoodsCatalog = Pick<ItemCatalog, 'numItems' | 'goodsRows' | 'numGoodsRows'>;

/** Rows of the goods-id tables, and the item → row map (null = identity; −1 = no goods id). Validates the map. */
export function goodsRowsOf(c: GoodsCatalog): { rows: number; map: Int32Array | null } {
  if (!c.goodsRows) return { rows: c.numItems, map: null };
  const rows = c.numGoodsRows;
  if (!(Number.isInteger(rows) && rows! >= 1)) throw new Error(`item catalog: goodsRows given but numGoodsRows is ${rows}`);
  if (c.goodsRows.length !== c.numItems) {
    throw new Error(`item catalog: goodsRows has ${c.goodsRows.length} entries, expected numItems = ${c.numItems}`);
  }
  for (let i = 0; i < c.numItems; i++) {
    const r = c.goodsRows[i];
    if (!(r >= -1 && r < rows!)) throw new Error(`item catalog: item ${i} maps to goods row ${r}, expected -1..${rows! - 1} (-1: no goods id)`);
  }
  return { rows: rows!, map: c.goodsRows };
}
