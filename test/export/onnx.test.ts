/**
 * ONNX export: trained Base and DIN checkpoints (PReLU and Dice, softmax attention, concat-product, avg pooling, with
 * and without sample fields) exported and run with onnxruntime-node on real samples; `ctr` must match our
 * predictions (src/train/evaluator.ts predict → sigmoid) within 1e-5. Also: the file re-decodes as a ModelProto and
 * passes the structural checks, padding/empty histories, the CLI, and the refusal of other model kinds.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';
import { Batcher } from '../../src/data/batcher.js';
import { loadDataset } from '../../src/data/load.js';
import { selectSamples } from '../../src/data/split.js';
import type { Batch, Dataset, SampleSet } from '../../src/core/types.js';
import type { SampleField } from '../../src/core/fields.js';
import { createBackend } from '../../src/kernels/backends.js';
import { createModel } from '../../src/models/index.js';
import { DEFAULT_MODEL_CONFIG, type Model, type ModelConfig } from '../../src/models/model.js';
import { loadCheckpoint } from '../../src/checkpoint/checkpoint.js';
import { predict } from '../../src/train/evaluator.js';
import { runTraining } from '../../src/train/run.js';
import { Rng } from '../../src/util/rng.js';
import { DEFAULT_TRAIN_OPTIONS, type TrainOptions } from '../../src/train/trainer.js';
import {
  exportCheckpointToOnnx, exportOnnx, ONNX_OPSET, sampleFieldInputName,
} from '../../src/export/onnx.js';
import { checkOnnxModel, readOnnxFile, readOnnxModel } from '../../src/export/onnx-check.js';

const dir = mkdtempSync(join(tmpdir(), 'din-onnx-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));

const TOL = 1e-5;
const BEAUTY = resolve(fileURLToPath(import.meta.url), '../../../../../shared/data/amazon-beauty');
const BEAUTY_ALT = resolve(process.cwd(), '../shared/data/amazon-beauty');

/** Synthetic user-profile and context fields attached to a dataset (gender from the user id, pid from the sample). */
function withSampleFields(data: Dataset): Dataset {
  const sampleFields: SampleField[] = [
    { name: 'gender', group: 'user', size: 3, keys: ['<oov>', 'f', 'm'], oov: true },
    { name: 'pid', group: 'context', size: 4, keys: ['p0', 'p1', 'p2', 'p3'] },
  ];
  const add = (s: SampleSet): SampleSet => ({
    ...s,
    fieldValues: [
      Int32Array.from(s.users, (u) => u % 3),
      Int32Array.from(s.items, (it, i) => (it * 7 + i) % 4),
    ],
  });
  return { ...data, sampleFields, train: add(data.train), test: add(data.test) };
}

function feeds(model: Model, b: Batch): Record<string, ort.Tensor> {
  const big = (a: ArrayLike<number>, n: number) => BigInt64Array.from({ length: n }, (_, i) => BigInt(a[i]));
  const f: Record<string, ort.Tensor> = {
    items: new ort.Tensor('int64', big(b.items, b.size), [b.size]),
    hist: new ort.Tensor('int64', big(b.hist, b.size * b.T), [b.size, b.T]),
    lengths: new ort.Tensor('int64', big(b.lengths, b.size), [b.size]),
  };
  const sf = (model as unknown as { sampleFields: { fields: SampleField[] } | null }).sampleFields;
  sf?.fields.forEach((fd, k) => {
    f[sampleFieldInputName(fd.group, fd.name)] = new ort.Tensor('int64', big(b.fieldValues![k], b.size), [b.size]);
  });
  return f;
}

const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

