import type { Float } from '../../src/kernels/backend.js';
import { Rng } from '../../src/util/rng.js';

/** float32 unit roundoff. */
export const U32 = 2 ** -24;

/**
 * Error bound for a float32 result that is a sum of L products, relative to Σ|terms| (the value of the same
 * expression on absolute values): the classical γ_L ≈ L·u of recursive summation, with room for the few extra
 * roundings of alpha/beta scaling and of summing K-blocks. Blocked or fused evaluation only does better.
 */
export function tolFor(L: number): number {
  return (1.25 * L + 8) * U32;
}

/** n float32-representable values, uniform in [-scale, scale). */
export function randValues(rng: Rng, n: number, scale = 1): number[] {
  const v = new Array<number>(n);
  for (let i = 0; i < n; i++) v[i] = Math.fround((2 * rng.next() - 1) * scale);
  return v;
}

export function abs64(a: ArrayLike<number>): Float64Array {
  const r = new Float64Array(a.length);
  for (let i = 0; i < a.length; i++) r[i] = Math.abs(a[i]);
  return r;
}

/**
 * max_i |got_i − ref_i| / mag_i over the first n elements, where mag_i bounds the size of the terms that produced
 * ref_i (so cancellation does not inflate the error). NaN anywhere counts as infinite error.
 */
export function maxRelErr(got: ArrayLike<number>, ref: ArrayLike<number>, mag: ArrayLike<number>,
  n = ref.length): number {
  let worst = 0;
  for (let i = 0; i < n; i++) {
    const d = Math.abs(got[i] - ref[i]);
    const e = d === 0 ? 0 : d / Math.max(mag[i], 1e-30);
    if (!(e <= worst)) worst = Number.isNaN(e) ? Infinity : e;
  }
  return worst;
}

/** A view of `n` elements at element offset `off` of a larger arena array: exercises unaligned operands. */
export function view<T extends Float | Int32Array>(big: T, off: number, n: number): T {
  return big.subarray(off, off + n) as T;
}
