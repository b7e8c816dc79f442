/**
 * Requests → ids. Validates a group of RankRequests (every error names the offending field: `candidates[3].fields.shop:
 * …`) and maps their raw values through the checkpoint's vocabularies into reusable typed arrays that both scoring
 * paths read. Nothing here indexes a table: every id written is either in range or −1 (zeros).
 *
 * Layout of one encoded group of R requests: items are the candidates of every request (request order), then the used
 * behaviours of every request (oldest first, after truncation to the most recent maxHistory). Per item: its catalog
 * index (−1 when unknown or absent), goods row (−1 = none), attribute ids (CSR into `attrPool`) and one id per extra
 * item field (−1 = none). Per request: one id per sample field (user profile / context; −1 = zeros).
 */
import type { ItemCatalog } from '../../core/types.js';
import type { SampleField } from '../../core/fields.js';
import type { RankCandidate, RankItem, RankRequest } from '../types.js';
import { hashString } from '../../core/hash.js';
import { attrLookupOf, goodsVocabOf, ValueLookup, type GoodsVocab } from './vocab.js';

/** Most values in one category bag. */
export const MAX_CATEGORY_VALUES = 64;

export interface RequestLimits {
  maxCandidates: number;
  maxBehaviors: number;
  maxHistory: number;
}

/** What the response needs besides the scores. */
export interface RequestMeta {
  alpha: number;
  topK: number;
  explain: boolean;
  /** Every candidate has a bid. */
  allBids: boolean;
  truncated: boolean;
  /** Unknown values per field (null when none). */
  unknown: Record<string, number> | null;
}

class IntGrow {
  a: Int32Array;
  constructor(n: number) {
    this.a = new Int32Array(Math.max(8, n));
  }
  ensure(n: number): Int32Array {
    if (n > this.a.length) {
      const b = new Int32Array(Math.max(n, this.a.length * 2));
      b.set(this.a);
      this.a = b;
    }
    return this.a;
  }
}

function isObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

function rawValue(v: unknown, path: string): string {
  if (typeof v === 'string') return v;
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw new Error(`${path}: expected a string or a finite number, got ${v}`);
    return String(v);
  }
  throw new Error(`${path}: expected a string or a number, got ${v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v}`);
}

function list(names: readonly string[]): string {
  return names.length ? names.join(', ') : 'none';
}

/** The vocabularies of one model, and the encoded arrays of the group being ranked (reused between groups). */
export class RequestEncoder {
  readonly goods: GoodsVocab;
  readonly attrs: ValueLookup;
  readonly itemFields: ValueLookup[];
  readonly sampleFields: ValueLookup[];
  readonly sampleGroups: Array<'user' | 'context'>;
  private readonly itemIndexOf: Map<string, number>;
  private readonly itemFieldIndex: Map<string, number>;
  private readonly profileIndex: Map<string, number>;
  private readonly contextIndex: Map<string, number>;
  private readonly goodsMap: Int32Array | null;
  readonly F: number;
  readonly S: number;

  // ---- the encoded group ----
  R = 0;
  /** Candidates in the group / used behaviours in the group. */
  C = 0;
  Hn = 0;
  /** Per request: first candidate (R+1 entries), first behaviour item (index among behaviours, R+1 entries). */
  private readonly candStart = new IntGrow(9);
  private readonly behStart = new IntGrow(9);
  private readonly itemIdx = new IntGrow(256);
  private readonly goodsRow = new IntGrow(256);
  private readonly attrStart = new IntGrow(257);
  private readonly attrPool = new IntGrow(512);
  private readonly fieldIdx = new IntGrow(256);
  private readonly sampleIdx = new IntGrow(8);
  readonly meta: RequestMeta[] = [];

  constructor(readonly catalog: ItemCatalog, sampleFields: readonly SampleField[], readonly limits: RequestLimits,
    datasetFormat?: string) {
    this.goods = goodsVocabOf(catalog, datasetFormat);
    this.goodsMap = catalog.goodsRows ?? null;
    this.attrs = attrLookupOf(catalog);
    const fields = catalog.itemFields ?? [];
    this.itemFields = fields.map((f) => ValueLookup.ofField(f));
    this.itemFieldIndex = new Map(fields.map((f, i) => [f.name, i]));
    this.sampleFields = sampleFields.map((f) => ValueLookup.ofField(f));
    this.sampleGroups = sampleFields.map((f) => (f.group === 'user' ? 'user' : 'context'));
    this.profileIndex = new Map();
    this.contextIndex = new Map();
    sampleFields.forEach((f, i) => (f.group === 'user' ? this.profileIndex : this.contextIndex).set(f.name, i));
    this.itemIndexOf = new Map();
    for (let i = 0; i < catalog.numItems; i++) if (!this.itemIndexOf.has(catalog.itemKeys[i])) this.itemIndexOf.set(catalog.itemKeys[i], i);
    this.F = fields.length;
    this.S = sampleFields.length;
  }

