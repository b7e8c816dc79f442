/**
 * The ranking engine of the online service: one loaded checkpoint, requests in, ranked candidates out.
 *
 * Raw ids go through the checkpoint's vocabularies (./request.ts): a known goods id takes the catalog's
 * attributes and item fields; an unknown or absent one takes the request's `category` / `fields`; values outside a
 * vocabulary take the table's OOV row when it has one, else add zeros, and are counted per field in `unknown`.
 * Histories keep the most recent `maxHistory` behaviours (the checkpoint's training setting).
 *
 * Scoring: BaseModel and DIN take the fast path (./interest.ts): the user side once per request, all candidates
 * in one batched pass, DIN's attention first layer split so only (q ⊙ k)·W4 is per (candidate, behaviour) pair. The
 * other models take the generic path (./generic.ts): the training code's forward on one batch per request.
 * Both compute what `model.forward(batch, 'eval')` computes; ctr = sigmoid(logit), eCPM = ctr^alpha · bid.
 *
 * Not re-entrant: one call at a time (the buffers are reused). Inputs it cannot accept throw an Error naming the
 * field (`candidates[3].fields.shop_id: …`); no input makes it index outside a table.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Backend, Float } from '../../kernels/backend.js';
import { createBackend } from '../../kernels/backends.js';
import type { ItemCatalog } from '../../core/types.js';
import type { SampleField } from '../../core/fields.js';
import type { Model } from '../../models/model.js';
import { InterestModel } from '../../models/interest-model.js';
import { sigmoid } from '../../util/math.js';
import { loadCheckpoint } from '../../checkpoint/checkpoint.js';
import type { RankCandidate, RankedCandidate, RankRequest, RankResponse } from '../types.js';
import { MAX_CATEGORY_VALUES, RequestEncoder, type RequestMeta } from './request.js';
import { InterestScorer } from './interest.js';
import { GenericScorer } from './generic.js';
import type { ValueLookup } from './vocab.js';

export const DEFAULT_MAX_CANDIDATES = 1000;
export const DEFAULT_MAX_BEHAVIORS = 1000;

/** Options of {@link RankingEngine.load} (and, without `backend`, of `fromTrained` and `fromModel`). */
export interface EngineOptions {
  /** Numeric backend (default: createBackend(), the WASM one where available). */
  backend?: Backend;
  /** Most candidates per request (default 1000). */
  maxCandidates?: number;
  /** Most behaviours per request (default 1000); the most recent maxHistory of them are used. */
  maxBehaviors?: number;
  /**
   * Use the fast path for Base / DIN (default true). false runs every model through the generic path (the training
   * code's forward): slower, for cross-checks.
   */
  fastPath?: boolean;
}

/** What the engine needs besides the model (a checkpoint's model.json gives all of it). */
export interface EngineMeta {
  /** The item catalog the model was built with (after the goods filter / OOV row): raw ids → table rows. */
  catalog: ItemCatalog;
  /** User-profile and context fields with their vocabularies, in the model's order (absent: none). */
  sampleFields?: readonly SampleField[];
  /** Behaviours kept (most recent); ≤ 0 / absent: maxBehaviors. */
  maxHistory?: number;
  /** Identifies the weights; default: a hash of the parameters. */
  modelVersion?: string;
  /** Source format of the training data (decides whether goods row 0 is an OOV row: schema, taobao). */
  datasetFormat?: string;
}

/** A model with what serving needs besides its weights (a `TrainedModel` is one). */
export interface ServableModel extends EngineMeta {
  /** The model to serve (not to be trained further while it serves). */
  readonly model: Model;
}

/** One field of the request, for GET /v1/schema. */
export interface FieldInfo {
  /** Where it goes in a request, e.g. "candidates[].fields.shop_id", "user.profile.gender". */
  path: string;
  /** The field's name (its key in the request's `fields` / `profile` / `context` map). */
  name: string;
  /** Rows of its table (goods id: catalog items). */
  vocabulary: number;
  /** Whether values never seen in training get a trained row (OOV or hash bucket) rather than zeros. */
  oov: boolean;
  /** True when the table is hashed: every value maps to a bucket, so there is no list of known values. */
  hashed?: boolean;
  /** Up to 3 values the model knows (none for hashed tables). */
  examples: string[];
}

