import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createModel } from '../../src/models/index.js';
import type { Backend } from '../../src/kernels/backend.js';
import type { Model, ModelConfig } from '../../src/models/model.js';
import type { Param } from '../../src/nn/param.js';
import { sigmoidLogLoss } from '../../src/nn/loss.js';
import { be } from '../nn/helpers.js';
import { context, tinyBatch, tinyConfig } from './fixtures.js';

/** The WASM backend, or the reason it is unavailable (module not written yet, or kernels not built). */
async function wasmBackend(): Promise<Backend | string> {
  try {
    const mod = (await import('../../src/kernels/backends.js' as string)) as {
      createBackend(kind: string, opts?: { memoryMB?: number }): Backend;
    };
    return mod.createBackend('wasm', { memoryMB: 64 });
  } catch (e) {
    return `wasm backend unavailable: ${(e as Error).message}`;
  }
}

/** Sparse rows of p as a row → values map. */
function rows(p: Param): Map<number, number[]> {
  const m = new Map<number, number[]>();
  const dim = p.shape[1];
  for (let s = 0; s < p.sparse!.count; s++) m.set(p.sparse!.ids[s], Array.from(p.grad.subarray(s * dim, (s + 1) * dim)));
  return m;
}

function close(a: ArrayLike<number>, b: ArrayLike<number>, what: string, tol: number): number {
  assert.equal(a.length, b.length, what);
  let scale = 0;
  for (let i = 0; i < b.length; i++) scale = Math.max(scale, Math.abs(b[i]));
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]) / Math.max(scale, 1e-3));
  assert.ok(worst < tol, `${what}: float32 WASM vs float64 JS differ by ${worst} (relative to max |value|)`);
  return worst;
}

const configs: Array<Partial<ModelConfig> & Pick<ModelConfig, 'model'>> = [
  { model: 'base', pooling: 'avg', activation: 'dice' },
  { model: 'din', attentionNorm: 'none', activation: 'prelu', attentionActivation: 'prelu' },
  { model: 'din', attentionNorm: 'softmax', activation: 'dice', attentionActivation: 'dice' },
];

test('wasm backend: same weights ⇒ logits and gradients close to float64 JS', async (t) => {
  const wasm = await wasmBackend();
  if (typeof wasm === 'string') {
    t.skip(wasm);
    return;
  }
  for (const over of configs) {
    // Wider than the gradient-check models so the SIMD paths (tails included) are exercised.
    const cfg = tinyConfig({ ...over, goodsDim: 9, attrDim: 7, hidden: [20, 12], attentionHidden: [16, 8] });
    const mw: Model = createModel(cfg, context(wasm, 3));
    const mj: Model = createModel(cfg, context(be, 99));
    const pw = mw.params();
    const pj = mj.params();
    pw.forEach((p, i) => {
      assert.equal(pj[i].name, p.name);
      for (let k = 0; k < p.value.length; k++) p.value[k] = p.value[k] * (p.sparse ? 50 : 1) + (p.name.endsWith('bias') ? 0.05 * Math.sin(k) : 0);
      pj[i].value.set(p.value);
    });
    const batch = tinyBatch();
    let worst = 0;
    for (const mode of ['train', 'eval'] as const) {
      const zw = Array.from(mw.forward(batch, mode));
      const zj = Array.from(mj.forward(batch, mode));
      worst = Math.max(worst, close(zw, zj, `${cfg.model} logits (${mode})`, 1e-4));
    }
    for (const m of [mw, mj]) {
      m.zeroGrad();
      const z = m.forward(batch, 'train');
      const d = m.backend.alloc(batch.size);
      sigmoidLogLoss(z, batch.labels, batch.size, d);
      m.backward(d);
    }
    pw.forEach((p, i) => {
      if (!p.sparse) {
        worst = Math.max(worst, close(p.grad, pj[i].grad, `${p.name} grad`, 1e-3));
        return;
      }
      const a = rows(p);
      const b = rows(pj[i]);
      assert.deepEqual([...a.keys()].sort(), [...b.keys()].sort(), `${p.name} touched rows`);
      const flat = (m: Map<number, number[]>) => [...m.keys()].sort((x, y) => x - y).flatMap((k) => m.get(k)!);
      worst = Math.max(worst, close(flat(a), flat(b), `${p.name} grad`, 1e-3));
    });
    console.log(`  ${cfg.model} ${over.attentionNorm ?? over.pooling}: max relative difference ${worst.toExponential(2)}`);
  }
});
