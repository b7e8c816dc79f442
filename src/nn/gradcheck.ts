import type { Float } from '../kernels/backend.js';
import type { Param } from './param.js';

/**
 * Finite-difference gradient checking (use a float64 backend).
 *
 * The numeric derivative is a Richardson-extrapolated central difference: D(h) = (f(x+h) − f(x−h)) / 2h,
 * N = (4·D(h/2) − D(h)) / 3, whose truncation error is O(h⁴) instead of O(h²). With h = 1e-4 in float64 the
 * truncation error is ~1e-16·|f⁽⁵⁾| and the rounding error ~1e-16·|f| / h ≈ 1e-12·|f|, so for an O(1) loss any
 * gradient component above ~1e-6 is resolved to ~1e-6 relative accuracy or better.
 *
 * Piecewise-linear layers (PReLU) have kinks; if one lies inside [x − h, x + h] the difference quotient is not a
 * derivative. Such points are detected (D(h) and D(h/2) disagree far beyond the smooth O(h²) gap) and reported as
 * `skipped` rather than compared. A wrong analytic gradient cannot hide there: it disagrees with a smooth function's
 * D(h) and D(h/2) alike.
 */
export interface GradCheckOptions {
  /** Step (default 1e-4). */
  h?: number;
  /** Denominator floor of the relative error |a − n| / max(|a|, |n|, floor) (default 1e-8). */
  floor?: number;
  /** Kink detection: skip when |D(h) − D(h/2)| > kinkTol · (max(|D(h)|, |D(h/2)|) + kinkFloor) (defaults 1e-4, 1e-2). */
  kinkTol?: number;
  kinkFloor?: number;
}

export interface GradCheckResult {
  name: string;
  /** Components compared. */
  checked: number;
  /** Components skipped because a kink lies within the stencil. */
  skipped: number;
  maxRelErr: number;
  maxAbsErr: number;
  /** Index (into the checked array) of the worst relative error, and its analytic / numeric values. */
  worst: number;
  analytic: number;
  numeric: number;
}

/** Richardson central difference of f at x[i]; x[i] is restored. Returns the estimate and the D(h) − D(h/2) gap. */
export function numericDerivative(f: () => number, x: Float, i: number, h: number): { value: number; gap: number } {
  const x0 = x[i];
  const at = (v: number): number => {
    x[i] = v;
    return f();
  };
  const d1 = (at(x0 + h) - at(x0 - h)) / (2 * h);
  const d2 = (at(x0 + h / 2) - at(x0 - h / 2)) / h;
  x[i] = x0;
  return { value: (4 * d2 - d1) / 3, gap: Math.abs(d1 - d2) };
}

/**
 * Compares `analytic[k]` with ∂f/∂x[indices[k]] for every k. `f` must recompute the scalar from scratch (forward
 * pass + loss) without touching gradients.
 */
export function checkGradient(name: string, f: () => number, x: Float, indices: ArrayLike<number>,
  analytic: ArrayLike<number>, opts: GradCheckOptions = {}): GradCheckResult {
  const h = opts.h ?? 1e-4;
  const floor = opts.floor ?? 1e-8;
  const kinkTol = opts.kinkTol ?? 1e-4;
  const kinkFloor = opts.kinkFloor ?? 1e-2;
  const a = Array.from(analytic);
  const r: GradCheckResult = { name, checked: 0, skipped: 0, maxRelErr: 0, maxAbsErr: 0, worst: -1, analytic: 0,
    numeric: 0 };
  for (let k = 0; k < indices.length; k++) {
    const i = indices[k];
    const { value: n, gap } = numericDerivative(f, x, i, h);
    if (gap > kinkTol * (Math.abs(n) + gap + kinkFloor)) {
      r.skipped++;
      continue;
    }
    r.checked++;
    const abs = Math.abs(a[k] - n);
    const rel = abs / Math.max(Math.abs(a[k]), Math.abs(n), floor);
    if (!(rel <= r.maxRelErr)) {
      r.maxRelErr = rel;
      r.worst = k;
      r.analytic = a[k];
      r.numeric = n;
    }
    if (abs > r.maxAbsErr) r.maxAbsErr = abs;
  }
  return r;
}

/**
 * Checks a parameter's gradient (already accumulated by one backward) against finite differences of f.
 * Dense params: every component (or `maxComponents` evenly spaced ones). Sparse params: every component of the
 * touched rows, plus up to `untouchedRows` rows without a gradient entry, whose numeric gradient must vanish —
 * reported in `untouchedMaxAbs`.
 */
export function checkParam(p: Param, f: () => number,
  opts: GradCheckOptions & { maxComponents?: number; untouchedRows?: number } = {}): GradCheckResult & {
    untouchedMaxAbs: number;
  } {
  const indices: number[] = [];
  const analytic: number[] = [];
  let untouchedMaxAbs = 0;
  if (p.sparse) {
    const dim = p.shape[1];
    const touched = new Set<number>();
    for (let s = 0; s < p.sparse.count; s++) {
      const row = p.sparse.ids[s];
      if (touched.has(row)) throw new Error(`${p.name}: row ${row} has two gradient slots`);
      touched.add(row);
      for (let j = 0; j < dim; j++) {
        indices.push(row * dim + j);
        analytic.push(p.grad[s * dim + j]);
      }
    }
    const probe = opts.untouchedRows ?? 2;
    for (let row = 0, found = 0; row < p.shape[0] && found < probe; row++) {
      if (touched.has(row)) continue;
      found++;
      for (let j = 0; j < dim; j++) {
        untouchedMaxAbs = Math.max(untouchedMaxAbs, Math.abs(numericDerivative(f, p.value, row * dim + j, opts.h ?? 1e-4).value));
      }
    }
  } else {
    const size = p.value.length;
    const m = Math.min(size, opts.maxComponents ?? size);
    for (let k = 0; k < m; k++) {
      const i = Math.floor((k * size) / m);
      indices.push(i);
      analytic.push(p.grad[i]);
    }
  }
  return { ...checkGradient(p.name, f, p.value, indices, analytic, opts), untouchedMaxAbs };
}

export function formatResult(r: GradCheckResult): string {
  const skipped = r.skipped ? `, ${r.skipped} skipped (kink)` : '';
  return `${r.name}: max rel err ${r.maxRelErr.toExponential(2)} (max abs ${r.maxAbsErr.toExponential(2)}) over ${r.checked}${skipped}`;
}
