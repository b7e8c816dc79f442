import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createModel } from '../../src/models/index.js';
import type { Model, ModelConfig } from '../../src/models/model.js';
import { sigmoidLogLoss } from '../../src/nn/loss.js';
import { be, checkParams } from '../nn/helpers.js';
import { assertPaddingInvariance, context, Rng, tinyBatch, tinyConfig } from './fixtures.js';

/** Spreads the parameters so every nonlinearity is exercised (default init has tiny embeddings and zero biases). */
function perturb(model: Model, seed: number): void {
  const rng = new Rng(seed);
  for (const p of model.params()) {
    const scale = p.name.endsWith('alpha') ? 0 : p.sparse ? 0.7 : p.name.endsWith('bias') ? 0.2 : 0.5;
    for (let i = 0; i < p.value.length; i++) {
      p.value[i] = scale === 0 ? 0.1 + 0.4 * rng.next() : p.name.endsWith('weight') ? p.value[i] * 1.5 : rng.normal() * scale;
    }
  }
}

const configs: Array<Partial<ModelConfig> & Pick<ModelConfig, 'model'>> = [
  { model: 'base', pooling: 'sum', activation: 'prelu' },
  { model: 'base', pooling: 'avg', activation: 'dice' },
  { model: 'din', attentionNorm: 'none', activation: 'prelu', attentionActivation: 'prelu' },
  { model: 'din', attentionNorm: 'softmax', activation: 'dice', attentionActivation: 'dice' },
  { model: 'din', attentionNorm: 'none', activation: 'dice', attentionActivation: 'sigmoid' },
  { model: 'din', attentionNorm: 'softmax', activation: 'prelu', attentionActivation: 'dice', itemBias: false },
  { model: 'base', pooling: 'sum', activation: 'prelu', mlpInput: 'concat-product' },
  { model: 'din', attentionNorm: 'none', activation: 'dice', attentionActivation: 'prelu', mlpInput: 'concat-product' },
];

function label(c: Partial<ModelConfig>): string {
  const extra = (c.itemBias === false ? ' no-bias' : '') + (c.mlpInput === 'concat-product' ? ' [u,q,u⊙q]' : '');
  return c.model === 'base'
    ? `base ${c.pooling} ${c.activation}${extra}`
    : `din ${c.attentionNorm} ${c.activation} att-${c.attentionActivation}${extra}`;
}

for (const [k, over] of configs.entries()) {
  test(`${label(over)}: loss gradient wrt every parameter vs finite differences`, () => {
    const model = createModel(tinyConfig(over), context(be, 10 + k));
    perturb(model, 100 + k);
    const batch = tinyBatch();
    const f = () => sigmoidLogLoss(model.forward(batch, 'train'), batch.labels, batch.size);
    model.zeroGrad();
    const logits = model.forward(batch, 'train');
    const dLogits = be.alloc(batch.size);
    sigmoidLogLoss(logits, batch.labels, batch.size, dLogits);
    model.backward(dLogits);
    const params = model.params();
    const names = params.map((p) => p.name);
    assert.equal(new Set(names).size, names.length, 'param names are unique');
    assert.equal(names[0], 'goods_emb');
    assert.equal(names[1], 'attr_emb');
    assert.equal(names.includes('item_bias'), over.itemBias !== false);
    assert.equal(names.some((n) => n.startsWith('att.')), over.model === 'din');
    const goods = params[0].sparse!;
    const rows = new Set(goods.ids.subarray(0, goods.count));
    assert.ok(!rows.has(9) && !rows.has(11), 'items seen only at padded positions have no gradient row');
    const usesPrelu = over.activation === 'prelu' || over.attentionActivation === 'prelu';
    checkParams(params, f, usesPrelu ? 2 : 0);
  });
}

test('gradients accumulate over two backward calls and zeroGrad clears them', () => {
  const model = createModel(tinyConfig({ model: 'din', activation: 'dice' }), context(be));
  perturb(model, 3);
  const batch = tinyBatch();
  const dLogits = be.alloc(batch.size).fill(0.1);
  model.zeroGrad();
  model.forward(batch, 'train');
  model.backward(dLogits);
  const once = model.params().map((p) => Array.from(p.grad.subarray(0, p.sparse ? p.sparse.count * p.shape[1] : p.grad.length)));
  model.backward(dLogits);
  model.params().forEach((p, i) => {
    const g = Array.from(p.grad.subarray(0, once[i].length));
    g.forEach((v, j) => assert.ok(Math.abs(v - 2 * once[i][j]) < 1e-12, p.name));
  });
  model.zeroGrad();
  for (const p of model.params()) {
    if (p.sparse) assert.equal(p.sparse.count, 0);
    else assert.ok(p.grad.every((v) => v === 0), p.name);
  }
});

