// The layers' eval forms and the models' inference plan: each activation's eval form computes exactly its layer's eval
// forward (float64), DIN's folded first layer is W1 + W3, W2 − W3, W4 of its parameter, the plan's arrays are views of
// the model's parameters, and kinds without a plan say so. (The plan's function against model.forward is checked by
// the consumers' parity tests: test/serve/engine.test.ts, test/export/onnx.test.ts.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createModel } from '../../src/models/index.js';
import { InterestModel } from '../../src/models/interest-model.js';
import type { Model } from '../../src/models/model.js';
import { JsBackend } from '../../src/kernels/js-backend.js';
import { PRelu } from '../../src/nn/prelu.js';
import { Dice } from '../../src/nn/dice.js';
import { Sigmoid } from '../../src/nn/sigmoid.js';
import type { ActivationLayer } from '../../src/nn/layer.js';
import { context, Rng, tinyConfig } from './fixtures.js';

const js = new JsBackend('float64');

function planOf(model: Model) {
  assert.ok(model instanceof InterestModel);
  return model.inferencePlan();
}

test('every activation layer\'s eval form computes exactly its eval forward (float64)', () => {
  const rng = new Rng(3);
  const C = 6;
  const n = 5;
  const layers: ActivationLayer[] = [new PRelu(js, 'p', C), new Dice(js, 'd', C), new Sigmoid(js, 's', C)];
  for (const l of layers) {
    for (const p of l.params()) for (let i = 0; i < p.value.length; i++) p.value[i] = rng.normal();
    for (const [name, b] of Object.entries(l.buffers())) for (let i = 0; i < b.length; i++) b[i] = name.endsWith('.var') ? 0.2 + rng.next() : rng.normal();
    const x = js.alloc(n * C);
    for (let i = 0; i < x.length; i++) x[i] = 3 * rng.normal();
    const want = Array.from(l.forward(x, n, 'eval'));
    const act = js.prepareActivation(l.evalActivation(), C);
    const got = Float64Array.from(x);
    js.evalActivationGrid(act, got, 0, 1, n, act.zero, 0, 0, act.zero, 0, 0);
    assert.deepEqual(Array.from(got), want, l.name);
  }
});

test('DIN plan: the folded first layer, the unit\'s MLP, norm and scale, the MLP and the item tables (views)', () => {
  const model = createModel(tinyConfig({ model: 'din', activation: 'dice', attentionActivation: 'prelu', attentionNorm: 'softmax' }), context(js, 4));
  const rng = new Rng(9);
  for (const p of model.params()) for (let i = 0; i < p.value.length; i++) p.value[i] = rng.normal();
  const plan = planOf(model);
  const params = new Map(model.params().map((p) => [p.name, p]));
  const att = plan.attention!;
  const { D, H } = att;
  assert.equal(D, plan.D);
  const W = params.get('att.0.weight')!.value;
  assert.equal(W.length, 4 * D * H);
  for (let d = 0; d < D; d++) {
    for (let h = 0; h < H; h++) {
      const w = (blk: number) => W[(blk * D + d) * H + h];
      assert.equal(att.first.Wq[d * H + h], w(0) + w(2));
      assert.equal(att.first.Wk[d * H + h], w(1) - w(2));
      assert.equal(att.first.Wp[d * H + h], w(3));
      assert.equal(att.first.Wkp[d * H + h], att.first.Wk[d * H + h]);
      assert.equal(att.first.Wkp[(D + d) * H + h], att.first.Wp[d * H + h]);
    }
  }
  assert.equal(att.first.b, params.get('att.0.bias')!.value);
  assert.equal(att.first.act.kind, 'prelu');
  assert.equal(att.first.actName, 'att.0.prelu');
  assert.equal(att.norm, 'softmax');
  assert.equal(att.scale, 1 / Math.sqrt(D));
  assert.deepEqual(att.rest.map((l) => [l.name, l.inDim, l.outDim, l.act.kind]), [['att.1', H, model.config.attentionHidden[1], 'prelu'], ['att.2', model.config.attentionHidden[1], 1, 'none']]);
  // The MLP: hidden layers with Dice (moving averages and 1/sqrt(var + ε) as Dice computes them), then the logit.
  assert.equal(plan.mlp.length, model.config.hidden.length + 1);
  assert.equal(plan.mlp[0].inDim, 2 * D);
  assert.equal(plan.mlp.at(-1)!.outDim, 1);
  assert.equal(plan.mlp.at(-1)!.act.kind, 'none');
  const a0 = plan.mlp[0].act;
  assert.equal(a0.kind, 'dice');
  const bufs = model.buffers();
  if (a0.kind === 'dice') {
    const v = bufs['mlp.0.dice.var'];
    for (let c = 0; c < v.length; c++) assert.equal(a0.invStd[c], 1 / Math.sqrt(v[c] + 1e-8));
    assert.deepEqual(Array.from(a0.mean), Array.from(bufs['mlp.0.dice.mean']));
  }
  assert.equal(plan.mlp[0].W, params.get('mlp.0.weight')!.value, 'a view, not a copy');
  assert.equal(plan.items.goods.value, params.get('goods_emb')!.value);
  assert.equal(plan.items.bias?.value, params.get('item_bias')!.value);
  assert.equal(plan.items.D, D);
  assert.equal(plan.model, 'din');
  assert.equal(plan.mlpInput, 'concat');
});

test('Base plan: pooling, no attention; kinds with extra features and external tables have none', () => {
  const base = planOf(createModel(tinyConfig({ model: 'base', pooling: 'avg', mlpInput: 'concat-product' }), context(js, 5)));
  assert.equal(base.attention, null);
  assert.equal(base.pooling, 'avg');
  assert.equal(base.mlpInput, 'concat-product');
  assert.equal(base.mlp[0].inDim, 3 * base.D);
  for (const kind of ['pnn', 'deepfm', 'wide-deep'] as const) {
    const m = createModel(tinyConfig({ model: kind, wideBuckets: 31 }), context(js, 6));
    assert.throws(() => planOf(m), /not base or din/);
  }
  const ext = createModel(tinyConfig({ model: 'din' }), { ...context(js, 7), externalTables: true });
  assert.throws(() => planOf(ext), /row store/);
});
