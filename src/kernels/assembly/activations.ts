// Training-path activations over row-major n×C f32 matrices (see src/nn/prelu.ts, src/nn/dice.ts for the maths and
// src/kernels/js-backend.ts for the reference loops). Rows are walked in order with channels four lanes at a time and a
// scalar tail, so per-channel sums accumulate in the same order as the JS loops. Per-channel statistics (batch mean,
// variance, the Σ terms of Dice's backward) are summed in f64 as the JS backend does: they are sums over thousands
// of rows. Accumulators live in small per-channel arrays (L1-resident) rather than registers so any C works.

// @ts-ignore: decorator
@inline function off(i: i32): usize {
  return <usize>i << 2;
}

import { exp1, exp4, KT, K_ONE, sig1, sig4 } from './math';

/** acc[c..c+4] (f64) += the four lanes of v (f32). */
// @ts-ignore: decorator
@inline function acc64(acc: usize, v: v128): void {
  v128.store(acc, f64x2.add(v128.load(acc), f64x2.promote_low_f32x4(v)));
  v128.store(acc, f64x2.add(v128.load(acc, 16), f64x2.promote_low_f32x4(v128.shuffle<f32>(v, v, 2, 3, 0, 1))), 16);
}

// @ts-ignore: decorator
@inline function zero64(p: usize, n: i32): void {
  for (let i = 0; i < n; i++) store<f64>(p + (<usize>i << 3), 0);
}

/** PReLU forward: y = x where x > 0, α_c·x otherwise (x = −0 and NaN take the α branch, as in JS). */
export function preluForward(x: usize, alpha: usize, n: i32, C: i32, y: usize): void {
  const C4 = C & ~3;
  const rb = off(C);
  const zero = f32x4.splat(0);
  let px = x;
  let py = y;
  for (let i = 0; i < n; i++) {
    let c = 0;
    for (; c < C4; c += 4) {
      const o = off(c);
      const v = v128.load(px + o);
      v128.store(py + o, v128.bitselect(v, f32x4.mul(v, v128.load(alpha + o)), f32x4.gt(v, zero)));
    }
    for (; c < C; c++) {
      const o = off(c);
      const v = load<f32>(px + o);
      store<f32>(py + o, v > 0 ? v : v * load<f32>(alpha + o));
    }
    px += rb;
    py += rb;
  }
}

/** PReLU backward: dx = dy·(x > 0 ? 1 : α_c) (overwritten); dAlpha[c] += Σ_i dy·x over x ≤ 0, rows in order. */
export function preluBackward(x: usize, alpha: usize, dy: usize, n: i32, C: i32, dx: usize, dAlpha: usize): void {
  const C4 = C & ~3;
  const rb = off(C);
  const zero = f32x4.splat(0);
  let px = x;
  let pg = dy;
  let pd = dx;
  for (let i = 0; i < n; i++) {
    let c = 0;
    for (; c < C4; c += 4) {
      const o = off(c);
      const v = v128.load(px + o);
      const g = v128.load(pg + o);
      const pos = f32x4.gt(v, zero);
      v128.store(pd + o, v128.bitselect(g, f32x4.mul(g, v128.load(alpha + o)), pos));
      v128.store(dAlpha + o, f32x4.add(v128.load(dAlpha + o), v128.andnot(f32x4.mul(g, v), pos)));
    }
    for (; c < C; c++) {
      const o = off(c);
      const v = load<f32>(px + o);
      const g = load<f32>(pg + o);
      if (v > 0) {
        store<f32>(pd + o, g);
      } else {
        store<f32>(pd + o, g * load<f32>(alpha + o));
        store<f32>(dAlpha + o, load<f32>(dAlpha + o) + g * v);
      }
    }
    px += rb;
    pg += rb;
    pd += rb;
  }
}

