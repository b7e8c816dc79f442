/**
 * Numerical check against the PyTorch peer (bench/peers/din_torch.py): small BaseModel / DIN models are built on our
 * float64 JS backend (the reference) and our WASM backend, saved as real checkpoints (model.json +
 * weights.safetensors: F64 from JS, F32 from WASM), and run on two batches (one with padded and empty histories and
 * items without attributes, one with every history full — the peer's fast path). The peer loads our checkpoints,
 * runs the same batches in float64 and float32, with both of its embedding paths, and prints logits, loss, gradients
 * and the parameters after a few training steps (clipping + Adam). Reported: max relative error of each against our
 * float64 JS backend, rel = max|x − ref| / max|ref| per tensor (embedding gradients: on the rows present; the two
 * sides must have the same rows; a gradient that is zero in exact arithmetic, like the last attention bias under
 * softmax, is compared in absolute terms).
 *
 * Needs torch in /usr/bin/python3 (env DIN_PEER_PYTHON overrides), so it is a bench script, not a unit test:
 *   npm run build && node dist/bench/peer-check.js [--steps 3] [--lr 0.01] [--out bench/results/peer-check.json]
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import type { Batch, ItemCatalog } from '../src/core/types.js';
import { createBackend } from '../src/kernels/backends.js';
import { createModel } from '../src/models/index.js';
import { DEFAULT_MODEL_CONFIG, type Model, type ModelConfig } from '../src/models/model.js';
import { sigmoidLogLoss } from '../src/nn/loss.js';
import { createOptimizer, gradNorm } from '../src/optim/index.js';
import { catalogToJson, saveCheckpoint } from '../src/checkpoint/checkpoint.js';
import { trainStep } from '../src/train/trainer.js';
import { Rng } from '../src/util/rng.js';
import { enableRelaxedSimd } from '../src/kernels/relaxed-flag.js';
import { checkPeerPython, peerScript } from './common.js';

enableRelaxedSimd();

const { values: args } = parseArgs({
  options: {
    steps: { type: 'string', default: '3' },
    lr: { type: 'string', default: '0.01' },
    out: { type: 'string' },
    keep: { type: 'boolean', default: false },
  },
});
const STEPS = Number(args.steps);
const LR = Number(args.lr);

const ISSUE: Partial<ModelConfig> = { goodsDim: 18, attrDim: 18, activation: 'dice', mlpInput: 'concat-product' };
const CASES: { name: string; config: ModelConfig }[] = [
  { name: 'base', config: { ...DEFAULT_MODEL_CONFIG, model: 'base' } },
  { name: 'din', config: { ...DEFAULT_MODEL_CONFIG, model: 'din' } },
  { name: 'base-issue', config: { ...DEFAULT_MODEL_CONFIG, ...ISSUE, model: 'base' } },
  { name: 'din-issue', config: { ...DEFAULT_MODEL_CONFIG, ...ISSUE, model: 'din' } },
  { name: 'base-avg', config: { ...DEFAULT_MODEL_CONFIG, model: 'base', pooling: 'avg' } },
  {
    name: 'din-dice-softmax',
    config: { ...DEFAULT_MODEL_CONFIG, model: 'din', activation: 'dice', attentionActivation: 'dice', attentionNorm: 'softmax' },
  },
];

// A small catalog: 0–3 attributes per item (items without attributes exercise the zero attribute part).
const rng = new Rng(11);
const numItems = 60;
const numAttrs = 9;
const attrOffsets = new Int32Array(numItems + 1);
const attrList: number[] = [];
for (let i = 0; i < numItems; i++) {
  const k = i % 7 === 3 ? 0 : 1 + rng.int(3);
  for (let j = 0; j < k; j++) attrList.push(rng.int(numAttrs));
  attrOffsets[i + 1] = attrList.length;
}
const catalog: ItemCatalog = {
  numItems, numAttrs, attrOffsets, attrValues: Int32Array.from(attrList),
  itemKeys: Array.from({ length: numItems }, (_, i) => `item${i}`),
  attrKeys: Array.from({ length: numAttrs }, (_, i) => `attr${i}`),
};

function batchOf(lengths: number[], T: number): Batch {
  const B = lengths.length;
  const b: Batch = {
    size: B, T, labels: new Float32Array(B), users: new Int32Array(B), items: new Int32Array(B),
    hist: new Int32Array(B * T).fill(-1), lengths: Int32Array.from(lengths), index: new Int32Array(B),
  };
  for (let i = 0; i < B; i++) {
    b.labels[i] = i % 3 === 0 ? 1 : rng.int(2);
    b.items[i] = rng.int(numItems);
    b.users[i] = i;
    b.index[i] = i;
    for (let t = 0; t < lengths[i]; t++) b.hist[i * T + t] = rng.int(numItems);
  }
  // A repeated behaviour and the candidate inside its own history: shared rows accumulate gradients from both.
  if (lengths[0] >= 2) b.hist[1] = b.hist[0];
  if (lengths[0] >= 3) b.hist[2] = b.items[0];
  return b;
}

const BATCHES: { name: string; batch: Batch }[] = [
  { name: 'padded', batch: batchOf([5, 3, 0, 1, 5, 2, 4], 5) },
  { name: 'full', batch: batchOf([4, 4, 4, 4, 4], 4) },
];

interface GradOut {
  ids?: number[];
  data: number[];
}
interface RunOut {
  evalLogits: number[];
  logits: number[];
  loss: number;
  grads: Record<string, GradOut>;
  stepLosses: number[];
  after: Record<string, number[]> | null;
}

/**
 * Weights of the check: the model's own init, then made more telling — embeddings scaled up (at std 0.01 the
 * q ⊙ k terms are ~1e-4), non-zero biases, PReLU/Dice slopes and Dice moving statistics — and rounded to float32 so
 * that every implementation starts from exactly the same numbers.
 */
