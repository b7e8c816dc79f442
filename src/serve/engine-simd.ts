/**
 * WASM SIMD kernels of the serving fast path: the eval-mode activations (bias add, PReLU, Dice, sigmoid) fused with
 * the bias add, over the rows of a matrix in a WasmBackend's memory, and DIN's q ⊙ k rows. On DIN's attention unit
 * they run once per (candidate, behaviour) pair and hidden unit, the largest elementwise cost of a request; plain JS
 * loops were 4× slower.
 *
 * The AssemblyScript source is {@link ACT_KERNELS_SOURCE}; {@link ACT_KERNELS_WASM} is its compiled module
 * (`asc.compileString(ACT_KERNELS_SOURCE, ACT_KERNELS_ASC_OPTIONS)`), embedded so serving needs no build step and no
 * compiler at run time. test/serve/engine.test.ts recompiles the source and checks the bytes are the same (and prints
 * the new base64 when the source changed). The module imports the backend's memory, has no data segment and no
 * globals, so it shares the arena with the backend's own kernels without touching anything but its operands.
 * (These kernels belong with src/kernels/assembly; they live here until the Backend interface has eval activations.)
 */
import type { Backend, Float } from '../nn/backend.js';
import { WasmBackend } from '../kernels/wasm-backend.js';

export const ACT_KERNELS_ASC_OPTIONS = {"optimizeLevel":3,"shrinkLevel":0,"noAssert":true,"runtime":"stub","importMemory":true,"noExportMemory":true,"enable":["simd"]} as const;

