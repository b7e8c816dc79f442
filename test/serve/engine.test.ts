import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { Batch, ItemCatalog } from '../../src/core/types.js';
import type { ItemField, SampleField } from '../../src/core/fields.js';
import { loadDataset } from '../../src/data/load.js';
import type { Backend } from '../../src/kernels/backend.js';
import { createBackend } from '../../src/kernels/backends.js';
import { createModel } from '../../src/models/index.js';
import { DEFAULT_MODEL_CONFIG, type Model, type ModelConfig } from '../../src/models/model.js';
import { RankingEngine, type EngineOptions } from '../../src/serve/engine/engine.js';
import { PRelu } from '../../src/nn/prelu.js';
import { Dice } from '../../src/nn/dice.js';
import { Sigmoid } from '../../src/nn/sigmoid.js';
import type { ActivationLayer } from '../../src/nn/layer.js';
import type { RankItem, RankRequest, RankResponse } from '../../src/serve/types.js';
import { runTraining } from '../../src/train/run.js';
import { DEFAULT_TRAIN_OPTIONS } from '../../src/train/trainer.js';
import { Rng } from '../../src/util/rng.js';
import { hashString } from '../../src/core/hash.js';

const js = createBackend('js');
const jsF32 = createBackend('js-f32');
const wasm = createBackend('wasm');
const sigmoid = (x: number): number => 1 / (1 + Math.exp(-x));

// ------------------------------------------------------------------------------------------------------ fixtures

const ATTRS = [[0], [1, 2], [2], [], [3, 0, 1], [4], [0, 4], [1], [2, 3], [3], [], [4, 4]];

/**
 * 12 items "i0".."i11", 5 attributes "a0".."a4" (items 3 and 10 have none, several have more than one). With `fields`:
 * a shop field with an OOV row, a brand field without one, items 4 and 7 without a goods id, and goods row 11 (item 11)
 * is the goods OOV row; user field gender (OOV row) and context field pid (no OOV row).
 */
function catalogOf(fields: boolean): { catalog: ItemCatalog; sampleFields: SampleField[] } {
  const attrOffsets = new Int32Array(ATTRS.length + 1);
  ATTRS.forEach((a, i) => (attrOffsets[i + 1] = attrOffsets[i] + a.length));
  const catalog: ItemCatalog = {
    numItems: 12, numAttrs: 5, attrOffsets, attrValues: Int32Array.from(ATTRS.flat()),
    itemKeys: Array.from({ length: 12 }, (_, i) => `i${i}`), attrKeys: ['a0', 'a1', 'a2', 'a3', 'a4'],
  };
  if (!fields) return { catalog, sampleFields: [] };
  const shop: ItemField = { name: 'shop', size: 4, keys: ['<oov>', 's1', 's2', 's3'], oov: true, values: Int32Array.from([0, 1, 2, 3, 0, 1, -1, 2, 3, 0, 1, 2]) };
  const brand: ItemField = { name: 'brand', size: 3, keys: ['b0', 'b1', 'b2'], values: Int32Array.from([2, 1, 0, 2, 1, 0, 2, 1, 0, 2, 1, 0]) };
  return {
    catalog: {
      ...catalog, itemFields: [shop, brand],
      goodsRows: Int32Array.from([0, 1, 2, 3, -1, 5, 6, -1, 8, 9, 10, 11]), numGoodsRows: 12, goodsOov: true,
    },
    sampleFields: [
      { name: 'gender', group: 'user', size: 3, keys: ['<oov>', 'f', 'm'], oov: true },
      { name: 'pid', group: 'context', size: 2, keys: ['p0', 'p1'] },
    ],
  };
}

/** Tiny widths; `over` picks the model. */
function config(over: Partial<ModelConfig> & Pick<ModelConfig, 'model'>): ModelConfig {
  return { ...DEFAULT_MODEL_CONFIG, goodsDim: 3, attrDim: 2, hidden: [7, 4], attentionHidden: [5, 3], wideBuckets: 97, ...over };
}

/** A model with random (non-trivial) weights and Dice moving averages. */
function randomModel(cfg: ModelConfig, backend: Backend, fields: boolean, seed = 5): { model: Model; catalog: ItemCatalog; sampleFields: SampleField[] } {
  const { catalog, sampleFields } = catalogOf(fields);
  const model = createModel(cfg, { backend, catalog, seed, sampleFields });
  const rng = new Rng(seed * 31 + 7);
  for (const p of model.params()) for (let i = 0; i < p.value.length; i++) p.value[i] += rng.normal() * 0.5;
  for (const [name, b] of Object.entries(model.buffers())) {
    for (let i = 0; i < b.length; i++) b[i] = name.endsWith('.mean') ? rng.normal() * 0.3 : 0.4 + rng.next();
  }
  return { model, catalog, sampleFields };
}

/** The training code's answer: sigmoid(model.forward) on one batch, history repeated per candidate. */
function reference(model: Model, cands: number[], hist: number[], fieldIds?: number[]): { ctr: number[]; att: number[][] | null } {
  const N = cands.length;
  const L = hist.length;
  const T = Math.max(1, L);
  const b: Batch = {
    size: N, T, labels: new Float32Array(N), users: new Int32Array(N), items: Int32Array.from(cands),
    hist: new Int32Array(N * T).fill(-1), lengths: new Int32Array(N).fill(L), index: new Int32Array(N),
    ...(fieldIds ? { fieldValues: fieldIds.map((id) => new Int32Array(N).fill(id)) } : {}),
  };
  for (let c = 0; c < N; c++) for (let t = 0; t < L; t++) b.hist[c * T + t] = hist[t];
  const ctr = Array.from(model.forward(b, 'eval'), sigmoid);
  const a = model.attention();
  const att = a ? cands.map((_, c) => Array.from(a.weights.subarray(c * T, c * T + L))) : null;
  return { ctr, att };
}