function prepareWeights(model: Model, seed: number): void {
  const r = new Rng(seed);
  for (const p of model.params()) {
    const v = p.value;
    if (p.sparse && p.shape[1] > 1) for (let i = 0; i < v.length; i++) v[i] *= 30;
    else if (p.name.endsWith('.alpha')) for (let i = 0; i < v.length; i++) v[i] = 0.05 + 0.4 * r.next();
    else if (p.name.endsWith('.bias') || p.name === 'item_bias') for (let i = 0; i < v.length; i++) v[i] = 0.05 * r.normal();
    for (let i = 0; i < v.length; i++) v[i] = Math.fround(v[i]);
  }
  for (const [name, b] of Object.entries(model.buffers())) {
    for (let i = 0; i < b.length; i++) b[i] = Math.fround(name.endsWith('.var') ? 0.5 + 1.5 * r.next() : 0.3 * r.normal());
  }
}

function copyWeights(from: Model, to: Model): void {
  const src = from.params();
  to.params().forEach((p, i) => p.value.set(src[i].value));
  const bs = from.buffers();
  for (const [name, b] of Object.entries(to.buffers())) b.set(bs[name]);
}

function runOurs(model: Model, batch: Batch, clip: number): RunOut {
  const B = batch.size;
  const evalLogits = Array.from(model.forward(batch, 'eval'));
  model.zeroGrad();
  const logits = Array.from(model.forward(batch, 'train'));
  const dLogits = model.backend.alloc(B);
  const loss = sigmoidLogLoss(logits, batch.labels, B, dLogits);
  model.backward(dLogits.subarray(0, B));
  const grads: Record<string, GradOut> = {};
  for (const p of model.params()) {
    if (p.sparse) {
      const dim = p.shape[1];
      const rows = Array.from({ length: p.sparse.count }, (_, s) => ({ id: p.sparse!.ids[s], s }));
      rows.sort((a, b) => a.id - b.id);
      const data: number[] = [];
      for (const { s } of rows) for (let j = 0; j < dim; j++) data.push(p.grad[s * dim + j]);
      grads[p.name] = { ids: rows.map((r) => r.id), data };
    } else {
      grads[p.name] = { data: Array.from(p.grad) };
    }
  }
  const opt = createOptimizer('adam', model.backend);
  const stepLosses: number[] = [];
  for (let s = 0; s < STEPS; s++) stepLosses.push(trainStep(model, batch, opt, LR, clip, dLogits));
  const after: Record<string, number[]> = {};
  for (const p of model.params()) after[p.name] = Array.from(p.value);
  for (const [name, b] of Object.entries(model.buffers())) after[`buffer.${name}`] = Array.from(b);
  return { evalLogits, logits, loss, grads, stepLosses, after: STEPS > 0 ? after : null };
}

