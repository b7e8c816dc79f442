import type { Backend, Float } from '../kernels/backend.js';
import type { Layer, Mode } from './layer.js';
import type { Param } from './param.js';
import type { Rng } from '../util/rng.js';
import { FloatBuf } from './workspace.js';

export type LinearInit = 'glorot' | 'he';

/**
 * y = x·W + b with W [inDim, outDim] row-major.
 * Init: 'glorot' = Glorot/Xavier uniform, limit sqrt(6/(in+out)) (tf.layers.dense's default, which the original DIN
 * code uses); 'he' = normal with std sqrt(2/in). Bias starts at 0.
 */
export class Linear implements Layer {
  readonly weight: Param;
  readonly bias: Param;
  private readonly y: FloatBuf;
  private readonly dx: FloatBuf;
  private x: Float | null = null;
  private n = 0;

  constructor(private readonly backend: Backend, readonly name: string, readonly inDim: number,
    readonly outDim: number, rng: Rng, init: LinearInit = 'glorot') {
    const w = backend.alloc(inDim * outDim);
    if (init === 'glorot') {
      const limit = Math.sqrt(6 / (inDim + outDim));
      for (let i = 0; i < w.length; i++) w[i] = (2 * rng.next() - 1) * limit;
    } else {
      const std = Math.sqrt(2 / inDim);
      for (let i = 0; i < w.length; i++) w[i] = rng.normal() * std;
    }
    this.weight = { name: `${name}.weight`, shape: [inDim, outDim], value: w, grad: backend.alloc(inDim * outDim) };
    this.bias = { name: `${name}.bias`, shape: [outDim], value: backend.alloc(outDim), grad: backend.alloc(outDim),
      decay: false };
    this.y = new FloatBuf(backend, outDim);
    this.dx = new FloatBuf(backend, inDim);
  }

  forward(x: Float, n: number, _mode: Mode = 'train'): Float {
    const y = this.y.ensure(n);
    this.x = x;
    this.n = n;
    if (n === 0) return y;
    this.backend.gemm(false, false, n, this.outDim, this.inDim, 1, x, this.weight.value, 0, y);
    this.backend.addBias(y, this.bias.value, n, this.outDim);
    return y;
  }

  /** Accumulates dW += xᵀ·dy and db += Σ dy; returns dx = dy·Wᵀ (skipped, returning null, when `needDx` is false). */
  backward(dy: Float): Float;
  backward(dy: Float, needDx: false): null;
  backward(dy: Float, needDx = true): Float | null {
    const { n, x } = this;
    if (x === null) throw new Error(`${this.name}: backward before forward`);
    const dx = needDx ? this.dx.ensure(n) : null;
    if (n === 0) return dx;
    const be = this.backend;
    be.gemm(true, false, this.inDim, this.outDim, n, 1, x, dy, 1, this.weight.grad);
    be.sumRows(dy, n, this.outDim, this.bias.grad);
    if (dx) be.gemm(false, true, n, this.inDim, this.outDim, 1, dy, this.weight.value, 0, dx);
    return dx;
  }

  params(): Param[] {
    return [this.weight, this.bias];
  }

  buffers(): Record<string, Float> {
    return {};
  }
}
