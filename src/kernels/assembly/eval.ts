// Eval-mode kernels (serving and every other inference on a frozen model; the maths is src/nn's eval forward):
// a bias plus activation fused and applied in place over a grid of rows, and DIN's per-pair products q ⊙ k.
//
// Grid: row i·nB + j (i < nA, j < nB) of x gets the bias A[i·sA + c] + B[j·sB + c] (strides in elements), then the
// activation. A plain layer is one bias row for every row (nA = 1, sB = 0 on a zero row); DIN's attention first layer
// is the candidate term A (a row per candidate) plus the behaviour term B (a row per behaviour) for every pair.
// Activations: 0 none, 1 PReLU (p0 = α), 2 Dice with its moving averages (p0 = mean, p1 = 1/sqrt(var + ε), p2 = α,
// p3 = 1 − α), 3 sigmoid. exp is ./math.ts's, the one the training kernels use.
import { KT, K_ZERO, sig1, sig4 } from './math';

// @ts-ignore: decorator
@inline function grid(kind: i32, x: usize, nA: i32, nB: i32, C: i32, A: usize, sA: i32, B: usize, sB: i32,
  p0: usize, p1: usize, p2: usize, p3: usize): void {
  const C4 = C & ~3;
  let row = x;
  for (let i = 0; i < nA; i++) {
    const a = A + ((<usize>i * <usize>sA) << 2);
    for (let j = 0; j < nB; j++) {
      const b = B + ((<usize>j * <usize>sB) << 2);
      let c = 0;
      for (; c < C4; c += 4) {
        const o = <usize>c << 2;
        const v = f32x4.add(v128.load(row + o), f32x4.add(v128.load(a + o), v128.load(b + o)));
        let y: v128;
        if (kind == 2) {
          const z = f32x4.mul(f32x4.sub(v, v128.load(p0 + o)), v128.load(p1 + o));
          y = f32x4.mul(v, f32x4.add(v128.load(p2 + o), f32x4.mul(v128.load(p3 + o), sig4(z))));
        } else if (kind == 1) {
          const zero = v128.load(KT, K_ZERO);
          y = f32x4.add(f32x4.pmax(v, zero), f32x4.mul(v128.load(p0 + o), f32x4.pmin(v, zero)));
        } else if (kind == 3) {
          y = sig4(v);
        } else {
          y = v;
        }
        v128.store(row + o, y);
      }
      for (; c < C; c++) {
        const o = <usize>c << 2;
        const v = load<f32>(row + o) + (load<f32>(a + o) + load<f32>(b + o));
        let y: f32;
        if (kind == 2) {
          const z = (v - load<f32>(p0 + o)) * load<f32>(p1 + o);
          y = v * (load<f32>(p2 + o) + load<f32>(p3 + o) * sig1(z));
        } else if (kind == 1) {
          y = max(v, <f32>0) + load<f32>(p0 + o) * min(v, <f32>0);
        } else if (kind == 3) {
          y = sig1(v);
        } else {
          y = v;
        }
        store<f32>(row + o, y);
      }
      row += <usize>C << 2;
    }
  }
}

/** The grid of the file header with activation `kind` (its parameters p0..p3 as documented there; 0 when unused). */
export function evalActivationGrid(kind: i32, x: usize, nA: i32, nB: i32, C: i32, A: usize, sA: i32, B: usize, sB: i32,
  p0: usize, p1: usize, p2: usize, p3: usize): void {
  // One instantiation per kind, so each loop has its branch folded away.
  if (kind == 0) grid(0, x, nA, nB, C, A, sA, B, sB, 0, 0, 0, 0);
  else if (kind == 1) grid(1, x, nA, nB, C, A, sA, B, sB, p0, 0, 0, 0);
  else if (kind == 2) grid(2, x, nA, nB, C, A, sA, B, sB, p0, p1, p2, p3);
  else grid(3, x, nA, nB, C, A, sA, B, sB, 0, 0, 0, 0);
}

/** Rows i·nB + j (i < nA, j < nB) of out [nA·nB × D] ← Q[i·D …] ⊙ K[j·D …] (DIN's q ⊙ k per candidate and behaviour). */
export function pairProducts(out: usize, Q: usize, nA: i32, K: usize, nB: i32, D: i32): void {
  const D4 = D & ~3;
  const rowBytes = <usize>D << 2;
  let o = out;
  for (let i = 0; i < nA; i++) {
    const q = Q + <usize>i * rowBytes;
    let k = K;
    for (let j = 0; j < nB; j++) {
      let d = 0;
      for (; d < D4; d += 4) {
        const b = <usize>d << 2;
        v128.store(o + b, f32x4.mul(v128.load(q + b), v128.load(k + b)));
      }
      for (; d < D; d++) {
        const b = <usize>d << 2;
        store<f32>(o + b, load<f32>(q + b) * load<f32>(k + b));
      }
      o += rowBytes;
      k += rowBytes;
    }
  }
}
