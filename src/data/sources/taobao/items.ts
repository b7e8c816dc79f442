/**
 * Items of a Taobao dataset while it is read, with temporary ids in reading order: ads (with a goods id: the
 * adgroup) and behaviour items ((cate, brand) pairs without goods id). ./assemble.ts turns them into the catalog.
 * Lookups are typed-array tables where the keys allow (canonical integers), Maps otherwise.
 */
import { Float64Column, IntColumn } from '../../vocab.js';
import { canonical } from './text.js';

/** Numeric (cate, brand) keys of behaviour items stay below this. */
export const NUM_KEY_MAX = 2 ** 30;
/** Canonical numeric keys below this are looked up in a direct table (64 MB at most), larger ones in a Map. */
export const TABLE_MAX = 2 ** 24;

/**
 * String keys → dense ids in first-seen order (like ../../vocab.ts's Vocab), with a direct Int32Array table for keys
 * that are canonical non-negative integers below TABLE_MAX (Taobao's user and adgroup ids): no Map per lookup.
 */
export class KeyIndex {
  readonly keys: string[] = [];
  private table = new Int32Array(1024).fill(-1);
  private readonly map = new Map<string, number>();

  get size(): number {
    return this.keys.length;
  }

  /** The id of `key`, added if new. */
  id(key: string): number {
    const v = canonical(key);
    if (v >= 0 && v < TABLE_MAX) {
      if (v >= this.table.length) {
        let n = this.table.length;
        while (n <= v) n *= 2;
        const t = new Int32Array(Math.min(n, TABLE_MAX)).fill(-1);
        t.set(this.table);
        this.table = t;
      }
      let x = this.table[v];
      if (x < 0) {
        x = this.keys.length;
        this.keys.push(key);
        this.table[v] = x;
      }
      return x;
    }
    let x = this.map.get(key);
    if (x === undefined) {
      x = this.keys.length;
      this.keys.push(key);
      this.map.set(key, x);
    }
    return x;
  }

  /** The id of `key`, or −1. */
  get(key: string): number {
    const v = canonical(key);
    if (v >= 0 && v < TABLE_MAX) return v < this.table.length ? this.table[v] : -1;
    return this.map.get(key) ?? -1;
  }

  /** The id of the canonical integer key `v` (as parsed), or −1. */
  getNum(v: number): number {
    if (v < TABLE_MAX) return v < this.table.length ? this.table[v] : -1;
    return this.map.get(String(v)) ?? -1;
  }
}

/** Open-addressing hash table (linear probing, typed arrays) from pairs of non-negative int32 to non-negative ids. */
export class PairTable {
  private a: Int32Array;
  private b: Int32Array;
  private v: Int32Array;
  private mask: number;
  size = 0;

  constructor(capacity = 1 << 16) {
    this.a = new Int32Array(capacity);
    this.b = new Int32Array(capacity);
    this.v = new Int32Array(capacity).fill(-1);
    this.mask = capacity - 1;
  }

  private static hash(a: number, b: number): number {
    let h = Math.imul(a, 0x9e3779b1) ^ Math.imul(b ^ 0x7f4a7c15, 0x85ebca77);
    h ^= h >>> 15;
    h = Math.imul(h, 0x2c1b3c6d);
    return h ^ (h >>> 12);
  }

  /** The id of (a, b), or −1. */
  get(a: number, b: number): number {
    const { mask } = this;
    for (let i = PairTable.hash(a, b) & mask; ; i = (i + 1) & mask) {
      const x = this.v[i];
      if (x < 0 || (this.a[i] === a && this.b[i] === b)) return x;
    }
  }

  /** Adds (a, b) → id (the pair must be new). */
  set(a: number, b: number, id: number): void {
    if (2 * (this.size + 1) > this.v.length) this.grow();
    const { mask } = this;
    let i = PairTable.hash(a, b) & mask;
    while (this.v[i] >= 0) i = (i + 1) & mask;
    this.a[i] = a;
    this.b[i] = b;
    this.v[i] = id;
    this.size++;
  }

  private grow(): void {
    const { a, b, v } = this;
    const cap = v.length * 2;
    this.a = new Int32Array(cap);
    this.b = new Int32Array(cap);
    this.v = new Int32Array(cap).fill(-1);
    this.mask = cap - 1;
    this.size = 0;
    for (let i = 0; i < v.length; i++) if (v[i] >= 0) this.set(a[i], b[i], v[i]);
  }
}

/** An ad's features as read (null: absent). */
export interface AdFeatures {
  cate: string | null;
  brand: string | null;
  campaign: string | null;
  customer: string | null;
  /** NaN: absent. */
  price: number;
}

