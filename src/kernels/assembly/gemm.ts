// Register-blocked single-precision GEMM: C[M,N] = alpha * op(A) · op(B) + beta * C, all row-major.
//
// Scheme (a small GotoBLAS): for each block of KC rows of op(B) and NC columns, op(B) is packed once into panels of
// NR columns (k-major, zero-padded past N); then for each block of MR rows, op(A) is packed k-major (zero-padded past
// M) and a MR×NR micro-kernel runs over every panel with the whole tile in registers. Zero padding lets one
// micro-kernel serve the edges: only the store step looks at the true tile size. Packing also absorbs the transposes,
// so all four layouts share the same inner loop. N = 1 (a scoring layer) takes a separate matrix-vector path.
import { madd, hsum } from './simd';

// Micro-tile: 4 rows × 8 columns = 8 accumulators of f32x4.
const MR: i32 = 4;
const NR: i32 = 8;
// Cache blocks: a packed KC×NC block of B is 256 KiB (L2); a packed MR×KC sliver of A is 4 KiB (L1).
const KC: i32 = 256;
const NC: i32 = 256;

/** Bytes of scratch the JS side must provide through setScratch. */
export const GEMM_SCRATCH_BYTES: i32 = 256 + MR * KC * 4 + KC * NC * 4;

let tilePtr: usize = 0; // MR×NR staging tile for edge stores
let aPack: usize = 0;
let bPack: usize = 0;

/** The JS allocator owns the memory: it hands the kernels one fixed scratch region (16-byte aligned) at startup. */
export function setScratch(ptr: usize, bytes: i32): i32 {
  if (bytes < GEMM_SCRATCH_BYTES || (ptr & 15) != 0) return 0;
  tilePtr = ptr;
  aPack = ptr + 256;
  bPack = aPack + <usize>(MR * KC * 4);
  return 1;
}

export function scratchBytes(): i32 {
  return GEMM_SCRATCH_BYTES;
}

// Packs op(B)[k0..k0+kc, j0..j0+nc] into NR-wide panels: panel p holds kc rows of NR floats.
function packB(transB: i32, B: usize, N: i32, K: i32, k0: i32, kc: i32, j0: i32, nc: i32): void {
  let dst = bPack;
  for (let jp = 0; jp < nc; jp += NR) {
    const w = min(NR, nc - jp);
    if (transB == 0) {
      // B is K×N: a panel row is (up to) NR contiguous floats.
      let src = B + ((<usize>k0 * <usize>N + <usize>(j0 + jp)) << 2);
      const stride = <usize>N << 2;
      if (w == NR) {
        for (let k = 0; k < kc; k++) {
          v128.store(dst, v128.load(src));
          v128.store(dst, v128.load(src, 16), 16);
          src += stride;
          dst += NR << 2;
        }
      } else {
        for (let k = 0; k < kc; k++) {
          let j = 0;
          for (; j < w; j++) store<f32>(dst + (<usize>j << 2), load<f32>(src + (<usize>j << 2)));
          for (; j < NR; j++) store<f32>(dst + (<usize>j << 2), 0);
          src += stride;
          dst += NR << 2;
        }
      }
    } else {
      // B is N×K: column j of op(B) is row j of B, contiguous in k. Read rows, write strided.
      for (let j = 0; j < NR; j++) {
        let d = dst + (<usize>j << 2);
        if (j < w) {
          let src = B + ((<usize>(j0 + jp + j) * <usize>K + <usize>k0) << 2);
          for (let k = 0; k < kc; k++) {
            store<f32>(d, load<f32>(src));
            src += 4;
            d += NR << 2;
          }
        } else {
          for (let k = 0; k < kc; k++) {
            store<f32>(d, 0);
            d += NR << 2;
          }
        }
      }
      dst += <usize>(kc * NR) << 2;
    }
  }
}

