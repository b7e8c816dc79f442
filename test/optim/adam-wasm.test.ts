// The WASM Adam kernel (float32 moments and arithmetic) against JsBackend('float32')'s loop, which rounds every op to
// float32 in the same order: the weights must be bit-identical after several steps, on dense params and on lazy
// sparse tables. And against the float64 reference loop: within float32 rounding.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { enableRelaxedSimd } from '../../src/kernels/relaxed-flag.js';
import { relaxedSimdSupported, WasmBackend } from '../../src/kernels/wasm-backend.js';
import type { Backend } from '../../src/kernels/backend.js';
import type { Param } from '../../src/nn/param.js';
import { Adam } from '../../src/optim/index.js';
import { JsBackend } from '../../src/kernels/js-backend.js';
import { Rng } from '../../src/util/rng.js';

enableRelaxedSimd();
const variants: WasmBackend[] = [new WasmBackend({ relaxed: false, memoryMB: 16 })];
if (relaxedSimdSupported()) variants.push(new WasmBackend({ relaxed: true, memoryMB: 16 }));

interface Spec { name: string; shape: number[]; sparse: boolean }

const SPECS: Spec[] = [
  { name: 'd1', shape: [1], sparse: false },
  { name: 'd3', shape: [3], sparse: false },
  { name: 'd7x5', shape: [7, 5], sparse: false },
  { name: 'd4x4', shape: [4, 4], sparse: false },
  { name: 'd37', shape: [37], sparse: false },
  { name: 'e1', shape: [11, 1], sparse: true },
  { name: 'e5', shape: [23, 5], sparse: true },
  { name: 'e18', shape: [40, 18], sparse: true },
  { name: 'e8', shape: [9, 8], sparse: true },
];

/** The same param twice: once in the WASM arena, once on the JS heap (float32 both). */
function makePair(be: Backend, s: Spec, rng: Rng): [Param, Param] {
  const n = s.shape.reduce((a, b) => a * b, 1);
  const rows = s.shape[0];
  const gradLen = s.sparse ? rows * s.shape[1] : n;
  const wasm: Param = { name: s.name, shape: s.shape, value: be.alloc(n), grad: be.alloc(gradLen) };
  for (let i = 0; i < n; i++) wasm.value[i] = rng.normal() * 0.5;
  const js: Param = { name: s.name, shape: s.shape, value: Float32Array.from(wasm.value), grad: new Float32Array(gradLen) };
  if (s.sparse) {
    wasm.sparse = { ids: be.allocInt(rows), count: 0 };
    js.sparse = { ids: new Int32Array(rows), count: 0 };
  }
  return [wasm, js];
}

/** New random gradients (and, for tables, a new random set of rows; repeated ids when `dupes`). */
function fillGrads(pair: [Param, Param], rng: Rng, step: number, dupes: boolean): void {
  const [a, b] = pair;
  if (a.sparse && b.sparse) {
    const rows = a.shape[0];
    const dim = a.shape[1];
    const count = step === 2 ? 0 : 1 + Math.floor(rng.next() * (rows - 1));
    for (let r = 0; r < count; r++) {
      const id = dupes && r > 0 && rng.next() < 0.3 ? a.sparse.ids[r - 1] : Math.floor(rng.next() * rows);
      a.sparse.ids[r] = b.sparse.ids[r] = id;
    }
    a.sparse.count = b.sparse.count = count;
    for (let i = 0; i < count * dim; i++) a.grad[i] = b.grad[i] = rng.normal() * (step === 4 ? 1e-6 : 1);
  } else {
    for (let i = 0; i < a.grad.length; i++) a.grad[i] = b.grad[i] = rng.normal() * (step === 4 ? 1e3 : 1);
  }
}

