/**
 * Gathers the numbers of a run's report: training curves (metrics.json, compare.json), the comparison table, DIN's
 * attention for one test user (the paper's Fig 5) and a 2-D map of goods embeddings coloured by that user's predicted
 * CTR (Fig 6). Rendering is html.ts's job; this file only computes.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, join, resolve } from 'node:path';
import { UMAP } from 'umap-js';
import { loadDataset } from '../data/load.js';
import { isShardDir } from '../data/shards.js';
import { validationSplit } from '../data/split.js';
import { movieLensLayout, movieLensSourceFiles, readMovieLensMovies } from '../data/sources/movielens.js';
import type { Dataset, ItemCatalog } from '../core/types.js';
import type { Backend } from '../kernels/backend.js';
import type { Model } from '../models/model.js';
import { loadCheckpoint, type CheckpointInfo } from '../checkpoint/checkpoint.js';
import { regDisplay, type CompareResult } from '../train/compare.js';
import type { RunMetrics } from '../train/run.js';
import { Rng } from '../util/rng.js';
import { RankingEngine } from '../serve/engine/engine.js';
import type { AttentionCandidate, AttentionView, CurveSeries, EmbeddingMap, NamedItem, Note, ReportData, TableRow } from './types.js';

/** Options of {@link renderReport} (`din report`): give `run`, `compare` or both. */
export interface ReportOptions {
  /** A `din train --out` directory (metrics.json, and model.json + weights for the attention and embedding views). */
  run?: string;
  /** A `din compare --out` directory (compare.json). */
  compare?: string;
  /** Raw key of the test user to show; default: one sampled with `seed`. */
  user?: string;
  /** Seed of the sampled user (when `user` is not given) and of the embedding map's UMAP layout (default 1). */
  seed?: number;
  /** Points of the embedding map, at most (default 600). */
  maxPoints?: number;
  /** Categories of the embedding map (default 5). */
  categories?: number;
  /** Candidates besides the user's test positive and negative (default 3). */
  others?: number;
  /** Backend the run's checkpoint is loaded on (default: `createBackend()`). */
  backend?: Backend;
  /** Receives progress lines, e.g. which user was picked (default: discarded). */
  log?: (line: string) => void;
}

const num = (x: number | undefined | null): number | null => (x === undefined || x === null || !Number.isFinite(x) ? null : x);

function readJson<T>(path: string, what: string): T {
  if (!existsSync(path)) throw new Error(`${path}: not found (${what})`);
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as T;
  } catch (e) {
    throw new Error(`${path}: not valid JSON (${(e as Error).message})`);
  }
}

export function curvesFromRun(m: RunMetrics, label: string): CurveSeries {
  // With refit, validation GAUC comes from the epoch-selection phase (the final run has no validation split).
  const sel = m.selection?.history ?? m.history;
  const n = Math.max(sel.length, m.history.length);
  const idx = Array.from({ length: n }, (_, i) => i);
  return {
    label,
    epochs: idx.map((i) => i + 1),
    trainLoss: idx.map((i) => num((m.history[i] ?? sel[i])?.trainLoss)),
    validGauc: idx.map((i) => num(sel[i]?.valid?.gauc)),
    testGauc: idx.map((i) => num(m.history[i]?.test?.gauc)),
  };
}

const mean = (v: Array<number | null | undefined>): number | null => {
  const xs = v.filter((x): x is number => typeof x === 'number' && Number.isFinite(x));
  return xs.length === v.length && xs.length > 0 ? xs.reduce((a, b) => a + b, 0) / xs.length : null;
};

/** One series per compare row: the per-epoch mean over its seeds (an epoch missing in some seed is left out). */
export function curvesFromCompare(c: CompareResult): CurveSeries[] {
  return c.rows.map((r) => {
    const E = Math.max(0, ...r.history.map((h) => h.length));
    const idx = Array.from({ length: E }, (_, i) => i);
    return {
      label: `${r.model}${r.reg !== 'none' ? ` (${regDisplay(r.reg, r.regParam)})` : ''}`,
      epochs: idx.map((i) => i + 1),
      trainLoss: idx.map((i) => mean(r.history.map((h) => h[i]?.trainLoss))),
      validGauc: idx.map((i) => mean(r.history.map((h) => h[i]?.validGauc))),
      testGauc: idx.map((i) => mean(r.history.map((h) => h[i]?.testGauc))),
    };
  });
}