// Packs op(A)[i0..i0+MR, k0..k0+kc] k-major: aPack[k*MR + r], rows past M are zero.
function packA(transA: i32, A: usize, M: i32, K: i32, i0: i32, mr: i32, k0: i32, kc: i32): void {
  if (transA == 0) {
    // A is M×K.
    for (let r = 0; r < MR; r++) {
      let d = aPack + (<usize>r << 2);
      if (r < mr) {
        let src = A + ((<usize>(i0 + r) * <usize>K + <usize>k0) << 2);
        for (let k = 0; k < kc; k++) {
          store<f32>(d, load<f32>(src));
          src += 4;
          d += MR << 2;
        }
      } else {
        for (let k = 0; k < kc; k++) {
          store<f32>(d, 0);
          d += MR << 2;
        }
      }
    }
  } else {
    // A is K×M: the MR rows of op(A) at one k are contiguous.
    let src = A + ((<usize>k0 * <usize>M + <usize>i0) << 2);
    const stride = <usize>M << 2;
    let d = aPack;
    if (mr == MR) {
      for (let k = 0; k < kc; k++) {
        v128.store(d, v128.load(src));
        src += stride;
        d += MR << 2;
      }
    } else {
      for (let k = 0; k < kc; k++) {
        let r = 0;
        for (; r < mr; r++) store<f32>(d + (<usize>r << 2), load<f32>(src + (<usize>r << 2)));
        for (; r < MR; r++) store<f32>(d + (<usize>r << 2), 0);
        src += stride;
        d += MR << 2;
      }
    }
  }
}

// C tile (mr×nr valid of MR×NR) = alpha * aPack·panel + beta * C; beta == 0 never reads C (it may hold garbage/NaN).
function micro(kc: i32, bp: usize, C: usize, ldc: i32, mr: i32, nr: i32, alpha: f32, beta: f32): void {
  let ap = aPack;
  let c00 = f32x4.splat(0), c01 = f32x4.splat(0);
  let c10 = f32x4.splat(0), c11 = f32x4.splat(0);
  let c20 = f32x4.splat(0), c21 = f32x4.splat(0);
  let c30 = f32x4.splat(0), c31 = f32x4.splat(0);
  for (let k = 0; k < kc; k++) {
    const b0 = v128.load(bp);
    const b1 = v128.load(bp, 16);
    let a = v128.load32_splat(ap);
    c00 = madd(a, b0, c00);
    c01 = madd(a, b1, c01);
    a = v128.load32_splat(ap, 4);
    c10 = madd(a, b0, c10);
    c11 = madd(a, b1, c11);
    a = v128.load32_splat(ap, 8);
    c20 = madd(a, b0, c20);
    c21 = madd(a, b1, c21);
    a = v128.load32_splat(ap, 12);
    c30 = madd(a, b0, c30);
    c31 = madd(a, b1, c31);
    ap += MR << 2;
    bp += NR << 2;
  }
  const va = f32x4.splat(alpha);
  const ldb = <usize>ldc << 2;
  if (mr == MR && nr == NR) {
    let c = C;
    if (beta == 0) {
      v128.store(c, f32x4.mul(c00, va)); v128.store(c, f32x4.mul(c01, va), 16); c += ldb;
      v128.store(c, f32x4.mul(c10, va)); v128.store(c, f32x4.mul(c11, va), 16); c += ldb;
      v128.store(c, f32x4.mul(c20, va)); v128.store(c, f32x4.mul(c21, va), 16); c += ldb;
      v128.store(c, f32x4.mul(c30, va)); v128.store(c, f32x4.mul(c31, va), 16);
    } else {
      const vb = f32x4.splat(beta);
      v128.store(c, madd(c00, va, f32x4.mul(v128.load(c), vb)));
      v128.store(c, madd(c01, va, f32x4.mul(v128.load(c, 16), vb)), 16); c += ldb;
      v128.store(c, madd(c10, va, f32x4.mul(v128.load(c), vb)));
      v128.store(c, madd(c11, va, f32x4.mul(v128.load(c, 16), vb)), 16); c += ldb;
      v128.store(c, madd(c20, va, f32x4.mul(v128.load(c), vb)));
      v128.store(c, madd(c21, va, f32x4.mul(v128.load(c, 16), vb)), 16); c += ldb;
      v128.store(c, madd(c30, va, f32x4.mul(v128.load(c), vb)));
      v128.store(c, madd(c31, va, f32x4.mul(v128.load(c, 16), vb)), 16);
    }
    return;
  }
  // Edge tile: stage in scratch, then write only the valid part.
  const t = tilePtr;
  v128.store(t, c00, 0); v128.store(t, c01, 16);
  v128.store(t, c10, 32); v128.store(t, c11, 48);
  v128.store(t, c20, 64); v128.store(t, c21, 80);
  v128.store(t, c30, 96); v128.store(t, c31, 112);
  for (let r = 0; r < mr; r++) {
    const src = t + (<usize>(r * NR) << 2);
    const dst = C + (<usize>r * ldb);
    for (let j = 0; j < nr; j++) {
      const o = <usize>j << 2;
      const v = alpha * load<f32>(src + o);
      store<f32>(dst + o, beta == 0 ? v : v + beta * load<f32>(dst + o));
    }
  }
}