/** The request format a model accepts: what {@link RankingEngine.describe} returns and GET /v1/schema serves. */
export interface EngineSchema {
  /** Model kind, e.g. "din". */
  model: string;
  /** The loaded weights' version (see {@link RankingEngine.modelVersion}). */
  modelVersion: string;
  /** Whether `explain` returns attention weights (DIN). */
  explain: boolean;
  /** Behaviours used per request (the most recent). */
  maxHistory: number;
  /** Size limits of a request. */
  limits: {
    /** Most candidates per request. */
    maxCandidates: number;
    /** Most behaviours per request (more is refused). */
    maxBehaviors: number;
    /** Behaviours used: the most recent this many. */
    maxHistory: number;
    /** Most values in one `category` bag. */
    maxCategoryValues: number;
  };
  /** Fields of `user`. */
  user: {
    /** User-profile fields (`user.profile.<name>`). */
    profile: FieldInfo[];
  };
  /** Context fields (`context.<name>`). */
  context: FieldInfo[];
  /** Fields of an item (a candidate or a behaviour). */
  item: {
    /** The goods id; `vocabulary` is the number of catalog items (known ids use the catalog's attributes/fields). */
    id: FieldInfo;
    /** The category / attribute bag of items not in the catalog (null: the model has none). */
    category: FieldInfo | null;
    /** Item fields (`fields.<name>`) of items not in the catalog. */
    fields: FieldInfo[];
  };
  /** A valid request built from catalog keys. */
  example: RankRequest;
}

function positiveInt(v: number | undefined, dflt: number, name: string): number {
  if (v === undefined) return dflt;
  if (!(Number.isInteger(v) && v >= 1)) throw new Error(`${name} must be an integer ≥ 1, got ${v}`);
  return v;
}

/** Hash of every parameter and buffer value (the version of a model that has no checkpoint file). */
function paramsHash(model: Model): string {
  const h = createHash('sha256');
  for (const p of model.params()) {
    h.update(p.name);
    h.update(new Uint8Array(p.value.buffer, p.value.byteOffset, p.value.byteLength));
  }
  for (const [name, b] of Object.entries(model.buffers())) {
    h.update(name);
    h.update(new Uint8Array(b.buffer, b.byteOffset, b.byteLength));
  }
  return h.digest('hex').slice(0, 12);
}

/**
 * Ranks candidates with one trained model: raw ids in (mapped through the model's vocabularies), click probabilities,
 * eCPM and, for DIN, attention weights out. Made by {@link RankingEngine.load} (a checkpoint directory),
 * {@link RankingEngine.fromTrained} or {@link RankingEngine.fromModel}. Not re-entrant: one call at a time.
 */
export class RankingEngine {
  /** Model kind (`config.model`), e.g. "din". */
  readonly modelName: string;
  /**
   * Identifies the weights: from a checkpoint, a hash of weights.safetensors and the checkpoint's `createdAt`; in
   * memory, the given `modelVersion` or a hash of the parameters and buffers ending in "-memory".
   */
  readonly modelVersion: string;
  /** Behaviours used per request (the most recent): the training `maxHistory` capped at `maxBehaviors`, else that. */
  readonly maxHistory: number;
  /** Most candidates per request (default 1000). */
  readonly maxCandidates: number;
  /** Most behaviours a request may carry (default 1000); longer histories are refused. */
  readonly maxBehaviors: number;
  /** The served model. */
  readonly model: Model;
  /** The model's backend. */
  readonly backend: Backend;
  /** 'fast' (Base / DIN) or 'generic'. */
  readonly path: 'fast' | 'generic';
  private readonly catalog: ItemCatalog;
  private readonly sampleFields: readonly SampleField[];
  private readonly enc: RequestEncoder;
  private readonly fast: InterestScorer | null;
  private readonly generic: GenericScorer | null;
  private readonly hasAttention: boolean;
  private readonly one: RankRequest[] = [undefined as unknown as RankRequest];

  /** Loads a checkpoint directory (model.json + weights.safetensors). */
  static load(modelDir: string, opts: EngineOptions = {}): RankingEngine {
    const backend = opts.backend ?? createBackend();
    const { model, info, catalog } = loadCheckpoint(modelDir, backend);
    const weights = readFileSync(join(modelDir, 'weights.safetensors'));
    const hash = createHash('sha256').update(weights).digest('hex').slice(0, 12);
    const mh = Number((info.train as { maxHistory?: unknown }).maxHistory);
    return new RankingEngine(model, {
      catalog,
      sampleFields: info.sampleFields,
      maxHistory: Number.isFinite(mh) && mh > 0 ? Math.floor(mh) : undefined,
      modelVersion: `${hash}-${info.createdAt}`,
      datasetFormat: info.dataset?.format,
    }, { ...opts, backend });
  }

