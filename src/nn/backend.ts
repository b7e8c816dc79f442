/**
 * The numeric backend every layer runs on. Two implementations share this contract:
 *  - `JsBackend` (float64, plain TS loops): the reference, used by the finite-difference gradient checks;
 *  - `WasmBackend` (float32, AssemblyScript SIMD kernels in one WASM memory arena): the fast path.
 *
 * Arrays are plain typed arrays. For the WASM backend they are views into its memory, so a kernel's pointer is the
 * view's byteOffset and `subarray` views work as sub-matrices. Arrays passed to a backend must come from that
 * backend's `alloc`/`allocInt` (or be subarrays of them). All matrices are row-major and contiguous.
 */
export type Float = Float32Array | Float64Array;

export interface Backend {
  readonly name: string;
  readonly dtype: 'float32' | 'float64';
  /** A zero-filled float array of n elements owned by this backend. */
  alloc(n: number): Float;
  /** A zero-filled int32 array of n elements owned by this backend. */
  allocInt(n: number): Int32Array;
  /** Gives memory back (the array must not be used afterwards). */
  free(a: Float | Int32Array): void;

  /** C[M,N] = alpha * op(A) · op(B) + beta * C, op(A) is M×K (A is K×M when transA), op(B) is K×N (N×K when transB). */
  gemm(transA: boolean, transB: boolean, M: number, N: number, K: number, alpha: number, A: Float, B: Float,
    beta: number, C: Float): void;
  /** Y[i,:] += b for i < M (Y is M×N). */
  addBias(Y: Float, b: Float, M: number, N: number): void;
  /** db[j] += Σ_i dY[i,j] (dY is M×N). */
  sumRows(dY: Float, M: number, N: number, db: Float): void;
  /** out[i,:] = table[ids[i],:] for ids[i] >= 0, zeros for ids[i] < 0 (padding); out is n×dim. */
  gather(table: Float, dim: number, ids: Int32Array, n: number, out: Float): void;
  /** grad[slots[i],:] += dOut[i,:] for slots[i] >= 0 (compact sparse-gradient rows); dOut is n×dim. */
  scatterAddRows(grad: Float, dim: number, slots: Int32Array, n: number, dOut: Float): void;
  /** Local activation unit input: out[b*T+t,:] = [q_b, k_bt, q_b − k_bt, q_b ⊙ k_bt] (4D wide); q is B×D, K is B·T×D. */
  attnInput(q: Float, K: Float, B: number, T: number, D: number, out: Float): void;
  /** Backward of attnInput: dq[b,:] += Σ_t ∂/∂q, dK[bt,:] += ∂/∂k. */
  attnInputBackward(q: Float, K: Float, dOut: Float, B: number, T: number, D: number, dq: Float, dK: Float): void;
  /** out[b,:] = Σ_t w[b*T+t] · K[b*T+t,:] (out is B×D, overwritten). */
  weightedSum(w: Float, K: Float, B: number, T: number, D: number, out: Float): void;
  /** Backward of weightedSum: dw[bt] = dOut[b,:]·K[bt,:] (overwritten), dK[bt,:] += w[bt]·dOut[b,:]. */
  weightedSumBackward(w: Float, K: Float, dOut: Float, B: number, T: number, D: number, dw: Float, dK: Float): void;
}
