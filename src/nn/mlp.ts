import type { Backend, Float } from '../kernels/backend.js';
import type { ActivationLayer, Mode } from './layer.js';
import type { DenseEval } from './eval-form.js';
import type { BatchGroup } from './batch-group.js';
import type { Param } from './param.js';
import type { Rng } from '../util/rng.js';
import { Linear, type LinearInit } from './linear.js';
import { PRelu } from './prelu.js';
import { Dice } from './dice.js';
import { Sigmoid } from './sigmoid.js';

export type ActivationKind = 'prelu' | 'dice' | 'sigmoid';

/** Activation layer `<prefix>.<kind>` (param `….alpha`, Dice buffers `….mean` / `….var`). */
export function createActivation(backend: Backend, kind: ActivationKind, prefix: string, width: number): ActivationLayer {
  switch (kind) {
    case 'prelu':
      return new PRelu(backend, `${prefix}.prelu`, width);
    case 'dice':
      return new Dice(backend, `${prefix}.dice`, width);
    case 'sigmoid':
      return new Sigmoid(backend, `${prefix}.sigmoid`, width);
  }
}

export interface MlpOptions {
  /** Weight init of every linear layer (default 'glorot'). */
  init?: LinearInit;
  /** Index of the first layer in param names (a unit whose layer 0 is computed elsewhere starts at 1). */
  firstIndex?: number;
}

/**
 * inDim → hidden[0] → act → … → hidden[k−1] → act → 1 (the last layer is linear, no activation).
 * Names: `<name>.<i>.weight|bias` for the i-th linear layer, `<name>.<i>.<act>.alpha` for the activation after it.
 */
export class Mlp {
  readonly linears: Linear[] = [];
  readonly acts: ActivationLayer[] = [];
  readonly outDim = 1;

  constructor(backend: Backend, readonly name: string, readonly inDim: number, readonly hidden: number[],
    activation: ActivationKind, rng: Rng, opts: MlpOptions = {}) {
    const init = opts.init ?? 'glorot';
    const first = opts.firstIndex ?? 0;
    let d = inDim;
    hidden.forEach((h, i) => {
      this.linears.push(new Linear(backend, `${name}.${first + i}`, d, h, rng.fork(first + i + 1), init));
      this.acts.push(createActivation(backend, activation, `${name}.${first + i}`, h));
      d = h;
    });
    const last = first + hidden.length;
    this.linears.push(new Linear(backend, `${name}.${last}`, d, 1, rng.fork(last + 1), init));
  }

  /** x is n×inDim; returns n×1 (owned by the last linear layer). */
  forward(x: Float, n: number, mode: Mode): Float {
    let h = x;
    for (let i = 0; i < this.acts.length; i++) {
      h = this.linears[i].forward(h, n, mode);
      h = this.acts[i].forward(h, n, mode);
    }
    return this.linears[this.acts.length].forward(h, n, mode);
  }

  /** dy is n×1; returns dx (n×inDim). */
  backward(dy: Float): Float {
    let g = this.linears[this.acts.length].backward(dy);
    for (let i = this.acts.length - 1; i >= 0; i--) {
      g = this.acts[i].backward(g);
      g = this.linears[i].backward(g);
    }
    return g;
  }

  /** Hands the data-parallel group to the layers that need it (Dice). */
  setBatchGroup(group: BatchGroup | null): void {
    for (const a of this.acts) a.setBatchGroup?.(group);
  }

  /** Eval form: every layer in order, the hidden ones with their activation, the last (→ 1) with none. */
  evalForm(): DenseEval[] {
    return this.linears.map((l, i) => denseEval(l, i < this.acts.length ? this.acts[i] : null));
  }

  params(): Param[] {
    const ps: Param[] = [];
    this.linears.forEach((l, i) => {
      ps.push(...l.params());
      if (i < this.acts.length) ps.push(...this.acts[i].params());
    });
    return ps;
  }

  buffers(): Record<string, Float> {
    return Object.assign({}, ...this.acts.map((a) => a.buffers())) as Record<string, Float>;
  }
}

/** Eval form of a linear layer followed by `act` (null: none). W and b are views of its parameters. */
export function denseEval(l: Linear, act: ActivationLayer | null): DenseEval {
  if (act !== null && act.outDim !== l.outDim) throw new Error(`${act.name}: ${act.outDim} channels after a ${l.outDim}-wide layer`);
  return {
    name: l.name, W: l.weight.value, b: l.bias.value, inDim: l.inDim, outDim: l.outDim,
    act: act ? act.evalActivation() : { kind: 'none' }, actName: act ? act.name : null,
  };
}
