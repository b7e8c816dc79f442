// Element-wise and row kernels of the Backend contract (see src/kernels/backend.ts for the maths). Rows are processed
// four lanes at a time with a scalar tail, so any dimension works; loads are unaligned-safe.
import { madd, hsum } from './simd';

// @ts-ignore: decorator
@inline function off(i: i32): usize {
  return <usize>i << 2;
}

/** Σ x[i]² over n elements, accumulated in f64 (two f64x2 accumulators, then the scalar tail). */
export function sumSquares(x: usize, n: i32): f64 {
  let a0 = f64x2.splat(0);
  let a1 = f64x2.splat(0);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const v = v128.load(x + off(i));
    const lo = f64x2.promote_low_f32x4(v);
    const hi = f64x2.promote_low_f32x4(v128.shuffle<f32>(v, v, 2, 3, 0, 1));
    a0 = f64x2.add(a0, f64x2.mul(lo, lo));
    a1 = f64x2.add(a1, f64x2.mul(hi, hi));
  }
  const a = f64x2.add(a0, a1);
  let s = f64x2.extract_lane(a, 0) + f64x2.extract_lane(a, 1);
  for (; i < n; i++) {
    const v = <f64>load<f32>(x + off(i));
    s += v * v;
  }
  return s;
}

/** Y[i,:] += b for every row of the M×N matrix Y. */
export function addBias(Y: usize, b: usize, M: i32, N: i32): void {
  let y = Y;
  for (let i = 0; i < M; i++) {
    let j = 0;
    for (; j + 4 <= N; j += 4) v128.store(y + off(j), f32x4.add(v128.load(y + off(j)), v128.load(b + off(j))));
    for (; j < N; j++) store<f32>(y + off(j), load<f32>(y + off(j)) + load<f32>(b + off(j)));
    y += off(N);
  }
}

/** db[j] += Σ_i dY[i,j]. Columns are summed in blocks of 16 held in registers, one pass over each block. */
export function sumRows(dY: usize, M: i32, N: i32, db: usize): void {
  const ld = off(N);
  let j = 0;
  for (; j + 16 <= N; j += 16) {
    let s0 = f32x4.splat(0), s1 = f32x4.splat(0), s2 = f32x4.splat(0), s3 = f32x4.splat(0);
    let p = dY + off(j);
    for (let i = 0; i < M; i++) {
      s0 = f32x4.add(s0, v128.load(p));
      s1 = f32x4.add(s1, v128.load(p, 16));
      s2 = f32x4.add(s2, v128.load(p, 32));
      s3 = f32x4.add(s3, v128.load(p, 48));
      p += ld;
    }
    const d = db + off(j);
    v128.store(d, f32x4.add(v128.load(d), s0));
    v128.store(d, f32x4.add(v128.load(d, 16), s1), 16);
    v128.store(d, f32x4.add(v128.load(d, 32), s2), 32);
    v128.store(d, f32x4.add(v128.load(d, 48), s3), 48);
  }
  for (; j + 4 <= N; j += 4) {
    let s = f32x4.splat(0);
    let p = dY + off(j);
    for (let i = 0; i < M; i++) {
      s = f32x4.add(s, v128.load(p));
      p += ld;
    }
    const d = db + off(j);
    v128.store(d, f32x4.add(v128.load(d), s));
  }
  for (; j < N; j++) {
    let s: f32 = 0;
    let p = dY + off(j);
    for (let i = 0; i < M; i++) {
      s += load<f32>(p);
      p += ld;
    }
    store<f32>(db + off(j), load<f32>(db + off(j)) + s);
  }
}

// @ts-ignore: decorator
@inline function copyRow(dst: usize, src: usize, dim: i32): void {
  let j = 0;
  for (; j + 4 <= dim; j += 4) v128.store(dst + off(j), v128.load(src + off(j)));
  for (; j < dim; j++) store<f32>(dst + off(j), load<f32>(src + off(j)));
}

// A loop rather than memory.fill: rows are short and V8 lowers memory.fill to an out-of-line call.
// @ts-ignore: decorator
@inline function zeroRow(dst: usize, dim: i32): void {
  const z = f32x4.splat(0);
  let j = 0;
  for (; j + 4 <= dim; j += 4) v128.store(dst + off(j), z);
  for (; j < dim; j++) store<f32>(dst + off(j), 0);
}

// @ts-ignore: decorator
@inline function addRow(dst: usize, src: usize, dim: i32): void {
  let j = 0;
  for (; j + 4 <= dim; j += 4) v128.store(dst + off(j), f32x4.add(v128.load(dst + off(j)), v128.load(src + off(j))));
  for (; j < dim; j++) store<f32>(dst + off(j), load<f32>(dst + off(j)) + load<f32>(src + off(j)));
}

