// The WASM activation kernels (PReLU, Dice: forward in train and eval mode, backward, moving averages) against the
// float32 JsBackend running the same layers on the same values, for both kernel builds (plain SIMD and, where the
// engine has it, relaxed SIMD). Errors are relative to the magnitude of the terms that produced each value (the
// formula evaluated on absolute values, in float64), so cancellation does not inflate them: elementwise results must
// agree to 1e-6; per-channel α gradients, which both backends accumulate row by row in float32 (as sumRows does for
// biases), to the float32 summation bound of n terms when that is looser (tolFor(n) ≈ 1.25·n·u).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { enableRelaxedSimd } from '../../src/kernels/relaxed-flag.js';
import { relaxedSimdSupported, WasmBackend } from '../../src/kernels/wasm-backend.js';
import { JsBackend } from '../../src/kernels/js-backend.js';
import type { Backend, Float } from '../../src/kernels/backend.js';
import type { Mode } from '../../src/nn/layer.js';
import { PRelu } from '../../src/nn/prelu.js';
import { Dice } from '../../src/nn/dice.js';
import { Rng } from '../../src/util/rng.js';
import { tolFor } from './util.js';

enableRelaxedSimd();

const REL = 1e-6;
const js = new JsBackend('float32');
const variants: WasmBackend[] = [new WasmBackend({ relaxed: false })];
if (relaxedSimdSupported()) variants.push(new WasmBackend({ relaxed: true }));

type Kind = 'normal' | 'offset' | 'wide' | 'zeros' | 'saturating';
const KINDS: Kind[] = ['normal', 'offset', 'wide', 'zeros', 'saturating'];
const CHANNELS = [1, 3, 4, 5, 7, 16, 17, 40, 80];
const ROWS = [1, 2, 7, 33, 640];

/** Input values (float32-representable) of one case. Columns of 'zeros' alternate constant and ±0-heavy. */
function inputs(rng: Rng, kind: Kind, n: number, C: number): number[] {
  const x = new Array<number>(n * C);
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < C; c++) {
      let v: number;
      switch (kind) {
        case 'normal': v = 1.5 * rng.normal(); break;
        case 'offset': v = 1000 + 0.1 * rng.normal(); break; // |mean| / std = 1e4
        case 'wide': v = rng.normal() * 10 ** (30 * rng.next() - 15); break;
        case 'zeros': {
          const u = rng.next();
          v = c % 3 === 0 ? 0.75 : u < 0.3 ? 0 : u < 0.6 ? -0 : rng.normal();
          break;
        }
        case 'saturating': v = 40 * rng.normal(); break;
      }
      x[i * C + c] = Math.fround(v);
    }
  }
  return x;
}

function fill(a: Float, v: ArrayLike<number>): Float {
  a.set(v);
  return a;
}

function arr(be: Backend, v: ArrayLike<number>): Float {
  return fill(be.alloc(v.length), v);
}

function randArr(rng: Rng, n: number, f: () => number): number[] {
  return Array.from({ length: n }, () => Math.fround(f()));
}

/** Worst error/tolerance ratio per quantity, reported once per test. */
class Worst {
  private readonly w = new Map<string, { ratio: number; err: number; where: string; cases: number }>();
  check(name: string, where: string, got: ArrayLike<number>, ref: ArrayLike<number>, mag: ArrayLike<number>,
    rel: number): void {
    let e = this.w.get(name);
    if (!e) this.w.set(name, e = { ratio: 0, err: 0, where: '', cases: 0 });
    e.cases++;
    for (let i = 0; i < ref.length; i++) {
      const d = Math.abs(got[i] - ref[i]);
      if (d === 0) continue; // also equal infinities
      const err = d / Math.max(mag[i], 1e-38);
      assert.ok(err <= rel, `${name} ${where} [${i}]: wasm ${got[i]} vs js ${ref[i]} (magnitude ${mag[i]}): ` +
        `relative error ${err.toExponential(3)} > ${rel.toExponential(3)}`);
      if (err / rel > e.ratio) {
        e.ratio = err / rel;
        e.err = err;
        e.where = `${where} [${i}]`;
      }
    }
  }
  report(t: { diagnostic(msg: string): void }, prefix: string): void {
    for (const [name, e] of this.w) {
      t.diagnostic(`${prefix} ${name}: ${e.cases} cases, worst relative error ${e.err.toExponential(2)} ` +
        `(error/tolerance ${e.ratio.toFixed(3)} at ${e.where})`);
    }
  }
}

