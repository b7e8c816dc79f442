// Register-blocked single-precision GEMM: C[M,N] = alpha * op(A) · op(B) + beta * C, all row-major.
//
// Scheme (a small GotoBLAS): for each block of KC rows of op(B) and NC columns, op(B) is packed once into panels of
// NR columns (k-major, zero-padded past N); then for each block of MR rows, op(A) is packed k-major (zero-padded past
// M) and a MR×NR micro-kernel runs over every panel with the whole tile in registers. Zero padding lets one
// micro-kernel serve the edges: only the store step looks at the true tile size. Packing also absorbs the transposes,
// so all four layouts share the same inner loop. The two transposing packs (A row-major, B transposed: the NN/NT
// forward and dX = dY·Wᵀ) move 4×4 blocks with vector loads and register shuffles instead of scalar copies.
//
// Degenerate shapes skip the packing, which would cost as much as the product and leave most lanes idle:
//   K = 1             outer product, a rank-1 update (the attention unit's dX = dY·Wᵀ behind its 1-output layer)
//   N = 1             matrix-vector product (that 1-output layer, and its weight gradient Xᵀ·dY)
//   M = 1, N ≥ 16     vector-matrix product: the N = 1 kernels applied to Cᵀ = op(B)ᵀ·op(A)ᵀ
//
// madd() is f32x4.relaxed_madd (a fused multiply-add) in the relaxed build and mul + add in the plain one.
//
// What bounds the micro-kernel (measured on Zen 5 under Node 20, ~3.1 GHz, by CPU time): one step of k is 2 loads of
// B, 4 broadcasts of A and 8 madds. The relaxed build issues 8 FMAs per step on two FMA pipes (16 flop/cycle, ~50
// GFLOP/s) and reaches ~45. The plain build issues 8 mul + 8 add + 6 loads = 22 vector ops per step through a 4-wide
// vector unit, ~5.5 cycles, ~37 GFLOP/s, which it reaches. Tried and rejected (no gain or slower): unrolling k by 2
// (V8 hoists the second step's loads and spills an accumulator), pre-broadcast packing of A, Goto's panel-major loop
// order with a 128-row A block in L2, reading a transposed A in place instead of packing it (one page per step of k
// when M is large: TLB misses); a larger register tile does not fit (below).
import { madd } from './simd';

// Micro-tile: 4 rows × 8 columns = 8 accumulators of f32x4, + 2 B vectors, 1 broadcast A and (plain build) 1 product:
// 12 of the 15 v128 registers V8 allocates on x64. 8 independent chains also cover the FMA latency (4 cycles × 2
// pipes). A 6×8 or 4×12 tile would need 16–17 registers and spill.
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

