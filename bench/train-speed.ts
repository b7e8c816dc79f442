/**
 * Training and scoring speed of the models (default BaseModel and DIN; `--models` takes any of
 * lr,base,wide-deep,pnn,deepfm,din) on fixed-shape synthetic batches (every history full, T = 20),
 * the shapes the paper's Amazon setting has. Prints median samples/s of several timed runs (after warm-up) at
 * B = 32 and B = 256, and the latency to score 1 user × 200 candidates in eval mode. Training runs on --threads
 * threads (default 1: `trainStep` on this thread; ≥ 2: data-parallel, each batch split over that many worker replicas
 * as `trainModel(…, { threads })` does); scoring always runs on this thread. Ours only: `npm run bench` compares with
 * the PyTorch peer (bench/compare-peer.ts).
 *
 *   npm run bench:ours       (defaults)
 *   node dist/bench/train-speed.js --threads 2
 *   node dist/bench/train-speed.js --runs 7 --backend js-f32
 *   node dist/bench/train-speed.js --models lr,base,wide-deep,pnn,deepfm,din
 *   node dist/bench/train-speed.js --models base --regs none,mba,difacto,l2   (cost of each regularizer, B = 32)
 */
import { parseArgs } from 'node:util';
import { createBackend } from '../src/kernels/backends.js';
import { createModel } from '../src/models/index.js';
import { DEFAULT_MODEL_CONFIG, MODEL_KINDS, type Model, type ModelConfig, type ModelKind } from '../src/models/model.js';
import { createRegularizer, REG_NAMES, type RegName, type Regularizer } from '../src/optim/index.js';
import { allocSampleSet } from '../src/data/sample-set.js';
import { Rng } from '../src/util/rng.js';
import { enableRelaxedSimd } from '../src/kernels/relaxed-flag.js';
import { forwardTimes, makeBatch, makeCatalog, median, servingBatch, stepsPerRun, trainSpeed as trainSpeedOf } from './common.js';

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
    threads: { type: 'string', default: '1' },
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
const THREADS = Number(args.threads);
if (!(Number.isInteger(THREADS) && THREADS >= 1)) throw new Error(`--threads: expected a positive integer, got "${args.threads}"`);
const RUNS = Number(args.runs);
const T = Number(args.T);
const numItems = Number(args.items);
const numAttrs = Number(args.attrs);

const rng = new Rng(7);
const catalog = makeCatalog(rng, numItems, numAttrs);

function trainSpeed(model: Model, B: number, reg?: Regularizer, threads = THREADS): number {
  const batches = Array.from({ length: 8 }, () => makeBatch(rng, numItems, B, T));
  return trainSpeedOf(model, batches, RUNS, stepsPerRun(B), reg, threads);
}

function scoreLatency(model: Model, candidates: number): number {
  const b = servingBatch(rng, numItems, candidates, T);
  return median(forwardTimes(model, b, Math.max(RUNS, 20)));
}

const backend = createBackend(args.backend as any);
console.log(`backend ${backend.name}, node ${process.version}, T=${T}, items=${numItems}, median of ${RUNS} runs, ` +
  `training on ${THREADS} thread${THREADS > 1 ? 's (data-parallel)' : ''}`);
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
  console.log(`model      reg       B=32 samples/s  vs none${THREADS > 1 && REGS.includes('l2') ? '   (l2 on 1 thread, as trainModel)' : ''}`);
  for (const kind of MODELS) {
    let none = NaN;
    for (const r of REGS) {
      const model = createModel({ ...DEFAULT_MODEL_CONFIG, model: kind, activation: args.activation as any }, { backend, catalog, seed: 1 });
      const reg = createRegularizer({ reg: r, lambda: 1e-4, denseL2: 0 }, model.params(), set, T);
      // As trainModel: --reg l2 trains on one thread (it updates every table row each step).
      const sps = trainSpeed(model, 32, reg, r === 'l2' ? 1 : THREADS);
      if (r === 'none') none = sps;
      console.log(`${kind.padEnd(9)}  ${r.padEnd(8)}  ${String(Math.round(sps)).padStart(14)}  ${Number.isNaN(none) ? '' : (sps / none).toFixed(2).padStart(7)}`);
    }
  }
}