/**
 * out[i,:] = table[ids[i],:] (zeros for ids[i] < 0). Returns -1, or the first i whose id is >= rows (the table has
 * `rows` rows): the caller turns that into an error instead of reading past the table.
 */
export function gather(table: usize, dim: i32, rows: i32, ids: usize, n: i32, out: usize): i32 {
  const rowBytes = off(dim);
  let o = out;
  for (let i = 0; i < n; i++) {
    const id = load<i32>(ids + off(i));
    if (id < 0) {
      zeroRow(o, dim);
    } else {
      if (id >= rows) return i;
      copyRow(o, table + <usize>id * rowBytes, dim);
    }
    o += rowBytes;
  }
  return -1;
}

/** grad[slots[i],:] += dOut[i,:] for slots[i] >= 0. Returns -1, or the first i whose slot is >= rows. */
export function scatterAddRows(grad: usize, dim: i32, rows: i32, slots: usize, n: i32, dOut: usize): i32 {
  const rowBytes = off(dim);
  let o = dOut;
  for (let i = 0; i < n; i++) {
    const s = load<i32>(slots + off(i));
    if (s >= 0) {
      if (s >= rows) return i;
      addRow(grad + <usize>s * rowBytes, o, dim);
    }
    o += rowBytes;
  }
  return -1;
}

/** out[b*T+t,:] = [q_b, k_bt, q_b − k_bt, q_b ⊙ k_bt]. */
export function attnInput(q: usize, K: usize, B: i32, T: i32, D: i32, out: usize): void {
  const rowBytes = off(D);
  let k = K;
  let o = out;
  for (let b = 0; b < B; b++) {
    const qb = q + <usize>b * rowBytes;
    for (let t = 0; t < T; t++) {
      const o1 = o + rowBytes, o2 = o1 + rowBytes, o3 = o2 + rowBytes;
      let d = 0;
      for (; d + 4 <= D; d += 4) {
        const qv = v128.load(qb + off(d));
        const kv = v128.load(k + off(d));
        v128.store(o + off(d), qv);
        v128.store(o1 + off(d), kv);
        v128.store(o2 + off(d), f32x4.sub(qv, kv));
        v128.store(o3 + off(d), f32x4.mul(qv, kv));
      }
      for (; d < D; d++) {
        const qv = load<f32>(qb + off(d));
        const kv = load<f32>(k + off(d));
        store<f32>(o + off(d), qv);
        store<f32>(o1 + off(d), kv);
        store<f32>(o2 + off(d), qv - kv);
        store<f32>(o3 + off(d), qv * kv);
      }
      k += rowBytes;
      o += rowBytes << 2;
    }
  }
}

/** dq[b,:] += Σ_t (g0 + g2 + g3 ⊙ k_bt), dK[bt,:] += g1 − g2 + g3 ⊙ q_b, where dOut[bt,:] = [g0, g1, g2, g3]. */
export function attnInputBackward(q: usize, K: usize, dOut: usize, B: i32, T: i32, D: i32, dq: usize, dK: usize): void {
  const rowBytes = off(D);
  let k = K;
  let dk = dK;
  let g = dOut;
  for (let b = 0; b < B; b++) {
    const qb = q + <usize>b * rowBytes;
    const dqb = dq + <usize>b * rowBytes;
    for (let t = 0; t < T; t++) {
      const g1 = g + rowBytes, g2 = g1 + rowBytes, g3 = g2 + rowBytes;
      let d = 0;
      for (; d + 4 <= D; d += 4) {
        const qv = v128.load(qb + off(d));
        const kv = v128.load(k + off(d));
        const v2 = v128.load(g2 + off(d));
        const v3 = v128.load(g3 + off(d));
        const sq = madd(v3, kv, f32x4.add(v128.load(g + off(d)), v2));
        v128.store(dqb + off(d), f32x4.add(v128.load(dqb + off(d)), sq));
        const sk = madd(v3, qv, f32x4.sub(v128.load(g1 + off(d)), v2));
        v128.store(dk + off(d), f32x4.add(v128.load(dk + off(d)), sk));
      }
      for (; d < D; d++) {
        const qv = load<f32>(qb + off(d));
        const kv = load<f32>(k + off(d));
        const v2 = load<f32>(g2 + off(d));
        const v3 = load<f32>(g3 + off(d));
        store<f32>(dqb + off(d), load<f32>(dqb + off(d)) + (load<f32>(g + off(d)) + v2 + v3 * kv));
        store<f32>(dk + off(d), load<f32>(dk + off(d)) + (load<f32>(g1 + off(d)) - v2 + v3 * qv));
      }
      k += rowBytes;
      dk += rowBytes;
      g += rowBytes << 2;
    }
  }
}

/**
 * The factorized attention input (src/nn/attention.ts) on its N valid rows: x2[i,:] = [k_i, q_b ⊙ k_i] with
 * k_i = K[rowIdx[i],:], b = rowB[i] (x2 is N×2D).
 */
