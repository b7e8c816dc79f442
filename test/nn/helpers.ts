import assert from 'node:assert/strict';
import type { Float } from '../../src/kernels/backend.js';
import { JsBackend } from '../../src/kernels/js-backend.js';
import type { Param } from '../../src/nn/param.js';
import { checkGradient, checkParam, formatResult, type GradCheckResult } from '../../src/nn/gradcheck.js';
import { Rng } from '../../src/util/rng.js';

/**
 * Bound on the relative error |a − n| / max(|a|, |n|, FLOOR) of a gradient check. In float64 the Richardson central
 * difference with h = 1e-4 has ≲3e-11 absolute error for the O(1) losses used here (rounding of f, ~1e-15, divided
 * by h; measured max 3e-11) and the analytic gradients ~1e-15. So components ≥ FLOOR = 1e-4 must agree to 1e-6
 * relative, smaller ones (e.g. exact zeros such as the last bias under softmax) to 1e-10 absolute — 3× the noise,
 * while a wrong term (missing factor, sign, dropped path) shows up as ≥1e-3.
 */
export const REL_TOL = 1e-6;
export const FLOOR = 1e-4;

export const be = new JsBackend('float64');

export function randn(rng: Rng, n: number, scale = 1): Float {
  const a = be.alloc(n);
  for (let i = 0; i < n; i++) a[i] = rng.normal() * scale;
  return a;
}

export function fillRandn(rng: Rng, a: Float, scale = 1): void {
  for (let i = 0; i < a.length; i++) a[i] = rng.normal() * scale;
}

export function dot(a: ArrayLike<number>, b: ArrayLike<number>, n = a.length): number {
  let s = 0;
  for (let i = 0; i < n; i++) s += a[i] * b[i];
  return s;
}

export function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}

/** Asserts a check passed, printing its max relative error. `maxSkipped` allows PReLU kinks inside the stencil. */
export function expectGrad(r: GradCheckResult, maxSkipped = 0): void {
  console.log(`  ${formatResult(r)}`);
  assert.ok(r.checked > 0, `${r.name}: nothing checked`);
  assert.ok(r.skipped <= maxSkipped, `${r.name}: ${r.skipped} components skipped as kinks`);
  assert.ok(r.maxRelErr < REL_TOL,
    `${r.name}: max rel err ${r.maxRelErr} (analytic ${r.analytic}, numeric ${r.numeric}, index ${r.worst})`);
}

export function checkInput(name: string, f: () => number, x: Float, analytic: ArrayLike<number>, maxSkipped = 0): void {
  expectGrad(checkGradient(name, f, x, range(x.length), analytic, { floor: FLOOR }), maxSkipped);
}

/** Checks every param; sparse ones also must have no entry for rows whose numeric gradient is 0. */
export function checkParams(params: Param[], f: () => number, maxSkipped = 0): void {
  for (const p of params) {
    const r = checkParam(p, f, { floor: FLOOR, untouchedRows: 3 });
    expectGrad(r, maxSkipped);
    if (p.sparse) assert.equal(r.untouchedMaxAbs, 0, `${p.name}: an untouched row has a nonzero numeric gradient`);
  }
}

export { Rng };