// Dice workspace layout (DICE_STATS_F64 f64 slots per channel): f64 [0, C) mean, [C, 2C) variance then
// 1/sqrt(var+ε), [2C, 3C) Σ gz, [3C, 4C) Σ gz·z; then f32 arrays from byte 32C: mean (rounded), mean − rounded mean,
// 1/sqrt(var+ε), and backward's two per-channel corrections.
export const DICE_STATS_F64: i32 = 7;

export function diceStatsPerChannel(): i32 {
  return DICE_STATS_F64;
}

// Σ_i x[i,c] into sum[c] (f64, rows in order).
// @ts-ignore: decorator
@inline function colSums(x: usize, n: i32, C: i32, sum: usize): void {
  const C4 = C & ~3;
  const rb = off(C);
  zero64(sum, C);
  let px = x;
  for (let i = 0; i < n; i++) {
    let c = 0;
    for (; c < C4; c += 4) acc64(sum + (<usize>c << 3), v128.load(px + off(c)));
    for (; c < C; c++) {
      const a = sum + (<usize>c << 3);
      store<f64>(a, load<f64>(a) + <f64>load<f32>(px + off(c)));
    }
    px += rb;
  }
}

// Σ_i (x[i,c] − mean[c])² into vr[c] (f64, rows in order).
// @ts-ignore: decorator
@inline function colSqDev(x: usize, n: i32, C: i32, mean: usize, vr: usize): void {
  const C4 = C & ~3;
  const rb = off(C);
  zero64(vr, C);
  let px = x;
  for (let i = 0; i < n; i++) {
    let c = 0;
    for (; c < C4; c += 4) {
      const a = <usize>c << 3;
      const v = v128.load(px + off(c));
      const d0 = f64x2.sub(f64x2.promote_low_f32x4(v), v128.load(mean + a));
      const d1 = f64x2.sub(f64x2.promote_low_f32x4(v128.shuffle<f32>(v, v, 2, 3, 0, 1)), v128.load(mean + a, 16));
      v128.store(vr + a, f64x2.add(v128.load(vr + a), f64x2.mul(d0, d0)));
      v128.store(vr + a, f64x2.add(v128.load(vr + a, 16), f64x2.mul(d1, d1)), 16);
    }
    for (; c < C; c++) {
      const a = <usize>c << 3;
      const d = <f64>load<f32>(px + off(c)) - load<f64>(mean + a);
      store<f64>(vr + a, load<f64>(vr + a) + d * d);
    }
    px += rb;
  }
}

// From mean[c] (the batch mean) and vr[c] = Σ (x − mean)² over nf rows: moving averages, then 1/sqrt(var + ε) in
// vr and the f32 copies the elementwise loop reads.
// @ts-ignore: decorator
@inline function finishBatchStats(C: i32, nf: f64, movingMean: usize, movingVar: usize, momentum: f64, eps: f64,
  stats: usize): void {
  const mean = stats;
  const vr = stats + (<usize>C << 3);
  const mh = stats + (<usize>C << 5);
  const ml = mh + off(C);
  const inv = ml + off(C);
  const m1 = 1 - momentum;
  for (let c = 0; c < C; c++) {
    const a = <usize>c << 3;
    const mu = load<f64>(mean + a);
    const v = load<f64>(vr + a) / nf;
    const o = off(c);
    store<f32>(movingMean + o, <f32>(momentum * <f64>load<f32>(movingMean + o) + m1 * mu));
    store<f32>(movingVar + o, <f32>(momentum * <f64>load<f32>(movingVar + o) + m1 * v));
    const iv = 1 / Math.sqrt(v + eps);
    store<f64>(vr + a, iv);
    const hi = <f32>mu;
    store<f32>(mh + o, hi);
    store<f32>(ml + o, <f32>(mu - <f64>hi));
    store<f32>(inv + o, <f32>iv);
  }
}