  /** Catalog index of an item key, or −1. */
  itemOf(key: string): number {
    const i = this.itemIndexOf.get(key);
    return i === undefined ? -1 : i;
  }

  get itemFieldNames(): string[] {
    return [...this.itemFieldIndex.keys()];
  }

  // ---- accessors of the encoded group ----
  get candStarts(): Int32Array {
    return this.candStart.a;
  }
  /** Behaviour offsets per request, counted among behaviours (item index = C + offset). */
  get behStarts(): Int32Array {
    return this.behStart.a;
  }
  get itemIndex(): Int32Array {
    return this.itemIdx.a;
  }
  get goodsRows(): Int32Array {
    return this.goodsRow.a;
  }
  get attrStarts(): Int32Array {
    return this.attrStart.a;
  }
  get attrIds(): Int32Array {
    return this.attrPool.a;
  }
  /** [items × F] */
  get fieldIds(): Int32Array {
    return this.fieldIdx.a;
  }
  /** [R × S] */
  get sampleIds(): Int32Array {
    return this.sampleIdx.a;
  }

  /**
   * Validates and encodes the group. Throws (naming the field; `prefix` is prepended, e.g. "requests[2]." in a
   * multi-request group) before anything is scored.
   */
  encode(reqs: readonly RankRequest[], prefixes?: readonly string[]): void {
    const { maxCandidates, maxBehaviors, maxHistory } = this.limits;
    const R = reqs.length;
    // Pass 1: shapes and counts.
    const cs = this.candStart.ensure(R + 1);
    const bs = this.behStart.ensure(R + 1);
    cs[0] = 0;
    bs[0] = 0;
    for (let r = 0; r < R; r++) {
      const p = prefixes?.[r] ?? '';
      const req = reqs[r] as unknown;
      if (!isObject(req)) throw new Error(`${p ? p.slice(0, -1) : 'request'}: expected an object`);
      const cands = req.candidates;
      if (!Array.isArray(cands)) throw new Error(`${p}candidates: expected an array of candidates`);
      if (cands.length > maxCandidates) throw new Error(`${p}candidates: ${cands.length} candidates, at most ${maxCandidates} are accepted`);
      const user = req.user;
      if (user !== undefined && !isObject(user)) throw new Error(`${p}user: expected an object`);
      const behs = user?.behaviors;
      if (behs !== undefined && !Array.isArray(behs)) throw new Error(`${p}user.behaviors: expected an array`);
      const nb = behs ? behs.length : 0;
      if (nb > maxBehaviors) throw new Error(`${p}user.behaviors: ${nb} behaviours, at most ${maxBehaviors} are accepted`);
      cs[r + 1] = cs[r] + cands.length;
      bs[r + 1] = bs[r] + Math.min(nb, maxHistory);
    }
    const C = cs[R];
    const Hn = bs[R];
    const N = C + Hn;
    this.R = R;
    this.C = C;
    this.Hn = Hn;
    this.itemIdx.ensure(N);
    this.goodsRow.ensure(N);
    this.attrStart.ensure(N + 1);
    this.fieldIdx.ensure(N * this.F);
    this.sampleIdx.ensure(R * this.S);
    this.attrStart.a[0] = 0;
    this.meta.length = R;
    // Pass 2: values. Attribute ids are written in item order, so candidates of all requests come first.
    for (let r = 0; r < R; r++) {
      const p = prefixes?.[r] ?? '';
      const req = reqs[r];
      const m: RequestMeta = { alpha: 1, topK: 0, explain: false, allBids: true, truncated: false, unknown: null };
      this.meta[r] = m;
      const alpha = (req as { alpha?: unknown }).alpha;
      if (alpha !== undefined) {
        if (typeof alpha !== 'number' || !Number.isFinite(alpha) || alpha < 0) throw new Error(`${p}alpha: expected a finite number ≥ 0, got ${String(alpha)}`);
        m.alpha = alpha;
      }
      const topK = (req as { topK?: unknown }).topK;
      if (topK !== undefined) {
        if (typeof topK !== 'number' || !Number.isInteger(topK) || topK < 1) throw new Error(`${p}topK: expected an integer ≥ 1, got ${String(topK)}`);
        m.topK = topK;
      }
      const explain = (req as { explain?: unknown }).explain;
      if (explain !== undefined && typeof explain !== 'boolean') throw new Error(`${p}explain: expected a boolean, got ${typeof explain}`);
      m.explain = explain === true;
      const cands = req.candidates;
      for (let c = 0; c < cands.length; c++) {
        const cand = cands[c] as RankCandidate;
        const path = `${p}candidates[${c}]`;
        this.item(cs[r] + c, cand, path, 'candidates', m);
        const bid = (cand as { bid?: unknown }).bid;
        if (bid === undefined) m.allBids = false;
        else if (typeof bid !== 'number' || !Number.isFinite(bid) || bid < 0) throw new Error(`${path}.bid: expected a finite number ≥ 0, got ${String(bid)}`);
      }
    }
    for (let r = 0; r < R; r++) {
      const p = prefixes?.[r] ?? '';
      const req = reqs[r];
      const m = this.meta[r];
      const behs = req.user?.behaviors ?? [];
      const used = bs[r + 1] - bs[r];
      const first = behs.length - used;
      m.truncated = first > 0;
      // Behaviours that are dropped must still be objects (a client bug is not hidden by truncation).
      for (let t = 0; t < first; t++) if (!isObject(behs[t])) throw new Error(`${p}user.behaviors[${t}]: expected an object`);
      for (let t = 0; t < used; t++) this.item(C + bs[r] + t, behs[first + t], `${p}user.behaviors[${first + t}]`, 'behaviors', m);
      this.sample(r, req, p, m);
    }
  }