const sig = (z: number) => 1 / (1 + Math.exp(-z));

for (const w of variants) {
  test(`${w.name}: PReLU forward and backward equal the float32 JS backend`, (t) => {
    const worst = new Worst();
    const rng = new Rng(11);
    for (const kind of KINDS) {
      for (const C of CHANNELS) {
        for (const n of ROWS) {
          const where = `${kind} n=${n} C=${C}`;
          const x = inputs(rng, kind, n, C);
          const dy = randArr(rng, n * C, () => rng.normal());
          const alpha = randArr(rng, C, () => 2 * rng.next() - 0.5);
          const ga0 = randArr(rng, C, () => rng.normal());
          const out: { y: number[]; dx: number[]; ga: number[] }[] = [];
          for (const be of [w, js] as Backend[]) {
            const l = new PRelu(be, 'p', C);
            fill(l.alpha.value, alpha);
            fill(l.alpha.grad, ga0);
            const y = Array.from(l.forward(arr(be, x), n, 'train'));
            const dx = Array.from(l.backward(arr(be, dy)));
            out.push({ y, dx, ga: Array.from(l.alpha.grad) });
          }
          // One rounded product per element on both sides: bit-identical.
          worst.check('y', where, out[0].y, out[1].y, out[1].y.map(Math.abs), 0);
          worst.check('dx', where, out[0].dx, out[1].dx, out[1].dx.map(Math.abs), 0);
          const mag = ga0.map(Math.abs);
          for (let i = 0; i < n; i++) for (let c = 0; c < C; c++) mag[c] += Math.abs(dy[i * C + c] * x[i * C + c]);
          worst.check('dAlpha', where, out[0].ga, out[1].ga, mag, Math.max(REL, tolFor(n)));
        }
      }
    }
    worst.report(t, w.name);
  });

  for (const mode of ['train', 'eval'] as Mode[]) {
    test(`${w.name}: Dice ${mode} forward, backward and moving averages equal the float32 JS backend`, (t) => {
      const worst = new Worst();
      const rng = new Rng(mode === 'train' ? 21 : 22);
      for (const kind of KINDS) {
        for (const C of CHANNELS) {
          for (const n of ROWS) {
            const where = `${kind} n=${n} C=${C}`;
            const x = inputs(rng, kind, n, C);
            const dy = randArr(rng, n * C, () => rng.normal());
            const alpha = randArr(rng, C, () => 2 * rng.next() - 0.5);
            const ga0 = randArr(rng, C, () => rng.normal());
            // Eval-mode statistics: 'saturating' makes |z| reach ~1e3 (sigmoid at 0 and 1).
            const mm0 = randArr(rng, C, () => (kind === 'offset' ? 1000 : 0) + rng.normal());
            const mv0 = randArr(rng, C, () => (kind === 'saturating' ? 1e-3 : 0.1 + 3 * rng.next()));
            const out: { y: number[]; dx: number[]; ga: number[]; mm: number[]; mv: number[] }[] = [];
            for (const be of [w, js] as Backend[]) {
              const d = new Dice(be, 'd', C);
              fill(d.alpha.value, alpha);
              fill(d.alpha.grad, ga0);
              fill(d.movingMean, mm0);
              fill(d.movingVar, mv0);
              const xa = arr(be, x);
              // Two steps: the second sees moving averages the first updated.
              d.forward(xa, n, mode);
              const y = Array.from(d.forward(xa, n, mode));
              const dx = Array.from(d.backward(arr(be, dy)));
              out.push({ y, dx, ga: Array.from(d.alpha.grad), mm: Array.from(d.movingMean),
                mv: Array.from(d.movingVar) });
            }
            // Moving averages: the same float64 sums in the same order on both sides, so bit-identical.
            assert.deepEqual(out[0].mm, out[1].mm, `${where}: moving mean`);
            assert.deepEqual(out[0].mv, out[1].mv, `${where}: moving var`);
            if (mode === 'eval') {
              assert.deepEqual(out[0].mm, mm0, `${where}: eval must not update the moving mean`);
              assert.deepEqual(out[0].mv, mv0, `${where}: eval must not update the moving var`);
            }
            // Magnitudes from the float64 formulas: μ, inv, z, p per element; 1 − p counts as 1 + p (its rounding
            // in float32 is relative to 1, not to 1 − p).
            const mu = new Float64Array(C);
            const inv = new Float64Array(C);
            for (let c = 0; c < C; c++) {
              if (mode === 'train') {
                let m = 0;
                for (let i = 0; i < n; i++) m += x[i * C + c];
                m /= n;
                let v = 0;
                for (let i = 0; i < n; i++) v += (x[i * C + c] - m) ** 2;
                mu[c] = m;
                inv[c] = 1 / Math.sqrt(v / n + 1e-8);
              } else {
                mu[c] = mm0[c];
                inv[c] = 1 / Math.sqrt(mv0[c] + 1e-8);
              }
            }
            const magY = new Float64Array(n * C);
            const magDx = new Float64Array(n * C);
            const magGa = Float64Array.from(ga0, Math.abs);
            const gzAbs = new Float64Array(n * C);
            const zAbs = new Float64Array(n * C);
            const sG = new Float64Array(C);
            const sGZ = new Float64Array(C);
            for (let i = 0; i < n; i++) {
              for (let c = 0; c < C; c++) {
                const k = i * C + c;
                const v = Math.abs(x[k]);
                const g = Math.abs(dy[k]);
                const a = Math.abs(alpha[c]);
                const a1 = 1 + a;
                const z = (x[k] - mu[c]) * inv[c];
                const p = sig(z);
                magY[k] = v * (a + a1 * p);
                magGa[c] += g * v * (1 + p);
                gzAbs[k] = g * a1 * v * p * (1 + p);
                zAbs[k] = Math.abs(z);
                magDx[k] = g * (a + a1 * p) + gzAbs[k] * inv[c];
                sG[c] += gzAbs[k];
                sGZ[c] += gzAbs[k] * zAbs[k];
              }
            }
            if (mode === 'train') {
              for (let k = 0; k < n * C; k++) {
                const c = k % C;
                magDx[k] += (sG[c] / n) * inv[c] + zAbs[k] * (sGZ[c] / n) * inv[c];
              }
            }
            worst.check('y', where, out[0].y, out[1].y, magY, REL);
            worst.check('dx', where, out[0].dx, out[1].dx, magDx, REL);
            worst.check('dAlpha', where, out[0].ga, out[1].ga, magGa, Math.max(REL, tolFor(n)));
          }
        }
      }
      worst.report(t, w.name);
    });
  }

  test(`${w.name}: Dice and PReLU kernels reject foreign workspaces and short operands`, () => {
    const s = js.diceStats(4);
    const a = w.alloc(4);
    const x = w.alloc(8);
    assert.throws(() => w.diceForward(x, 2, 4, a, a, a, true, 0.99, 1e-8, s, x, x, x), /Dice workspace/);
    assert.throws(() => w.diceForward(x, 2, 4, a, a, a, true, 0.99, 1e-8, w.diceStats(3), x, x, x),
      /Dice workspace for 4 channels/);
    assert.throws(() => w.preluForward(x, a, 3, 4, x), /x has 8 elements, needs 12/);
    assert.throws(() => w.preluForward(new Float32Array(8), a, 2, 4, x), /not an array of this WasmBackend/);
  });
}
