import type { Backend, Float } from '../kernels/backend.js';
import { JsBackend } from '../kernels/js-backend.js';
import type { Param } from '../nn/param.js';
import type { Optimizer } from './optimizer.js';

export interface AdamOptions {
  beta1?: number;
  beta2?: number;
  eps?: number;
  /**
   * The backend the params live on (the model's): the update then runs on its kernel, with the moments in its
   * memory. Without it, a plain JS loop with the moments on the JS heap (same arithmetic, any params).
   */
  backend?: Backend;
}

/** The moments of one param and the backend whose adamUpdate reads them. */
interface State {
  m: Float;
  v: Float;
  be: Backend;
}

const JS = new JsBackend('float64');

/**
 * Gives a WASM backend's moment arrays back when the Adam holding them is collected: they live in the backend's
 * fixed arena, not on the JS heap, so nothing else would free them (an optimizer has no dispose).
 */
const arenaRelease = new FinalizationRegistry<{ be: Backend; arrays: Float[] }>(({ be, arrays }) => {
  for (const a of arrays) be.free(a);
});

/**
 * Adam (Kingma & Ba). For embedding tables it is "lazy": moments of a row are updated only when the row is in the
 * batch (as TensorFlow's sparse Adam), so rare ids are not dragged by stale momentum and a step costs O(batch rows).
 * Moment tables have the size of the parameter (state, not gradient) and the backend's dtype (float32 on WASM, as
 * PyTorch keeps them; the float64 JS backend keeps float64); they live in the backend's memory so its kernel can run
 * the update. A table whose moments do not fit in a WASM arena keeps them on the JS heap and is updated by the JS
 * loop (bit-identical results, slower). Without a backend: float64 moments and the JS loop.
 */
export class Adam implements Optimizer {
  readonly name = 'adam';
  private readonly beta1: number;
  private readonly beta2: number;
  private readonly eps: number;
  private readonly backend: Backend;
  private t = 0;
  readonly stateSlots = 2;
  private readonly state = new Map<Param, State>();
  private readonly owned: { be: Backend; arrays: Float[] };

  constructor(opts: AdamOptions = {}) {
    this.beta1 = opts.beta1 ?? 0.9;
    this.beta2 = opts.beta2 ?? 0.999;
    this.eps = opts.eps ?? 1e-8;
    this.backend = opts.backend ?? JS;
    this.owned = { be: this.backend, arrays: [] };
    if (this.backend !== JS) arenaRelease.register(this, this.owned);
  }

  /** Steps taken (t of the bias correction). */
  get steps(): number {
    return this.t;
  }

  set steps(t: number) {
    if (!(Number.isInteger(t) && t >= 0)) throw new Error(`adam: step count must be an integer >= 0, got ${t}`);
    this.t = t;
  }

  bindState(p: Param, arrays: Float[]): void {
    if (arrays.length !== 2) throw new Error(`adam: ${p.name} needs 2 state arrays (the moments), got ${arrays.length}`);
    const [m, v] = arrays;
    if (m.length < p.value.length || v.length < p.value.length) throw new Error(`adam: state of ${p.name} is shorter than its value`);
    // The arrays must be the backend's own (its kernel reads them from its memory), as the caller allocates them.
    this.state.set(p, { m, v, be: this.backend });
  }

  stateOf(p: Param): Float[] | undefined {
    const s = this.state.get(p);
    return s ? [s.m, s.v] : undefined;
  }

  step(params: Param[], lr: number): void {
    this.t++;
    const { beta1: b1, beta2: b2, eps } = this;
    const c1 = 1 - Math.pow(b1, this.t);
    const c2 = 1 - Math.pow(b2, this.t);
    const ic1 = 1 / c1;
    const ic2 = 1 / c2;
    for (const p of params) {
      const s = this.state.get(p) ?? this.init(p);
      if (p.sparse) {
        // Embedding tables: only the rows in this batch (lazy Adam).
        s.be.adamUpdate(p.value, p.grad, s.m, s.v, p.sparse.ids, p.sparse.count, p.shape[1], b1, b2, lr, ic1, ic2, eps);
      } else {
        s.be.adamUpdate(p.value, p.grad, s.m, s.v, null, p.value.length, 1, b1, b2, lr, ic1, ic2, eps);
      }
    }
  }

  private init(p: Param): State {
    const n = p.value.length;
    let s: State;
    const be = this.backend;
    if (be === JS) {
      s = { m: new Float64Array(n), v: new Float64Array(n), be: JS };
    } else {
      let m: Float | undefined;
      try {
        m = be.alloc(n);
        const v = be.alloc(n);
        this.owned.arrays.push(m, v);
        s = { m, v, be };
      } catch (e) {
        if (!(e instanceof Error && /out of WASM memory/.test(e.message))) throw e;
        if (m) be.free(m);
        const heap = () => (be.dtype === 'float32' ? new Float32Array(n) : new Float64Array(n));
        s = { m: heap(), v: heap(), be: JS };
      }
    }
    this.state.set(p, s);
    return s;
  }
}