// Transposes the 4×4 block whose rows are r0..r3 and stores its columns at d, d+16, d+32, d+48: the k-major layout
// of both packs, built from row-contiguous operands. Four unpack + four movlh/movhl shuffles (one instruction each).
// @ts-ignore: decorator
@inline function storeTransposed4(d: usize, r0: v128, r1: v128, r2: v128, r3: v128, step: usize): void {
  const t0 = v128.shuffle<f32>(r0, r1, 0, 4, 1, 5); // r0.0 r1.0 r0.1 r1.1
  const t1 = v128.shuffle<f32>(r2, r3, 0, 4, 1, 5); // r2.0 r3.0 r2.1 r3.1
  const t2 = v128.shuffle<f32>(r0, r1, 2, 6, 3, 7); // r0.2 r1.2 r0.3 r1.3
  const t3 = v128.shuffle<f32>(r2, r3, 2, 6, 3, 7); // r2.2 r3.2 r2.3 r3.3
  v128.store(d, v128.shuffle<f32>(t0, t1, 0, 1, 4, 5));
  v128.store(d + step, v128.shuffle<f32>(t0, t1, 2, 3, 6, 7));
  v128.store(d + 2 * step, v128.shuffle<f32>(t2, t3, 0, 1, 4, 5));
  v128.store(d + 3 * step, v128.shuffle<f32>(t2, t3, 2, 3, 6, 7));
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
    } else if (w == NR) {
      // B is N×K: column j of op(B) is row j of B, contiguous in k. Eight row streams, 4×4 blocks transposed in
      // registers: per 4 values of k, 8 loads + 16 shuffles + 8 stores instead of 32 scalar loads and stores.
      const ld = <usize>K << 2;
      const s0 = B + ((<usize>(j0 + jp) * <usize>K + <usize>k0) << 2);
      const s4 = s0 + 4 * ld;
      let k = 0;
      for (; k + 4 <= kc; k += 4) {
        const o = <usize>k << 2;
        const d = dst + (<usize>(k * NR) << 2);
        storeTransposed4(d, v128.load(s0 + o), v128.load(s0 + ld + o), v128.load(s0 + 2 * ld + o),
          v128.load(s0 + 3 * ld + o), NR << 2);
        storeTransposed4(d + 16, v128.load(s4 + o), v128.load(s4 + ld + o), v128.load(s4 + 2 * ld + o),
          v128.load(s4 + 3 * ld + o), NR << 2);
      }
      for (; k < kc; k++) {
        const d = dst + (<usize>(k * NR) << 2);
        for (let j = 0; j < NR; j++) store<f32>(d + (<usize>j << 2), load<f32>(s0 + <usize>j * ld + (<usize>k << 2)));
      }
      dst += <usize>(kc * NR) << 2;
    } else {
      // Last, partial panel of a transposed B: scalar, zero-padded.
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
    // A is M×K: four row streams, transposed 4×4 at a time (see packB).
    const ld = <usize>K << 2;
    const s0 = A + ((<usize>i0 * <usize>K + <usize>k0) << 2);
    let k = 0;
    if (mr == MR) {
      for (; k + 4 <= kc; k += 4) {
        const o = <usize>k << 2;
        storeTransposed4(aPack + (<usize>(k * MR) << 2), v128.load(s0 + o), v128.load(s0 + ld + o),
          v128.load(s0 + 2 * ld + o), v128.load(s0 + 3 * ld + o), MR << 2);
      }
    }
    // The k tail, or every k of the last, partial block of rows (zero-padded).
    for (; k < kc; k++) {
      const d = aPack + (<usize>(k * MR) << 2);
      let r = 0;
      for (; r < mr; r++) store<f32>(d + (<usize>r << 2), load<f32>(s0 + <usize>r * ld + (<usize>k << 2)));
      for (; r < MR; r++) store<f32>(d + (<usize>r << 2), 0);
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
  if (K == 1) {
    // op(A) is a column and op(B) a row whatever the layout (a 1-wide matrix and its transpose share one memory
    // layout): a rank-1 update, bound by the stores of C. Packing would cost as much as the product.
    outer(M, N, alpha, A, B, beta, C);
    return;
  }
  if (N == 1) {
    // A single output column (e.g. a scoring layer): the panel scheme would waste 7 of 8 lanes.
    if (transA == 0) gemvRows(M, K, alpha, A, B, beta, C);
    else gemvCols(M, K, alpha, A, B, beta, C);
    return;
  }
  if (M == 1 && N >= 2 * NR) {
    // A single output row: Cᵀ = op(B)ᵀ·a, the N = 1 kernels with B as the matrix (packing B would cost as much as
    // the product). Narrow rows stay on the micro-kernel (its fused accumulation is what relaxed.test.ts probes).
    if (transB == 0) gemvCols(N, K, alpha, B, A, beta, C);
    else gemvRows(N, K, alpha, B, A, beta, C);
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

// C[i,j] = alpha·a[i]·b[j] + beta·C[i,j] (K = 1). Per row: one broadcast of alpha·a[i], then a stream over C.
function outer(M: i32, N: i32, alpha: f32, a: usize, b: usize, beta: f32, C: usize): void {
  const vb = f32x4.splat(beta);
  let c = C;
  for (let i = 0; i < M; i++) {
    const s: f32 = alpha * load<f32>(a + (<usize>i << 2));
    const vs = f32x4.splat(s);
    let j = 0;
    if (beta == 0) {
      for (; j + 16 <= N; j += 16) {
        const o = <usize>j << 2;
        v128.store(c + o, f32x4.mul(vs, v128.load(b + o)));
        v128.store(c + o, f32x4.mul(vs, v128.load(b + o, 16)), 16);
        v128.store(c + o, f32x4.mul(vs, v128.load(b + o, 32)), 32);
        v128.store(c + o, f32x4.mul(vs, v128.load(b + o, 48)), 48);
      }
      for (; j + 4 <= N; j += 4) {
        const o = <usize>j << 2;
        v128.store(c + o, f32x4.mul(vs, v128.load(b + o)));
      }
      for (; j < N; j++) {
        const o = <usize>j << 2;
        store<f32>(c + o, s * load<f32>(b + o));
      }
    } else {
      for (; j + 16 <= N; j += 16) {
        const o = <usize>j << 2;
        v128.store(c + o, madd(vs, v128.load(b + o), f32x4.mul(vb, v128.load(c + o))));
        v128.store(c + o, madd(vs, v128.load(b + o, 16), f32x4.mul(vb, v128.load(c + o, 16))), 16);
        v128.store(c + o, madd(vs, v128.load(b + o, 32), f32x4.mul(vb, v128.load(c + o, 32))), 32);
        v128.store(c + o, madd(vs, v128.load(b + o, 48), f32x4.mul(vb, v128.load(c + o, 48))), 48);
      }
      for (; j + 4 <= N; j += 4) {
        const o = <usize>j << 2;
        v128.store(c + o, madd(vs, v128.load(b + o), f32x4.mul(vb, v128.load(c + o))));
      }
      for (; j < N; j++) {
        const o = <usize>j << 2;
        store<f32>(c + o, s * load<f32>(b + o) + beta * load<f32>(c + o));
      }
    }
    c += <usize>N << 2;
  }
}

// @ts-ignore: decorator
@inline function finish(c: usize, s: f32, alpha: f32, beta: f32): void {
  store<f32>(c, beta == 0 ? alpha * s : alpha * s + beta * load<f32>(c));
}

// (hsum s0, hsum s1, hsum s2, hsum s3) in one vector: a 4×4 transpose folded into the additions.
// @ts-ignore: decorator
@inline function hsum4(s0: v128, s1: v128, s2: v128, s3: v128): v128 {
  const u0 = f32x4.add(v128.shuffle<f32>(s0, s1, 0, 4, 1, 5), v128.shuffle<f32>(s0, s1, 2, 6, 3, 7));
  const u1 = f32x4.add(v128.shuffle<f32>(s2, s3, 0, 4, 1, 5), v128.shuffle<f32>(s2, s3, 2, 6, 3, 7));
  return f32x4.add(v128.shuffle<f32>(u0, u1, 0, 1, 4, 5), v128.shuffle<f32>(u0, u1, 2, 3, 6, 7));
}

// Stores alpha·s + beta·C for four consecutive outputs (beta == 0 never reads C).
// @ts-ignore: decorator
@inline function storeCols(c: usize, s: v128, alpha: f32, beta: f32): void {
  const v = f32x4.mul(s, f32x4.splat(alpha));
  v128.store(c, beta == 0 ? v : madd(v128.load(c), f32x4.splat(beta), v));
}

// Σ_{k in [k0, K)} a[k]·b[k], scalar (the K % 4 tail of a row).
// @ts-ignore: decorator
@inline function dotTail(a: usize, b: usize, k0: i32, K: i32): f32 {
  let s: f32 = 0;
  for (let k = k0; k < K; k++) s += load<f32>(a + (<usize>k << 2)) * load<f32>(b + (<usize>k << 2));
  return s;
}

// Register budget of the vector loops below: V8 keeps 15 v128 values in registers on x64 and its scheduler hoists a
// loop body's loads ahead of the arithmetic, so a body with n accumulators fed by n distinct loaded vectors needs
// about 2n + 1 registers. n = 8 spills an accumulator to the stack, and the store-to-load round trip on it halves the
// speed; the matrix-vector loops therefore use at most 6 accumulators.

// C[i] = alpha · A[i,:]·b + beta · C[i], A is M×K row-major (N = 1; b has K elements whatever transB says).
// Four rows at a time (one load of b per four row loads); the four horizontal sums are one 4×4 transpose and a
// vector store. Consecutive row blocks are independent, so out-of-order execution overlaps their accumulator chains.
function gemvRows(M: i32, K: i32, alpha: f32, A: usize, b: usize, beta: f32, C: usize): void {
  const ld = <usize>K << 2;
  const K4 = K & ~3;
  const kEnd = <usize>K4 << 2;
  let i = 0;
  for (; i + 4 <= M; i += 4) {
    const a0 = A + <usize>i * ld, a1 = a0 + ld, a2 = a1 + ld, a3 = a2 + ld;
    let s0 = f32x4.splat(0), s1 = f32x4.splat(0), s2 = f32x4.splat(0), s3 = f32x4.splat(0);
    for (let o: usize = 0; o < kEnd; o += 16) {
      const bv = v128.load(b + o);
      s0 = madd(v128.load(a0 + o), bv, s0);
      s1 = madd(v128.load(a1 + o), bv, s1);
      s2 = madd(v128.load(a2 + o), bv, s2);
      s3 = madd(v128.load(a3 + o), bv, s3);
    }
    let r = hsum4(s0, s1, s2, s3);
    if (K4 < K) {
      r = f32x4.replace_lane(r, 0, f32x4.extract_lane(r, 0) + dotTail(a0, b, K4, K));
      r = f32x4.replace_lane(r, 1, f32x4.extract_lane(r, 1) + dotTail(a1, b, K4, K));
      r = f32x4.replace_lane(r, 2, f32x4.extract_lane(r, 2) + dotTail(a2, b, K4, K));
      r = f32x4.replace_lane(r, 3, f32x4.extract_lane(r, 3) + dotTail(a3, b, K4, K));
    }
    storeCols(C + (<usize>i << 2), r, alpha, beta);
  }
  // Fewer than four rows left: one at a time, two accumulators per row.
  for (; i < M; i++) {
    const a0 = A + <usize>i * ld;
    let s0 = f32x4.splat(0), s1 = f32x4.splat(0);
    let k = 0;
    for (; k + 8 <= K; k += 8) {
      const o = <usize>k << 2;
      s0 = madd(v128.load(a0 + o), v128.load(b + o), s0);
      s1 = madd(v128.load(a0 + o, 16), v128.load(b + o, 16), s1);
    }
    if (k + 4 <= K) {
      s0 = madd(v128.load(a0 + (<usize>k << 2)), v128.load(b + (<usize>k << 2)), s0);
      k += 4;
    }
    const s = f32x4.add(s0, s1);
    const h = f32x4.add(s, v128.shuffle<f32>(s, s, 2, 3, 0, 1));
    const r0 = f32x4.extract_lane(h, 0) + f32x4.extract_lane(h, 1) + dotTail(a0, b, k, K);
    finish(C + (<usize>i << 2), r0, alpha, beta);
  }
}

// C[i] = alpha · Σ_k A[k,i]·b[k] + beta · C[i], A is K×M row-major (the weight gradient Xᵀ·dY of a 1-output layer,
// the batch as the reduction). The column blocks below each make one pass over the rows of A, so A is cut into
// chunks of rows that fit L1 (~32 KiB): every pass after the first over a chunk then reads L1 instead of L2/L3, and
// the chunk's partial sums are added into C (beta applies to the first chunk only).
function gemvCols(M: i32, K: i32, alpha: f32, A: usize, b: usize, beta: f32, C: usize): void {
  const rows = min(K, max(16, (32768 / (M << 2)) & ~3));
  for (let k0 = 0; k0 < K; k0 += rows) {
    gemvColsChunk(M, min(rows, K - k0), alpha, A + ((<usize>k0 * <usize>M) << 2), b + (<usize>k0 << 2),
      k0 == 0 ? beta : 1, C);
  }
}

// gemvCols on one chunk of rows, in blocks of 4·W outputs with W accumulators each: W = 6 (the register budget)
// while at least 24 outputs remain, then one block of the remaining full vectors, so that every column is covered by
// a single pass with as few loads of b as possible. The M % 4 tail reruns the last 4 columns (overlapping the block
// before) and keeps only its new lanes: a scalar loop over K strided rows would cost as much as a whole block.
function gemvColsChunk(M: i32, K: i32, alpha: f32, A: usize, b: usize, beta: f32, C: usize): void {
  let i = 0;
  for (; i + 24 <= M; i += 24) colBlock(6, i, M, K, alpha, A, b, beta, C);
  const w = (M - i) >> 2;
  if (w == 5) colBlock(5, i, M, K, alpha, A, b, beta, C);
  else if (w == 4) colBlock(4, i, M, K, alpha, A, b, beta, C);
  else if (w == 3) colBlock(3, i, M, K, alpha, A, b, beta, C);
  else if (w == 2) colBlock(2, i, M, K, alpha, A, b, beta, C);
  else if (w == 1) colVector(i, 0, M, K, alpha, A, b, beta, C);
  i += w << 2;
  if (i < M) {
    if (M < 4) gemvColsScalar(i, M, K, alpha, A, b, beta, C);
    else colVector(M - 4, i - (M - 4), M, K, alpha, A, b, beta, C);
  }
}

// Outputs [i, i + 4W) of gemvCols. W is a constant at every call site: once inlined, the unused accumulators and
// their branches fold away, leaving one straight loop per width.
// @ts-ignore: decorator
@inline function colBlock(W: i32, i: i32, M: i32, K: i32, alpha: f32, A: usize, b: usize, beta: f32, C: usize): void {
  const ld = <usize>M << 2;
  const kEnd = b + (<usize>K << 2);
  let s0 = f32x4.splat(0), s1 = f32x4.splat(0), s2 = f32x4.splat(0);
  let s3 = f32x4.splat(0), s4 = f32x4.splat(0), s5 = f32x4.splat(0);
  let a = A + (<usize>i << 2);
  for (let pb = b; pb < kEnd; pb += 4) {
    const bk = v128.load32_splat(pb);
    s0 = madd(v128.load(a), bk, s0);
    s1 = madd(v128.load(a, 16), bk, s1);
    if (W > 2) s2 = madd(v128.load(a, 32), bk, s2);
    if (W > 3) s3 = madd(v128.load(a, 48), bk, s3);
    if (W > 4) s4 = madd(v128.load(a, 64), bk, s4);
    if (W > 5) s5 = madd(v128.load(a, 80), bk, s5);
    a += ld;
  }
  const c = C + (<usize>i << 2);
  storeCols(c, s0, alpha, beta);
  storeCols(c + 16, s1, alpha, beta);
  if (W > 2) storeCols(c + 32, s2, alpha, beta);
  if (W > 3) storeCols(c + 48, s3, alpha, beta);
  if (W > 4) storeCols(c + 64, s4, alpha, beta);
  if (W > 5) storeCols(c + 80, s5, alpha, beta);
}

// Outputs [i + first, i + 4) of gemvCols (lanes before `first` belong to the previous block and are already final).
// One vector of outputs, so k is unrolled by 4 to still run four accumulator chains.
function colVector(i: i32, first: i32, M: i32, K: i32, alpha: f32, A: usize, b: usize, beta: f32, C: usize): void {
  const ld = <usize>M << 2;
  let s0 = f32x4.splat(0), s1 = f32x4.splat(0), s2 = f32x4.splat(0), s3 = f32x4.splat(0);
  let a = A + (<usize>i << 2);
  let k = 0;
  for (; k + 4 <= K; k += 4) {
    const pb = b + (<usize>k << 2);
    s0 = madd(v128.load(a), v128.load32_splat(pb), s0);
    s1 = madd(v128.load(a + ld), v128.load32_splat(pb, 4), s1);
    s2 = madd(v128.load(a + 2 * ld), v128.load32_splat(pb, 8), s2);
    s3 = madd(v128.load(a + 3 * ld), v128.load32_splat(pb, 12), s3);
    a += 4 * ld;
  }
  for (; k < K; k++) {
    s0 = madd(v128.load(a), v128.load32_splat(b + (<usize>k << 2)), s0);
    a += ld;
  }
  const s = f32x4.add(f32x4.add(s0, s1), f32x4.add(s2, s3));
  const c = C + (<usize>i << 2);
  if (first == 0) {
    storeCols(c, s, alpha, beta);
  } else {
    if (first <= 1) finish(c + 4, f32x4.extract_lane(s, 1), alpha, beta);
    if (first <= 2) finish(c + 8, f32x4.extract_lane(s, 2), alpha, beta);
    finish(c + 12, f32x4.extract_lane(s, 3), alpha, beta);
  }
}

// Columns [i0, M) of gemvCols one at a time, for M < 4 (too narrow for a vector).
function gemvColsScalar(i0: i32, M: i32, K: i32, alpha: f32, A: usize, b: usize, beta: f32, C: usize): void {
  const ld = <usize>M << 2;
  for (let i = i0; i < M; i++) {
    let s: f32 = 0;
    let a = A + (<usize>i << 2);
    for (let k = 0; k < K; k++) {
      s += load<f32>(a) * load<f32>(b + (<usize>k << 2));
      a += ld;
    }
    finish(C + (<usize>i << 2), s, alpha, beta);
  }
}