/** ctr of each candidate in request order. */
function ctrByIndex(res: RankResponse, n: number): number[] {
  const out = new Array<number>(n).fill(NaN);
  for (const c of res.candidates) out[c.index] = c.ctr;
  return out;
}

function assertClose(actual: number[], expected: number[], tol: number, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < actual.length; i++) {
    assert.ok(Math.abs(actual[i] - expected[i]) <= tol, `${what}[${i}]: ${actual[i]} vs ${expected[i]} (|Δ| ${Math.abs(actual[i] - expected[i])} > ${tol})`);
  }
}

const item = (i: number): RankItem => ({ id: `i${i}` });

const KINDS: Array<{ name: string; cfg: Partial<ModelConfig> & Pick<ModelConfig, 'model'> }> = [
  { name: 'lr', cfg: { model: 'lr' } },
  { name: 'base', cfg: { model: 'base' } },
  { name: 'base avg concat-product dice', cfg: { model: 'base', pooling: 'avg', mlpInput: 'concat-product', activation: 'dice' } },
  { name: 'wide-deep', cfg: { model: 'wide-deep' } },
  { name: 'pnn', cfg: { model: 'pnn' } },
  { name: 'deepfm', cfg: { model: 'deepfm' } },
  { name: 'din prelu', cfg: { model: 'din' } },
  { name: 'din dice (attention and MLP)', cfg: { model: 'din', activation: 'dice', attentionActivation: 'dice' } },
  { name: 'din softmax concat-product sigmoid-attention', cfg: { model: 'din', attentionNorm: 'softmax', mlpInput: 'concat-product', attentionActivation: 'sigmoid' } },
  { name: 'din no attention hidden layers', cfg: { model: 'din', attentionHidden: [], hidden: [] } },
];

const MAX_HISTORY = 6;
const CANDS = [2, 5, 7, 0, 10, 3, 11, 2];
/** Histories: empty, one, several (with duplicates and the candidate itself), longer than maxHistory. */
const HISTS = [[], [4], [1, 2, 6, 2, 8], [9, 1, 2, 3, 4, 5, 6, 7, 8]];

for (const { name, cfg } of KINDS) {
  for (const [backend, tol] of [[js, 1e-9], [jsF32, 1e-5], [wasm, 1e-5]] as const) {
    for (const fields of [false, true]) {
      if (backend === jsF32 && !fields) continue;
      test(`${name} (${backend.name}${fields ? ', item/user/context fields' : ''}): ctr = sigmoid(model.forward) for histories of length 0, 1, 5, 9 > maxHistory`, () => {
        const { model, catalog, sampleFields } = randomModel(config(cfg), backend, fields);
        const engine = RankingEngine.fromModel(model, { catalog, sampleFields, maxHistory: MAX_HISTORY });
        assert.equal(engine.path, cfg.model === 'base' || cfg.model === 'din' ? 'fast' : 'generic');
        assert.equal(engine.maxHistory, MAX_HISTORY);
        const profile = fields ? { gender: 'm' } : undefined;
        const context = fields ? { pid: 'p1' } : undefined;
        const fieldIds = fields ? [2, 1] : undefined;
        for (const hist of HISTS) {
          const req: RankRequest = {
            user: { behaviors: hist.map(item), ...(profile ? { profile } : {}) },
            candidates: CANDS.map(item), ...(context ? { context } : {}), explain: true,
          };
          const used = hist.slice(-MAX_HISTORY);
          const res = engine.rank(req);
          const ref = reference(model, CANDS, used, fieldIds);
          assertClose(ctrByIndex(res, CANDS.length), ref.ctr, tol, `ctr, history ${hist.length}`);
          assert.equal(res.behaviorsUsed, used.length);
          assert.equal(res.truncated, hist.length > MAX_HISTORY ? true : undefined);
          assert.equal(res.unknown, undefined);
          assert.equal(res.model, cfg.model);
          if (cfg.model === 'din') {
            for (const c of res.candidates) {
              assert.ok(c.attention, 'explain gives attention weights');
              assertClose(c.attention!, ref.att![c.index], tol, `attention of candidate ${c.index}, history ${hist.length}`);
            }
          } else {
            for (const c of res.candidates) assert.equal(c.attention, undefined);
          }
        }
      });
    }
  }
}