for (const be of variants) {
  for (const dupes of [false, true]) {
    test(`adam on ${be.name} is bit-identical to the JS loop over 8 steps (dense + sparse${dupes ? ', repeated ids' : ''})`, () => {
      const rng = new Rng(dupes ? 11 : 5);
      const pairs = SPECS.map((s) => makePair(be, s, rng));
      const untouched = pairs.map(([a]) => Float32Array.from(a.value));
      const ours = new Adam({ backend: be });
      const ref = new Adam({ backend: new JsBackend('float32') });
      const seen = pairs.map(() => new Set<number>());
      for (let step = 0; step < 8; step++) {
        pairs.forEach((pair, k) => {
          fillGrads(pair, rng, step, dupes);
          const sp = pair[0].sparse;
          if (sp) for (let r = 0; r < sp.count; r++) seen[k].add(sp.ids[r]);
        });
        const lr = step < 4 ? 0.01 : 0.003;
        ours.step(pairs.map((p) => p[0]), lr);
        ref.step(pairs.map((p) => p[1]), lr);
        for (const [a, b] of pairs) {
          for (let i = 0; i < a.value.length; i++) {
            if (!Object.is(a.value[i], b.value[i])) {
              assert.fail(`step ${step} ${a.name}[${i}]: wasm ${a.value[i]} vs js ${b.value[i]}`);
            }
          }
        }
      }
      // Lazy: rows never in a batch keep their initial values; touched rows moved.
      pairs.forEach(([a], k) => {
        if (!a.sparse) return;
        const dim = a.shape[1];
        for (let row = 0; row < a.shape[0]; row++) {
          const same = a.value.subarray(row * dim, (row + 1) * dim).every((x, j) => x === untouched[k][row * dim + j]);
          assert.equal(same, !seen[k].has(row), `${a.name} row ${row}`);
        }
      });
    });
  }

  test(`adam on ${be.name}: moments live in the arena and ids are range-checked`, () => {
    const before = be.memoryStats().used;
    const p: Param = { name: 'e', shape: [4, 3], value: be.alloc(12), grad: be.alloc(12), sparse: { ids: be.allocInt(4), count: 1 } };
    const adam = new Adam({ backend: be });
    adam.step([p], 0.1);
    // value, grad, ids, and two float32 moments of 12 elements (48 bytes each).
    assert.equal(be.memoryStats().used - before, 48 + 48 + 16 + 48 + 48);
    p.sparse!.ids[0] = 4;
    assert.throws(() => adam.step([p], 0.1), /ids\[0\] = 4 is out of range for a table of 4 rows/);
  });
}

test('adam: a WASM table whose moments do not fit the arena falls back to JS-heap moments, same results', () => {
  const be = new WasmBackend({ memoryMB: 16 });
  const rows = 250_000; // 1 MB of weights, 1 MB per moment array; leave 1 MiB of the arena free
  const p: Param = { name: 'e', shape: [rows, 1], value: be.alloc(rows), grad: be.alloc(rows), sparse: { ids: be.allocInt(rows), count: 3 } };
  const s = be.memoryStats();
  const hog = be.alloc(Math.floor((s.capacity - s.used - 2 ** 20) / 4));
  p.sparse!.ids.set([5, 1, 249_999]);
  p.grad.set([1, -2, 0.5]);
  const q: Param = { name: 'e', shape: [rows, 1], value: new Float32Array(rows), grad: Float32Array.from(p.grad), sparse: { ids: Int32Array.from(p.sparse!.ids), count: 3 } };
  const used = be.memoryStats().used;
  new Adam({ backend: be }).step([p], 0.1);
  assert.equal(be.memoryStats().used, used, 'no moment array left in the arena');
  new Adam({ backend: new JsBackend('float32') }).step([q], 0.1);
  assert.deepEqual(p.value, q.value);
  assert.ok(p.value[249_999] < 0);
  be.free(hog);
});

test('float32 Adam (WASM) stays within float32 rounding of the float64 reference loop', () => {
  const be = variants[0];
  const rng = new Rng(21);
  const n = 257;
  const w: Param = { name: 'w', shape: [n], value: be.alloc(n), grad: be.alloc(n) };
  for (let i = 0; i < n; i++) w.value[i] = rng.normal();
  const r: Param = { name: 'w', shape: [n], value: Float64Array.from(w.value), grad: new Float64Array(n) };
  const ours = new Adam({ backend: be });
  const ref = new Adam();
  for (let step = 0; step < 20; step++) {
    for (let i = 0; i < n; i++) r.grad[i] = w.grad[i] = Math.fround(rng.normal() * (i % 7 === 0 ? 1e-4 : 1));
    ours.step([w], 0.01);
    ref.step([r], 0.01);
  }
  // Each step moves a weight by ≤ lr; float32 moments and arithmetic change a step by a few float32 ulps of it.
  let worst = 0;
  for (let i = 0; i < n; i++) worst = Math.max(worst, Math.abs(w.value[i] - r.value[i]));
  assert.ok(worst < 20 * 0.01 * 1e-5, `max difference ${worst}`);
});
