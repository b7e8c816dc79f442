/**
 * The items of a schema log while it is read (see ./index.ts, "Items"): goods items keyed by their goods id, goods-less
 * items keyed by their (category, fields…) values; ids dense in first-seen order; category and field values merged
 * from every occurrence (a candidate's value beats a behaviour's; otherwise the first seen wins).
 */
import { IntColumn, Uint8Column } from '../../vocab.js';
import type { RowErrors } from '../row-errors.js';
import type { TempField } from './vocab.js';

export class SchemaItems {
  private readonly goodsItems = new Map<string, number>();
  private readonly tupleItems = new Map<string, number>();
  /** Key of each item: its goods id, or the JSON of its values for a goods-less item. */
  readonly itemKeys: string[] = [];
  /** 1 for items with a goods id. */
  readonly hasGoods = new Uint8Column();
  /** Temporary category id of each item (−1: none). */
  readonly cat = new IntColumn(1 << 12);
  private readonly catCand = new Uint8Column();
  /** Per item field: the temporary value id of each item (−1: none). */
  readonly field: IntColumn[];
  private readonly fieldCand: Uint8Column[];

  constructor(
    private readonly catName: string | null,
    private readonly catField: TempField | null,
    private readonly fieldNames: string[],
    private readonly fields: TempField[],
    private readonly errors: RowErrors,
  ) {
    this.field = fieldNames.map(() => new IntColumn(1 << 12));
    this.fieldCand = fieldNames.map(() => new Uint8Column());
  }

  get size(): number {
    return this.itemKeys.length;
  }

  /** The item of a candidate or behaviour position (creating it), merging its category and field values. */
  item(goods: string, cat: string, fv: string[], fromCand: boolean): number {
    if (goods !== '') {
      let id = this.goodsItems.get(goods);
      if (id === undefined) {
        id = this.newItem(goods, 1);
        this.goodsItems.set(goods, id);
      }
      this.mergeValues(id, cat, fv, fromCand);
      return id;
    }
    const o: Record<string, string> = {};
    if (cat !== '' && this.catName !== null) o[this.catName] = cat;
    for (let f = 0; f < fv.length; f++) if (fv[f] !== '') o[this.fieldNames[f]] = fv[f];
    const key = JSON.stringify(o);
    let id = this.tupleItems.get(key);
    if (id === undefined) {
      id = this.newItem(key, 0);
      this.tupleItems.set(key, id);
      if (cat !== '' && this.catField !== null) this.cat.data[id] = this.catField.id(cat);
      for (let f = 0; f < fv.length; f++) if (fv[f] !== '') this.field[f].data[id] = this.fields[f].id(fv[f]);
    }
    return id;
  }

  /** Merges the category and field values of an occurrence into a goods item. */
  mergeValues(id: number, cat: string, fv: string[], fromCand: boolean): void {
    if (cat !== '' && this.catField !== null) this.merge(this.catField, this.cat, this.catCand, id, cat, fromCand);
    for (let f = 0; f < fv.length; f++) {
      if (fv[f] !== '') this.merge(this.fields[f], this.field[f], this.fieldCand[f], id, fv[f], fromCand);
    }
  }

  private newItem(key: string, hasGoods: number): number {
    const id = this.itemKeys.length;
    this.itemKeys.push(key);
    this.hasGoods.push(hasGoods);
    this.cat.push(-1);
    this.catCand.push(0);
    for (let f = 0; f < this.field.length; f++) {
      this.field[f].push(-1);
      this.fieldCand[f].push(0);
    }
    return id;
  }

  /**
   * Candidate values beat behaviour values; otherwise the first seen wins. Behaviour values only fill a missing
   * value (no comparison: the per-position cost stays one array read); a candidate value differing from the kept one
   * is counted.
   */
  private merge(tf: TempField, col: IntColumn, cand: Uint8Column, id: number, raw: string, fromCand: boolean): void {
    const cur = col.data[id];
    if (cur === -1) {
      col.data[id] = tf.id(raw);
      cand.data[id] = fromCand ? 1 : 0;
      return;
    }
    if (!fromCand) return;
    // the common case — the value already kept — costs a string comparison, not a map lookup
    const t = tf.hashed === null && tf.vocab.keys[cur] === raw ? cur : tf.id(raw);
    if (cur === t) {
      cand.data[id] = 1;
      return;
    }
    this.errors.count('itemValueConflicts');
    if (cand.data[id] === 0) {
      col.data[id] = t;
      cand.data[id] = 1;
    }
  }
}