  /**
   * An engine over a trained model in memory: a `TrainedModel` from `train()` or `TrainedModel.load` (anything with
   * the model and its catalog, sample fields and maxHistory). The model must not be trained further while it serves.
   */
  static fromTrained(trained: ServableModel, opts: Omit<EngineOptions, 'backend'> = {}): RankingEngine {
    return new RankingEngine(trained.model, trained, { ...opts, backend: trained.model.backend });
  }

  /** An engine over a model in memory (the model must not be trained further while the engine serves it). */
  static fromModel(model: Model, meta: EngineMeta, opts: Omit<EngineOptions, 'backend'> = {}): RankingEngine {
    return new RankingEngine(model, meta, { ...opts, backend: model.backend });
  }

  private constructor(model: Model, meta: EngineMeta, opts: EngineOptions) {
    this.model = model;
    this.backend = model.backend;
    if (opts.backend && opts.backend !== model.backend) throw new Error('RankingEngine: the model lives on another backend');
    this.modelName = model.config.model;
    this.maxCandidates = positiveInt(opts.maxCandidates, DEFAULT_MAX_CANDIDATES, 'maxCandidates');
    this.maxBehaviors = positiveInt(opts.maxBehaviors, DEFAULT_MAX_BEHAVIORS, 'maxBehaviors');
    const mh = meta.maxHistory;
    this.maxHistory = mh !== undefined && Number.isFinite(mh) && mh > 0 ? Math.min(Math.floor(mh), this.maxBehaviors) : this.maxBehaviors;
    this.catalog = meta.catalog;
    this.sampleFields = meta.sampleFields ?? [];
    this.enc = new RequestEncoder(meta.catalog, this.sampleFields, {
      maxCandidates: this.maxCandidates, maxBehaviors: this.maxBehaviors, maxHistory: this.maxHistory,
    }, meta.datasetFormat);
    this.hasAttention = model.config.model === 'din';
    const kind = model.config.model;
    if ((opts.fastPath ?? true) && (kind === 'base' || kind === 'din') && model instanceof InterestModel) {
      this.path = 'fast';
      this.fast = new InterestScorer(model.inferencePlan(), {
        candidates: Math.min(this.maxCandidates, 256), pairs: Math.min(this.maxCandidates, 256) * Math.min(this.maxHistory, 100),
      });
      this.generic = null;
    } else {
      this.path = 'generic';
      this.fast = null;
      this.generic = new GenericScorer(model, meta.catalog, this.sampleFields, this.maxCandidates + this.maxHistory, this.backend);
    }
    this.modelVersion = meta.modelVersion ?? `${paramsHash(model)}-memory`;
  }

  /** Ranks one request. */
  rank(req: RankRequest): RankResponse {
    this.one[0] = req;
    try {
      return this.rankGroup(this.one, null)[0];
    } finally {
      this.one[0] = undefined as unknown as RankRequest;
    }
  }

  /**
   * Ranks one request and returns, for every returned candidate, the attention weight of each behaviour used (the
   * paper's Fig. 5 as data: raw weights, no softmax unless the model was trained with it). Models without attention
   * answer as {@link RankingEngine.rank} does.
   */
  explain(req: RankRequest): RankResponse {
    return this.rank({ ...req, explain: true });
  }

  /**
   * Ranks several requests in batched passes (requests are grouped so each pass stays within maxCandidates
   * candidates); answers in request order. Any invalid request throws (naming `requests[i].…`) and nothing is answered.
   */
  rankMany(reqs: RankRequest[]): RankResponse[] {
    if (!Array.isArray(reqs)) throw new Error('requests: expected an array');
    if (reqs.length <= 1) return reqs.length === 0 ? [] : [this.rank(reqs[0])];
    const out: RankResponse[] = [];
    const budget = this.maxCandidates;
    const pairBudget = this.maxCandidates * Math.min(this.maxHistory, 100);
    let start = 0;
    while (start < reqs.length) {
      let end = start;
      let cands = 0;
      let pairs = 0;
      while (end < reqs.length) {
        const n = candidateCount(reqs[end]);
        const p = n * Math.min(behaviorCount(reqs[end]), this.maxHistory);
        if (end > start && (cands + n > budget || pairs + p > pairBudget)) break;
        cands += n;
        pairs += p;
        end++;
      }
      const group = reqs.slice(start, end);
      const prefixes = group.map((_, i) => `requests[${start + i}].`);
      out.push(...this.rankGroup(group, prefixes));
      start = end;
    }
    return out;
  }

