/**
 * Serving latency of onnxruntime-node on our exported DIN graph (src/export/onnx.ts): one user × 200 candidates (the
 * user's history repeated on every row, as the graph takes it), history T = 20 and 100, intra-op threads 1 and 2.
 * Model shape as the paper / bench/common.ts: goodsDim 18, attrDim 18 (D = 36), attention 80→40 Dice, MLP 200→80
 * Dice, item bias; a random-init model over a 20,000-item catalog (latency does not depend on trained values).
 * Median and p99 of ≥ 300 timed `session.run` calls after warm-up (feeds built once; the time includes ORT's
 * input/output copies, as a server would pay). Writes bench/results/serve-onnx.json.
 *
 *   npm run build && node dist/bench/serve-onnx.js [--runs 300] [--warmup 50] [--out bench/results/serve-onnx.json]
 *
 * Numbers on a shared 2-core machine are noisy: compare runs made back to back.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname } from 'node:path';
import { parseArgs } from 'node:util';
import * as ort from 'onnxruntime-node';
import { createBackend } from '../src/kernels/backends.js';
import { createModel } from '../src/models/index.js';
import { DEFAULT_MODEL_CONFIG, type ModelConfig } from '../src/models/model.js';
import { exportOnnx } from '../src/export/onnx.js';
import { Rng } from '../src/util/rng.js';
import { makeCatalog, median, servingBatch } from './common.js';

const { values: args } = parseArgs({
  options: {
    runs: { type: 'string', default: '300' },
    warmup: { type: 'string', default: '50' },
    items: { type: 'string', default: '20000' },
    attrs: { type: 'string', default: '1000' },
    candidates: { type: 'string', default: '200' },
    out: { type: 'string', default: 'bench/results/serve-onnx.json' },
  },
});
const RUNS = Math.max(1, Number(args.runs));
const WARMUP = Number(args.warmup);
const numItems = Number(args.items);
const numAttrs = Number(args.attrs);
const C = Number(args.candidates);

function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)];
}

const rng = new Rng(7);
const catalog = makeCatalog(rng, numItems, numAttrs);
const config: ModelConfig = {
  ...DEFAULT_MODEL_CONFIG, model: 'din', goodsDim: 18, attrDim: 18, hidden: [200, 80], activation: 'dice',
  attentionHidden: [80, 40], attentionActivation: 'dice',
};
const model = createModel(config, { backend: createBackend('auto'), catalog, seed: 1 });
const exp = exportOnnx(model);
console.log(`onnxruntime-node ${ort.env.versions?.common ?? ''}, node ${process.version}, ${cpus().length} cpus; ` +
  `DIN D=36 att 80→40 dice, MLP 200→80 dice; ${(exp.bytes.length / 1e6).toFixed(1)} MB model, ${exp.nodes} nodes`);
console.log(`1 user × ${C} candidates, ${RUNS} timed runs after ${WARMUP} warm-up (noisy on shared cores)`);
console.log('T     threads  median ms  p99 ms   mean ms');

interface Row {
  T: number;
  threads: number;
  candidates: number;
  runs: number;
  medianMs: number;
  p99Ms: number;
  meanMs: number;
  minMs: number;
}
const rows: Row[] = [];
for (const T of [20, 100]) {
  const b = servingBatch(rng, numItems, C, T);
  const big = (a: ArrayLike<number>, n: number) => BigInt64Array.from({ length: n }, (_, i) => BigInt(a[i]));
  const feeds = {
    items: new ort.Tensor('int64', big(b.items, C), [C]),
    hist: new ort.Tensor('int64', big(b.hist, C * T), [C, T]),
    lengths: new ort.Tensor('int64', big(b.lengths, C), [C]),
  };
  for (const threads of [1, 2]) {
    const session = await ort.InferenceSession.create(exp.bytes, {
      intraOpNumThreads: threads, interOpNumThreads: 1, graphOptimizationLevel: 'all', executionMode: 'sequential',
    });
    for (let i = 0; i < WARMUP; i++) await session.run(feeds);
    const times: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      const t0 = performance.now();
      await session.run(feeds);
      times.push(performance.now() - t0);
    }
    await session.release();
    const row: Row = {
      T, threads, candidates: C, runs: RUNS,
      medianMs: median(times), p99Ms: quantile(times, 0.99),
      meanMs: times.reduce((a, x) => a + x, 0) / times.length, minMs: Math.min(...times),
    };
    rows.push(row);
    console.log(`${String(T).padEnd(5)} ${String(threads).padEnd(8)} ${row.medianMs.toFixed(3).padStart(9)}  ${row.p99Ms.toFixed(3).padStart(7)}  ${row.meanMs.toFixed(3).padStart(7)}`);
  }
}

const result = {
  bench: 'serve-onnx',
  createdAt: new Date().toISOString(),
  runtime: `onnxruntime-node ${ort.env.versions?.common ?? ''}`.trim(),
  node: process.version,
  cpus: cpus().length,
  cpuModel: cpus()[0]?.model,
  model: { kind: 'din', goodsDim: 18, attrDim: 18, attentionHidden: [80, 40], hidden: [200, 80], activation: 'dice', items: numItems, onnxBytes: exp.bytes.length },
  note: 'wall time of session.run (1 user × candidates, history repeated per row) after warm-up; shared machine: noisy',
  rows,
};
mkdirSync(dirname(args.out), { recursive: true });
writeFileSync(args.out, JSON.stringify(result, null, 2) + '\n');
console.log(`wrote ${args.out}`);