export function tableFromCompare(c: CompareResult): TableRow[] {
  return c.rows.map((r) => ({
    model: r.model,
    reg: regDisplay(r.reg, r.regParam),
    seeds: r.seeds.length,
    gauc: r.gauc.mean,
    gaucStd: r.gauc.std,
    auc: r.auc.mean,
    aucStd: r.auc.std,
    logloss: r.logloss.mean,
    relaimpr: r.relaimpr,
    relaimprAuc: r.relaimprAuc,
    bestEpoch: r.bestEpoch.join(','),
    peakTestGauc: num(r.peakTestGauc?.mean),
  }));
}

interface LoadedRun {
  model: Model;
  info: CheckpointInfo;
  /** The model's catalog (its goods rows may differ from the data's under a goods filter). */
  catalog: ItemCatalog;
  data: Dataset;
  maxHistory: number;
  /** A serving engine on the model, made on first use (scores candidates, attention weights). */
  engine?: RankingEngine;
}

/** Loads a run's model and rebuilds its data as the run did (like `din eval`). */
async function loadRun(dir: string, backend: Backend | undefined): Promise<LoadedRun> {
  const { model, info, catalog } = loadCheckpoint(dir, backend);
  const built = info.dataset.buildOptions ?? {};
  const path = info.dataset.path;
  if (path === undefined) throw new Error(`${dir}/model.json records no data path: cannot rebuild the test users`);
  if (isShardDir(path)) throw new Error(`${path} is a shard directory: the report needs a dataset it can hold in memory`);
  const loaded = await loadDataset({
    path,
    format: 'auto',
    seed: (built.seed as number | undefined) ?? 1,
    onError: (built.onError as 'skip' | 'fail' | undefined) ?? 'skip',
    vocab: (built.vocab as Record<string, number> | undefined) ?? {},
  });
  const data = built.split === 'validation' ? validationSplit(loaded) : loaded;
  const same = data.catalog.numItems === catalog.numItems && data.catalog.itemKeys.every((k, i) => k === catalog.itemKeys[i]);
  if (!same) {
    throw new Error(`the data at ${path} no longer has the item vocabulary the model in ${dir} was trained with (${catalog.numItems} items)`);
  }
  return { model, info, catalog, data, maxHistory: (info.train.maxHistory as number | undefined) ?? 50 };
}

/** Names of items: MovieLens titles when the data has a movies file; categories from the attribute keys. */
function itemNamer(run: LoadedRun): (item: number) => NamedItem {
  const { catalog } = run;
  let titles: Map<string, string> | null = null;
  const path = run.info.dataset.path;
  if (run.info.dataset.format === 'movielens' && path) {
    try {
      const layout = movieLensLayout(path);
      if (layout) {
        const [, movies] = movieLensSourceFiles(path);
        titles = new Map(readMovieLensMovies(movies, layout).movies.map((m) => [String(m.id), m.title]));
      }
    } catch {
      titles = null; // names are a nicety: ids still label every item
    }
  }
  return (i) => {
    const key = catalog.itemKeys[i] ?? String(i);
    const attrs: string[] = [];
    for (let k = catalog.attrOffsets[i]; k < catalog.attrOffsets[i + 1]; k++) attrs.push(catalog.attrKeys[catalog.attrValues[k]] ?? String(catalog.attrValues[k]));
    return { key, label: titles?.get(key) ?? key, category: attrs.join(' | ') };
  };
}

/** How often each item occurs in the training data (as a behaviour, or as a clicked candidate). */
function itemFrequency(data: Dataset): Float64Array {
  const f = new Float64Array(data.catalog.numItems);
  const t = data.train;
  for (let i = 0; i < t.histValues.length; i++) f[t.histValues[i]]++;
  for (let i = 0; i < t.size; i++) if (t.labels[i] === 1) f[t.items[i]]++;
  return f;
}

