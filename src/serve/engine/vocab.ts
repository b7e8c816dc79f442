/**
 * Raw value → table row, for serving: the vocabularies a checkpoint carries (catalog item keys, attribute keys,
 * item-field and sample-field keys) turned into lookups, with what each table does with a value it never saw:
 *  - an out-of-vocabulary row (vocabularies built with one: keys[0] = `<oov>`; the goods OOV row of catalogs with
 *    `goodsOov`, or row 0 of a goods vocabulary built by the schema / taobao sources);
 *  - a hash bucket (hashed vocabularies know every value);
 *  - nothing: the value contributes zeros (−1, like a padding id), for tables without an OOV row.
 */
import type { ItemCatalog } from '../../core/types.js';
import { OOV_KEY, type CategoricalField } from '../../core/fields.js';
import { hashString } from '../../core/hash.js';
import { goodsRowsOf } from '../../core/goods-rows.js';

/** The data formats whose catalogs map goods through a vocabulary with its OOV row at 0 (see src/train/run.ts). */
const GOODS_VOCAB_FORMATS = new Set(['schema', 'taobao']);

/** Lookup of one categorical table. */
export class ValueLookup {
  readonly size: number;
  /** Row of values not in the vocabulary: the OOV row, or −1 (zeros) when the table has none. */
  readonly fallback: number;
  readonly hashed: boolean;
  private readonly map: Map<string, number> | null;

  constructor(readonly name: string, keys: readonly string[], opts: { oov: boolean; hashed: boolean; size?: number }) {
    this.size = opts.size ?? keys.length;
    this.hashed = opts.hashed;
    this.fallback = opts.oov && !opts.hashed ? 0 : -1;
    if (opts.hashed) {
      this.map = null;
    } else {
      this.map = new Map();
      // First occurrence wins (keys are unique in every vocabulary the sources build).
      for (let i = 0; i < keys.length; i++) if (!this.map.has(keys[i])) this.map.set(keys[i], i);
    }
  }

  static ofField(f: CategoricalField): ValueLookup {
    return new ValueLookup(f.name, f.keys, { oov: f.oov === true, hashed: f.hashed === true, size: f.size });
  }

  /** The row of a known value (any value for a hashed table), else −1. */
  find(raw: string): number {
    if (this.map === null) return hashString(raw) % this.size;
    const r = this.map.get(raw);
    return r === undefined ? -1 : r;
  }

  /** Whether values outside the vocabulary get a trained row (OOV or hash bucket) rather than zeros. */
  get hasOov(): boolean {
    return this.hashed || this.fallback >= 0;
  }

  /** Up to n example raw values (known, not the OOV key; none for hashed tables: their keys are bucket labels). */
  examples(keys: readonly string[], n: number): string[] {
    if (this.hashed) return [];
    const out: string[] = [];
    for (let i = 0; i < keys.length && out.length < n; i++) if (keys[i] !== OOV_KEY) out.push(keys[i]);
    return out;
  }
}

/** How the goods-id table treats an id it never saw. */
export interface GoodsVocab {
  /** Goods-table rows. */
  rows: number;
  /** 'oov': unknown ids share row `oovRow`; 'hashed': row = hash(id) mod rows; 'none': unknown ids add zeros. */
  kind: 'oov' | 'hashed' | 'none';
  oovRow: number;
}

/**
 * The goods vocabulary of a catalog: `goodsOov` ⇒ the last row is OOV (goods filter, run.ts's unseen-goods row);
 * a goods map built by a vocabulary source (`format` schema / taobao) ⇒ row 0 is OOV, unless every item's row is the
 * hash of its key (hashed goods vocabulary); otherwise (identity, or a hand-built map) there is no OOV row.
 */
export function goodsVocabOf(catalog: Pick<ItemCatalog, 'numItems' | 'goodsRows' | 'numGoodsRows' | 'goodsOov' | 'itemKeys'>,
  format?: string): GoodsVocab {
  const { rows, map } = goodsRowsOf(catalog);
  if (catalog.goodsOov) return { rows, kind: 'oov', oovRow: rows - 1 };
  if (map && format !== undefined && GOODS_VOCAB_FORMATS.has(format)) {
    let hashed = rows > 1;
    let any = false;
    for (let i = 0; hashed && i < catalog.numItems; i++) {
      if (map[i] < 0) continue;
      any = true;
      if (map[i] !== hashString(catalog.itemKeys[i]) % rows) hashed = false;
    }
    if (hashed && any) return { rows, kind: 'hashed', oovRow: -1 };
    return { rows, kind: 'oov', oovRow: 0 };
  }
  return { rows, kind: 'none', oovRow: -1 };
}

/** The attribute (category) vocabulary: `<oov>` at 0 (schema sources), hash buckets `#i`, or plain keys. */
export function attrLookupOf(catalog: Pick<ItemCatalog, 'numAttrs' | 'attrKeys'>): ValueLookup {
  const keys = catalog.attrKeys;
  const n = catalog.numAttrs;
  let hashed = n > 0 && keys.length === n;
  for (let i = 0; hashed && i < n; i++) if (keys[i] !== `#${i}`) hashed = false;
  return new ValueLookup('category', keys, { oov: n > 0 && keys[0] === OOV_KEY, hashed, size: n });
}
