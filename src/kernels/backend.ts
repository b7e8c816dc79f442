/**
 * The numeric backend every layer runs on. Two implementations share this contract:
 *  - `JsBackend` (float64, plain TS loops): the reference, used by the finite-difference gradient checks;
 *  - `WasmBackend` (float32, AssemblyScript SIMD kernels in one WASM memory arena): the fast path.
 *
 * Arrays are plain typed arrays. For the WASM backend they are views into its memory, so a kernel's pointer is the
 * view's byteOffset and `subarray` views work as sub-matrices. Arrays passed to a backend must come from that
 * backend's `alloc`/`allocInt` (or be subarrays of them). All matrices are row-major and contiguous.
 */

/** A backend's float array: Float32Array on float32 backends (WASM, `js-f32`), Float64Array on `js`. */
export type Float = Float32Array | Float64Array;

/**
 * The numeric kernels a model runs on (`JsBackend`: plain TS, the float64 reference; `WasmBackend`: float32 SIMD).
 * Arrays passed to a backend must come from its own `alloc`/`allocInt` (or be subarrays of them). Made by
 * `createBackend`.
 */
export interface Backend {
  /** Which implementation: `js-f64`, `js-f32`, `wasm-simd` or `wasm-relaxed-simd`. */
  readonly name: string;
  /** Element type of the float arrays it allocates and computes in (float32 for WASM and `js-f32`). */
  readonly dtype: 'float32' | 'float64';
  /** A zero-filled float array of n elements owned by this backend. */
  alloc(n: number): Float;
  /** A zero-filled int32 array of n elements owned by this backend. */
  allocInt(n: number): Int32Array;
  /** A zero-filled float64 array of n elements owned by this backend (optimizer state, whatever the dtype). */
  allocF64(n: number): Float64Array;
  /** Gives memory back (the array must not be used afterwards). */
  free(a: Float | Int32Array): void;

  /** C[M,N] = alpha * op(A) · op(B) + beta * C, op(A) is M×K (A is K×M when transA), op(B) is K×N (N×K when transB). */
  gemm(transA: boolean, transB: boolean, M: number, N: number, K: number, alpha: number, A: Float, B: Float,
    beta: number, C: Float): void;
  /** Σ x[i]² over the first n elements, accumulated in float64 (gradient norms for clipping). */
  sumSquares(x: Float, n: number): number;
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
  /**
   * The factorized attention input on N valid rows (src/nn/attention.ts): x2[i,:] = [k_i, q_b ⊙ k_i] with
   * k_i = K[rowIdx[i],:] and b = rowB[i]; q is B×D, K is B·T×D, x2 is N×2D. rowIdx[i] < B·T and rowB[i] < B.
   */
  attnPairs(q: Float, K: Float, rowIdx: Int32Array, rowB: Int32Array, N: number, B: number, T: number, D: number,
    x2: Float): void;
  /** Backward of attnPairs: dK[rowIdx[i],:] += g1 + g2 ⊙ q_b, dq[b,:] += g2 ⊙ k_i, where dx2[i,:] = [g1, g2]. */
  attnPairsBackward(q: Float, K: Float, dx2: Float, rowIdx: Int32Array, rowB: Int32Array, N: number, B: number,
    T: number, D: number, dq: Float, dK: Float): void;
  /** out[b,:] = Σ_t w[b*T+t] · K[b*T+t,:] (out is B×D, overwritten). */
  weightedSum(w: Float, K: Float, B: number, T: number, D: number, out: Float): void;
  /** Backward of weightedSum: dw[bt] = dOut[b,:]·K[bt,:] (overwritten), dK[bt,:] += w[bt]·dOut[b,:]. */
  weightedSumBackward(w: Float, K: Float, dOut: Float, B: number, T: number, D: number, dw: Float, dK: Float): void;