function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]));
  return m;
}

/** max|x − ref| / max|ref| (Infinity on a length mismatch; 0/0 = 0). */
function rel(x: ArrayLike<number>, ref: ArrayLike<number>): number {
  if (x.length !== ref.length) return Infinity;
  let d = 0;
  for (let i = 0; i < x.length; i++) d = Math.max(d, Math.abs(x[i] - ref[i]));
  if (Number.isNaN(d)) return Infinity;
  const m = maxAbs(ref);
  return d === 0 ? 0 : m === 0 ? Infinity : d / m;
}

function relGrad(x: GradOut | undefined, ref: GradOut): number {
  if (!x) return Infinity;
  if (ref.ids || x.ids) {
    if (!ref.ids || !x.ids || ref.ids.join(',') !== x.ids.join(',')) return Infinity; // different rows present
  }
  return rel(x.data, ref.data);
}

const fmt = (x: number) => (x === 0 ? '0' : Number.isFinite(x) ? x.toExponential(1) : 'MISMATCH');

interface Column {
  label: string;
  out: RunOut;
}

/** A reference whose largest entry is below this is analytically zero (e.g. the last attention bias under softmax). */
const ZERO_REF = 1e-12;
const ZERO_TAG = ' (≡0, abs)';

function absDiff(x: ArrayLike<number>, ref: ArrayLike<number>): number {
  if (x.length !== ref.length) return Infinity;
  let d = 0;
  for (let i = 0; i < x.length; i++) d = Math.max(d, Math.abs(x[i] - ref[i]));
  return Number.isNaN(d) ? Infinity : d;
}

function compare(cols: Column[], ref: RunOut): { rows: [string, number[]][]; summary: Record<string, Record<string, number>> } {
  const rows: [string, number[]][] = [];
  rows.push(['eval logits', cols.map((c) => rel(c.out.evalLogits, ref.evalLogits))]);
  rows.push(['train logits', cols.map((c) => rel(c.out.logits, ref.logits))]);
  rows.push(['loss', cols.map((c) => rel([c.out.loss], [ref.loss]))]);
  // Gradients that are zero in exact arithmetic are compared in absolute terms, and their params are left out of the
  // after-steps comparison: Adam turns a rounding-noise gradient g into a step of about lr·g/(|g| + ε), any sign.
  const zero = new Set<string>();
  for (const name of Object.keys(ref.grads)) {
    const r = ref.grads[name];
    if (maxAbs(r.data) < ZERO_REF) {
      zero.add(name);
      rows.push([`grad ${name}${ZERO_TAG}`, cols.map((c) => {
        const x = c.out.grads[name];
        if (!x || (r.ids ?? []).join(',') !== (x.ids ?? []).join(',')) return Infinity;
        return absDiff(x.data, r.data);
      })]);
    } else {
      rows.push([`grad ${name}`, cols.map((c) => relGrad(c.out.grads[name], r))]);
    }
  }
  if (ref.after) {
    rows.push([`step losses (${STEPS})`, cols.map((c) => rel(c.out.stepLosses, ref.stepLosses))]);
    const names = Object.keys(ref.after);
    const params = names.filter((n) => !n.startsWith('buffer.') && !zero.has(n));
    const buffers = names.filter((n) => n.startsWith('buffer.'));
    const worstOf = (c: Column, ns: string[]) =>
      Math.max(0, ...ns.map((n) => (c.out.after?.[n] ? rel(c.out.after[n], ref.after![n]) : Infinity)));
    rows.push([`after ${STEPS} steps: params${zero.size ? ' (excl. ≡0)' : ''}`, cols.map((c) => worstOf(c, params))]);
    if (buffers.length) rows.push([`after ${STEPS} steps: Dice buffers`, cols.map((c) => worstOf(c, buffers))]);
  }
  const summary: Record<string, Record<string, number>> = {};
  cols.forEach((c, j) => {
    const pick = (pred: (k: string) => boolean) => Math.max(0, ...rows.filter(([k]) => pred(k)).map(([, v]) => v[j]));
    summary[c.label] = {
      forward: pick((k) => k.endsWith('logits') || k === 'loss'),
      gradients: pick((k) => k.startsWith('grad ') && !k.endsWith(ZERO_TAG)),
      zeroGradientsAbs: pick((k) => k.endsWith(ZERO_TAG)),
      afterSteps: pick((k) => k.startsWith('after ') || k.startsWith('step losses')),
    };
  });
  return { rows, summary };
}