export const ACT_KERNELS_SOURCE = `// Fused bias + activation, in place, over the rows of an f32 matrix x in the backend's memory (serving, eval mode):
// row i·nB + j (i < nA, j < nB) gets the bias A[i·sA + c] + B[j·sB + c] (strides in elements), then the activation.
// exp: Cephes expf (ln2 range reduction in two parts, degree-5 minimax polynomial, 2^k built in the exponent bits),
// inputs clamped to [-87, 88] so 2^k stays a normal float; relative error ~3e-7 on Dice's output.

// The vector constants live in memory (a table the caller fills once, see CONSTANTS): V8 materializes each v128.const
// with several instructions at every use (no loop-invariant hoisting), which made the polynomial ~3× slower.
@inline function exp4(t: v128, k0: usize): v128 {
  t = f32x4.pmin(f32x4.pmax(t, v128.load(k0)), v128.load(k0, 16));
  // Round t·log2(e) to the nearest integer k by adding 1.5·2^23: the sum's low mantissa bits then hold k.
  const kk = f32x4.add(f32x4.mul(t, v128.load(k0, 32)), v128.load(k0, 48));
  const k = f32x4.sub(kk, v128.load(k0, 48));
  let r = f32x4.sub(t, f32x4.mul(k, v128.load(k0, 64)));
  r = f32x4.sub(r, f32x4.mul(k, v128.load(k0, 80)));
  let p = v128.load(k0, 96);
  p = f32x4.add(f32x4.mul(p, r), v128.load(k0, 112));
  p = f32x4.add(f32x4.mul(p, r), v128.load(k0, 128));
  p = f32x4.add(f32x4.mul(p, r), v128.load(k0, 144));
  p = f32x4.add(f32x4.mul(p, r), v128.load(k0, 160));
  p = f32x4.add(f32x4.mul(p, r), v128.load(k0, 176));
  p = f32x4.add(f32x4.add(f32x4.mul(p, f32x4.mul(r, r)), r), v128.load(k0, 192));
  // 2^k: (bits(kk) + 127) << 23 keeps only (k + 127) in the exponent field (the bits of 1.5·2^23 shift out).
  return f32x4.mul(p, i32x4.shl(i32x4.add(kk, v128.load(k0, 208)), 23));
}

@inline function exp1(t: f32): f32 {
  t = min(max(t, <f32>-87.0), <f32>88.0);
  const k = nearest<f32>(t * <f32>1.44269504088896341);
  let r = t - k * <f32>0.693359375;
  r = r - k * <f32>-2.12194440e-4;
  let p: f32 = 1.9875691500e-4;
  p = p * r + <f32>1.3981999507e-3;
  p = p * r + <f32>8.3334519073e-3;
  p = p * r + <f32>4.1665795894e-2;
  p = p * r + <f32>1.6666665459e-1;
  p = p * r + <f32>5.0000001201e-1;
  p = p * (r * r) + r + <f32>1.0;
  return p * reinterpret<f32>((<i32>k + 127) << 23);
}

@inline function sig4(z: v128, k0: usize): v128 {
  const one = v128.load(k0, 192);
  return f32x4.div(one, f32x4.add(one, exp4(f32x4.neg(z), k0)));
}

@inline function sig1(z: f32): f32 {
  return <f32>1.0 / (<f32>1.0 + exp1(-z));
}

// kind: 0 = bias only, 1 = PReLU (p0 = α), 2 = Dice (p0 = mean, p1 = 1/sqrt(var + ε), p2 = α, p3 = 1 − α), 3 = sigmoid.
@inline function act(kind: i32, x: usize, nA: i32, nB: i32, C: i32, A: usize, sA: i32, B: usize, sB: i32,
  p0: usize, p1: usize, p2: usize, p3: usize, k0: usize): void {
  const C4 = C & ~3;
  let row = x;
  for (let i = 0; i < nA; i++) {
    const a = A + ((<usize>i * <usize>sA) << 2);
    for (let j = 0; j < nB; j++) {
      const b = B + ((<usize>j * <usize>sB) << 2);
      let c = 0;
      for (; c < C4; c += 4) {
        const o = <usize>c << 2;
        const v = f32x4.add(v128.load(row + o), f32x4.add(v128.load(a + o), v128.load(b + o)));
        let y: v128;
        if (kind == 2) {
          const z = f32x4.mul(f32x4.sub(v, v128.load(p0 + o)), v128.load(p1 + o));
          y = f32x4.mul(v, f32x4.add(v128.load(p2 + o), f32x4.mul(v128.load(p3 + o), sig4(z, k0))));
        } else if (kind == 1) {
          y = f32x4.add(f32x4.pmax(v, v128.load(k0, 224)), f32x4.mul(v128.load(p0 + o), f32x4.pmin(v, v128.load(k0, 224))));
        } else if (kind == 3) {
          y = sig4(v, k0);
        } else {
          y = v;
        }
        v128.store(row + o, y);
      }
      for (; c < C; c++) {
        const o = <usize>c << 2;
        const v = load<f32>(row + o) + (load<f32>(a + o) + load<f32>(b + o));
        let y: f32;
        if (kind == 2) {
          const z = (v - load<f32>(p0 + o)) * load<f32>(p1 + o);
          y = v * (load<f32>(p2 + o) + load<f32>(p3 + o) * sig1(z));
        } else if (kind == 1) {
          y = max(v, <f32>0) + load<f32>(p0 + o) * min(v, <f32>0);
        } else if (kind == 3) {
          y = sig1(v);
        } else {
          y = v;
        }
        store<f32>(row + o, y);
      }
      row += <usize>C << 2;
    }
  }
}

export function biasRows(x: usize, nA: i32, nB: i32, C: i32, A: usize, sA: i32, B: usize, sB: i32): void {
  act(0, x, nA, nB, C, A, sA, B, sB, 0, 0, 0, 0, 0);
}

export function preluRows(x: usize, nA: i32, nB: i32, C: i32, A: usize, sA: i32, B: usize, sB: i32, alpha: usize, k0: usize): void {
  act(1, x, nA, nB, C, A, sA, B, sB, alpha, 0, 0, 0, k0);
}

export function diceRows(x: usize, nA: i32, nB: i32, C: i32, A: usize, sA: i32, B: usize, sB: i32, mean: usize,
  inv: usize, alpha: usize, alpha1: usize, k0: usize): void {
  act(2, x, nA, nB, C, A, sA, B, sB, mean, inv, alpha, alpha1, k0);
}

export function sigmoidRows(x: usize, nA: i32, nB: i32, C: i32, A: usize, sA: i32, B: usize, sB: i32, k0: usize): void {
  act(3, x, nA, nB, C, A, sA, B, sB, 0, 0, 0, 0, k0);
}

// Rows i·nB + j (i < nA, j < nB) of out [nA·nB × D] ← Q[i·D …] ⊙ K[j·D …] (DIN's q ⊙ k per candidate, behaviour).
export function pairProducts(out: usize, Q: usize, nA: i32, K: usize, nB: i32, D: i32): void {
  const D4 = D & ~3;
  const rowBytes = <usize>D << 2;
  let o = out;
  for (let i = 0; i < nA; i++) {
    const q = Q + <usize>i * rowBytes;
    let k = K;
    for (let j = 0; j < nB; j++) {
      let d = 0;
      for (; d < D4; d += 4) {
        const b = <usize>d << 2;
        v128.store(o + b, f32x4.mul(v128.load(q + b), v128.load(k + b)));
      }
      for (; d < D; d++) {
        const b = <usize>d << 2;
        store<f32>(o + b, load<f32>(q + b) * load<f32>(k + b));
      }
      o += rowBytes;
      k += rowBytes;
    }
  }
}
`;