/** Items grouped by their first attribute: the `nCats` most frequent categories, each with its most frequent items. */
function topCategoryItems(data: Dataset, freq: Float64Array, nCats: number, perCat: number, keep: (item: number) => boolean): Array<{ attr: number; items: number[] }> {
  const c = data.catalog;
  const byAttr = new Map<number, number[]>();
  const attrFreq = new Map<number, number>();
  for (let i = 0; i < c.numItems; i++) {
    if (c.attrOffsets[i] === c.attrOffsets[i + 1] || freq[i] === 0 || !keep(i)) continue;
    const a = c.attrValues[c.attrOffsets[i]];
    (byAttr.get(a) ?? byAttr.set(a, []).get(a)!).push(i);
    attrFreq.set(a, (attrFreq.get(a) ?? 0) + freq[i]);
  }
  const attrs = [...attrFreq.keys()].sort((a, b) => attrFreq.get(b)! - attrFreq.get(a)! || a - b).slice(0, nCats);
  return attrs.map((attr) => ({
    attr,
    items: byAttr.get(attr)!.sort((a, b) => freq[b] - freq[a] || a - b).slice(0, perCat),
  }));
}

interface UserContext {
  user: number;
  /** The behaviours (item ids), oldest first, truncated to the run's max history. */
  hist: Int32Array;
  /** Sample-field ids of the user's test sample. */
  fields: number[] | undefined;
  positive: number | null;
  negative: number | null;
}

/** The history of the user's test positive with the longest history, that positive, and one test negative. */
function userContext(data: Dataset, user: number, maxHistory: number): UserContext | null {
  const t = data.test;
  let first = -1;
  let positive: number | null = null;
  let negative: number | null = null;
  for (let i = 0; i < t.size; i++) {
    if (t.users[i] !== user) continue;
    // The positive with the longest history (the richest strip; on prefix-history data, the user's latest event).
    const better = first < 0 || (t.labels[i] === 1 && (t.labels[first] !== 1 || t.histLen[i] > t.histLen[first]));
    if (better) first = i;
    if (t.labels[i] === 0 && negative === null) negative = t.items[i];
  }
  if (first >= 0 && t.labels[first] === 1) positive = t.items[first];
  if (first < 0) return null;
  const len = t.histLen[first];
  const keep = maxHistory > 0 && Number.isFinite(maxHistory) ? Math.min(len, maxHistory) : len;
  const end = t.histStart[first] + len;
  return {
    user,
    hist: t.histValues.slice(end - keep, end),
    fields: t.fieldValues?.map((f) => f[first]),
    positive,
    negative,
  };
}

function pickUser(data: Dataset, key: string | undefined, seed: number): { user: number; chosen: string } {
  if (key !== undefined) {
    const u = data.userKeys.indexOf(key);
    if (u < 0) throw new Error(`--user ${key}: no such user in ${data.name} (user keys look like "${data.userKeys.slice(0, 3).join('", "')}")`);
    if (!data.test.users.includes(u)) throw new Error(`--user ${key}: the user has no test samples in ${data.name}`);
    return { user: u, chosen: '--user' };
  }
  // Users with a test positive and a non-empty history: the interesting ones for Fig 5.
  const t = data.test;
  const ok = new Set<number>();
  for (let i = 0; i < t.size; i++) if (t.labels[i] === 1 && t.histLen[i] > 1) ok.add(t.users[i]);
  const pool = ok.size ? [...ok].sort((a, b) => a - b) : [...new Set(t.users)].sort((a, b) => a - b);
  if (!pool.length) throw new Error(`${data.name}: the test split is empty`);
  return { user: pool[new Rng(seed).int(pool.length)], chosen: `sampled (seed ${seed})` };
}