export function gemm(transA: i32, transB: i32, M: i32, N: i32, K: i32, alpha: f32, A: usize, B: usize, beta: f32,
  C: usize): void {
  if (M <= 0 || N <= 0) return;
  if (K <= 0) {
    scaleC(M, N, beta, C);
    return;
  }
  if (N == 1) {
    // A single output column (e.g. a scoring layer): the panel scheme would waste 7 of 8 lanes.
    if (transA == 0) gemvRows(M, K, alpha, A, B, beta, C);
    else gemvCols(M, K, alpha, A, B, beta, C);
    return;
  }
  for (let k0 = 0; k0 < K; k0 += KC) {
    const kc = min(KC, K - k0);
    const b: f32 = k0 == 0 ? beta : 1;
    for (let j0 = 0; j0 < N; j0 += NC) {
      const nc = min(NC, N - j0);
      packB(transB, B, N, K, k0, kc, j0, nc);
      for (let i0 = 0; i0 < M; i0 += MR) {
        const mr = min(MR, M - i0);
        packA(transA, A, M, K, i0, mr, k0, kc);
        const cRow = C + ((<usize>i0 * <usize>N + <usize>j0) << 2);
        let bp = bPack;
        for (let jp = 0; jp < nc; jp += NR) {
          micro(kc, bp, cRow + (<usize>jp << 2), N, mr, min(NR, nc - jp), alpha, b);
          bp += <usize>(kc * NR) << 2;
        }
      }
    }
  }
}

function scaleC(M: i32, N: i32, beta: f32, C: usize): void {
  const n = <usize>M * <usize>N;
  if (beta == 0) {
    memory.fill(C, 0, n << 2);
    return;
  }
  for (let i: usize = 0; i < n; i++) {
    const p = C + (i << 2);
    store<f32>(p, beta * load<f32>(p));
  }
}

// @ts-ignore: decorator
@inline function finish(c: usize, s: f32, alpha: f32, beta: f32): void {
  store<f32>(c, beta == 0 ? alpha * s : alpha * s + beta * load<f32>(c));
}