test('fast path = generic path (the training forward on a virtual catalog) for items the catalog does not know', () => {
  for (const cfg of [config({ model: 'din', activation: 'dice', attentionActivation: 'dice' }), config({ model: 'base', mlpInput: 'concat-product' })]) {
    const { model, catalog, sampleFields } = randomModel(cfg, js, true, 9);
    const meta = { catalog, sampleFields, maxHistory: MAX_HISTORY };
    const fast = RankingEngine.fromModel(model, meta);
    const generic = RankingEngine.fromModel(model, meta, { fastPath: false });
    assert.equal(fast.path, 'fast');
    assert.equal(generic.path, 'generic');
    const req: RankRequest = {
      user: {
        profile: { gender: 'x' },
        behaviors: [{ id: 'new1', category: ['a1', 'a3', 'zz'], fields: { shop: 's3', brand: 'b1' } }, item(2), { category: 'a0' }, { fields: { shop: 'nope' } }],
      },
      context: { pid: 'p0' },
      candidates: [item(1), { id: 'new2', category: 'a2' }, { category: ['a4', 'a4', 'a1'], fields: { brand: 'b2' } }, item(4), {}],
      explain: true,
    };
    const a = fast.rank(req);
    const b = generic.rank(req);
    assertClose(ctrByIndex(a, 5), ctrByIndex(b, 5), 1e-12, `${cfg.model} fast vs generic`);
    assert.deepEqual(a.unknown, b.unknown);
    assert.deepEqual(a.unknown, { 'candidates.id': 1, 'behaviors.id': 1, 'behaviors.category': 1, 'behaviors.fields.shop': 1, 'profile.gender': 1 });
    if (cfg.model === 'din') for (let j = 0; j < 5; j++) assertClose(a.candidates[j].attention!, b.candidates[j].attention!, 1e-12, 'attention');
  }
});

for (const backend of [js, wasm]) {
  test(`unknown values map to the OOV rows (${backend.name}): same logit as the explicit OOV ids, counted in unknown`, () => {
    for (const kind of ['din', 'base', 'deepfm', 'wide-deep', 'lr'] as const) {
      const { model, catalog, sampleFields } = randomModel(config({ model: kind, activation: 'dice' }), backend, true, 3);
      const engine = RankingEngine.fromModel(model, { catalog, sampleFields, maxHistory: MAX_HISTORY });
      // Item 11 is on the goods OOV row with attributes [a4, a4], shop s2, brand b0: an unknown id described the same
      // way is the same item to the model.
      const twin = { id: 'never-seen', category: ['a4', 'a4'], fields: { shop: 's2', brand: 'b0' } };
      const req = (cand: RankItem, beh: RankItem, gender: string): RankRequest => ({
        user: { profile: { gender }, behaviors: [item(1), beh] }, context: { pid: 'p1' }, candidates: [cand, item(3)],
      });
      const known = engine.rank(req(item(11), item(11), '<oov>'));
      const unknown = engine.rank(req(twin, twin, 'never'));
      assert.deepEqual(ctrByIndex(unknown, 2), ctrByIndex(known, 2), `${kind}: unknown goods id / gender = OOV rows`);
      assert.deepEqual(unknown.unknown, { 'candidates.id': 1, 'behaviors.id': 1, 'profile.gender': 1 });
      assert.equal(known.unknown, undefined);
      const ref = reference(model, [11, 3], [1, 11], [0, 1]);
      assertClose(ctrByIndex(unknown, 2), ref.ctr, backend === js ? 1e-9 : 1e-5, `${kind}: explicit OOV ids in the training forward`);
      // A known id ignores the request's description.
      assert.deepEqual(ctrByIndex(engine.rank(req({ ...item(11), category: 'a0', fields: { shop: 's1' } }, item(11), '<oov>')), 2), ctrByIndex(known, 2));
      // Unknown shop value → shop's OOV row 0 (items 0 and 4 have shop 0).
      const shopOov = engine.rank(req({ id: 'x', category: 'a0', fields: { shop: 'unseen', brand: 'b2' } }, item(1), 'f'));
      const shop0 = engine.rank(req({ id: 'x', category: 'a0', fields: { shop: '<oov>', brand: 'b2' } }, item(1), 'f'));
      assert.deepEqual(ctrByIndex(shopOov, 2), ctrByIndex(shop0, 2));
      assert.deepEqual(shopOov.unknown, { 'candidates.id': 1, 'candidates.fields.shop': 1 });
    }
  });
}

test('values of tables without an OOV row contribute zeros (unknown brand, pid; unknown category dropped from the bag)', () => {
  for (const kind of ['din', 'base', 'pnn', 'lr'] as const) {
    const { model, catalog, sampleFields } = randomModel(config({ model: kind }), js, true, 4);
    // Zero the rows of brand b1 and pid p0 (every table that holds them), so "zeros" has a known twin.
    for (const p of model.params()) {
      if (/(^|\.)(field\.brand|cand_brand|hist_brand)$/.test(p.name)) p.value.fill(0, 1 * p.shape[1], 2 * p.shape[1]);
      if (/(ctx\.pid|ctx_pid)$/.test(p.name)) p.value.fill(0, 0, p.shape[1]);
    }
    for (const fastPath of [true, false]) {
      const engine = RankingEngine.fromModel(model, { catalog, sampleFields, maxHistory: MAX_HISTORY }, { fastPath });
      const req = (brand: string, pid: string, cats: string[]): RankRequest => ({
        user: { profile: { gender: 'f' }, behaviors: [item(2), { category: cats, fields: { brand } }] },
        context: { pid }, candidates: [{ category: cats, fields: { brand } }, item(5)],
      });
      const zeros = engine.rank(req('no-such-brand', 'no-such-pid', ['a1', 'nope', 'a3']));
      const twin = engine.rank(req('b1', 'p0', ['a1', 'a3']));
      assertClose(ctrByIndex(zeros, 2), ctrByIndex(twin, 2), 1e-12, `${kind} fastPath=${fastPath}`);
      assert.deepEqual(zeros.unknown, {
        'candidates.category': 1, 'candidates.fields.brand': 1, 'behaviors.category': 1, 'behaviors.fields.brand': 1, 'context.pid': 1,
      });
    }
  }
});