  /** PReLU over n rows of C channels: y = x where x > 0, α_c·x otherwise. */
  preluForward(x: Float, alpha: Float, n: number, C: number, y: Float): void;
  /** PReLU backward: dx = dy·(x > 0 ? 1 : α_c) (overwritten); dAlpha[c] += Σ_i dy·x·[x ≤ 0]. */
  preluBackward(x: Float, alpha: Float, dy: Float, n: number, C: number, dx: Float, dAlpha: Float): void;
  /** A Dice workspace for C channels (per-channel statistics kept from diceForward for diceBackward). */
  diceStats(C: number): DiceStats;
  /**
   * Dice forward (paper eq. 8–9) over n rows of C channels: writes y and keeps p = sigmoid(z), z = (x − μ)/√(σ² + ε)
   * for the backward pass. train: μ, σ² are the batch mean and biased variance and the moving averages are
   * updated in place (mean ← m·mean + (1−m)·μ, same for var); eval: the moving averages are μ and σ².
   */
  diceForward(x: Float, n: number, C: number, alpha: Float, movingMean: Float, movingVar: Float, train: boolean,
    momentum: number, epsilon: number, stats: DiceStats, y: Float, p: Float, z: Float): void;
  /**
   * One Adam step in place (see src/optim/adam.ts). Moments m, v of the backend's dtype (from `alloc`: float32 in
   * the WASM backend, computed in float32 as PyTorch does) or, on the JS backend, float64. ids === null: dense, the
   * first n elements of w, g, m, v. Otherwise lazy sparse: for r < n, row ids[r] (rows of dim) of w, m and v is
   * updated from row r of g. Per element: m = b1·m + (1−b1)·g, v = b2·v + (1−b2)·g², w −= lr·m·ic1/(√(v·ic2) + eps).
   */
  adamUpdate(w: Float, g: Float, m: Float, v: Float, ids: Int32Array | null, n: number, dim: number,
    b1: number, b2: number, lr: number, ic1: number, ic2: number, eps: number): void;
  /** Dice backward after diceForward on the same stats/p/z: dx overwritten; dAlpha[c] += Σ_i dy·x·(1 − p). */
  diceBackward(x: Float, dy: Float, n: number, C: number, alpha: Float, train: boolean, stats: DiceStats, p: Float,
    z: Float, dx: Float, dAlpha: Float): void;

  // Dice in train mode on a batch split over workers (src/train/data-parallel.ts): the batch statistics are sums over
  // every worker's rows, so each pass leaves its per-channel sums in `stats.data` (layout below) for the caller to sum
  // across workers before the next pass. diceForward/diceBackward in train mode equal these passes with one worker.
  /**
   * Forward pass 1: mean slots = Σ_i (x[i,c] − shift[c]) and var slots = Σ_i (x[i,c] − shift[c])² over these n rows
   * (shift: a value every worker has, the moving mean, so the sums give the variance without cancellation).
   */
  diceSumShifted(x: Float, n: number, C: number, shift: Float, stats: DiceStats): void;
  /**
   * Forward pass 2: mean slots = the batch mean and var slots = Σ (x − mean)² over the N rows of the whole batch;
   * updates the moving averages and writes y, p, z of these n rows (as diceForward in train mode).
   */
  diceForwardStats(x: Float, n: number, C: number, N: number, alpha: Float, movingMean: Float, movingVar: Float,
    momentum: number, epsilon: number, stats: DiceStats, y: Float, p: Float, z: Float): void;
  /** Backward pass 1: dx without the batch-statistics term, dAlpha += …, and gz slots = Σ gz, Σ gz·z over these rows. */
  diceBackwardSums(x: Float, dy: Float, n: number, C: number, alpha: Float, stats: DiceStats, p: Float, z: Float,
    dx: Float, dAlpha: Float): void;
  /** Backward pass 2: with the gz slots summed over the N rows of the whole batch, subtracts the statistics term. */
  diceBackwardCorrect(n: number, C: number, N: number, stats: DiceStats, z: Float, dx: Float): void;

  /**
   * An eval-mode activation's frozen parameters in this backend's memory, ready for {@link Backend.evalActivationGrid}
   * (made once per layer when a model is frozen for inference; the arrays are the backend's).
   */
  prepareActivation(a: EvalActivation, C: number): PreparedActivation;
  /**
   * Eval mode, in place, over a grid: row xRow0 + i·nB + j of x (width C), for i < nA and j < nB, becomes
   * act(x + A[aOff + i·sA …] + B[bOff + j·sB …]) (strides in elements). A plain layer's bias is nA = 1 with B a zero
   * row and sB = 0; DIN's attention first layer adds a candidate term (A) and a behaviour term (B) to every pair.
   */
  evalActivationGrid(act: PreparedActivation, x: Float, xRow0: number, nA: number, nB: number, A: Float, aOff: number, sA: number,
    B: Float, bOff: number, sB: number): void;
  /** Rows i·nB + j of out (from row outRow0, width D) ← Q row i ⊙ K row j (i < nA, j < nB): DIN's q ⊙ k per pair. */
  pairProducts(out: Float, outRow0: number, Q: Float, qRow0: number, nA: number, K: Float, kRow0: number, nB: number, D: number): void;
}