  private unknown(m: RequestMeta, key: string): void {
    const u = m.unknown ?? (m.unknown = {});
    u[key] = (u[key] ?? 0) + 1;
  }

  private item(j: number, it: RankItem, path: string, group: 'candidates' | 'behaviors', m: RequestMeta): void {
    if (!isObject(it)) throw new Error(`${path}: expected an object`);
    const { id, category, fields } = it as Record<string, unknown>;
    const F = this.F;
    const fo = j * F;
    const fieldIds = this.fieldIdx.a;
    if (fields !== undefined) {
      if (!isObject(fields)) throw new Error(`${path}.fields: expected an object of field values`);
      for (const name in fields) {
        if (!this.itemFieldIndex.has(name)) throw new Error(`${path}.fields.${name}: the model has no item field "${name}" (its item fields: ${list(this.itemFieldNames)})`);
        rawValue(fields[name], `${path}.fields.${name}`);
      }
    }
    if (category !== undefined) {
      if (this.catalog.numAttrs === 0) throw new Error(`${path}.category: the model has no category (attribute) table`);
      if (Array.isArray(category)) {
        if (category.length > MAX_CATEGORY_VALUES) throw new Error(`${path}.category: ${category.length} values, at most ${MAX_CATEGORY_VALUES}`);
        for (let k = 0; k < category.length; k++) rawValue(category[k], `${path}.category[${k}]`);
      } else {
        rawValue(category, `${path}.category`);
      }
    }
    const key = id === undefined ? '' : rawValue(id, `${path}.id`);
    const known = key === '' ? -1 : this.itemOf(key);
    if (known >= 0) {
      this.catalogItem(j, known);
      return;
    }
    this.itemIdx.a[j] = -1;
    const as = this.attrStart.a;
    let ap = as[j];
    // Unknown or absent goods id: the request describes the item.
    let g = -1;
    if (key !== '') {
      const gv = this.goods;
      if (gv.kind === 'hashed') {
        g = hashString(key) % gv.rows;
      } else {
        this.unknown(m, `${group}.id`);
        g = gv.oovRow;
      }
    }
    this.goodsRow.a[j] = g;
    if (category !== undefined) {
      const vals = Array.isArray(category) ? category : [category];
      const pool = this.attrPool.ensure(ap + vals.length);
      for (let k = 0; k < vals.length; k++) {
        const raw = rawValue(vals[k], `${path}.category`);
        if (raw === '') continue;
        let a = this.attrs.find(raw);
        if (a < 0) {
          this.unknown(m, `${group}.category`);
          a = this.attrs.fallback;
        }
        if (a >= 0) pool[ap++] = a;
      }
    }
    as[j + 1] = ap;
    for (let f = 0; f < F; f++) fieldIds[fo + f] = -1;
    if (fields !== undefined) {
      const fs = fields as Record<string, unknown>;
      for (const name in fs) {
        const f = this.itemFieldIndex.get(name)!;
        const raw = rawValue(fs[name], `${path}.fields.${name}`);
        if (raw === '') continue;
        const lk = this.itemFields[f];
        let v = lk.find(raw);
        if (v < 0) {
          this.unknown(m, `${group}.fields.${name}`);
          v = lk.fallback;
        }
        fieldIds[fo + f] = v;
      }
    }
  }

