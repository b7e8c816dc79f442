/**
 * A checkpoint's weights.safetensors read by an independent Python reader (test/export/read_safetensors.py, standard
 * library only): every tensor's shape, sum and first values match the model's params and Dice buffers; the reader
 * rejects malformed layouts. A second test re-reads the values with numpy.frombuffer when /usr/bin/python3 has numpy.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { loadDataset } from '../../src/data/load.js';
import type { Float } from '../../src/kernels/backend.js';
import { createBackend } from '../../src/kernels/backends.js';
import { DEFAULT_MODEL_CONFIG, type Model, type ModelConfig } from '../../src/models/model.js';
import { encodeSafetensors } from '../../src/checkpoint/safetensors.js';
import { runTraining } from '../../src/train/run.js';
import { DEFAULT_TRAIN_OPTIONS } from '../../src/train/trainer.js';

const dir = mkdtempSync(join(tmpdir(), 'din-st-py-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));

/** test/export/read_safetensors.py: searched upward from this module (dist/test/export/ or an --outDir copy), then cwd. */
function readerScript(): string {
  for (const start of [dirname(fileURLToPath(import.meta.url)), process.cwd()]) {
    let d = resolve(start);
    for (;;) {
      const p = join(d, 'test', 'export', 'read_safetensors.py');
      if (existsSync(p)) return p;
      const up = dirname(d);
      if (up === d) break;
      d = up;
    }
  }
  throw new Error('test/export/read_safetensors.py not found above this test or the working directory');
}

interface PyTensor {
  dtype: string;
  shape: number[];
  count: number;
  sum: number;
  abs_sum: number;
  first: number[];
  numpy_sum?: number;
  numpy_shape?: number[];
}

function runReader(python: string, file: string, ...flags: string[]) {
  return spawnSync(python, [readerScript(), file, '--first', '12', ...flags], { encoding: 'utf8' });
}

/** Whether `python` runs at all (and, with `module`, can import it). */
function pythonHas(python: string, module?: string): boolean {
  const r = spawnSync(python, ['-c', module ? `import ${module}` : 'pass'], { encoding: 'utf8' });
  return !r.error && r.status === 0;
}

let trained: { model: Model; file: string } | undefined;
async function trainedModel(): Promise<{ model: Model; file: string }> {
  if (trained) return trained;
  const data = await loadDataset({ path: 'synthetic:small', seed: 3, noCache: true });
  // Dice (moving-average buffers) and an item bias; attrs with several values per item.
  const config: ModelConfig = { ...DEFAULT_MODEL_CONFIG, model: 'din', activation: 'dice', attentionActivation: 'dice', goodsDim: 6, attrDim: 4, hidden: [16, 8], attentionHidden: [12, 6] };
  const out = join(dir, 'din');
  const { model } = runTraining({ data, config, options: { ...DEFAULT_TRAIN_OPTIONS, epochs: 1, batchSize: 64, maxHistory: 20 }, backend: createBackend('auto'), out, dataPath: 'synthetic:small' });
  trained = { model, file: join(out, 'weights.safetensors') };
  return trained;
}

/** Every param and buffer.* of the model against the reader's JSON, within the stored dtype's precision. */
function compareWithModel(model: Model, py: Record<string, PyTensor | Record<string, string>>, numpy = false): number {
  const expected = new Map<string, { shape: number[]; data: Float }>();
  for (const p of model.params()) expected.set(p.name, { shape: p.shape, data: p.value });
  for (const [name, b] of Object.entries(model.buffers())) expected.set(`buffer.${name}`, { shape: [b.length], data: b });
  const names = Object.keys(py).filter((k) => k !== '__metadata__').sort();
  assert.deepEqual(names, [...expected.keys()].sort(), 'the file holds exactly the params and buffers');
  assert.equal((py.__metadata__ as Record<string, string>).format, 'din-model');
  for (const name of names) {
    const t = py[name] as PyTensor;
    const e = expected.get(name)!;
    const eps = t.dtype === 'F64' ? 2 ** -52 : 2 ** -23;
    assert.equal(t.dtype, e.data instanceof Float64Array ? 'F64' : 'F32', `${name} dtype`);
    assert.deepEqual(t.shape, e.shape, `${name} shape`);
    assert.equal(t.count, e.data.length, `${name} count`);
    let sum = 0;
    let abs = 0;
    for (const v of e.data) {
      sum += v;
      abs += Math.abs(v);
    }
    const tol = eps * Math.max(abs, 1e-30) * 4;
    assert.ok(Math.abs(t.sum - sum) <= tol, `${name}: python sum ${t.sum} vs ${sum}`);
    const n = Math.min(12, e.data.length);
    assert.equal(t.first.length, n, `${name}: first values`);
    for (let i = 0; i < n; i++) {
      const v = e.data[i];
      assert.ok(Math.abs(t.first[i] - v) <= eps * Math.abs(v), `${name}[${i}]: python ${t.first[i]} vs ${v}`);
    }
    if (numpy) {
      assert.deepEqual(t.numpy_shape, e.shape, `${name}: numpy shape`);
      assert.ok(Math.abs(t.numpy_sum! - sum) <= tol, `${name}: numpy sum ${t.numpy_sum} vs ${sum}`);
    }
  }
  return names.length;
}

