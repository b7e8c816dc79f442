// Adam's per-element update (see src/optim/adam.ts for the algorithm and src/nn/js-backend.ts for the reference loop).
// Weights and gradients are f32, the moments f64 — the arithmetic is the JS loop's, in f64, op for op (no fused
// multiply-add even in the relaxed build), so both backends give bit-identical weights. Four elements per iteration
// (one f32x4 of w and g, two f64x2 of each moment), then a scalar tail.

// @ts-ignore: decorator
@inline function adamRange(w: usize, g: usize, m: usize, v: usize, n: i32, b1: f64, b2: f64, lr: f64, ic1: f64,
  ic2: f64, eps: f64): void {
  const c1 = 1.0 - b1;
  const c2 = 1.0 - b2;
  const B1 = f64x2.splat(b1);
  const B2 = f64x2.splat(b2);
  const C1 = f64x2.splat(c1);
  const C2 = f64x2.splat(c2);
  const LR = f64x2.splat(lr);
  const IC1 = f64x2.splat(ic1);
  const IC2 = f64x2.splat(ic2);
  const EPS = f64x2.splat(eps);
  const n4 = n & ~3;
  let i = 0;
  for (; i < n4; i += 4) {
    const o4 = <usize>i << 2;
    const o8 = <usize>i << 3;
    const g4 = v128.load(g + o4);
    const w4 = v128.load(w + o4);
    const glo = f64x2.promote_low_f32x4(g4);
    const ghi = f64x2.promote_low_f32x4(v128.shuffle<f32>(g4, g4, 2, 3, 0, 1));
    const mlo = f64x2.add(f64x2.mul(B1, v128.load(m + o8)), f64x2.mul(C1, glo));
    const mhi = f64x2.add(f64x2.mul(B1, v128.load(m + o8, 16)), f64x2.mul(C1, ghi));
    const vlo = f64x2.add(f64x2.mul(B2, v128.load(v + o8)), f64x2.mul(f64x2.mul(C2, glo), glo));
    const vhi = f64x2.add(f64x2.mul(B2, v128.load(v + o8, 16)), f64x2.mul(f64x2.mul(C2, ghi), ghi));
    v128.store(m + o8, mlo);
    v128.store(m + o8, mhi, 16);
    v128.store(v + o8, vlo);
    v128.store(v + o8, vhi, 16);
    const ulo = f64x2.div(f64x2.mul(f64x2.mul(LR, mlo), IC1), f64x2.add(f64x2.sqrt(f64x2.mul(vlo, IC2)), EPS));
    const uhi = f64x2.div(f64x2.mul(f64x2.mul(LR, mhi), IC1), f64x2.add(f64x2.sqrt(f64x2.mul(vhi, IC2)), EPS));
    const wlo = f32x4.demote_f64x2_zero(f64x2.sub(f64x2.promote_low_f32x4(w4), ulo));
    const whi = f32x4.demote_f64x2_zero(f64x2.sub(f64x2.promote_low_f32x4(v128.shuffle<f32>(w4, w4, 2, 3, 0, 1)), uhi));
    v128.store(w + o4, v128.shuffle<i64>(wlo, whi, 0, 2));
  }
  for (; i < n; i++) {
    const o4 = <usize>i << 2;
    const o8 = <usize>i << 3;
    const gi = <f64>load<f32>(g + o4);
    const mk = b1 * load<f64>(m + o8) + c1 * gi;
    const vk = b2 * load<f64>(v + o8) + c2 * gi * gi;
    store<f64>(m + o8, mk);
    store<f64>(v + o8, vk);
    store<f32>(w + o4, <f32>(<f64>load<f32>(w + o4) - (lr * mk * ic1) / (Math.sqrt(vk * ic2) + eps)));
  }
}

/**
 * One Adam step. ids == 0: dense, w/g/m/v hold n elements. Otherwise lazy sparse: for r < n, table row ids[r] (of
 * `rows` rows of `dim`) of w, m, v is updated from compact gradient row r of g. Returns the first r whose id is out
 * of range (nothing from it on is updated), or -1.
 */
export function adamUpdate(w: usize, g: usize, m: usize, v: usize, ids: usize, n: i32, dim: i32, rows: i32, b1: f64,
  b2: f64, lr: f64, ic1: f64, ic2: f64, eps: f64): i32 {
  if (ids == 0) {
    adamRange(w, g, m, v, n, b1, b2, lr, ic1, ic2, eps);
    return -1;
  }
  const rb = <usize>dim << 2;
  for (let r = 0; r < n; r++) {
    const id = load<i32>(ids + (<usize>r << 2));
    if (<u32>id >= <u32>rows) return r;
    const k = <usize>id * <usize>dim;
    adamRange(w + (k << 2), g + <usize>r * rb, m + (k << 3), v + (k << 3), dim, b1, b2, lr, ic1, ic2, eps);
  }
  return -1;
}