test('an absent profile/context value is the empty string (the value the sources read for a missing cell)', () => {
  const { model, catalog, sampleFields } = randomModel(config({ model: 'din' }), js, true, 6);
  const engine = RankingEngine.fromModel(model, { catalog, sampleFields, maxHistory: MAX_HISTORY });
  const res = engine.rank({ user: { behaviors: [item(1)] }, candidates: [item(2)] });
  assert.deepEqual(res.unknown, { 'profile.gender': 1, 'context.pid': 1 });
  // gender → OOV row 0; pid (no OOV row) → zeros: the training forward with pid p0 once p0's row is zero (the fast
  // path reads the tables in place).
  for (const p of model.params()) if (p.name === 'ctx.pid') p.value.fill(0, 0, p.shape[1]);
  assertClose(ctrByIndex(engine.rank({ user: { behaviors: [item(1)] }, candidates: [item(2)] }), 1),
    reference(model, [2], [1], [0, 0]).ctr, 1e-9, 'absent values');
});

test('vocabulary sources (schema, taobao): goods row 0 and category <oov> are the OOV rows; hashed goods and categories', () => {
  const keys = ['g0', 'g1', 'g2', 'g3', 'g4', 'g5'];
  const attrs = [[1], [2], [1, 2], [2], [], [1]];
  const attrOffsets = new Int32Array(7);
  attrs.forEach((a, i) => (attrOffsets[i + 1] = attrOffsets[i] + a.length));
  const base = { numItems: 6, attrOffsets, attrValues: Int32Array.from(attrs.flat()), itemKeys: keys };
  // Vocabulary catalog: item g3 was only seen in test, so its goods id is on the OOV row 0.
  const vocab: ItemCatalog = { ...base, numAttrs: 3, attrKeys: ['<oov>', 'c1', 'c2'], goodsRows: Int32Array.from([1, 2, 3, 0, 4, 5]), numGoodsRows: 6 };
  for (const kind of ['base', 'deepfm'] as const) {
    const model = createModel(config({ model: kind }), { backend: js, catalog: vocab, seed: 3 });
    for (const p of model.params()) for (let i = 0; i < p.value.length; i++) p.value[i] += Math.sin(i + p.value.length) * 0.5;
    const engine = RankingEngine.fromModel(model, { catalog: vocab, datasetFormat: 'schema' });
    const r = (cands: RankItem[]) => engine.rank({ user: { behaviors: [{ id: 'g1' }] }, candidates: cands });
    const a = r([{ id: 'new', category: 'c2' }, { id: 'new2', category: ['nope', 'c1'] }]);
    const b = r([{ id: 'g3' }, { id: 'g3', category: 'ignored' }]);
    assert.equal(ctrByIndex(a, 2)[0], ctrByIndex(b, 2)[0], `${kind}: unknown goods id → row 0`);
    const c = r([{ id: 'x', category: ['<oov>', 'c1'] }, { id: 'new2', category: ['nope', 'c1'] }]);
    assert.equal(ctrByIndex(a, 2)[1], ctrByIndex(c, 2)[0], `${kind}: unknown category → <oov> attribute`);
    assert.deepEqual(a.unknown, { 'candidates.id': 2, 'candidates.category': 1 });
    assert.equal(engine.describe().item.id.oov, true);
    assert.equal(engine.describe().item.category?.oov, true);
    // Without the source format, a goods map is not taken for a vocabulary: unknown goods ids add zeros.
    const plain = RankingEngine.fromModel(model, { catalog: vocab });
    assert.equal(plain.describe().item.id.oov, false);
  }
  // Hashed goods and categories: every id has a bucket (never "unknown").
  const rows = 7;
  const hashed: ItemCatalog = {
    ...base, numAttrs: 4, attrKeys: ['#0', '#1', '#2', '#3'], numGoodsRows: rows,
    goodsRows: Int32Array.from(keys, (k) => hashString(k) % rows),
  };
  const model = createModel(config({ model: 'din' }), { backend: js, catalog: hashed, seed: 4 });
  for (const p of model.params()) for (let i = 0; i < p.value.length; i++) p.value[i] += Math.cos(3 * i + p.value.length) * 0.5;
  const engine = RankingEngine.fromModel(model, { catalog: hashed, datasetFormat: 'schema' });
  let twin = 0;
  while (hashString(`x${twin}`) % rows !== hashString('g0') % rows) twin++;
  const res = engine.rank({ user: { behaviors: [{ id: 'g2' }] }, candidates: [{ id: `x${twin}`, category: 'shoes' }, { id: 'g0' }] });
  assert.equal(res.unknown, undefined);
  assert.equal(engine.describe().item.id.hashed, true);
  assert.equal(engine.describe().item.category?.hashed, true);
  // The unknown id shares g0's goods bucket; with a category value hashing to g0's attribute bucket it is g0.
  const g0Attr = attrs[0][0];
  let v = 0;
  while (hashString(`v${v}`) % 4 !== g0Attr) v++;
  const same = engine.rank({ user: { behaviors: [{ id: 'g2' }] }, candidates: [{ id: `x${twin}`, category: `v${v}` }, { id: 'g0' }] });
  const ctr = ctrByIndex(same, 2);
  assertClose([ctr[0]], [ctr[1]], 1e-12, 'hashed twin');
});