// y, p, z from the statistics finishBatchStats (or eval mode) left in the workspace.
// @ts-ignore: decorator
@inline function diceApply(x: usize, n: i32, C: i32, alpha: usize, stats: usize, y: usize, p: usize, z: usize): void {
  const C4 = C & ~3;
  const rb = off(C);
  const mh = stats + (<usize>C << 5);
  const ml = mh + off(C);
  const inv = ml + off(C);
  const one = v128.load(KT, K_ONE);
  let px = x;
  let py = y;
  let pp = p;
  let pz = z;
  for (let i = 0; i < n; i++) {
    let c = 0;
    for (; c < C4; c += 4) {
      const o = off(c);
      const v = v128.load(px + o);
      // The mean in two parts keeps z accurate when |mean| ≫ std (x − hi is exact when they are close).
      const zz = f32x4.mul(f32x4.sub(f32x4.sub(v, v128.load(mh + o)), v128.load(ml + o)), v128.load(inv + o));
      const s = sig4(zz);
      const a = v128.load(alpha + o);
      v128.store(pz + o, zz);
      v128.store(pp + o, s);
      v128.store(py + o, f32x4.mul(v, f32x4.add(a, f32x4.mul(f32x4.sub(one, a), s))));
    }
    for (; c < C; c++) {
      const o = off(c);
      const v = load<f32>(px + o);
      const zz = ((v - load<f32>(mh + o)) - load<f32>(ml + o)) * load<f32>(inv + o);
      const s = sig1(zz);
      const a = load<f32>(alpha + o);
      store<f32>(pz + o, zz);
      store<f32>(pp + o, s);
      store<f32>(py + o, v * (a + (<f32>1.0 - a) * s));
    }
    px += rb;
    py += rb;
    pp += rb;
    pz += rb;
  }
}

/**
 * Dice forward over n rows of C channels. train ≠ 0: batch mean and biased variance (f64, two passes as in
 * JS), moving averages updated in place (mean ← m·mean + (1−m)·batch mean, same for var); otherwise the moving averages
 * are the statistics. Writes y, and p = sigmoid(z), z = (x − mean)/sqrt(var + ε) for the backward pass.
 */
export function diceForward(x: usize, n: i32, C: i32, alpha: usize, movingMean: usize, movingVar: usize, train: i32,
  momentum: f64, eps: f64, stats: usize, y: usize, p: usize, z: usize): void {
  if (n <= 0) return;
  const mean = stats;
  const vr = stats + (<usize>C << 3);
  const mh = stats + (<usize>C << 5);
  const ml = mh + off(C);
  const inv = ml + off(C);
  if (train != 0) {
    colSums(x, n, C, mean);
    const nf = <f64>n;
    for (let c = 0; c < C; c++) {
      const a = mean + (<usize>c << 3);
      store<f64>(a, load<f64>(a) / nf);
    }
    colSqDev(x, n, C, mean, vr);
    finishBatchStats(C, nf, movingMean, movingVar, momentum, eps, stats);
  } else {
    for (let c = 0; c < C; c++) {
      const a = <usize>c << 3;
      const o = off(c);
      const mu = load<f32>(movingMean + o);
      const iv = 1 / Math.sqrt(<f64>load<f32>(movingVar + o) + eps);
      store<f64>(mean + a, <f64>mu);
      store<f64>(vr + a, iv);
      store<f32>(mh + o, mu);
      store<f32>(ml + o, 0);
      store<f32>(inv + o, <f32>iv);
    }
  }
  diceApply(x, n, C, alpha, stats, y, p, z);
}

// A training batch split over workers (src/train/data-parallel.ts): the statistics are sums over every worker's rows.
// Each worker sums its rows shifted by a value every worker has (the moving mean), so one exchange of the sums gives
// the batch mean and variance without the cancellation of Σx² − (Σx)²/N when |mean| ≫ std.