/** Runs the ONNX session over a set with the evaluator's batching; returns the max |Δctr| and |Δlogit| vs `predict`. */
async function compareOnSet(session: ort.InferenceSession, model: Model, set: SampleSet, maxHistory: number) {
  const ref = predict(model, set, { batchSize: 256, maxHistory });
  // Smaller batches than predict's, so batches of different T (dynamic axes) are run.
  const batcher = new Batcher(set, { batchSize: 16, maxHistory, shuffle: false, seed: 0 });
  let maxCtr = 0;
  let maxLogit = 0;
  let n = 0;
  let lo = 1;
  let hi = 0;
  const Ts = new Set<number>();
  for (const b of batcher.epoch(0)) {
    const out = await session.run(feeds(model, b));
    const ctr = out.ctr.data as Float32Array;
    const logit = out.logit.data as Float32Array;
    assert.deepEqual(out.ctr.dims, [b.size]);
    Ts.add(b.T);
    for (let i = 0; i < b.size; i++) {
      const r = ref[b.index[i]];
      maxCtr = Math.max(maxCtr, Math.abs(ctr[i] - sigmoid(r)));
      lo = Math.min(lo, ctr[i]);
      hi = Math.max(hi, ctr[i]);
      maxLogit = Math.max(maxLogit, Math.abs(logit[i] - r) / Math.max(1, Math.abs(r)));
      n++;
    }
  }
  assert.equal(n, set.size);
  return { maxCtr, maxLogit, Ts: Ts.size, spread: hi - lo };
}

/** Hand-made batch: an empty history, a full one, non-(−1) ids at padded positions, a −1 inside the valid part. */
function edgeBatch(numItems: number, withFields: boolean): Batch {
  const B = 4;
  const T = 5;
  const hist = Int32Array.from([
    3, 7, 1, 0, 2, // length 0: all padding, holding real ids
    1, 2, 3, 4, 5, // full
    9, 9, -1, 8, 8, // length 3 with a −1 inside; positions 3, 4 padding
    numItems - 1, -1, -1, -1, -1,
  ]);
  return {
    size: B, T,
    labels: new Float32Array(B), users: Int32Array.from([0, 1, 2, 3]),
    items: Int32Array.from([0, 5, numItems - 1, 2]),
    hist, lengths: Int32Array.from([0, 5, 3, 1]), index: Int32Array.from([0, 1, 2, 3]),
    ...(withFields ? { fieldValues: [Int32Array.from([0, 1, 2, 1]), Int32Array.from([3, 2, 1, 0])] } : {}),
  };
}

interface Variant {
  label: string;
  config: Partial<ModelConfig> & Pick<ModelConfig, 'model'>;
  fields?: boolean;
}

const VARIANTS: Variant[] = [
  { label: 'base prelu', config: { model: 'base', activation: 'prelu' } },
  { label: 'base dice avg-pooling concat-product + sample fields', config: { model: 'base', activation: 'dice', pooling: 'avg', mlpInput: 'concat-product' }, fields: true },
  { label: 'din prelu', config: { model: 'din', activation: 'prelu', attentionActivation: 'prelu' } },
  { label: 'din dice (MLP and attention)', config: { model: 'din', activation: 'dice', attentionActivation: 'dice' } },
  { label: 'din dice softmax concat-product + sample fields', config: { model: 'din', activation: 'dice', attentionActivation: 'dice', attentionNorm: 'softmax', mlpInput: 'concat-product' }, fields: true },
  { label: 'din sigmoid-attention, no item bias + sample fields', config: { model: 'din', activation: 'prelu', attentionActivation: 'sigmoid', itemBias: false }, fields: true },
];

const OPTIONS: TrainOptions = { ...DEFAULT_TRAIN_OPTIONS, epochs: 2, batchSize: 32, lr: 0.01, maxHistory: 20, seed: 2 };
const small = (over: Variant['config']): ModelConfig => ({
  ...DEFAULT_MODEL_CONFIG, goodsDim: 8, attrDim: 6, hidden: [24, 12], attentionHidden: [16, 8], ...over,
});

let synthetic: Dataset | undefined;
async function syntheticData(): Promise<Dataset> {
  synthetic ??= await loadDataset({ path: 'synthetic:small', seed: 3, noCache: true });
  return synthetic;
}