test('ranking: by eCPM = ctr^alpha · bid when every candidate has a bid, else by ctr; topK; ranks 1..k', () => {
  const { model, catalog } = randomModel(config({ model: 'din' }), js, false, 8);
  const engine = RankingEngine.fromModel(model, { catalog, maxHistory: MAX_HISTORY });
  const hist = [1, 4, 6].map(item);
  const ids = [0, 2, 5, 7, 8, 9];
  const bids = [1, 3, 0.5, 2, 0, 10];
  const plain = engine.rank({ user: { behaviors: hist }, candidates: ids.map(item) });
  assert.equal(plain.rankedBy, 'ctr');
  const ctr = ctrByIndex(plain, ids.length);
  assert.deepEqual(plain.candidates.map((c) => c.index), ids.map((_, i) => i).sort((a, b) => ctr[b] - ctr[a]));
  assert.deepEqual(plain.candidates.map((c) => c.rank), [1, 2, 3, 4, 5, 6]);
  assert.deepEqual(plain.candidates.map((c) => c.id), plain.candidates.map((c) => `i${ids[c.index]}`));
  for (const alpha of [1, 0.5, 2]) {
    const res = engine.rank({ user: { behaviors: hist }, candidates: ids.map((i, k) => ({ ...item(i), bid: bids[k] })), alpha, topK: 4 });
    assert.equal(res.rankedBy, 'ecpm');
    const ecpm = ids.map((_, k) => Math.pow(ctr[k], alpha) * bids[k]);
    const order = ids.map((_, i) => i).sort((a, b) => ecpm[b] - ecpm[a]);
    assert.deepEqual(res.candidates.map((c) => c.index), order.slice(0, 4));
    assert.deepEqual(res.candidates.map((c) => c.rank), [1, 2, 3, 4]);
    for (const c of res.candidates) {
      assert.equal(c.ctr, ctr[c.index]);
      assert.ok(Math.abs(c.ecpm! - ecpm[c.index]) <= 1e-15 * Math.max(1, ecpm[c.index]));
    }
  }
  // One candidate without a bid: ranked by ctr, ecpm only where there is a bid.
  const mixed = engine.rank({ user: { behaviors: hist }, candidates: ids.map((i, k) => (k === 2 ? item(i) : { ...item(i), bid: bids[k] })), topK: 10 });
  assert.equal(mixed.rankedBy, 'ctr');
  assert.deepEqual(mixed.candidates.map((c) => c.index), plain.candidates.map((c) => c.index));
  for (const c of mixed.candidates) assert.equal(c.ecpm === undefined, c.index === 2);
  // No explain: no attention.
  for (const c of mixed.candidates) assert.equal(c.attention, undefined);
});

for (const backend of [js, wasm]) {
  test(`rankMany equals rank one by one (${backend.name})`, () => {
    for (const kind of ['din', 'base', 'deepfm'] as const) {
      const { model, catalog, sampleFields } = randomModel(config({ model: kind, activation: 'dice', attentionActivation: 'dice' }), backend, true, 12);
      const engine = RankingEngine.fromModel(model, { catalog, sampleFields, maxHistory: MAX_HISTORY }, { maxCandidates: 10 });
      const rng = new Rng(2);
      const reqs: RankRequest[] = Array.from({ length: 9 }, (_, r) => ({
        user: {
          profile: { gender: ['f', 'm', '?'][r % 3] },
          behaviors: Array.from({ length: [0, 1, 3, 9, 6, 2, 0, 4, 7][r] }, () => (rng.next() < 0.2 ? { id: `n${rng.int(5)}`, category: `a${rng.int(6)}` } : item(rng.int(12)))),
        },
        candidates: Array.from({ length: 1 + rng.int(8) }, () => ({ ...item(rng.int(12)), bid: rng.next() })),
        context: { pid: `p${rng.int(3)}` },
        explain: r % 2 === 0,
        topK: r === 3 ? 2 : undefined,
      }));
      const many = engine.rankMany(reqs);
      const one = reqs.map((r) => engine.rank(r));
      assert.equal(many.length, reqs.length);
      if (backend === js) {
        assert.deepEqual(many, one);
      } else {
        for (let r = 0; r < reqs.length; r++) {
          assert.deepEqual(many[r].candidates.map((c) => c.index), one[r].candidates.map((c) => c.index));
          assertClose(many[r].candidates.map((c) => c.ctr), one[r].candidates.map((c) => c.ctr), 1e-6, `request ${r}`);
          assert.deepEqual({ ...many[r], candidates: [] }, { ...one[r], candidates: [] });
        }
      }
      assert.deepEqual(engine.rankMany([]), []);
      const bad = [reqs[0], { ...reqs[1], candidates: [{ id: 'i1', bid: -1 }] }];
      assert.throws(() => engine.rankMany(bad), /^Error: requests\[1\]\.candidates\[0\]\.bid: expected a finite number ≥ 0/);
    }
  });
}