/** Pass 1: mean slots [0, C) = Σ_i (x[i,c] − s_c), var slots [C, 2C) = Σ_i (x[i,c] − s_c)², s = shift (f32). */
export function diceSumShifted(x: usize, n: i32, C: i32, shift: usize, stats: usize): void {
  const C4 = C & ~3;
  const rb = off(C);
  const sum = stats;
  const sq = stats + (<usize>C << 3);
  zero64(sum, C);
  zero64(sq, C);
  let px = x;
  for (let i = 0; i < n; i++) {
    let c = 0;
    for (; c < C4; c += 4) {
      const a = <usize>c << 3;
      const v = v128.load(px + off(c));
      const sv = v128.load(shift + off(c));
      const d0 = f64x2.sub(f64x2.promote_low_f32x4(v), f64x2.promote_low_f32x4(sv));
      const d1 = f64x2.sub(f64x2.promote_low_f32x4(v128.shuffle<f32>(v, v, 2, 3, 0, 1)),
        f64x2.promote_low_f32x4(v128.shuffle<f32>(sv, sv, 2, 3, 0, 1)));
      v128.store(sum + a, f64x2.add(v128.load(sum + a), d0));
      v128.store(sum + a, f64x2.add(v128.load(sum + a, 16), d1), 16);
      v128.store(sq + a, f64x2.add(v128.load(sq + a), f64x2.mul(d0, d0)));
      v128.store(sq + a, f64x2.add(v128.load(sq + a, 16), f64x2.mul(d1, d1)), 16);
    }
    for (; c < C; c++) {
      const a = <usize>c << 3;
      const d = <f64>load<f32>(px + off(c)) - <f64>load<f32>(shift + off(c));
      store<f64>(sum + a, load<f64>(sum + a) + d);
      store<f64>(sq + a, load<f64>(sq + a) + d * d);
    }
    px += rb;
  }
}

/** Pass 2: mean slots = batch mean, var slots = Σ (x − mean)² over all N rows: as diceForward in train mode. */
export function diceForwardStats(x: usize, n: i32, C: i32, N: f64, alpha: usize, movingMean: usize, movingVar: usize,
  momentum: f64, eps: f64, stats: usize, y: usize, p: usize, z: usize): void {
  finishBatchStats(C, N, movingMean, movingVar, momentum, eps, stats);
  if (n > 0) diceApply(x, n, C, alpha, stats, y, p, z);
}

/**
 * Dice backward (after diceForward with the same stats, p, z): dx overwritten, dAlpha[c] += Σ_i dy·x·(1 − p).
 * train ≠ 0 also back-propagates through the batch mean and variance.
 */
export function diceBackward(x: usize, dy: usize, n: i32, C: i32, alpha: usize, train: i32, stats: usize, p: usize,
  z: usize, dx: usize, dAlpha: usize): void {
  if (n <= 0) return;
  backLocal(x, dy, n, C, alpha, train, stats, p, z, dx, dAlpha);
  if (train != 0) backCorrect(n, C, <f64>n, stats, z, dx);
}

/**
 * Backward of a batch split over workers, local part: dx without the batch-statistics term, dAlpha, and the f64
 * slots [2C, 4C) = Σ gz, Σ gz·z over these rows (to be summed over workers before diceBackwardCorrect).
 */
export function diceBackwardSums(x: usize, dy: usize, n: i32, C: i32, alpha: usize, stats: usize, p: usize, z: usize,
  dx: usize, dAlpha: usize): void {
  if (n <= 0) {
    zero64(stats + (<usize>C << 4), 2 * C);
    return;
  }
  backLocal(x, dy, n, C, alpha, 1, stats, p, z, dx, dAlpha);
}

/** The batch-statistics term, with slots [2C, 4C) summed over the N rows of the whole batch. */
export function diceBackwardCorrect(n: i32, C: i32, N: f64, stats: usize, z: usize, dx: usize): void {
  backCorrect(n, C, N, stats, z, dx);
}

