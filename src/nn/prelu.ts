import type { Backend, EvalActivation, Float } from '../kernels/backend.js';
import type { ActivationLayer, Mode } from './layer.js';
import type { Param } from './param.js';
import { FloatBuf } from './workspace.js';

/** PReLU with a learned slope per channel: y = x (x > 0), αc·x otherwise. α starts at 0.25 (He et al. 2015).
 * The loops are the backend's (preluForward/preluBackward). */
export class PRelu implements ActivationLayer {
  readonly alpha: Param;
  readonly inDim: number;
  private readonly y: FloatBuf;
  private readonly dx: FloatBuf;
  private x: Float | null = null;
  private n = 0;

  constructor(private readonly backend: Backend, readonly name: string, readonly outDim: number, init = 0.25) {
    this.inDim = outDim;
    const a = backend.alloc(outDim).fill(init);
    this.alpha = { name: `${name}.alpha`, shape: [outDim], value: a, grad: backend.alloc(outDim), decay: false };
    this.y = new FloatBuf(backend, outDim);
    this.dx = new FloatBuf(backend, outDim);
  }

  forward(x: Float, n: number, _mode: Mode = 'train'): Float {
    const y = this.y.ensure(n);
    this.x = x;
    this.n = n;
    if (n > 0) this.backend.preluForward(x, this.alpha.value, n, this.outDim, y);
    return y;
  }

  backward(dy: Float): Float {
    const { n, x } = this;
    if (x === null) throw new Error(`${this.name}: backward before forward`);
    const dx = this.dx.ensure(n);
    if (n > 0) this.backend.preluBackward(x, this.alpha.value, dy, n, this.outDim, dx, this.alpha.grad);
    return dx;
  }

  /** Eval form: PReLU with a copy of the current α. */
  evalActivation(): EvalActivation {
    return { kind: 'prelu', alpha: Float64Array.from(this.alpha.value) };
  }

  params(): Param[] {
    return [this.alpha];
  }

  buffers(): Record<string, Float> {
    return {};
  }
}
