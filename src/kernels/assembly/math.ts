// exp and sigmoid on f32 lanes, shared by the training activations (./activations.ts) and the eval-mode kernels
// (./eval.ts): one polynomial for every path, so serving and training compute the same function.

// exp/sigmoid constants, one f32x4 splat each. They live in memory rather than in v128.const: V8 materializes a
// v128.const with several instructions at every use inside a loop, which made the polynomial ~3× slower (measured
// when the serving engine had its own copy of it: Cephes expf, ln2 range reduction in two parts, degree-5 minimax
// polynomial, 2^k built in the exponent bits, inputs clamped to [-87, 88] so 2^k stays a normal float).
// The table sits at the start of the scratch region the JS side hands over (see scratch.ts), not in a data segment,
// which every instantiation would rewrite with zeros under any other instance sharing the memory.
export let KT: usize = 0;
export const ACT_CONSTANT_BYTES: i32 = 256;
const K_LO = 0;
const K_HI = 16;
const K_LOG2E = 32;
const K_ROUND = 48;
const K_LN2HI = 64;
const K_LN2LO = 80;
const K_P0 = 96;
export const K_ONE = 192;
const K_BIAS = 208;
export const K_ZERO = 224;

export function setConstants(ptr: usize): void {
  KT = ptr;
  v128.store(KT + K_LO, f32x4.splat(-87.0));
  v128.store(KT + K_HI, f32x4.splat(88.0));
  v128.store(KT + K_LOG2E, f32x4.splat(1.44269504088896341));
  v128.store(KT + K_ROUND, f32x4.splat(12582912.0)); // 1.5·2^23
  v128.store(KT + K_LN2HI, f32x4.splat(0.693359375));
  v128.store(KT + K_LN2LO, f32x4.splat(-2.12194440e-4));
  v128.store(KT + K_P0, f32x4.splat(1.9875691500e-4));
  v128.store(KT + K_P0 + 16, f32x4.splat(1.3981999507e-3));
  v128.store(KT + K_P0 + 32, f32x4.splat(8.3334519073e-3));
  v128.store(KT + K_P0 + 48, f32x4.splat(4.1665795894e-2));
  v128.store(KT + K_P0 + 64, f32x4.splat(1.6666665459e-1));
  v128.store(KT + K_P0 + 80, f32x4.splat(5.0000001201e-1));
  v128.store(KT + K_ONE, f32x4.splat(1.0));
  v128.store(KT + K_BIAS, i32x4.splat(127));
  v128.store(KT + K_ZERO, f32x4.splat(0.0));
}

// @ts-ignore: decorator
@inline export function exp4(t: v128): v128 {
  const k0 = KT;
  t = f32x4.pmin(f32x4.pmax(t, v128.load(k0, K_LO)), v128.load(k0, K_HI));
  // Round t·log2(e) to the nearest integer k by adding 1.5·2^23: the sum's low mantissa bits then hold k.
  const kk = f32x4.add(f32x4.mul(t, v128.load(k0, K_LOG2E)), v128.load(k0, K_ROUND));
  const k = f32x4.sub(kk, v128.load(k0, K_ROUND));
  let r = f32x4.sub(t, f32x4.mul(k, v128.load(k0, K_LN2HI)));
  r = f32x4.sub(r, f32x4.mul(k, v128.load(k0, K_LN2LO)));
  let p = v128.load(k0, K_P0);
  p = f32x4.add(f32x4.mul(p, r), v128.load(k0, K_P0 + 16));
  p = f32x4.add(f32x4.mul(p, r), v128.load(k0, K_P0 + 32));
  p = f32x4.add(f32x4.mul(p, r), v128.load(k0, K_P0 + 48));
  p = f32x4.add(f32x4.mul(p, r), v128.load(k0, K_P0 + 64));
  p = f32x4.add(f32x4.mul(p, r), v128.load(k0, K_P0 + 80));
  p = f32x4.add(f32x4.add(f32x4.mul(p, f32x4.mul(r, r)), r), v128.load(k0, K_ONE));
  // 2^k: (bits(kk) + 127) << 23 keeps only (k + 127) in the exponent field (the bits of 1.5·2^23 shift out).
  return f32x4.mul(p, i32x4.shl(i32x4.add(kk, v128.load(k0, K_BIAS)), 23));
}

// @ts-ignore: decorator
@inline export function exp1(t: f32): f32 {
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

// @ts-ignore: decorator
@inline export function sig4(z: v128): v128 {
  const one = v128.load(KT, K_ONE);
  return f32x4.div(one, f32x4.add(one, exp4(f32x4.neg(z))));
}

// @ts-ignore: decorator
@inline export function sig1(z: f32): f32 {
  return <f32>1.0 / (<f32>1.0 + exp1(-z));
}