test('inputs the engine cannot accept throw an Error naming the field; no input crashes it', () => {
  const { model, catalog, sampleFields } = randomModel(config({ model: 'din' }), wasm, true, 13);
  const engine = RankingEngine.fromModel(model, { catalog, sampleFields, maxHistory: MAX_HISTORY }, { maxCandidates: 5, maxBehaviors: 8 });
  const ok: RankRequest = { user: { behaviors: [item(1)] }, candidates: [item(2)] };
  const cases: Array<[unknown, RegExp]> = [
    [null, /^request: expected an object/],
    [{}, /^candidates: expected an array/],
    [{ candidates: Array(6).fill(item(1)) }, /^candidates: 6 candidates, at most 5/],
    [{ ...ok, user: { behaviors: Array(9).fill(item(1)) } }, /^user\.behaviors: 9 behaviours, at most 8/],
    [{ candidates: [item(1), item(2), item(3), { fields: { shop_id: '1' } }] }, /^candidates\[3\]\.fields\.shop_id: the model has no item field "shop_id" \(its item fields: shop, brand\)/],
    [{ candidates: [{ id: { x: 1 } }] }, /^candidates\[0\]\.id: expected a string or a number/],
    [{ candidates: [{ id: NaN }] }, /^candidates\[0\]\.id: expected a string or a finite number/],
    [{ candidates: [{ category: ['a1', null] }] }, /^candidates\[0\]\.category\[1\]: expected a string or a number, got null/],
    [{ candidates: [{ category: Array(65).fill('a1') }] }, /^candidates\[0\]\.category: 65 values, at most 64/],
    [{ candidates: [5] }, /^candidates\[0\]: expected an object/],
    [{ candidates: [{ bid: '3' }] }, /^candidates\[0\]\.bid: expected a finite number ≥ 0/],
    [{ ...ok, user: { behaviors: [item(1), 'i2'] } }, /^user\.behaviors\[1\]: expected an object/],
    [{ ...ok, user: { behaviors: ['dropped', ...Array(6).fill(item(1))] } }, /^user\.behaviors\[0\]: expected an object/],
    [{ ...ok, user: { profile: { age: '3' } } }, /^user\.profile\.age: the model has no user-profile field "age" \(its user-profile fields: gender\)/],
    [{ ...ok, context: { gender: 'f' } }, /^context\.gender: the model has no context field "gender" \(its context fields: pid\)/],
    [{ ...ok, alpha: -1 }, /^alpha: expected a finite number ≥ 0/],
    [{ ...ok, topK: 1.5 }, /^topK: expected an integer ≥ 1/],
    [{ ...ok, explain: 'yes' }, /^explain: expected a boolean/],
    [{ ...ok, user: 3 }, /^user: expected an object/],
  ];
  for (const [req, re] of cases) assert.throws(() => engine.rank(req as RankRequest), (e: unknown) => e instanceof Error && re.test(e.message), `${JSON.stringify(req)?.slice(0, 80)} → ${re}`);
  // Random junk: an answer or an Error, and the engine keeps working.
  const rng = new Rng(99);
  const junk = (d: number): unknown => {
    const k = rng.int(d > 2 ? 5 : 9);
    if (k === 0) return rng.int(3) === 0 ? -1e300 : rng.int(20);
    if (k === 1) return ['i1', '', 'zz', '<oov>', 'a1', 's2', 'p1', 'f'][rng.int(8)];
    if (k === 2) return null;
    if (k === 3) return true;
    if (k === 4) return undefined;
    if (k === 5) return Array.from({ length: rng.int(4) }, () => junk(d + 1));
    const keys = ['id', 'category', 'fields', 'bid', 'shop', 'brand', 'gender', 'pid', 'behaviors', 'profile', 'candidates', 'user', 'context', 'topK', 'alpha', 'explain'];
    return Object.fromEntries(Array.from({ length: rng.int(5) }, () => [keys[rng.int(keys.length)], junk(d + 1)]));
  };
  let answered = 0;
  for (let i = 0; i < 2000; i++) {
    const req = { candidates: Array.from({ length: rng.int(4) }, () => junk(1)), ...(junk(0) as object) };
    try {
      engine.rank(req as RankRequest);
      answered++;
    } catch (e) {
      assert.ok(e instanceof Error && !(e instanceof TypeError) && !(e instanceof RangeError), `${String(e)} for ${JSON.stringify(req)}`);
    }
  }
  assert.ok(answered > 0);
  assert.equal(engine.rank(ok).candidates.length, 1);
});

// ------------------------------------------------------------------------------------------- a trained checkpoint