/** Items in reading order: ads (with goods id) and behaviour items (cate, brand without goods id). */
export class TmpItems {
  /** Index into adKeys, −1 for behaviour items. */
  readonly ad = new IntColumn(1 << 12);
  readonly cate = new IntColumn(1 << 12);
  readonly brand = new IntColumn(1 << 12);
  readonly campaign = new IntColumn(1 << 12);
  readonly customer = new IntColumn(1 << 12);
  readonly price = new Float64Column();
  /** 'joined': 1 once the ad's features are known (it was a candidate). */
  readonly known = new IntColumn(1 << 12);
  readonly adKeys = new KeyIndex();
  /** adKeys index → item. */
  readonly adItem = new IntColumn(1 << 12);
  /** Temporary ids of the raw values (first-seen order; numeric ids looked up in a table, not a Map). */
  readonly cates = new KeyIndex();
  readonly brands = new KeyIndex();
  readonly campaigns = new KeyIndex();
  readonly customers = new KeyIndex();
  /** (cate, brand) → behaviour item: (cate number, brand number + 1 or 0 = no brand) in a PairTable when both are
   * canonical integers below 2^30; else by the string "cate,brand". */
  private readonly behNum = new PairTable();
  private readonly behStr = new Map<string, number>();

  get size(): number {
    return this.ad.length;
  }

  private add(ad: number, cate: number, brand: number, campaign: number, customer: number, price: number): number {
    const id = this.ad.length;
    this.ad.push(ad);
    this.cate.push(cate);
    this.brand.push(brand);
    this.campaign.push(campaign);
    this.customer.push(customer);
    this.price.push(price);
    this.known.push(1);
    return id;
  }

  /** The item of adgroup `key`, or −1. */
  adOf(key: string): number {
    const a = this.adKeys.get(key);
    return a < 0 ? -1 : this.adItem.data[a];
  }

  /** A new ad item (the key must be new); `f` null: features not known (yet): −1 / NaN. */
  addAd(key: string, f: AdFeatures | null): number {
    const a = this.adKeys.id(key);
    const item = this.add(a, -1, -1, -1, -1, NaN);
    this.adItem.push(item);
    if (f === null) this.known.data[item] = 0;
    else this.setAd(item, f);
    return item;
  }

  /** Sets the features of an ad. */
  setAd(item: number, f: AdFeatures): void {
    this.cate.data[item] = this.tmp(this.cates, f.cate);
    this.brand.data[item] = this.tmp(this.brands, f.brand);
    this.campaign.data[item] = this.tmp(this.campaigns, f.campaign);
    this.customer.data[item] = this.tmp(this.customers, f.customer);
    this.price.data[item] = f.price;
    this.known.data[item] = 1;
  }

  /** Whether an ad's stored features equal `f`. */
  sameAd(item: number, f: AdFeatures): boolean {
    const p = this.price.data[item];
    const same = (col: IntColumn, v: KeyIndex, key: string | null): boolean => col.data[item] === (key === null ? -1 : v.get(key));
    return (
      same(this.cate, this.cates, f.cate) &&
      same(this.brand, this.brands, f.brand) &&
      same(this.campaign, this.campaigns, f.campaign) &&
      same(this.customer, this.customers, f.customer) &&
      (p === f.price || (Number.isNaN(p) && Number.isNaN(f.price)))
    );
  }

  private tmp(v: KeyIndex, key: string | null): number {
    return key === null ? -1 : v.id(key);
  }

  /** The behaviour item of canonical integer ids below 2^30 (brandNum −1: no brand), or −1 if not seen yet. */
  findBehaviour(cateNum: number, brandNum: number): number {
    return this.behNum.get(cateNum, brandNum + 1);
  }

  /**
   * The behaviour item of (cate, brand), created if new. `cateNum`/`brandNum` are the parsed values when the strings
   * are canonical integers (else negative; brandNum is ignored when brand is null).
   */
  behaviour(cate: string, cateNum: number, brand: string | null, brandNum: number): number {
    if (cateNum >= 0 && cateNum < NUM_KEY_MAX && (brand === null || (brandNum >= 0 && brandNum < NUM_KEY_MAX - 1))) {
      const b = brand === null ? 0 : brandNum + 1;
      let id = this.behNum.get(cateNum, b);
      if (id < 0) {
        id = this.add(-1, this.cates.id(cate), this.tmp(this.brands, brand), -1, -1, NaN);
        this.behNum.set(cateNum, b, id);
      }
      return id;
    }
    const k = `${cate},${brand ?? ''}`;
    let id = this.behStr.get(k);
    if (id === undefined) {
      id = this.add(-1, this.cates.id(cate), this.tmp(this.brands, brand), -1, -1, NaN);
      this.behStr.set(k, id);
    }
    return id;
  }
}
