/**
 * Training and scoring speed of the models (default BaseModel and DIN; `--models` takes any of
 * lr,base,wide-deep,pnn,deepfm,din) on fixed-shape synthetic batches (every history full, T = 20),
 * the shapes the paper's Amazon setting has. Prints median samples/s of several timed runs (after warm-up) at
 * B = 32 and B = 256, and the latency to score 1 user × 200 candidates in eval mode.
 *
 *   npm run bench            (defaults)
 *   node dist/bench/train-speed.js --runs 7 --backend js-f32
 *   node dist/bench/train-speed.js --models lr,base,wide-deep,pnn,deepfm,din
 *   node dist/bench/train-speed.js --models base --regs none,mba,difacto,l2   (cost of each regularizer, B = 32)
 */
import { parseArgs } from 'node:util';
import type { Batch } from '../src/data/types.js';
import { createBackend } from '../src/nn/backends.js';
import { createModel } from '../src/models/index.js';
import { DEFAULT_MODEL_CONFIG, MODEL_KINDS, type Model, type ModelConfig, type ModelKind } from '../src/models/model.js';
import { createOptimizer, createRegularizer, REG_NAMES, type RegName, type Regularizer } from '../src/optim/index.js';
import { allocSampleSet } from '../src/data/sample-set.js';
import { trainStep } from '../src/train/trainer.js';
import { Rng } from '../src/util/rng.js';
import { enableRelaxedSimd } from '../src/kernels/relaxed-flag.js';

enableRelaxedSimd();

const { values: args } = parseArgs({
  options: {
    runs: { type: 'string', default: '5' },
    backend: { type: 'string', default: 'auto' },
    items: { type: 'string', default: '20000' },
    attrs: { type: 'string', default: '1000' },
    T: { type: 'string', default: '20' },
    activation: { type: 'string', default: 'prelu' },
    models: { type: 'string', default: 'base,din' },
    regs: { type: 'string', default: '' },
  },
});
const REGS = args.regs.split(',').map((r) => r.trim()).filter((r) => r !== '') as RegName[];
for (const r of REGS) {
  if (!REG_NAMES.includes(r) || r === 'dropout' || r === 'filter') throw new Error(`--regs: "${r}" is not a penalty regularizer (none, l2, difacto, mba)`);
}
const MODELS = args.models.split(',').map((m) => m.trim()).filter((m) => m !== '') as ModelKind[];
for (const m of MODELS) {
  if (!MODEL_KINDS.includes(m)) throw new Error(`--models: unknown model "${m}" (expected a comma-separated list of ${MODEL_KINDS.join(', ')})`);
}
const RUNS = Number(args.runs);
const T = Number(args.T);
const numItems = Number(args.items);
const numAttrs = Number(args.attrs);

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

const rng = new Rng(7);
// Each item has 1–3 attributes, like Beauty's brand + category terms.
const attrOffsets = new Int32Array(numItems + 1);
const attrList: number[] = [];
for (let i = 0; i < numItems; i++) {
  const k = 1 + rng.int(3);
  for (let j = 0; j < k; j++) attrList.push(rng.int(numAttrs));
  attrOffsets[i + 1] = attrList.length;
}
const catalog = { numItems, numAttrs, attrOffsets, attrValues: Int32Array.from(attrList) };

function makeBatch(B: number, hist: number): Batch {
  const b: Batch = {
    size: B,
    T: hist,
    labels: new Float32Array(B),
    users: new Int32Array(B),
    items: new Int32Array(B),
    hist: new Int32Array(B * hist),
    lengths: new Int32Array(B).fill(hist),
    index: new Int32Array(B),
  };
  for (let i = 0; i < B; i++) {
    b.labels[i] = rng.int(2);
    b.users[i] = i;
    b.items[i] = rng.int(numItems);
    b.index[i] = i;
  }
  for (let i = 0; i < B * hist; i++) b.hist[i] = rng.int(numItems);
  return b;
}

function trainSpeed(model: Model, B: number, reg?: Regularizer): number {
  const opt = createOptimizer('adam');
  const batches = Array.from({ length: 8 }, () => makeBatch(B, T));
  const dLogits = model.backend.alloc(B);
  const steps = Math.max(20, Math.round(20000 / B));
  for (let i = 0; i < 10; i++) trainStep(model, batches[i % 8], opt, 1e-3, 5, dLogits, reg);
  const rates: number[] = [];
  for (let r = 0; r < RUNS; r++) {
    const t0 = performance.now();
    for (let i = 0; i < steps; i++) trainStep(model, batches[i % 8], opt, 1e-3, 5, dLogits, reg);
    rates.push((steps * B) / ((performance.now() - t0) / 1000));
  }
  return median(rates);
}

function scoreLatency(model: Model, candidates: number): number {
  // One visitor: the same history repeated for every candidate row (the ranking engine of a later issue computes
  // the user side once; this measures the plain batched forward).
  const b = makeBatch(candidates, T);
  for (let i = 1; i < candidates; i++) b.hist.copyWithin(i * T, 0, T);
  for (let i = 0; i < 20; i++) model.forward(b, 'eval');
  const times: number[] = [];
  for (let r = 0; r < Math.max(RUNS, 20); r++) {
    const t0 = performance.now();
    model.forward(b, 'eval');
    times.push(performance.now() - t0);
  }
  return median(times);
}

const backend = createBackend(args.backend as any);
console.log(`backend ${backend.name}, node ${process.version}, T=${T}, items=${numItems}, median of ${RUNS} runs`);
console.log('model      activation  B=32 samples/s  B=256 samples/s  score 1×200 ms');
for (const kind of MODELS) {
  const config: ModelConfig = { ...DEFAULT_MODEL_CONFIG, model: kind, activation: args.activation as any };
  const row: string[] = [kind.padEnd(9), config.activation.padEnd(10)];
  for (const B of [32, 256]) {
    const model = createModel(config, { backend, catalog, seed: 1 });
    row.push(String(Math.round(trainSpeed(model, B))).padStart(15));
  }
  const model = createModel(config, { backend, catalog, seed: 1 });
  row.push(scoreLatency(model, 200).toFixed(3).padStart(15));
  console.log(row.join('  '));
}

if (REGS.length) {
  // n_j for MBA from a synthetic training set of 100,000 samples with full histories.
  const N = 100_000;
  const hv = new Int32Array(N * T);
  for (let i = 0; i < hv.length; i++) hv[i] = rng.int(numItems);
  const set = allocSampleSet(N, hv);
  for (let i = 0; i < N; i++) {
    set.items[i] = rng.int(numItems);
    set.histStart[i] = i * T;
    set.histLen[i] = T;
  }
  console.log(`\nregularizer cost (Adam, B=32, ${numItems} items × ${DEFAULT_MODEL_CONFIG.goodsDim} + ${numAttrs} attrs × ${DEFAULT_MODEL_CONFIG.attrDim})`);
  console.log('model      reg       B=32 samples/s  vs none');
  for (const kind of MODELS) {
    let none = NaN;
    for (const r of REGS) {
      const model = createModel({ ...DEFAULT_MODEL_CONFIG, model: kind, activation: args.activation as any }, { backend, catalog, seed: 1 });
      const reg = createRegularizer({ reg: r, lambda: 1e-4, denseL2: 0 }, model.params(), set, T);
      const sps = trainSpeed(model, 32, reg);
      if (r === 'none') none = sps;
      console.log(`${kind.padEnd(9)}  ${r.padEnd(8)}  ${String(Math.round(sps)).padStart(14)}  ${Number.isNaN(none) ? '' : (sps / none).toFixed(2).padStart(7)}`);
    }
  }
}