function main(): void {
  const peer = checkPeerPython();
  console.log(`peer: torch ${peer.torch}, numpy ${peer.numpy}, ${peer.python}; BLAS ${peer.blas}`);
  const work = mkdtempSync(join(tmpdir(), 'din-peer-check-'));
  const jobs: Record<string, unknown>[] = [];
  const ours: { name: string; batch: string; js: RunOut; wasm: RunOut; clip: number; jobIndex: number; variants: string[] }[] = [];
  // rows/sparse: the peer's two embedding paths; concat: the unfactorized attention input; F.prelu: torch's own PReLU
  // instead of the peer's autograd function; sort-unique: the sort path of the peer's unique (the check's tables are
  // small, so 'auto' takes the presence-map path).
  const VARIANTS: { label: string; dtype: string; emb: string; att: string; prelu?: string; unique?: string; din?: boolean }[] = [
    { label: 'peer f64 rows', dtype: 'float64', emb: 'rows', att: 'factorized' },
    { label: 'peer f64 sparse', dtype: 'float64', emb: 'sparse', att: 'factorized' },
    { label: 'peer f64 concat', dtype: 'float64', emb: 'rows', att: 'concat', din: true },
    { label: 'peer f64 F.prelu', dtype: 'float64', emb: 'rows', att: 'factorized', prelu: 'native' },
    { label: 'peer f64 sort-uniq', dtype: 'float64', emb: 'rows', att: 'factorized', unique: 'sort' },
    { label: 'peer f32 rows', dtype: 'float32', emb: 'rows', att: 'factorized' },
    { label: 'peer f32 sparse', dtype: 'float32', emb: 'sparse', att: 'factorized' },
  ];
  for (const c of CASES) {
    for (const bt of BATCHES) {
      const seed = 5;
      const jsModel = createModel(c.config, { backend: createBackend('js'), catalog, seed });
      prepareWeights(jsModel, 99);
      const wasmModel = createModel(c.config, { backend: createBackend('wasm'), catalog, seed });
      copyWeights(jsModel, wasmModel);
      const dir = join(work, `${c.name}-${bt.name}`);
      const info = {
        train: {}, dataset: { name: 'peer-check', format: 'synthetic', buildOptions: {}, skipped: {} },
        catalog: catalogToJson(catalog),
      };
      mkdirSync(join(dir, 'f64'), { recursive: true });
      mkdirSync(join(dir, 'f32'), { recursive: true });
      saveCheckpoint(join(dir, 'f64'), jsModel, info);
      saveCheckpoint(join(dir, 'f32'), wasmModel, info);
      const b = bt.batch;
      const batchPath = join(dir, 'batch.json');
      writeFileSync(batchPath, JSON.stringify({
        size: b.size, T: b.T, items: Array.from(b.items), hist: Array.from(b.hist), lengths: Array.from(b.lengths),
        labels: Array.from(b.labels),
      }));
      // Clip at half the first gradient's norm, so that clipping is active in the steps compared.
      const probe = createModel(c.config, { backend: createBackend('js'), catalog, seed });
      copyWeights(jsModel, probe);
      probe.zeroGrad();
      const pl = probe.forward(b, 'train');
      const d = probe.backend.alloc(b.size);
      sigmoidLogLoss(pl, b.labels, b.size, d);
      probe.backward(d);
      const clip = Math.fround(0.5 * gradNorm(probe.params()));
      const js = runOurs(jsModel, b, clip);
      const wasm = runOurs(wasmModel, b, clip);
      const variants = VARIANTS.filter((v) => !v.din || c.config.model === 'din');
      ours.push({ name: c.name, batch: bt.name, js, wasm, clip, jobIndex: jobs.length, variants: variants.map((v) => v.label) });
      for (const v of variants) {
        jobs.push({
          modelDir: join(dir, v.dtype === 'float64' ? 'f64' : 'f32'), batch: batchPath, dtype: v.dtype, emb: v.emb,
          att: v.att, prelu: v.prelu ?? 'fn', unique: v.unique ?? 'auto', steps: STEPS, lr: LR, clip,
        });
      }
    }
  }
  const jobsPath = join(work, 'jobs.json');
  writeFileSync(jobsPath, JSON.stringify(jobs));
  const stdout = execFileSync(peer.python, [peerScript('din_torch.py'), 'check-many', '--jobs', jobsPath],
    { encoding: 'utf8', maxBuffer: 1 << 30, stdio: ['ignore', 'pipe', 'inherit'] });
  const results = JSON.parse(stdout) as RunOut[];
  const report: Record<string, unknown>[] = [];
  const worst: Record<string, Record<string, number>> = {};
  for (const o of ours) {
    const cols: Column[] = [{ label: 'wasm f32', out: o.wasm }, ...o.variants.map((label, i) => ({ label, out: results[o.jobIndex + i] }))];
    const { rows, summary } = compare(cols, o.js);
    console.log(`\n${o.name}, ${o.batch} batch (clip ${o.clip.toPrecision(3)}, ${STEPS} Adam steps at lr ${LR}): ` +
      'max relative error vs our float64 JS backend');
    const w0 = Math.max(...rows.map(([k]) => k.length));
    console.log(`${''.padEnd(w0)}  ${cols.map((c) => c.label.padStart(16)).join(' ')}`);
    for (const [k, v] of rows) console.log(`${k.padEnd(w0)}  ${v.map((x) => fmt(x).padStart(16)).join(' ')}`);
    for (const [label, s] of Object.entries(summary)) {
      worst[label] ??= { forward: 0, gradients: 0, zeroGradientsAbs: 0, afterSteps: 0 };
      for (const k of Object.keys(s)) worst[label][k] = Math.max(worst[label][k], s[k]);
    }
    report.push({ case: o.name, batch: o.batch, clip: o.clip, rows: Object.fromEntries(rows.map(([k, v]) => [k, Object.fromEntries(cols.map((c, j) => [c.label, v[j]]))])) });
  }
  console.log('\nworst over all cases (max relative error vs our float64 JS backend):');
  console.log(`${''.padEnd(18)}  ${'forward'.padStart(9)}  ${'gradients'.padStart(9)}  ${'≡0 grads (abs)'.padStart(14)}  ${'after steps'.padStart(11)}`);
  for (const [label, s] of Object.entries(worst)) {
    console.log(`${label.padEnd(18)}  ${fmt(s.forward).padStart(9)}  ${fmt(s.gradients).padStart(9)}  ` +
      `${fmt(s.zeroGradientsAbs).padStart(14)}  ${fmt(s.afterSteps).padStart(11)}`);
  }
  if (args.out) {
    mkdirSync(dirname(args.out), { recursive: true });
    writeFileSync(args.out, JSON.stringify({ peer, steps: STEPS, lr: LR, worst, cases: report }, null, 1) + '\n');
    console.log(`\nwrote ${args.out}`);
  }
  if (args.keep) console.log(`kept ${work}`);
  else rmSync(work, { recursive: true, force: true });
  const bad = Object.values(worst).some((s) => !Number.isFinite(s.forward) || !Number.isFinite(s.gradients));
  if (bad) {
    console.error('peer-check: some tensors do not match in shape or rows present (MISMATCH above)');
    process.exitCode = 1;
  }
}

try {
  main();
} catch (e) {
  console.error(`peer-check: ${(e as Error).message}`);
  process.exitCode = 1;
}