  /**
   * Scores catalog items as candidates for one user given by ids (the dataset's own, as a `SampleSet` holds them):
   * `behaviors` are catalog items, oldest first (the most recent maxHistory are used), `sampleFieldIds` one id per
   * sample field of the model (−1: zeros). Returns each candidate's click probability and, for DIN, the attention
   * weight of each behaviour used (null for models without attention). Candidates beyond maxCandidates are scored in
   * several passes. The same computation as {@link RankingEngine.rank}, without raw-id lookups.
   */
  scoreCatalogItems(candidates: ArrayLike<number>, behaviors: ArrayLike<number>, sampleFieldIds: ArrayLike<number> = []):
    {
      /** Click probability of each candidate, in the order given. */
      ctr: number[];
      /** DIN: per candidate, the weight of each behaviour used (oldest first); null for models without attention. */
      attention: number[][] | null;
    } {
    const ctr: number[] = [];
    const attention: number[][] | null = this.hasAttention ? [] : null;
    const enc = this.enc;
    for (let s = 0; s < candidates.length; s += this.maxCandidates) {
      const part = Array.from({ length: Math.min(this.maxCandidates, candidates.length - s) }, (_, i) => candidates[s + i]);
      enc.encodeCatalog(part, behaviors, sampleFieldIds);
      const L = enc.Hn;
      let logits: Float;
      if (this.fast) {
        const fast = this.fast;
        logits = fast.score(enc);
        if (attention) for (let c = 0; c < part.length; c++) attention.push(Array.from(fast.weights.subarray(fast.pairStart[c], fast.pairStart[c] + L)));
      } else {
        const g = this.generic!;
        logits = g.score(enc, 0);
        const w = attention ? g.model.attention() : null;
        if (attention && w) for (let c = 0; c < part.length; c++) attention.push(Array.from(w.weights.subarray(c * g.T, c * g.T + L)));
      }
      for (let c = 0; c < part.length; c++) ctr.push(sigmoid(logits[c]));
    }
    return { ctr, attention };
  }

  private rankGroup(reqs: RankRequest[], prefixes: string[] | null): RankResponse[] {
    const enc = this.enc;
    enc.encode(reqs, prefixes ?? undefined);
    const R = enc.R;
    const cs = enc.candStarts;
    const bs = enc.behStarts;
    const out: RankResponse[] = new Array(R);
    if (this.fast) {
      const fast = this.fast;
      const logits = fast.score(enc);
      for (let r = 0; r < R; r++) {
        const L = bs[r + 1] - bs[r];
        const c0 = cs[r];
        const att = fast.isDin && enc.meta[r].explain
          ? (i: number) => Array.from(fast.weights.subarray(fast.pairStart[c0 + i], fast.pairStart[c0 + i] + L))
          : null;
        out[r] = this.respond(reqs[r], enc.meta[r], logits, c0, cs[r + 1] - c0, L, att);
      }
      return out;
    }
    const g = this.generic!;
    for (let r = 0; r < R; r++) {
      const logits = g.score(enc, r);
      const L = bs[r + 1] - bs[r];
      const T = g.T;
      const w = this.hasAttention && enc.meta[r].explain ? g.model.attention() : null;
      const att = w === null ? null : (i: number) => Array.from(w.weights.subarray(i * T, i * T + L));
      out[r] = this.respond(reqs[r], enc.meta[r], logits, 0, cs[r + 1] - cs[r], L, att);
    }
    return out;
  }

  /** The answer of one request whose N logits start at `l0`; `attention(i)`: weights of its candidate i (explain). */
  private respond(req: RankRequest, m: RequestMeta, logits: Float, l0: number, N: number, L: number,
    attention: ((i: number) => number[]) | null): RankResponse {
    const cands = req.candidates;
    const byEcpm = m.allBids && N > 0;
    const ctr = new Float64Array(N);
    const key = new Float64Array(N);
    for (let i = 0; i < N; i++) {
      const v = sigmoid(logits[l0 + i]);
      ctr[i] = v;
      key[i] = byEcpm ? Math.pow(v, m.alpha) * (cands[i] as RankCandidate).bid! : v;
    }
    const order = Array.from({ length: N }, (_, i) => i);
    // Best first; ties by ctr, then by request order (stable, deterministic).
    order.sort((a, b) => key[b] - key[a] || ctr[b] - ctr[a] || a - b);
    const k = m.topK > 0 ? Math.min(m.topK, N) : N;
    const ranked: RankedCandidate[] = new Array(k);
    for (let j = 0; j < k; j++) {
      const i = order[j];
      const cand = cands[i] as RankCandidate;
      // Keys in a fixed order (index, id, ctr, ecpm, rank, attention) for readable JSON.
      const rc = { index: i } as RankedCandidate;
      if (cand.id !== undefined) rc.id = cand.id;
      rc.ctr = ctr[i];
      if (cand.bid !== undefined) rc.ecpm = Math.pow(ctr[i], m.alpha) * cand.bid;
      rc.rank = j + 1;
      if (attention !== null) rc.attention = attention(i);
      ranked[j] = rc;
    }
    const res: RankResponse = {
      model: this.modelName,
      modelVersion: this.modelVersion,
      rankedBy: byEcpm ? 'ecpm' : 'ctr',
      candidates: ranked,
      behaviorsUsed: L,
    };
    if (m.truncated) res.truncated = true;
    if (m.unknown) res.unknown = m.unknown;
    return res;
  }