/**
 * Scores `items` as candidates for one user with one history: predicted CTRs and, for DIN, the attention weight of each
 * behaviour for each candidate. Through the serving engine on the run's model (Base and DIN: its inference plan), so
 * the report shows what serving would answer.
 */
function scoreCandidates(run: LoadedRun, ctx: UserContext, items: number[]): { ctr: number[]; weights: number[][] | null } {
  run.engine ??= RankingEngine.fromModel(run.model, { catalog: run.catalog, sampleFields: run.info.sampleFields, maxHistory: run.maxHistory });
  const { ctr, attention } = run.engine.scoreCatalogItems(items, ctx.hist, ctx.fields ?? []);
  return { ctr, weights: attention };
}

function attentionView(run: LoadedRun, ctx: UserContext, chosen: string, name: (i: number) => NamedItem, others: number[]): AttentionView | Note {
  if (run.model.config.model !== 'din') {
    return { note: `Attention is DIN-only: this run's model is ${run.model.config.model}, which pools behaviours without attention weights.` };
  }
  if (ctx.hist.length === 0) return { note: `User ${run.data.userKeys[ctx.user]} has no behaviours before the test sample: nothing to attend to.` };
  const cands: Array<{ item: number; kind: AttentionCandidate['kind'] }> = [];
  if (ctx.positive !== null) cands.push({ item: ctx.positive, kind: 'positive' });
  if (ctx.negative !== null && ctx.negative !== ctx.positive) cands.push({ item: ctx.negative, kind: 'negative' });
  for (const o of others) if (!cands.some((c) => c.item === o)) cands.push({ item: o, kind: 'other' });
  const { ctr, weights } = scoreCandidates(run, ctx, cands.map((c) => c.item));
  if (weights === null) return { note: 'The model returned no attention weights.' };
  return {
    user: run.data.userKeys[ctx.user],
    chosen,
    norm: run.model.config.attentionNorm,
    behaviours: Array.from(ctx.hist, name),
    candidates: cands.map((c, k) => ({ ...name(c.item), kind: c.kind, ctr: ctr[k], weights: weights[k] })),
  };
}

function umapVersion(): string {
  return `umap-js ${(createRequire(import.meta.url)('umap-js/package.json') as { version: string }).version}`;
}

function embeddingMap(run: LoadedRun, ctx: UserContext, freq: Float64Array, name: (i: number) => NamedItem, opts: { seed: number; maxPoints: number; categories: number }): EmbeddingMap | Note {
  const p = run.model.params().find((q) => q.name === 'goods_emb' || q.name.endsWith('.goods_emb') || q.name.endsWith('goods'));
  if (!p) return { note: `The ${run.model.config.model} model has no goods embedding table to map.` };
  const dim = p.shape[1];
  const c = run.catalog;
  const rowOf = (i: number): number => (c.goodsRows ? c.goodsRows[i] : i);
  const oov = c.goodsOov && c.numGoodsRows !== undefined ? c.numGoodsRows - 1 : -2;
  const seenRows = new Set<number>();
  // Items sharing a goods row (filtered-out goods, the OOV row) have no embedding of their own: leave them out.
  const groups = topCategoryItems(run.data, freq, opts.categories, Math.floor(opts.maxPoints / opts.categories), (i) => rowOf(i) >= 0 && rowOf(i) !== oov);
  const kept = groups.map((g) => ({
    attr: g.attr,
    items: g.items.filter((i) => {
      const r = rowOf(i);
      if (seenRows.has(r)) return false;
      seenRows.add(r);
      return true;
    }),
  })).filter((g) => g.items.length > 0);
  const items = kept.flatMap((g) => g.items);
  if (items.length < 5) return { note: `Too few items with categories and their own goods embedding to map (${items.length}).` };
  const X = items.map((i) => Array.from(p.value.subarray(rowOf(i) * dim, rowOf(i) * dim + dim)));
  const nNeighbors = Math.min(15, items.length - 1);
  const minDist = 0.1;
  const rng = new Rng(opts.seed);
  const umap = new UMAP({ nComponents: 2, nNeighbors, minDist, random: () => rng.next() });
  const Y = umap.fit(X);
  const { ctr } = scoreCandidates(run, ctx, items);
  let k = 0;
  return {
    method: `UMAP (${umapVersion()}, nNeighbors ${nNeighbors}, minDist ${minDist}, seed ${opts.seed}) of the ${dim}-d goods embeddings`,
    user: run.data.userKeys[ctx.user],
    param: p.name,
    categories: kept.map((g) => ({
      name: run.catalog.attrKeys[g.attr] ?? String(g.attr),
      points: g.items.map((i) => {
        const n = name(i);
        const pt = { x: Y[k][0], y: Y[k][1], key: n.key, label: n.label, ctr: ctr[k] };
        k++;
        return pt;
      }),
    })),
  };
}