export const ACT_KERNELS_WASM =
  'AGFzbQEAAAABPgVgCX9/f39/f39/fwBgCn9/f39/f39/f38AYAZ/f39/f38AYA1/f39/f39/f39/f39/AGAIf39/f39/f38AAg8BA2VudgZtZW1vcnkC' +
  'AAADBgUAAQIDBAdABQhiaWFzUm93cwAECXByZWx1Um93cwABCGRpY2VSb3dzAAMLc2lnbW9pZFJvd3MAAAxwYWlyUHJvZHVjdHMAAgquDwXABAMEewJ9' +
  'CH8gA0F8cSEUA0AgASARSgRAIAQgBSARbEECdGohEkEAIRADQCACIBBKBEAgBiAHIBBsQQJ0aiETQQAhDwNAIA8gFEgEQCAPQQJ0IhUgAGoiFv0ABAAg' +
  'EiAVav0ABAAgEyAVav0ABAD95AH95AH94QEgCP0ABAD96wEgCP0ABBD96gEiCyAI/QAEIP3mASAI/QAEMCIK/eQBIgkgCv3lASEKIBYgCP0ABMABIgwg' +
  'DCAI/QAEYCALIAogCP0ABED95gH95QEgCiAI/QAEUP3mAf3lASIK/eYBIAj9AARw/eQBIAr95gEgCP0ABIAB/eQBIAr95gEgCP0ABJAB/eQBIAr95gEg' +
  'CP0ABKAB/eQBIAr95gEgCP0ABLAB/eQBIAogCv3mAf3mASAK/eQBIAz95AEgCSAI/QAE0AH9rgFBF/2rAf3mAf3kAf3nAf0LBAAgD0EEaiEPDAELCwNA' +
  'IAMgD0oEQCAPQQJ0IhUgAGoiFioCACASIBVqKgIAIBMgFWoqAgCSkoxDAACuwpdDAACwQpYiDkM7qrg/lJAhDSAWQwAAgD8gDiANQwCAMT+UkyANQ4OA' +
  'XrmUkyIOQ2dpUDmUQ85DtzqSIA6UQwiJCDySIA6UQ8GpKj2SIA6UQ6qqKj6SIA6UQwAAAD+SIA4gDpSUIA6SQwAAgD+SIA38AEH/AGpBF3S+lEMAAIA/' +
  'kpU4AgAgD0EBaiEPDAELCyAAIANBAnRqIQAgEEEBaiEQDAELCyARQQFqIREMAQsLC6ECAwh/AnsBfSADQXxxIQ8DQCABIAxKBEAgBCAFIAxsQQJ0aiEN' +
  'QQAhCwNAIAIgC0oEQCAGIAcgC2xBAnRqIQ5BACEKA0AgCiAPSARAIApBAnQiECAAaiIR/QAEACANIBBq/QAEACAOIBBq/QAEAP3kAf3kASESIBEgEiAJ' +
  '/QAE4AEiE/3rASAIIBBq/QAEACASIBP96gH95gH95AH9CwQAIApBBGohCgwBCwsDQCADIApKBEAgCkECdCIQIABqIhEqAgAgDSAQaioCACAOIBBqKgIA' +
  'kpIhFCARIBRDAAAAAJcgCCAQaioCACAUQwAAAACWlJI4AgAgCkEBaiEKDAELCyAAIANBAnRqIQAgC0EBaiELDAELCyAMQQFqIQwMAQsLC8cBAQh/IAVB' +
  'fHEhDCAFQQJ0IQgDQCACIAlKBEAgASAIIAlsaiELIAMhBkEAIQoDQCAEIApKBEBBACEHA0AgByAMSARAIAdBAnQiDSAAaiALIA1q/QAEACAGIA1q/QAE' +
  'AP3mAf0LBAAgB0EEaiEHDAELCwNAIAUgB0oEQCAHQQJ0Ig0gAGogCyANaioCACAGIA1qKgIAlDgCACAHQQFqIQcMAQsLIAAgCGohACAGIAhqIQYgCkEB' +
  'aiEKDAELCyAJQQFqIQkMAQsLC6AFAwR7A30IfyADQXxxIRkDQCABIBZKBEAgBCAFIBZsQQJ0aiEXQQAhFQNAIAIgFUoEQCAGIAcgFWxBAnRqIRhBACEU' +
  'A0AgFCAZSARAIAAgFEECdCIaaiIb/QAEACAXIBpq/QAEACAYIBpq/QAEAP3kAf3kASIOIAggGmr9AAQA/eUBIAkgGmr9AAQA/eYB/eEBIAz9AAQA/esB' +
  'IAz9AAQQ/eoBIg8gDP0ABCD95gEgDP0ABDAiEP3kASINIBD95QEhECAbIA4gCiAaav0ABAAgCyAaav0ABAAgDP0ABMABIg4gDiAM/QAEYCAPIBAgDP0A' +
  'BED95gH95QEgECAM/QAEUP3mAf3lASIP/eYBIAz9AARw/eQBIA/95gEgDP0ABIAB/eQBIA/95gEgDP0ABJAB/eQBIA/95gEgDP0ABKAB/eQBIA/95gEg' +
  'DP0ABLAB/eQBIA8gD/3mAf3mASAP/eQBIA795AEgDSAM/QAE0AH9rgFBF/2rAf3mAf3kAf3nAf3mAf3kAf3mAf0LBAAgFEEEaiEUDAELCwNAIAMgFEoE' +
  'QCAAIBRBAnQiGmoiGyoCACAXIBpqKgIAIBggGmoqAgCSkiITIAggGmoqAgCTIAkgGmoqAgCUjEMAAK7Cl0MAALBCliISQzuquD+UkCERIBsgEyAKIBpq' +
  'KgIAIAsgGmoqAgBDAACAPyASIBFDAIAxP5STIBFDg4BeuZSTIhJDZ2lQOZRDzkO3OpIgEpRDCIkIPJIgEpRDwakqPZIgEpRDqqoqPpIgEpRDAAAAP5Ig' +
  'EiASlJQgEpJDAACAP5IgEfwAQf8AakEXdL6UQwAAgD+SlZSSlDgCACAUQQFqIRQMAQsLIAAgA0ECdGohACAVQQFqIRUMAQsLIBZBAWohFgwBCwsL2wEB' +
  'CH8gA0F8cSENA0AgASAKSgRAIAQgBSAKbEECdGohC0EAIQkDQCACIAlKBEAgBiAHIAlsQQJ0aiEMQQAhCANAIAggDUgEQCAIQQJ0Ig4gAGoiDyAP/QAE' +
  'ACALIA5q/QAEACAMIA5q/QAEAP3kAf3kAf0LBAAgCEEEaiEIDAELCwNAIAMgCEoEQCAIQQJ0Ig4gAGoiDyAPKgIAIAsgDmoqAgAgDCAOaioCAJKSOAIA' +
  'IAhBAWohCAwBCwsgACADQQJ0aiEAIAlBAWohCQwBCwsgCkEBaiEKDAELCws=';

