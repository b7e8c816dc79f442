/**
 * Regularizers of the paper's §4.2 / §6.5 comparison. Gradient-based ones add their penalty's gradient to the
 * parameters' gradients after the data gradient is computed (and clipped) and before the optimizer step, so
 * with SGD the update is exactly the paper's Eq. 7:
 *
 *   w_j ← w_j − η · [ (1/|B|) Σ_{(x,y)∈B} ∂L/∂w_j  +  λ · (α_mj / n_j) · w_j ]
 *
 * and with Adam the penalty goes through Adam like any gradient (coupled L2, as TensorFlow's regularization losses).
 *
 * - `mba`:     the paper's mini-batch-aware L2 — only embedding rows present in the batch (α_mj = 1), each scaled by
 *              1/n_j, n_j = number of training samples containing id j. Cost O(rows in the batch).
 * - `difacto`: frequency-blind: rows present in the batch get λ·w_j (a frequent id is penalized in many more
 *              batches, so in total more — the behaviour the paper ascribes to DiFacto). Cost O(rows in the batch).
 * - `l2`:      naive full L2 — every row of every table, every step. O(table size) per step on purpose: it is the
 *              baseline that shows why MBA exists. With Adam every row then gets a (dense) Adam update.
 * - `none`, `dropout`, `filter`: no penalty on the tables (dropout and filter change the inputs; see the trainer).
 *
 * Only parameters with `decay !== false` are penalized (biases, item biases, PReLU/Dice alphas never are). Dense
 * weights get plain L2 `denseL2 · w` under every choice when denseL2 > 0.
 */
import type { SampleSet } from '../core/types.js';
import type { Param } from '../nn/param.js';

/**
 * The regularizers of the paper's §6.5 comparison: `mba` (mini-batch-aware L2 on the embedding rows in the batch,
 * scaled by 1/n_j), `difacto` (the same without the frequency scaling), `l2` (every row of every table, every step),
 * `dropout` (drops a fraction of each training sample's behaviour ids), `filter` (keeps only the most frequent goods
 * ids) and `none`.
 */
export type RegName = 'none' | 'l2' | 'difacto' | 'mba' | 'dropout' | 'filter';
/** Every {@link RegName} (what `TrainOptions.reg` and `din train --reg` accept). */
export const REG_NAMES: readonly RegName[] = ['none', 'l2', 'difacto', 'mba', 'dropout', 'filter'];

/** Regularizers with a λ. */
export const PENALTY_REGS: readonly RegName[] = ['l2', 'difacto', 'mba'];

export interface RegularizerOptions {
  reg: RegName;
  /** λ of mba / difacto / l2 (ignored by the others). */
  lambda: number;
  /** Plain L2 coefficient of the dense (non-embedding) weights; 0 = off. */
  denseL2: number;
}

export interface Regularizer {
  readonly name: RegName;
  /** Adds this step's penalty gradient to the params' gradients (call after backward/clipping, before the step). */
  apply(): void;
  /** How it was made: a replica of the model (data-parallel training) gets the same one with {@link RegularizerSpec}. */
  readonly spec: RegularizerSpec;
}

/** Options and, for mba, 1/n_j per penalized table (by param name): all a regularizer needs besides the params. */
export interface RegularizerSpec {
  opts: RegularizerOptions;
  inverseCounts: Record<string, Float64Array>;
}

/**
 * Builds the regularizer of a model's params (the same Param objects every step). `train` and `maxHistory` (the training data as the batcher feeds it)
 * give MBA its counts n_j, computed once here: O(samples + history ids) per table.
 */