for (const over of [
  { model: 'base', pooling: 'avg' },
  { model: 'din', attentionNorm: 'none', activation: 'dice', attentionActivation: 'dice' },
  { model: 'din', attentionNorm: 'softmax' },
] as const) {
  test(`${over.model} ${'pooling' in over ? over.pooling : over.attentionNorm}: padded positions contribute exactly 0`, () => {
    const model = createModel(tinyConfig(over), context(be));
    perturb(model, 5);
    const { batch } = assertPaddingInvariance(model);
    if (over.model === 'din') {
      model.forward(batch, 'train');
      const att = model.attention()!;
      assert.equal(att.T, batch.T);
      for (let b = 0; b < batch.size; b++) for (let t = batch.lengths[b]; t < batch.T; t++) assert.equal(att.weights[b * batch.T + t], 0);
    } else {
      assert.equal(model.attention(), null);
    }
  });
}

test('dice model: eval mode uses the moving averages, train mode does not', () => {
  const model = createModel(tinyConfig({ model: 'din', activation: 'dice', attentionActivation: 'dice' }), context(be));
  perturb(model, 6);
  const bufs = model.buffers();
  assert.deepEqual(Object.keys(bufs).sort(), [
    'att.0.dice.mean', 'att.0.dice.var', 'att.1.dice.mean', 'att.1.dice.var',
    'mlp.0.dice.mean', 'mlp.0.dice.var', 'mlp.1.dice.mean', 'mlp.1.dice.var',
  ]);
  const batch = tinyBatch();
  const train = Array.from(model.forward(batch, 'train'));
  assert.ok(bufs['mlp.0.dice.mean'].some((v) => v !== 0), 'train forward updates the moving averages');
  const eval1 = Array.from(model.forward(batch, 'eval'));
  assert.deepEqual(Array.from(model.forward(batch, 'eval')), eval1, 'eval forward does not update buffers');
  for (const name of ['mlp.0.dice.mean', 'att.0.dice.var']) {
    const saved = Array.from(bufs[name]);
    bufs[name].fill(name.endsWith('mean') ? 0.5 : 3);
    assert.notDeepEqual(Array.from(model.forward(batch, 'eval')), eval1, `eval output depends on ${name}`);
    assert.deepEqual(Array.from(model.forward(batch, 'train')), train, `train output ignores ${name}`);
    bufs[name].set(saved);
  }
  assert.equal(model.params().filter((p) => p.name.endsWith('dice.alpha')).length, 4);
  assert.ok(model.params().some((p) => p.name === 'mlp.0.dice.alpha'));
});

test('models: batch of one, empty histories, seeded init, config validation', () => {
  const cfg = tinyConfig({ model: 'din', activation: 'dice' });
  const a = createModel(cfg, context(be, 1));
  const b = createModel(cfg, context(be, 1));
  const c = createModel(cfg, context(be, 2));
  assert.deepEqual(a.params().map((p) => Array.from(p.value)), b.params().map((p) => Array.from(p.value)));
  assert.notDeepEqual(a.params().map((p) => Array.from(p.value)), c.params().map((p) => Array.from(p.value)));
  const one = { ...tinyBatch(), size: 1 };
  const z = a.forward(one, 'train');
  assert.equal(z.length, 1);
  assert.ok(Number.isFinite(z[0]));
  const empty = { ...tinyBatch(), lengths: new Int32Array(6) };
  const ze = Array.from(a.forward(empty, 'train'));
  assert.ok(ze.every(Number.isFinite));
  a.backward(be.alloc(6).fill(1));
  assert.throws(() => createModel({ ...cfg, goodsDim: 0 }, context(be)), /goodsDim/);
  assert.throws(() => createModel({ ...cfg, model: 'nope' as 'din' }, context(be)), /unknown model/);
});