/** Everything the report shows, computed from the run and/or compare directories. */
export async function buildReportData(opts: ReportOptions): Promise<ReportData> {
  if (!opts.run && !opts.compare) throw new Error('give a run directory (--run) and/or a compare directory (--compare)');
  const seed = opts.seed ?? 1;
  const log = opts.log ?? (() => {});
  const curves: CurveSeries[] = [];
  let table: TableRow[] | null = null;
  let compareInfo: ReportData['compare'] = null;
  if (opts.compare) {
    const dir = resolve(opts.compare);
    const c = readJson<CompareResult>(join(dir, 'compare.json'), 'a `din compare --out` directory holds compare.json');
    if (!Array.isArray(c.rows)) throw new Error(`${join(dir, 'compare.json')}: no "rows" array`);
    curves.push(...curvesFromCompare(c));
    table = c.rows.length ? tableFromCompare(c) : null;
    compareInfo = { dir, data: c.data };
  }
  let run: ReportData['run'] = null;
  let attention: AttentionView | Note = { note: 'No run given (--run): the attention view needs a trained DIN model.' };
  let embedding: EmbeddingMap | Note = { note: 'No run given (--run): the embedding map needs a trained model.' };
  if (opts.run) {
    const dir = resolve(opts.run);
    const m = readJson<RunMetrics>(join(dir, 'metrics.json'), 'a `din train --out` directory holds metrics.json');
    if (!Array.isArray(m.history)) throw new Error(`${join(dir, 'metrics.json')}: no "history" array`);
    run = {
      dir,
      model: m.model,
      dataset: m.dataset,
      evaluatedOn: m.evaluatedOn,
      test: { gauc: m.test.gauc, auc: m.test.auc, logloss: m.test.logloss, samples: m.test.samples },
      bestEpoch: m.bestEpoch ?? m.history.length,
    };
    curves.unshift(curvesFromRun(m, `${basename(dir)} (${m.model})`));
    if (!existsSync(join(dir, 'model.json'))) {
      const note = `${dir} holds no saved model (model.json): train with --out to get the attention view and embedding map.`;
      attention = { note };
      embedding = { note };
    } else {
      const lr = await loadRun(dir, opts.backend);
      const name = itemNamer(lr);
      const freq = itemFrequency(lr.data);
      const { user, chosen } = pickUser(lr.data, opts.user, seed);
      const ctx = userContext(lr.data, user, lr.maxHistory)!;
      const nOthers = opts.others ?? 3;
      const others = topCategoryItems(lr.data, freq, nOthers + 2, 1, () => true).map((g) => g.items[0]).filter((i) => !ctx.hist.includes(i)).slice(0, nOthers);
      log(`report: user ${lr.data.userKeys[user]} (${chosen}), ${ctx.hist.length} behaviours`);
      attention = attentionView(lr, ctx, chosen, name, others);
      embedding = embeddingMap(lr, ctx, freq, name, { seed, maxPoints: opts.maxPoints ?? 600, categories: opts.categories ?? 5 });
    }
  }
  const title = run ? `din report: ${basename(run.dir)} (${run.model} on ${run.dataset})` : `din report: ${basename(compareInfo!.dir)}`;
  return { title, createdAt: new Date().toISOString(), run, compare: compareInfo, curves, table, attention, embedding };
}