  /** Item j of the group is catalog item `known`: its goods row, attribute bag and item-field ids from the catalog. */
  private catalogItem(j: number, known: number): void {
    const F = this.F;
    this.itemIdx.a[j] = known;
    this.goodsRow.a[j] = this.goodsMap ? this.goodsMap[known] : known;
    const as = this.attrStart.a;
    let ap = as[j];
    const { attrOffsets, attrValues } = this.catalog;
    const s = attrOffsets[known];
    const e = attrOffsets[known + 1];
    const pool = this.attrPool.ensure(ap + (e - s));
    for (let k = s; k < e; k++) pool[ap++] = attrValues[k];
    const itemFields = this.catalog.itemFields;
    const fieldIds = this.fieldIdx.a;
    for (let f = 0; f < F; f++) fieldIds[j * F + f] = itemFields![f].values[known];
    as[j + 1] = ap;
  }

  /**
   * Encodes one request given by ids rather than raw values: catalog items (rows of the catalog) as candidates and
   * behaviours (the most recent maxHistory are used), and one id per sample field (−1: zeros). What a caller that
   * already holds the dataset's ids (the report) scores with.
   */
  encodeCatalog(candidates: ArrayLike<number>, behaviors: ArrayLike<number>, sampleIds: ArrayLike<number>): void {
    const n = this.catalog.numItems;
    const check = (ids: ArrayLike<number>, what: string): void => {
      for (let i = 0; i < ids.length; i++) {
        if (!(Number.isInteger(ids[i]) && ids[i] >= 0 && ids[i] < n)) throw new RangeError(`${what}[${i}]: item ${ids[i]} is not a catalog row (0..${n - 1})`);
      }
    };
    check(candidates, 'candidates');
    check(behaviors, 'behaviors');
    if (candidates.length > this.limits.maxCandidates) throw new RangeError(`candidates: ${candidates.length}, at most ${this.limits.maxCandidates}`);
    if (sampleIds.length !== this.S) throw new RangeError(`sample fields: ${sampleIds.length} ids given, the model has ${this.S}`);
    for (let f = 0; f < this.S; f++) {
      const id = sampleIds[f];
      const size = this.sampleFields[f].size;
      if (!(Number.isInteger(id) && id >= -1 && id < size)) throw new RangeError(`sample field ${f}: id ${id} outside -1..${size - 1}`);
    }
    const C = candidates.length;
    const L = Math.min(behaviors.length, this.limits.maxHistory);
    const first = behaviors.length - L;
    this.R = 1;
    this.C = C;
    this.Hn = L;
    const cs = this.candStart.ensure(2);
    const bs = this.behStart.ensure(2);
    cs[0] = 0;
    cs[1] = C;
    bs[0] = 0;
    bs[1] = L;
    this.itemIdx.ensure(C + L);
    this.goodsRow.ensure(C + L);
    this.attrStart.ensure(C + L + 1);
    this.fieldIdx.ensure((C + L) * this.F);
    this.attrStart.a[0] = 0;
    for (let c = 0; c < C; c++) this.catalogItem(c, candidates[c]);
    for (let t = 0; t < L; t++) this.catalogItem(C + t, behaviors[first + t]);
    const ids = this.sampleIdx.ensure(this.S);
    for (let f = 0; f < this.S; f++) ids[f] = sampleIds[f];
    this.meta.length = 1;
    this.meta[0] = { alpha: 1, topK: 0, explain: true, allBids: false, truncated: first > 0, unknown: null };
  }

  private sample(r: number, req: RankRequest, p: string, m: RequestMeta): void {
    const profile = req.user?.profile as unknown;
    const context = req.context as unknown;
    const check = (obj: unknown, where: string, index: Map<string, number>, what: string): void => {
      if (obj === undefined) return;
      if (!isObject(obj)) throw new Error(`${p}${where}: expected an object of field values`);
      for (const name in obj) {
        if (!index.has(name)) throw new Error(`${p}${where}.${name}: the model has no ${what} field "${name}" (its ${what} fields: ${list([...index.keys()])})`);
        rawValue(obj[name], `${p}${where}.${name}`);
      }
    };
    check(profile, 'user.profile', this.profileIndex, 'user-profile');
    check(context, 'context', this.contextIndex, 'context');
    const S = this.S;
    const ids = this.sampleIdx.a;
    for (let f = 0; f < S; f++) {
      const user = this.sampleGroups[f] === 'user';
      const obj = (user ? profile : context) as Record<string, unknown> | undefined;
      const name = this.sampleFields[f].name;
      const v = obj?.[name];
      // An absent value is the empty string, as the sources read a missing cell (a value of its own in training).
      const raw = v === undefined ? '' : rawValue(v, `${p}${user ? 'user.profile' : 'context'}.${name}`);
      const lk = this.sampleFields[f];
      let id = lk.find(raw);
      if (id < 0) {
        this.unknown(m, `${user ? 'profile' : 'context'}.${name}`);
        id = lk.fallback;
      }
      ids[r * S + f] = id;
    }
  }
}