test('python3 (standard library only) reads weights.safetensors: shapes, sums and first values match the model', async (t) => {
  if (!pythonHas('python3')) {
    t.skip('no python3 on PATH');
    return;
  }
  const { model, file } = await trainedModel();
  const r = runReader('python3', file);
  assert.equal(r.status, 0, r.stderr);
  const n = compareWithModel(model, JSON.parse(r.stdout));
  assert.ok(n >= 10, `${n} tensors compared`);
  assert.ok(Object.keys(model.buffers()).length > 0, 'Dice buffers are among them');
});

test('the python reader rejects gaps, overlaps, trailing bytes and size mismatches, and reads F64', (t) => {
  if (!pythonHas('python3')) {
    t.skip('no python3 on PATH');
    return;
  }
  const make = (name: string, header: Record<string, unknown>, dataBytes: number): string => {
    const json = Buffer.from(JSON.stringify(header), 'utf8');
    const buf = Buffer.alloc(8 + json.length + dataBytes);
    buf.writeBigUInt64LE(BigInt(json.length), 0);
    json.copy(buf, 8);
    const path = join(dir, name);
    writeFileSync(path, buf);
    return path;
  };
  const cases: Array<[string, Record<string, unknown>, number, RegExp]> = [
    ['gap', { a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [1], data_offsets: [12, 16] } }, 16, /gap of 4 bytes/],
    ['overlap', { a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [2], data_offsets: [4, 12] } }, 12, /overlap/],
    ['trailing', { a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } }, 12, /cover 8 bytes, the data buffer has 12/],
    ['size', { a: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }, 8, /8 bytes for shape \[3\] of F32 \(12 needed\)/],
    ['dtype', { a: { dtype: 'F12', shape: [1], data_offsets: [0, 4] } }, 4, /unknown dtype/],
  ];
  for (const [name, header, bytes, msg] of cases) {
    const r = runReader('python3', make(`${name}.safetensors`, header, bytes));
    assert.equal(r.status, 1, `${name}: exit status (stderr ${r.stderr})`);
    assert.match(r.stderr, msg, name);
  }
  const f64 = Float64Array.from([1 / 3, -2.5, 1e-300]);
  const path = join(dir, 'f64.safetensors');
  writeFileSync(path, encodeSafetensors({ x: { shape: [3], data: f64 }, y: { shape: [1, 2], data: Float32Array.from([0.1, 0.2]) } }, { k: 'v' }));
  const r = runReader('python3', path);
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout);
  assert.deepEqual(out.__metadata__, { k: 'v' });
  assert.deepEqual(out.x.first, Array.from(f64), 'F64 values exactly');
  assert.deepEqual(out.y.first, Array.from(Float32Array.from([0.1, 0.2])), 'F32 values exactly');
  assert.deepEqual(out.y.shape, [1, 2]);
});

test('numpy.frombuffer (/usr/bin/python3) reads the same values', async (t) => {
  const python = '/usr/bin/python3';
  if (!existsSync(python) || !pythonHas(python, 'numpy')) {
    t.skip(`${python} with numpy not available`);
    return;
  }
  const { model, file } = await trainedModel();
  const r = runReader(python, file, '--numpy');
  assert.equal(r.status, 0, r.stderr);
  compareWithModel(model, JSON.parse(r.stdout), true);
});