test('a trained DIN saved to disk: the loaded engine gives bit-identical ctr to the in-memory model, a stable version, a valid schema example', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'din-engine-'));
  try {
    const data = await loadDataset({ path: 'synthetic:small', seed: 3, noCache: true });
    const cfg: ModelConfig = { ...DEFAULT_MODEL_CONFIG, model: 'din', activation: 'dice', attentionActivation: 'dice', goodsDim: 6, attrDim: 6, hidden: [16, 8], attentionHidden: [8, 4] };
    const options = { ...DEFAULT_TRAIN_OPTIONS, epochs: 1, batchSize: 128, maxHistory: 12 };
    const { model } = runTraining({ data, config: cfg, options, backend: wasm, out: dir, dataPath: 'synthetic:small' });
    const opts: EngineOptions = { maxCandidates: 300 };
    const loaded = RankingEngine.load(dir, opts);
    const memory = RankingEngine.fromModel(model, { catalog: data.catalog, maxHistory: 12 }, opts);
    assert.equal(loaded.maxHistory, 12);
    assert.equal(loaded.modelName, 'din');
    assert.match(loaded.modelVersion, /^[0-9a-f]{12}-\d{4}-\d\d-\d\dT/);
    assert.equal(RankingEngine.load(dir).modelVersion, loaded.modelVersion, 'same checkpoint, same version');
    // Requests from test samples: each user's history, 200 candidates.
    const set = data.test;
    const keys = data.catalog.itemKeys;
    let checked = 0;
    for (let s = 0; s < set.size && checked < 5; s += 97, checked++) {
      const hist = Array.from(set.histValues.subarray(set.histStart[s], set.histStart[s] + set.histLen[s]));
      const cands = Array.from({ length: 200 }, (_, k) => (set.items[s] + k * 7) % data.catalog.numItems);
      const req: RankRequest = { user: { behaviors: hist.map((i) => ({ id: keys[i] })) }, candidates: cands.map((i) => ({ id: keys[i] })), explain: true };
      const a = loaded.rank(req);
      const b = memory.rank(req);
      assert.deepEqual(a.candidates.map((c) => c.ctr), b.candidates.map((c) => c.ctr), 'bit-identical');
      assert.deepEqual(a.candidates.map((c) => c.attention), b.candidates.map((c) => c.attention));
      const used = hist.slice(-12);
      const ref = reference(model, cands, used);
      assertClose(ctrByIndex(a, 200), ref.ctr, 1e-5, `sample ${s}`);
      for (const c of a.candidates) assertClose(c.attention!, ref.att![c.index], 1e-5, `attention, sample ${s}`);
      assert.equal(a.truncated, hist.length > 12 ? true : undefined);
    }
    const schema = loaded.describe();
    assert.equal(schema.model, 'din');
    assert.equal(schema.modelVersion, loaded.modelVersion);
    assert.equal(schema.maxHistory, 12);
    assert.equal(schema.explain, true);
    assert.equal(schema.item.id.vocabulary, data.catalog.numItems);
    assert.equal(schema.item.category?.vocabulary, data.catalog.numAttrs);
    assert.deepEqual(schema.limits, { maxCandidates: 300, maxBehaviors: 1000, maxHistory: 12, maxCategoryValues: 64 });
    const ex = loaded.rank(schema.example);
    assert.equal(ex.rankedBy, 'ecpm');
    assert.equal(ex.candidates.length, 3);
    assert.equal(ex.behaviorsUsed, 3);
    assert.equal(ex.unknown, undefined);
    assert.deepEqual(JSON.parse(JSON.stringify(schema)), schema, 'plain JSON');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('describe() lists every field with its vocabulary, OOV row and examples; its example is valid with sample fields', () => {
  const { model, catalog, sampleFields } = randomModel(config({ model: 'deepfm' }), js, true, 2);
  const engine = RankingEngine.fromModel(model, { catalog, sampleFields, maxHistory: MAX_HISTORY });
  const s = engine.describe();
  assert.equal(s.explain, false);
  assert.deepEqual(s.user.profile, [{ path: 'user.profile.gender', name: 'gender', vocabulary: 3, oov: true, examples: ['f', 'm'] }]);
  assert.deepEqual(s.context, [{ path: 'context.pid', name: 'pid', vocabulary: 2, oov: false, examples: ['p0', 'p1'] }]);
  assert.deepEqual(s.item.id, { path: 'candidates[].id', name: 'id', vocabulary: 12, oov: true, examples: ['i0', 'i1', 'i2'] });
  assert.deepEqual(s.item.category, { path: 'candidates[].category', name: 'category', vocabulary: 5, oov: false, examples: ['a0', 'a1', 'a2'] });
  assert.deepEqual(s.item.fields.map((f) => [f.name, f.vocabulary, f.oov, f.examples]), [['shop', 4, true, ['s1', 's2', 's3']], ['brand', 3, false, ['b0', 'b1', 'b2']]]);
  assert.deepEqual(s.example.user?.profile, { gender: 'f' });
  assert.deepEqual(s.example.context, { pid: 'p0' });
  const res = engine.rank(s.example);
  assert.equal(res.unknown, undefined);
  assert.equal(res.candidates.length, 3);
});

test('a new engine on changed weights has another version; the same weights the same version', () => {
  const { model, catalog } = randomModel(config({ model: 'base' }), js, false, 1);
  const v1 = RankingEngine.fromModel(model, { catalog }).modelVersion;
  assert.equal(RankingEngine.fromModel(model, { catalog }).modelVersion, v1);
  model.params()[0].value[0] += 1;
  assert.notEqual(RankingEngine.fromModel(model, { catalog }).modelVersion, v1);
});

// ------------------------------------------------------------------------------------------- the SIMD activations

test('WASM eval kernels on the layers\' eval forms = the float64 reference to float32 accuracy, on grids, tails and extreme inputs', () => {
  const rng = new Rng(21);
  for (const C of [1, 3, 4, 7, 8, 80]) {
    const layers: Array<[string, (be: Backend) => ActivationLayer | null]> = [
      ['none', () => null],
      ['prelu', (be) => new PRelu(be, 'p', C)],
      ['dice', (be) => new Dice(be, 'd', C)],
      ['sigmoid', (be) => new Sigmoid(be, 's', C)],
    ];
    for (const [kind, make] of layers) {
      const l64 = make(js);
      const l32 = make(wasm);
      // Same parameters in both (random α, moving mean and variance).
      const params = (l: ActivationLayer | null) => (l === null ? [] : [...l.params().map((p) => p.value), ...Object.values(l.buffers())]);
      const p64 = params(l64);
      const p32 = params(l32);
      p64.forEach((v, i) => {
        for (let j = 0; j < v.length; j++) v[j] = i === 2 ? 0.2 + rng.next() : rng.normal() * 0.5;
        p32[i].set(v);
      });
      const nA = 3;
      const nB = 5;
      const rows = 2 + nA * nB;
      const a64 = js.prepareActivation(l64 ? l64.evalActivation() : { kind: 'none' }, C);
      const a32 = wasm.prepareActivation(l32 ? l32.evalActivation() : { kind: 'none' }, C);
      assert.equal(a32.kind, kind);
      const x64 = js.alloc(rows * C);
      const x32 = wasm.alloc(rows * C);
      const A64 = js.alloc(nA * C + 1);
      const B64 = js.alloc(nB * 2 * C);
      for (let i = 0; i < x64.length; i++) {
        const k = rng.int(20);
        x64[i] = Math.fround(k === 0 ? 100 * rng.normal() : k === 1 ? (rng.next() < 0.5 ? -1e30 : 1e30) : 4 * rng.normal());
      }
      for (let i = 0; i < A64.length; i++) A64[i] = Math.fround(rng.normal());
      for (let i = 0; i < B64.length; i++) B64[i] = Math.fround(rng.normal());
      x32.set(x64);
      const A32 = wasm.alloc(A64.length);
      const B32 = wasm.alloc(B64.length);
      A32.set(A64);
      B32.set(B64);
      // Rows 1 … 1 + nA·nB: A rows with stride C from offset 1, B rows with stride 2C (every other row).
      js.evalActivationGrid(a64, x64, 1, nA, nB, A64, 1, C, B64, 0, 2 * C);
      wasm.evalActivationGrid(a32, x32, 1, nA, nB, A32, 1, C, B32, 0, 2 * C);
      for (let i = 0; i < x64.length; i++) {
        const e = x64[i];
        const g = x32[i];
        assert.ok(Number.isFinite(g), `${kind} C=${C}: element ${i} is ${g}`);
        assert.ok(Math.abs(g - e) <= 2e-6 * Math.max(1, Math.abs(e)), `${kind} C=${C}: element ${i}: ${g} vs ${e}`);
      }
      // Untouched outside the grid.
      assert.equal(x32[0], Math.fround(x64[0]));
      assert.throws(() => wasm.evalActivationGrid(a32, x32, 3, nA, nB, A32, 1, C, B32, 0, 2 * C), RangeError);
      assert.throws(() => wasm.evalActivationGrid(a32, x32, 1, nA + 1, nB, A32, 1, C, B32, 0, 2 * C), RangeError);
      assert.throws(() => wasm.evalActivationGrid(a32, x32, 0, nA, nB, A64, 1, C, B32, 0, 2 * C), TypeError);
    }
  }
});

test('scoreCatalogItems (the report\'s entry point) = sigmoid(model.forward) and its attention, fast and generic paths', () => {
  for (const cfg of [config({ model: 'din', activation: 'dice' }), config({ model: 'base' }), config({ model: 'pnn' })]) {
    for (const fastPath of [true, false]) {
      const { model, catalog, sampleFields } = randomModel(cfg, js, true);
      const engine = RankingEngine.fromModel(model, { catalog, sampleFields, maxHistory: MAX_HISTORY }, { fastPath, maxCandidates: 3 });
      const hist = HISTS[3];
      const used = hist.slice(-MAX_HISTORY);
      const got = engine.scoreCatalogItems(CANDS, hist, [2, -1]);
      // −1 (zeros) for pid: the reference gets the same zeros from a model whose pid table has an extra zero row.
      const ext = createModel(cfg, { backend: js, catalog, seed: 5, sampleFields: [sampleFields[0], { ...sampleFields[1], size: 3, keys: ['p0', 'p1', ''] }] });
      const extParams = new Map(ext.params().map((p) => [p.name, p]));
      for (const p of model.params()) {
        const q = extParams.get(p.name)!;
        q.value.fill(0);
        q.value.set(p.value);
      }
      const bufs = ext.buffers();
      for (const [name, b] of Object.entries(model.buffers())) bufs[name].set(b);
      const want = reference(ext, CANDS, used, [2, 2]);
      assertClose(got.ctr, want.ctr, 1e-9, `${cfg.model} fastPath=${fastPath} ctr`);
      if (cfg.model === 'din') {
        assert.ok(got.attention);
        got.attention!.forEach((w, c) => assertClose(w, want.att![c], 1e-9, `${cfg.model} fastPath=${fastPath} attention ${c}`));
      } else {
        assert.equal(got.attention, null);
      }
    }
  }
  const { model, catalog } = randomModel(config({ model: 'din' }), js, false);
  const engine = RankingEngine.fromModel(model, { catalog });
  assert.throws(() => engine.scoreCatalogItems([12], []), /not a catalog row/);
  assert.throws(() => engine.scoreCatalogItems([1], [-1]), /not a catalog row/);
  assert.throws(() => engine.scoreCatalogItems([1], [], [0]), /0 ids given|1 ids given/);
});