for (const v of VARIANTS) {
  test(`onnxruntime reproduces ${v.label} on the synthetic test split (|Δctr| ≤ ${TOL})`, async (t) => {
    const base = await syntheticData();
    const data = v.fields ? withSampleFields(base) : base;
    const out = join(dir, v.label.replace(/[^a-z0-9]+/gi, '-'));
    const backend = createBackend('auto');
    runTraining({ data, config: small(v.config), options: OPTIONS, backend, out, dataPath: 'synthetic:small' });
    const onnxPath = join(out, 'model.onnx');
    const exp = exportCheckpointToOnnx(out, onnxPath);
    const names = exp.inputs.map((i) => i.name);
    assert.deepEqual(names, v.fields ? ['items', 'hist', 'lengths', 'user_gender', 'ctx_pid'] : ['items', 'hist', 'lengths']);
    assert.deepEqual(exp.outputs.map((o) => o.name), ['ctr', 'logit']);

    // The file is a valid ModelProto with what we declared.
    const proto = readOnnxFile(onnxPath);
    assert.deepEqual(checkOnnxModel(proto), []);
    assert.equal(Number(proto.opsetImport![0].version), ONNX_OPSET);
    assert.deepEqual(proto.graph!.input!.map((i) => i.name), names);
    assert.deepEqual(proto.graph!.output!.map((o) => o.name), ['ctr', 'logit']);
    assert.ok(proto.graph!.initializer!.some((t) => t.name === 'item_table'));

    const { model } = loadCheckpoint(out, createBackend('auto'));
    const session = await ort.InferenceSession.create(onnxPath, { intraOpNumThreads: 1, interOpNumThreads: 1 });
    try {
      const r = await compareOnSet(session, model, data.test, OPTIONS.maxHistory);
      t.diagnostic(`${data.test.size} samples: max |Δctr| ${r.maxCtr.toExponential(2)}, max relative |Δlogit| ${r.maxLogit.toExponential(2)}, ctr spread ${r.spread.toFixed(3)}`);
      assert.ok(r.spread > 0.05, 'the trained model gives different ctrs to different samples');
      assert.ok(r.maxCtr <= TOL, `max |Δctr| ${r.maxCtr} (max relative |Δlogit| ${r.maxLogit})`);
      assert.ok(r.maxLogit <= 1e-4, `max relative |Δlogit| ${r.maxLogit}`);

      // Padding and empty histories, −1 inside a history, the last catalog item.
      const eb = edgeBatch(data.catalog.numItems, !!v.fields);
      const logits = Array.from(model.forward(eb, 'eval'));
      const o = await session.run(feeds(model, eb));
      const ctr = o.ctr.data as Float32Array;
      logits.forEach((l, i) => assert.ok(Math.abs(ctr[i] - sigmoid(l)) <= TOL, `edge row ${i}: onnx ${ctr[i]} vs ${sigmoid(l)}`));
    } finally {
      await session.release();
    }
  });
}

