// Adam's per-element update (see src/optim/adam.ts for the algorithm and src/kernels/js-backend.ts for the reference loops).
// Weights, gradients and moments are f32, as PyTorch keeps them. The arithmetic is f32 op for op, in the order of
// JsBackend('float32')'s loop (which rounds every op to f32 with Math.fround), with no fused multiply-add even in the
// relaxed build, so both give bit-identical weights. Four elements per iteration, then a scalar tail.

// @ts-ignore: decorator
@inline function adamRange(w: usize, g: usize, m: usize, v: usize, n: i32, b1: f32, b2: f32, lr: f32, ic1: f32,
  ic2: f32, eps: f32): void {
  const c1: f32 = <f32>1.0 - b1;
  const c2: f32 = <f32>1.0 - b2;
  const B1 = f32x4.splat(b1);
  const B2 = f32x4.splat(b2);
  const C1 = f32x4.splat(c1);
  const C2 = f32x4.splat(c2);
  const LR = f32x4.splat(lr);
  const IC1 = f32x4.splat(ic1);
  const IC2 = f32x4.splat(ic2);
  const EPS = f32x4.splat(eps);
  const n4 = n & ~3;
  let i = 0;
  for (; i < n4; i += 4) {
    const o = <usize>i << 2;
    const g4 = v128.load(g + o);
    const m4 = f32x4.add(f32x4.mul(B1, v128.load(m + o)), f32x4.mul(C1, g4));
    const v4 = f32x4.add(f32x4.mul(B2, v128.load(v + o)), f32x4.mul(f32x4.mul(C2, g4), g4));
    v128.store(m + o, m4);
    v128.store(v + o, v4);
    const u = f32x4.div(f32x4.mul(f32x4.mul(LR, m4), IC1), f32x4.add(f32x4.sqrt(f32x4.mul(v4, IC2)), EPS));
    v128.store(w + o, f32x4.sub(v128.load(w + o), u));
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    const gi = load<f32>(g + o);
    const mk = b1 * load<f32>(m + o) + c1 * gi;
    const vk = b2 * load<f32>(v + o) + (c2 * gi) * gi;
    store<f32>(m + o, mk);
    store<f32>(v + o, vk);
    store<f32>(w + o, load<f32>(w + o) - ((lr * mk) * ic1) / (Mathf.sqrt(vk * ic2) + eps));
  }
}

/**
 * One Adam step. ids == 0: dense, w/g/m/v hold n elements. Otherwise lazy sparse: for r < n, table row ids[r] (of
 * `rows` rows of `dim`) of w, m, v is updated from compact gradient row r of g. Returns the first r whose id is out
 * of range (nothing from it on is updated), or -1. The f64 arguments are rounded to f32 once.
 */
export function adamUpdate(w: usize, g: usize, m: usize, v: usize, ids: usize, n: i32, dim: i32, rows: i32, b1: f64,
  b2: f64, lr: f64, ic1: f64, ic2: f64, eps: f64): i32 {
  const fb1 = <f32>b1, fb2 = <f32>b2, flr = <f32>lr, fic1 = <f32>ic1, fic2 = <f32>ic2, feps = <f32>eps;
  if (ids == 0) {
    adamRange(w, g, m, v, n, fb1, fb2, flr, fic1, fic2, feps);
    return -1;
  }
  const rb = <usize>dim << 2;
  for (let r = 0; r < n; r++) {
    const id = load<i32>(ids + (<usize>r << 2));
    if (<u32>id >= <u32>rows) return r;
    const k = (<usize>id * <usize>dim) << 2;
    adamRange(w + k, g + <usize>r * rb, m + k, v + k, dim, fb1, fb2, flr, fic1, fic2, feps);
  }
  return -1;
}
