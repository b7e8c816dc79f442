import v8 from 'node:v8';

/**
 * Node 20 implements relaxed SIMD (FMA) behind a V8 flag; newer Node has it on by default. Turning the flag on before
 * any WASM is compiled lets the kernel loader pick the faster build wherever the engine implements it.
 * DIN_WASM_RELAXED=0 opts out (the loader then uses the plain SIMD build).
 */
export function enableRelaxedSimd(): void {
  if (process.env.DIN_WASM_RELAXED === '0') return;
  v8.setFlagsFromString('--experimental-wasm-relaxed-simd');
}