// C[i] = alpha · A[i,:]·b + beta · C[i], A is M×K row-major (N = 1; b has K elements whatever transB says).
function gemvRows(M: i32, K: i32, alpha: f32, A: usize, b: usize, beta: f32, C: usize): void {
  const ld = <usize>K << 2;
  let i = 0;
  for (; i + 4 <= M; i += 4) {
    const a0 = A + <usize>i * ld, a1 = a0 + ld, a2 = a1 + ld, a3 = a2 + ld;
    let s0 = f32x4.splat(0), s1 = f32x4.splat(0), s2 = f32x4.splat(0), s3 = f32x4.splat(0);
    let k = 0;
    for (; k + 4 <= K; k += 4) {
      const o = <usize>k << 2;
      const bv = v128.load(b + o);
      s0 = madd(v128.load(a0 + o), bv, s0);
      s1 = madd(v128.load(a1 + o), bv, s1);
      s2 = madd(v128.load(a2 + o), bv, s2);
      s3 = madd(v128.load(a3 + o), bv, s3);
    }
    let r0 = hsum(s0), r1 = hsum(s1), r2 = hsum(s2), r3 = hsum(s3);
    for (; k < K; k++) {
      const o = <usize>k << 2;
      const bk = load<f32>(b + o);
      r0 += load<f32>(a0 + o) * bk;
      r1 += load<f32>(a1 + o) * bk;
      r2 += load<f32>(a2 + o) * bk;
      r3 += load<f32>(a3 + o) * bk;
    }
    const c = C + (<usize>i << 2);
    finish(c, r0, alpha, beta);
    finish(c + 4, r1, alpha, beta);
    finish(c + 8, r2, alpha, beta);
    finish(c + 12, r3, alpha, beta);
  }
  for (; i < M; i++) {
    const a0 = A + <usize>i * ld;
    let s0 = f32x4.splat(0);
    let k = 0;
    for (; k + 4 <= K; k += 4) s0 = madd(v128.load(a0 + (<usize>k << 2)), v128.load(b + (<usize>k << 2)), s0);
    let r0 = hsum(s0);
    for (; k < K; k++) r0 += load<f32>(a0 + (<usize>k << 2)) * load<f32>(b + (<usize>k << 2));
    finish(C + (<usize>i << 2), r0, alpha, beta);
  }
}

// C[i] = alpha · Σ_k A[k,i]·b[k] + beta · C[i], A is K×M row-major: rows of A are streamed once per block of 16
// outputs, accumulated in registers.
function gemvCols(M: i32, K: i32, alpha: f32, A: usize, b: usize, beta: f32, C: usize): void {
  const ld = <usize>M << 2;
  let i = 0;
  for (; i + 16 <= M; i += 16) {
    let s0 = f32x4.splat(0), s1 = f32x4.splat(0), s2 = f32x4.splat(0), s3 = f32x4.splat(0);
    let a = A + (<usize>i << 2);
    for (let k = 0; k < K; k++) {
      const bk = v128.load32_splat(b + (<usize>k << 2));
      s0 = madd(v128.load(a), bk, s0);
      s1 = madd(v128.load(a, 16), bk, s1);
      s2 = madd(v128.load(a, 32), bk, s2);
      s3 = madd(v128.load(a, 48), bk, s3);
      a += ld;
    }
    storeCols(C + (<usize>i << 2), s0, alpha, beta);
    storeCols(C + (<usize>i << 2) + 16, s1, alpha, beta);
    storeCols(C + (<usize>i << 2) + 32, s2, alpha, beta);
    storeCols(C + (<usize>i << 2) + 48, s3, alpha, beta);
  }
  for (; i + 4 <= M; i += 4) {
    let s0 = f32x4.splat(0);
    let a = A + (<usize>i << 2);
    for (let k = 0; k < K; k++) {
      s0 = madd(v128.load(a), v128.load32_splat(b + (<usize>k << 2)), s0);
      a += ld;
    }
    storeCols(C + (<usize>i << 2), s0, alpha, beta);
  }
  for (; i < M; i++) {
    let s: f32 = 0;
    let a = A + (<usize>i << 2);
    for (let k = 0; k < K; k++) {
      s += load<f32>(a) * load<f32>(b + (<usize>k << 2));
      a += ld;
    }
    finish(C + (<usize>i << 2), s, alpha, beta);
  }
}

// @ts-ignore: decorator
@inline function storeCols(c: usize, s: v128, alpha: f32, beta: f32): void {
  const v = f32x4.mul(s, f32x4.splat(alpha));
  v128.store(c, beta == 0 ? v : madd(v128.load(c), f32x4.splat(beta), v));
}
