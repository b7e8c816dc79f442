/**
 * The logistic function and a float32-accurate exp, defined once for every TS caller: the JS backend's activation
 * loops (src/kernels/js-backend.ts), the Sigmoid layer, the serving engine's click probabilities, evaluation and the
 * synthetic data generator. (The WASM kernels have their own f32 polynomial, src/kernels/assembly/math.ts.)
 */

/**
 * Logistic function. 1 / (1 + e^−x) is already safe over the whole range (e^−x overflows to ∞ ⇒ 0, underflows to
 * 0 ⇒ 1, never NaN) and branch-free, which matters in per-element loops over random-signed inputs.
 */
export function sigmoid(x: number): number {
  return 1 / (1 + Math.exp(-x));
}

const POW2 = new Float64Array(256).map((_, k) => 2 ** (k - 127));
const LN2_HI = 0.6931471803691238;
const LN2_LO = 1.9082149292705877e-10;

/**
 * e^x to ~1e-8 relative error (below float32 resolution), ~2× faster than Math.exp in V8: x = k·ln2 + r with
 * |r| ≤ ln2/2, e^r by its degree-7 Taylor polynomial, 2^k from a table. Clamped to [−87, 88] (the float32 range).
 * For float32 backends only: it is not smooth enough at the 1e-9 level for float64 finite-difference checks.
 */
export function expF32(x: number): number {
  x = x < -87 ? -87 : x > 88 ? 88 : x;
  const k = Math.floor(x * Math.LOG2E + 0.5);
  const r = x - k * LN2_HI - k * LN2_LO;
  const p = 1 + r * (1 + r * (0.5 + r * (1 / 6 + r * (1 / 24 + r * (1 / 120 + r * (1 / 720 + r * (1 / 5040)))))));
  return POW2[k + 127] * p;
}

/** Logistic function at float32 accuracy (see {@link expF32}). */
export function sigmoidF32(x: number): number {
  return 1 / (1 + expF32(-x));
}