export function attnPairs(q: usize, K: usize, rowIdx: usize, rowB: usize, N: i32, D: i32, x2: usize): void {
  const rowBytes = off(D);
  let o = x2;
  for (let i = 0; i < N; i++) {
    const k = K + <usize>load<i32>(rowIdx + off(i)) * rowBytes;
    const qb = q + <usize>load<i32>(rowB + off(i)) * rowBytes;
    const o1 = o + rowBytes;
    let d = 0;
    for (; d + 4 <= D; d += 4) {
      const kv = v128.load(k + off(d));
      v128.store(o + off(d), kv);
      v128.store(o1 + off(d), f32x4.mul(v128.load(qb + off(d)), kv));
    }
    for (; d < D; d++) {
      const kv = load<f32>(k + off(d));
      store<f32>(o + off(d), kv);
      store<f32>(o1 + off(d), load<f32>(qb + off(d)) * kv);
    }
    o += rowBytes << 1;
  }
}

/** Backward of attnPairs: with dx2[i,:] = [g1, g2], dK[rowIdx[i],:] += g1 + g2 ⊙ q_b and dq[b,:] += g2 ⊙ k_i. */
export function attnPairsBackward(q: usize, K: usize, dx2: usize, rowIdx: usize, rowB: usize, N: i32, D: i32, dq: usize,
  dK: usize): void {
  const rowBytes = off(D);
  let g = dx2;
  for (let i = 0; i < N; i++) {
    const r = <usize>load<i32>(rowIdx + off(i)) * rowBytes;
    const bq = <usize>load<i32>(rowB + off(i)) * rowBytes;
    const k = K + r;
    const dk = dK + r;
    const qb = q + bq;
    const dqb = dq + bq;
    const g2 = g + rowBytes;
    let d = 0;
    for (; d + 4 <= D; d += 4) {
      const v2 = v128.load(g2 + off(d));
      v128.store(dk + off(d), f32x4.add(v128.load(dk + off(d)), madd(v2, v128.load(qb + off(d)), v128.load(g + off(d)))));
      v128.store(dqb + off(d), madd(v2, v128.load(k + off(d)), v128.load(dqb + off(d))));
    }
    for (; d < D; d++) {
      const v2 = load<f32>(g2 + off(d));
      store<f32>(dk + off(d), load<f32>(dk + off(d)) + (load<f32>(g + off(d)) + v2 * load<f32>(qb + off(d))));
      store<f32>(dqb + off(d), load<f32>(dqb + off(d)) + v2 * load<f32>(k + off(d)));
    }
    g += rowBytes << 1;
  }
}

/** out[b,:] = Σ_t w[b*T+t] · K[b*T+t,:] (overwritten). */
export function weightedSum(w: usize, K: usize, B: i32, T: i32, D: i32, out: usize): void {
  const rowBytes = off(D);
  let k = K;
  let wp = w;
  let o = out;
  for (let b = 0; b < B; b++) {
    zeroRow(o, D);
    for (let t = 0; t < T; t++) {
      const ws = load<f32>(wp);
      const wv = f32x4.splat(ws);
      let d = 0;
      for (; d + 4 <= D; d += 4) v128.store(o + off(d), madd(wv, v128.load(k + off(d)), v128.load(o + off(d))));
      for (; d < D; d++) store<f32>(o + off(d), load<f32>(o + off(d)) + ws * load<f32>(k + off(d)));
      k += rowBytes;
      wp += 4;
    }
    o += rowBytes;
  }
}

/** dw[bt] = dOut[b,:]·K[bt,:] (overwritten), dK[bt,:] += w[bt] · dOut[b,:]. */
export function weightedSumBackward(w: usize, K: usize, dOut: usize, B: i32, T: i32, D: i32, dw: usize,
  dK: usize): void {
  const rowBytes = off(D);
  let k = K;
  let dk = dK;
  let r: usize = 0;
  for (let b = 0; b < B; b++) {
    const g = dOut + <usize>b * rowBytes;
    for (let t = 0; t < T; t++) {
      const ws = load<f32>(w + r);
      const wv = f32x4.splat(ws);
      let acc = f32x4.splat(0);
      let d = 0;
      for (; d + 4 <= D; d += 4) {
        const gv = v128.load(g + off(d));
        acc = madd(gv, v128.load(k + off(d)), acc);
        v128.store(dk + off(d), madd(wv, gv, v128.load(dk + off(d))));
      }
      let s = hsum(acc);
      for (; d < D; d++) {
        const gs = load<f32>(g + off(d));
        s += gs * load<f32>(k + off(d));
        store<f32>(dk + off(d), load<f32>(dk + off(d)) + ws * gs);
      }
      store<f32>(dw + r, s);
      k += rowBytes;
      dk += rowBytes;
      r += 4;
    }
  }
}