  /** The request format this model accepts, with a valid example (GET /v1/schema). */
  describe(): EngineSchema {
    const enc = this.enc;
    const cat = this.catalog;
    const field = (path: string, name: string, lk: ValueLookup, keys: readonly string[]): FieldInfo => ({
      path, name, vocabulary: lk.size, oov: lk.hasOov, ...(lk.hashed ? { hashed: true } : {}), examples: lk.examples(keys, 3),
    });
    const profile: FieldInfo[] = [];
    const context: FieldInfo[] = [];
    this.sampleFields.forEach((f, i) => {
      const user = f.group === 'user';
      (user ? profile : context).push(field(user ? `user.profile.${f.name}` : `context.${f.name}`, f.name, enc.sampleFields[i], f.keys));
    });
    const goods = enc.goods;
    const idInfo: FieldInfo = {
      path: 'candidates[].id', name: 'id', vocabulary: cat.numItems, oov: goods.kind !== 'none',
      ...(goods.kind === 'hashed' ? { hashed: true } : {}), examples: this.exampleItems(3),
    };
    const category = cat.numAttrs > 0 ? field('candidates[].category', 'category', enc.attrs, cat.attrKeys) : null;
    const fields = (cat.itemFields ?? []).map((f, i) => field(`candidates[].fields.${f.name}`, f.name, enc.itemFields[i], f.keys));
    return {
      model: this.modelName,
      modelVersion: this.modelVersion,
      explain: this.hasAttention,
      maxHistory: this.maxHistory,
      limits: { maxCandidates: this.maxCandidates, maxBehaviors: this.maxBehaviors, maxHistory: this.maxHistory, maxCategoryValues: MAX_CATEGORY_VALUES },
      user: { profile },
      context,
      item: { id: idInfo, category, fields },
      example: this.example(),
    };
  }

  /** Up to n catalog keys, items with a goods id first (goods-less items are keyed by their field values). */
  private exampleItems(n: number): string[] {
    const { itemKeys, goodsRows, numItems } = this.catalog;
    const out: string[] = [];
    for (let i = 0; i < numItems && out.length < n; i++) if (!goodsRows || goodsRows[i] >= 0) out.push(itemKeys[i]);
    for (let i = 0; i < numItems && out.length < n; i++) if (goodsRows && goodsRows[i] < 0) out.push(itemKeys[i]);
    return out;
  }

  /** A valid request: 3 behaviours and 3 candidates (with bids) from catalog keys, one known value per sample field. */
  private example(): RankRequest {
    const keys = this.exampleItems(6);
    const n = keys.length;
    const pick = (k: number): string => keys[k % Math.max(1, n)];
    const behaviors = n > 0 ? [0, 1, 2].map((k) => ({ id: pick(k) })) : [];
    const candidates: RankCandidate[] = n > 0
      ? [3, 4, 5].map((k, j) => ({ id: pick(k), bid: [1, 0.5, 2][j] }))
      : [{ bid: 1 }, { bid: 0.5 }, { bid: 2 }];
    const profile: Record<string, string> = {};
    const context: Record<string, string> = {};
    this.sampleFields.forEach((f, i) => {
      const ex = this.enc.sampleFields[i].examples(f.keys, 1)[0];
      if (ex === undefined) return;
      (f.group === 'user' ? profile : context)[f.name] = ex;
    });
    const req: RankRequest = {
      user: { id: 'example-user', ...(Object.keys(profile).length ? { profile } : {}), behaviors },
      candidates,
    };
    if (Object.keys(context).length) req.context = context;
    return req;
  }
}

function candidateCount(req: unknown): number {
  const c = (req as { candidates?: unknown } | null)?.candidates;
  return Array.isArray(c) ? c.length : 0;
}

function behaviorCount(req: unknown): number {
  const b = (req as { user?: { behaviors?: unknown } } | null)?.user?.behaviors;
  return Array.isArray(b) ? b.length : 0;
}