test('item fields, items without a goods id and a float64 model (js backend) export exactly too', async () => {
  // 12 items, multi-valued attributes, a shop and a brand field (item 6 has no shop), items 4 and 7 without goods id.
  const attrs = [[0], [1, 2], [2], [], [3, 0, 1], [4], [0, 4], [1], [2, 3], [3], [], [4, 4]];
  const attrOffsets = new Int32Array(attrs.length + 1);
  attrs.forEach((a, i) => (attrOffsets[i + 1] = attrOffsets[i] + a.length));
  const catalog = {
    numItems: 12, numAttrs: 5, attrOffsets, attrValues: Int32Array.from(attrs.flat()),
    goodsRows: Int32Array.from([0, 1, 2, 3, -1, 5, 6, -1, 8, 9, 10, 11]), numGoodsRows: 12,
    itemFields: [
      { name: 'shop', size: 4, keys: ['s0', 's1', 's2', 's3'], values: Int32Array.from([0, 1, 2, 3, 0, 1, -1, 2, 3, 0, 1, 2]) },
      { name: 'brand', size: 3, keys: ['b0', 'b1', 'b2'], values: Int32Array.from([2, 1, 0, 2, 1, 0, 2, 1, 0, 2, 1, 0]) },
    ],
  };
  const sampleFields: SampleField[] = [{ name: 'age level', group: 'user', size: 5, keys: ['0', '1', '2', '3', '4'] }];
  for (const over of [{ model: 'din', activation: 'dice', attentionActivation: 'dice' }, { model: 'base', activation: 'prelu' }] as const) {
    const model = createModel(small({ ...over, goodsDim: 4, attrDim: 3 }), { backend: createBackend('js'), catalog, seed: 3, sampleFields });
    const rng = new Rng(5);
    for (const p of model.params()) for (let i = 0; i < p.value.length; i++) p.value[i] += rng.normal() * 0.3;
    for (const [name, b] of Object.entries(model.buffers())) {
      for (let i = 0; i < b.length; i++) b[i] = name.endsWith('.var') ? 0.2 + rng.next() : rng.normal() * 0.3;
    }
    const { bytes, inputs } = exportOnnx(model);
    assert.deepEqual(inputs.map((i) => i.name), ['items', 'hist', 'lengths', 'user_age_level']);
    const B = 40;
    const T = 7;
    const batch: Batch = {
      size: B, T, labels: new Float32Array(B), users: new Int32Array(B), index: Int32Array.from({ length: B }, (_, i) => i),
      items: Int32Array.from({ length: B }, () => rng.int(12)),
      hist: Int32Array.from({ length: B * T }, () => rng.int(12)),
      lengths: Int32Array.from({ length: B }, () => rng.int(T + 1)),
      fieldValues: [Int32Array.from({ length: B }, () => rng.int(5))],
    };
    const ref = Array.from(model.forward(batch, 'eval'));
    const session = await ort.InferenceSession.create(bytes);
    try {
      const ctr = (await session.run(feeds(model, batch))).ctr.data as Float32Array;
      ref.forEach((l, i) => assert.ok(Math.abs(ctr[i] - sigmoid(l)) <= TOL, `${over.model} row ${i}: onnx ${ctr[i]} vs ${sigmoid(l)}`));
    } finally {
      await session.release();
    }
  }
});

test('export refuses other model kinds, naming the supported ones', () => {
  const data = { numItems: 4, numAttrs: 2, attrOffsets: Int32Array.from([0, 1, 2, 2, 3]), attrValues: Int32Array.from([0, 1, 1]) };
  for (const kind of ['lr', 'pnn', 'deepfm', 'wide-deep'] as const) {
    const model = createModel(small({ model: kind, wideBuckets: 16 }), { backend: createBackend('js-f32'), catalog: data, seed: 1 });
    assert.throws(() => exportOnnx(model), new RegExp(`"${kind}" is not supported \\(supported: base, din\\)`));
  }
});

test('a corrupt file is rejected on decode', () => {
  const model = createModel(small({ model: 'din' }), {
    backend: createBackend('js-f32'), seed: 1,
    catalog: { numItems: 3, numAttrs: 1, attrOffsets: Int32Array.from([0, 1, 1, 2]), attrValues: Int32Array.from([0, 0]) },
  });
  const { bytes } = exportOnnx(model);
  const m = readOnnxModel(bytes);
  assert.deepEqual(checkOnnxModel(m), []);
  // Drop the node producing `ctr`: the structural check names it.
  m.graph!.node = m.graph!.node!.filter((n) => n.output![0] !== 'ctr');
  assert.match(checkOnnxModel(m).join('\n'), /graph output "ctr" is never produced/);
  assert.throws(() => readOnnxModel(bytes.subarray(0, bytes.length >> 1), 'half.onnx'), /half\.onnx: not a valid ONNX ModelProto/);
});