interface Exports {
  biasRows(x: number, nA: number, nB: number, C: number, A: number, sA: number, B: number, sB: number): void;
  preluRows(x: number, nA: number, nB: number, C: number, A: number, sA: number, B: number, sB: number, alpha: number,
    k0: number): void;
  diceRows(x: number, nA: number, nB: number, C: number, A: number, sA: number, B: number, sB: number, mean: number,
    inv: number, alpha: number, alpha1: number, k0: number): void;
  sigmoidRows(x: number, nA: number, nB: number, C: number, A: number, sA: number, B: number, sB: number, k0: number): void;
  pairProducts(out: number, Q: number, nA: number, K: number, nB: number, D: number): void;
}

/** The kernels instantiated on one WasmBackend's memory, with their constant table. */
export class ActKernels {
  readonly k: Exports;
  /** Address of the constant table (16 f32x4 rows, see the source). */
  readonly consts: number;
  private readonly buffer: ArrayBuffer;

  private constructor(backend: WasmBackend) {
    this.k = new WebAssembly.Instance(module(), { env: { memory: backend.memory } }).exports as unknown as Exports;
    this.buffer = backend.memory.buffer;
    const t = backend.alloc(64);
    const rows = [-87, 88, Math.LOG2E, 12582912, 0.693359375, -2.12194440e-4, 1.9875691500e-4, 1.3981999507e-3,
      8.3334519073e-3, 4.1665795894e-2, 1.6666665459e-1, 5.0000001201e-1, 1, 0, 0, 0];
    rows.forEach((v, i) => t.fill(v, 4 * i, 4 * i + 4));
    new Int32Array(t.buffer, t.byteOffset + 13 * 16, 4).fill(127);
    this.consts = t.byteOffset;
  }

  /** The kernels for this backend, or null (not a WasmBackend: the caller uses its JS loops). */
  static for(backend: Backend): ActKernels | null {
    if (!(backend instanceof WasmBackend)) return null;
    let k = cache.get(backend);
    if (!k) {
      k = new ActKernels(backend);
      cache.set(backend, k);
    }
    return k;
  }

  /** Address of element `i` of a Float32Array view of this memory (throws for any other array). */
  ptr(a: Float, i: number, need: number): number {
    if (a.buffer !== this.buffer || !(a instanceof Float32Array)) throw new TypeError('serving kernels: operand is not an array of the backend memory');
    if (i < 0 || i + need > a.length) throw new RangeError(`serving kernels: ${need} elements from ${i} exceed an array of ${a.length}`);
    return a.byteOffset + 4 * i;
  }
}

const cache = new WeakMap<WasmBackend, ActKernels>();
let compiled: WebAssembly.Module | null = null;

function module(): WebAssembly.Module {
  return (compiled ??= new WebAssembly.Module(Buffer.from(ACT_KERNELS_WASM, 'base64')));
}