// @ts-ignore: decorator
@inline function backLocal(x: usize, dy: usize, n: i32, C: i32, alpha: usize, train: i32, stats: usize, p: usize,
  z: usize, dx: usize, dAlpha: usize): void {
  const C4 = C & ~3;
  const rb = off(C);
  const sg = stats + (<usize>C << 4);
  const sgz = sg + (<usize>C << 3);
  const inv = stats + (<usize>C << 5) + off(2 * C);
  zero64(sg, C);
  zero64(sgz, C);
  const one = v128.load(KT, K_ONE);
  let px = x;
  let pg = dy;
  let pp = p;
  let pz = z;
  let pd = dx;
  for (let i = 0; i < n; i++) {
    let c = 0;
    for (; c < C4; c += 4) {
      const o = off(c);
      const v = v128.load(px + o);
      const g = v128.load(pg + o);
      const s = v128.load(pp + o);
      const a = v128.load(alpha + o);
      const a1 = f32x4.sub(one, a);
      const s1 = f32x4.sub(one, s);
      const gv = f32x4.mul(g, v);
      v128.store(dAlpha + o, f32x4.add(v128.load(dAlpha + o), f32x4.mul(gv, s1)));
      const gz = f32x4.mul(f32x4.mul(gv, a1), f32x4.mul(s, s1));
      v128.store(pd + o, f32x4.add(f32x4.mul(g, f32x4.add(a, f32x4.mul(a1, s))), f32x4.mul(gz, v128.load(inv + o))));
      if (train != 0) {
        const a8 = <usize>c << 3;
        acc64(sg + a8, gz);
        acc64(sgz + a8, f32x4.mul(gz, v128.load(pz + o)));
      }
    }
    for (; c < C; c++) {
      const o = off(c);
      const v = load<f32>(px + o);
      const g = load<f32>(pg + o);
      const s = load<f32>(pp + o);
      const a = load<f32>(alpha + o);
      const a1 = <f32>1.0 - a;
      const s1 = <f32>1.0 - s;
      const gv = g * v;
      store<f32>(dAlpha + o, load<f32>(dAlpha + o) + gv * s1);
      const gz = (gv * a1) * (s * s1);
      store<f32>(pd + o, g * (a + a1 * s) + gz * load<f32>(inv + o));
      if (train != 0) {
        const a8 = <usize>c << 3;
        store<f64>(sg + a8, load<f64>(sg + a8) + <f64>gz);
        store<f64>(sgz + a8, load<f64>(sgz + a8) + <f64>(gz * load<f32>(pz + o)));
      }
    }
    px += rb;
    pg += rb;
    pp += rb;
    pz += rb;
    pd += rb;
  }
}

// dx −= (Σgz/N + z·Σgz·z/N)·inv: the batch statistics μ and σ² depend on every row.
// @ts-ignore: decorator
@inline function backCorrect(n: i32, C: i32, nf: f64, stats: usize, z: usize, dx: usize): void {
  const C4 = C & ~3;
  const rb = off(C);
  const ivd = stats + (<usize>C << 3);
  const sg = stats + (<usize>C << 4);
  const sgz = sg + (<usize>C << 3);
  const inv = stats + (<usize>C << 5) + off(2 * C);
  const corrA = inv + off(C);
  const corrB = corrA + off(C);
  for (let c = 0; c < C; c++) {
    const a8 = <usize>c << 3;
    const iv = load<f64>(ivd + a8);
    store<f32>(corrA + off(c), <f32>((load<f64>(sg + a8) / nf) * iv));
    store<f32>(corrB + off(c), <f32>((load<f64>(sgz + a8) / nf) * iv));
  }
  let pz = z;
  let pd = dx;
  for (let i = 0; i < n; i++) {
    let c = 0;
    for (; c < C4; c += 4) {
      const o = off(c);
      const d = f32x4.add(v128.load(corrA + o), f32x4.mul(v128.load(pz + o), v128.load(corrB + o)));
      v128.store(pd + o, f32x4.sub(v128.load(pd + o), d));
    }
    for (; c < C; c++) {
      const o = off(c);
      store<f32>(pd + o, load<f32>(pd + o) - (load<f32>(corrA + o) + load<f32>(pz + o) * load<f32>(corrB + o)));
    }
    pz += rb;
    pd += rb;
  }
}