/**
 * An activation in eval mode with its frozen parameters (what a layer's `evalForm()` gives): `none`, `sigmoid`,
 * PReLU with its α, or Dice with its α, moving mean and 1/sqrt(moving variance + ε) (computed in float64 from the
 * layer's buffers, as its eval forward does).
 */
export type EvalActivation =
  | {
    /** Identity: the layer's output is its pre-activation. */
    kind: 'none';
  }
  | {
    /** The logistic sigmoid. */
    kind: 'sigmoid';
  }
  | {
    /** PReLU: x for x > 0, else α·x. */
    kind: 'prelu';
    /** α per channel (C values). */
    alpha: ArrayLike<number>;
  }
  | {
    /** Dice: x·(α + (1 − α)·sigmoid((x − mean)·invStd)). */
    kind: 'dice';
    /** α per channel (C values). */
    alpha: ArrayLike<number>;
    /** The moving mean per channel (C values). */
    mean: ArrayLike<number>;
    /** 1/sqrt(moving variance + ε) per channel (C values). */
    invStd: ArrayLike<number>;
  };

/** An {@link EvalActivation} prepared by a backend (its parameters copied into the backend's memory). */
export interface PreparedActivation {
  /** The activation. */
  readonly kind: EvalActivation['kind'];
  /** Channels. */
  readonly C: number;
  /** α per channel (PReLU, Dice): a backend array of C, zeros for `none` and `sigmoid`. */
  readonly alpha: Float;
  /** 1 − α per channel (Dice's gate weight on the sigmoid term): a backend array of C, ones when α is unused. */
  readonly oneMinusAlpha: Float;
  /** Dice's moving mean per channel: a backend array of C, zeros for the other kinds. */
  readonly mean: Float;
  /** Dice's 1/sqrt(moving variance + ε) per channel: a backend array of C, zeros for the other kinds. */
  readonly invStd: Float;
  /** A zero row of C (the B operand of a plain layer's bias). */
  readonly zero: Float;
}

/**
 * Copies an {@link EvalActivation}'s parameters into arrays of `be` (what both backends' `prepareActivation` do; the
 * WASM one then passes their pointers to its kernels). Throws when a parameter list does not have C values.
 */
export function prepareEvalActivation(be: Backend, a: EvalActivation, C: number): PreparedActivation {
  if (!(Number.isInteger(C) && C >= 0)) throw new RangeError(`eval activation: channels must be an integer >= 0, got ${C}`);
  const arr = (v?: ArrayLike<number>): Float => {
    const x = be.alloc(C);
    if (v) {
      if (v.length !== C) throw new Error(`eval activation (${a.kind}): ${v.length} parameters for ${C} channels`);
      for (let c = 0; c < C; c++) x[c] = v[c];
    }
    return x;
  };
  const alpha = arr(a.kind === 'prelu' || a.kind === 'dice' ? a.alpha : undefined);
  const oneMinusAlpha = be.alloc(C);
  for (let c = 0; c < C; c++) oneMinusAlpha[c] = 1 - alpha[c];
  return {
    kind: a.kind, C, alpha, oneMinusAlpha,
    mean: arr(a.kind === 'dice' ? a.mean : undefined), invStd: arr(a.kind === 'dice' ? a.invStd : undefined), zero: be.alloc(C),
  };
}

/**
 * Per-channel Dice statistics between forward and backward, in float64 whatever the backend (sums over thousands
 * of rows). Its layout belongs to the backend that made it (the WASM one keeps float32 copies after the float64
 * slots); pass it only to that backend.
 */
export interface DiceStats {
  /** Channels C of the Dice layer it belongs to. */
  readonly channels: number;
  /**
   * The first 4C values have one layout in every backend: [0, C) mean slots, [C, 2C) var slots (1/sqrt(var + ε) after a
   * forward), [2C, 3C) Σ gz and [3C, 4C) Σ gz·z of the last backward (gz = ∂L/∂z). The rest is the backend's.
   */
  readonly data: Float64Array;
}
