import type { Backend, EvalActivation, Float } from '../kernels/backend.js';
import type { ActivationLayer, Mode } from './layer.js';
import type { Param } from './param.js';
import { FloatBuf } from './workspace.js';
import { sigmoid, sigmoidF32 } from '../util/math.js';

/** Elementwise sigmoid (an activation option of the local activation unit). No parameters. */
export class Sigmoid implements ActivationLayer {
  readonly inDim: number;
  private readonly y: FloatBuf;
  private readonly dx: FloatBuf;
  private n = 0;
  private readonly f32: boolean;

  constructor(backend: Backend, readonly name: string, readonly outDim: number) {
    this.inDim = outDim;
    this.f32 = backend.dtype === 'float32';
    this.y = new FloatBuf(backend, outDim);
    this.dx = new FloatBuf(backend, outDim);
  }

  forward(x: Float, n: number, _mode: Mode = 'train'): Float {
    const y = this.y.ensure(n);
    const m = n * this.outDim;
    const f32 = this.f32;
    for (let i = 0; i < m; i++) y[i] = f32 ? sigmoidF32(x[i]) : sigmoid(x[i]);
    this.n = n;
    return y;
  }

  backward(dy: Float): Float {
    const y = this.y.view;
    const dx = this.dx.ensure(this.n);
    const m = this.n * this.outDim;
    for (let i = 0; i < m; i++) dx[i] = dy[i] * y[i] * (1 - y[i]);
    return dx;
  }

  /** Eval form: the plain sigmoid (no parameters). */
  evalActivation(): EvalActivation {
    return { kind: 'sigmoid' };
  }

  params(): Param[] {
    return [];
  }

  buffers(): Record<string, Float> {
    return {};
  }
}