test('din export CLI writes the file and prints inputs and outputs', async (t) => {
  const out = join(dir, 'din-prelu');
  assert.ok(existsSync(join(out, 'model.json')), 'trained by an earlier test');
  const file = join(dir, 'cli.onnx');
  // The command module in a child process, with main.ts's error handling (message on stderr, exit code 1).
  const mod = new URL('../../src/cli/export.js', import.meta.url).href;
  const run = (...args: string[]) => spawnSync(process.execPath, ['--input-type=module', '-e',
    `const { exportCommand } = await import(${JSON.stringify(mod)});
     try { await exportCommand().parseAsync(${JSON.stringify(args)}, { from: 'user' }); }
     catch (e) { process.stderr.write('din: ' + e.message + '\\n'); process.exitCode = 1; }`,
  ], { encoding: 'utf8', env: { ...process.env, CI: '1' } });
  const r = run('--model', out, '--onnx', file);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /items\s+int64\s+\[batch\]/);
  assert.match(r.stdout, /hist\s+int64\s+\[batch, history\]/);
  assert.match(r.stdout, /lengths\s+int64\s+\[batch\]/);
  assert.match(r.stdout, /ctr\s+float32\s+\[batch\]/);
  assert.match(r.stdout, /logit\s+float32\s+\[batch\]/);
  assert.match(r.stderr, /wrote .*cli\.onnx/);
  assert.match(r.stdout, /most recent 20 behaviours/);
  assert.deepEqual(checkOnnxModel(readOnnxModel(readFileSync(file))), []);
  const bad = run('--model', join(dir, 'nope'), '--onnx', file);
  assert.notEqual(bad.status, 0);
  assert.match(bad.stderr, /no model\.json/);
  // Registered as `din export`. (buildProgram reads package.json three levels above dist/src/cli/, absent when the
  // tests are compiled into another --outDir; and main.js imports every command: skip if one cannot load.)
  let program: { commands: readonly { name(): string }[] } | null = null;
  try {
    const { buildProgram } = await import('../../src/cli/main.js');
    program = buildProgram();
  } catch (e) {
    const err = e as Error & { code?: string };
    if (!/package\.json/.test(err.message) && err.code !== 'ERR_MODULE_NOT_FOUND') throw e;
    t.diagnostic(`registration not checked: ${err.message}`);
  }
  if (program) assert.ok(program.commands.some((c) => c.name() === 'export'), 'din export is registered');
});

test('onnxruntime reproduces DIN (Dice) on the Amazon Beauty test split', async (t) => {
  const path = [BEAUTY, BEAUTY_ALT].find((p) => existsSync(p));
  if (!path) {
    t.skip('../shared/data/amazon-beauty not present');
    return;
  }
  const full = await loadDataset({ path, noCache: true });
  // A quarter of the training samples (every 4th positive/negative pair: samples alternate 1, 0), one epoch: enough
  // for trained, non-trivial weights. The whole test split is scored.
  const data: Dataset = { ...full, train: selectSamples(full.train, (i) => (i >> 1) % 4 === 0) };
  const out = join(dir, 'beauty-din');
  const config = small({ model: 'din', activation: 'dice', attentionActivation: 'dice' });
  const options = { ...OPTIONS, epochs: 1, batchSize: 64 };
  runTraining({ data, config, options, backend: createBackend('auto'), out, dataPath: path });
  const onnxPath = join(out, 'model.onnx');
  exportCheckpointToOnnx(out, onnxPath);
  const { model } = loadCheckpoint(out, createBackend('auto'));
  const session = await ort.InferenceSession.create(onnxPath, { intraOpNumThreads: 1, interOpNumThreads: 1 });
  try {
    const r = await compareOnSet(session, model, full.test, options.maxHistory);
    t.diagnostic(`${full.test.size} samples, ${r.Ts} distinct T: max |Δctr| ${r.maxCtr.toExponential(2)}, max relative |Δlogit| ${r.maxLogit.toExponential(2)}, ctr spread ${r.spread.toFixed(3)}`);
    assert.ok(r.Ts > 1, 'batches of several history lengths T were run (dynamic axes)');
    assert.ok(r.spread > 0.05, 'the trained model gives different ctrs to different samples');
    assert.ok(r.maxCtr <= TOL, `max |Δctr| ${r.maxCtr} on ${full.test.size} samples`);
    assert.ok(r.maxLogit <= 1e-4, `max relative |Δlogit| ${r.maxLogit}`);
  } finally {
    await session.release();
  }
});