export function createRegularizer(opts: RegularizerOptions, params: Param[], train: SampleSet | Iterable<SampleSet>,
  maxHistory: number): Regularizer {
  const tables = params.filter((p) => p.sparse && p.decay !== false);
  checkOptions(opts);
  const inverseCounts: Record<string, Float64Array> = {};
  if (PENALTY_REGS.includes(opts.reg) && opts.lambda > 0 && opts.reg === 'mba') {
    for (const p of tables) {
      if (!p.countRows) throw new Error(`mba: table "${p.name}" has no occurrence counts (its layer does not provide countRows)`);
    }
    // Per-sample counts add up over parts (shards): one pass over the parts, every table counted per part.
    const parts: Iterable<SampleSet> = isSampleSet(train) ? [train] : train;
    const total = new Map<Param, Float64Array>();
    for (const set of parts) {
      for (const p of tables) {
        const n = p.countRows!(set, maxHistory);
        if (n.length !== p.shape[0]) throw new Error(`mba: table "${p.name}" has ${p.shape[0]} rows but ${n.length} counts`);
        const t = total.get(p);
        if (t === undefined) total.set(p, n);
        else for (let j = 0; j < n.length; j++) t[j] += n[j];
      }
    }
    for (const p of tables) {
      const n = total.get(p) ?? new Float64Array(p.shape[0]);
      // A row looked up in training has n_j ≥ 1; the guard only matters for rows unseen in `train`.
      inverseCounts[p.name] = n.map((c) => 1 / Math.max(c, 1));
    }
  }
  return regularizerFromSpec({ opts, inverseCounts }, params);
}

function checkOptions(opts: RegularizerOptions): void {
  const { reg, lambda, denseL2 } = opts;
  if (!REG_NAMES.includes(reg)) throw new Error(`unknown regularizer "${reg as string}" (expected ${REG_NAMES.join(' | ')})`);
  if (!(Number.isFinite(lambda) && lambda >= 0)) throw new Error(`regularizer ${reg}: lambda must be a number >= 0, got ${lambda}`);
  if (!(Number.isFinite(denseL2) && denseL2 >= 0)) throw new Error(`dense L2 must be a number >= 0, got ${denseL2}`);
}

/** The regularizer of `params` from a spec (of this model's or of a replica's regularizer). */
export function regularizerFromSpec(spec: RegularizerSpec, params: Param[]): Regularizer {
  const { reg, lambda, denseL2 } = spec.opts;
  checkOptions(spec.opts);
  const tables = params.filter((p) => p.sparse && p.decay !== false);
  const dense = params.filter((p) => !p.sparse && p.decay !== false);
  const penalize = PENALTY_REGS.includes(reg) && lambda > 0;
  // MBA: 1/n_j per row of every penalized table.
  const inv = new Map<Param, Float64Array>();
  if (penalize && reg === 'mba') {
    for (const p of tables) {
      const f = spec.inverseCounts[p.name];
      if (!f || f.length !== p.shape[0]) throw new Error(`mba: no counts for the ${p.shape[0]} rows of table "${p.name}"`);
      inv.set(p, f);
    }
  }
  return {
    name: reg,
    spec,
    apply(): void {
      if (denseL2 > 0) for (const p of dense) addScaled(p.grad, p.value, 0, 0, p.value.length, denseL2);
      if (!penalize) return;
      for (const p of tables) {
        const sp = p.sparse!;
        if (reg === 'l2') sp.expandAll?.();
        if (reg === 'l2' && !sp.expandAll && sp.count < p.shape[0]) throw new Error(`l2: table "${p.name}" cannot list all its rows`);
        const dim = p.shape[1];
        const w = p.value;
        const g = p.grad;
        const ids = sp.ids;
        const f = inv.get(p);
        // External tables: ids are working-set rows; their table rows (for n_j) are in sp.global.
        const table = sp.global;
        for (let r = 0, count = sp.count; r < count; r++) {
          const id = ids[r];
          addScaled(g, w, r * dim, id * dim, dim, f ? lambda * f[table ? table[id] : id] : lambda);
        }
      }
    },
  };
}

function isSampleSet(x: SampleSet | Iterable<SampleSet>): x is SampleSet {
  return typeof (x as SampleSet).size === 'number' && (x as SampleSet).labels instanceof Uint8Array;
}

/** g[go + i] += c · w[wo + i] for i < n. */
function addScaled(g: ArrayLike<number> & { [i: number]: number }, w: ArrayLike<number>, go: number, wo: number, n: number, c: number): void {
  for (let i = 0; i < n; i++) g[go + i] += c * w[wo + i];
}
