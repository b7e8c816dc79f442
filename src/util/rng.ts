/** The increment of mulberry32's state per draw. */
const STEP = 0x6d2b79f5;

/** mulberry32's output for a state (the state after the increment), in [0, 1). */
function mix(state: number): number {
  let t = state;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}

/** A 32-bit avalanche of x (splitmix-style finalizer). */
function hash32(x: number): number {
  let z = (x >>> 0) + 0x9e3779b9;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}

/**
 * Draw number `k` (0-based) of a generator whose state was `state0`: `new Rng` at that state, then k+1 calls of
 * `next()` return this as the last one. The state advances by a constant per draw, so any draw is reachable in O(1):
 * this is what makes an embedding row's initial value computable on its own (a row admitted lazily by a store gets
 * exactly the value the in-memory table gave it). Draws past 2^32 (where the 32-bit state would wrap and repeat)
 * continue from a state derived from the block number, so a huge table never repeats its initial values.
 */
export function drawAt(state0: number, k: number): number {
  const block = Math.floor(k / 4294967296);
  const base = block === 0 ? state0 : hash32((state0 ^ Math.imul(block, 0x27d4eb2f)) >>> 0);
  const lo = k - block * 4294967296;
  // (base + (lo + 1)·STEP) mod 2^32 without losing bits: split lo + 1 into 16-bit halves.
  const n = lo + 1;
  const hi16 = Math.floor(n / 65536);
  const lo16 = n - hi16 * 65536;
  const st = (base + Math.imul(lo16, STEP) + Math.imul(Math.imul(hi16, STEP), 65536)) >>> 0;
  return mix(st);
}

/**
 * Standard normal number `i` of a generator whose state was `state0`, as `Rng.normal()` draws them one after the
 * other (Box–Muller on draws 2i and 2i+1). The one difference: where `normal()` would reject a first draw of exactly
 * 0 (probability 2^-32) and draw again, shifting every later value, this takes 2^-33 instead, so value i never
 * depends on the values before it.
 */
export function normalAt(state0: number, i: number): number {
  let u = drawAt(state0, 2 * i);
  if (u === 0) u = 2 ** -33;
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * drawAt(state0, 2 * i + 1));
}

/** Seeded PRNG (mulberry32 step over a 32-bit state, splitmix-style seeding). Every random choice takes one. */
export class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = hash32(seed);
  }
  /** The generator's current state: `drawAt(state, k)` is the (k+1)-th `next()` from here. */
  get state(): number {
    return this.s;
  }
  /** A generator continuing from a saved {@link Rng.state}. */
  static fromState(state: number): Rng {
    const r = new Rng(0);
    r.s = state >>> 0;
    return r;
  }
  /** Uniform in [0, 1). */
  next(): number {
    this.s = (this.s + STEP) >>> 0;
    return mix(this.s);
  }
  /** Integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  /** Standard normal (Box–Muller). */
  normal(): number {
    let u = 0;
    while (u === 0) u = this.next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * this.next());
  }
  /** In-place Fisher–Yates shuffle. */
  shuffle<T extends { length: number; [i: number]: any }>(a: T): T {
    for (let i = a.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const x = a[i];
      a[i] = a[j];
      a[j] = x;
    }
    return a;
  }
  /** A derived generator, so sub-tasks get independent but reproducible streams. */
  fork(salt: number): Rng {
    return new Rng(Math.floor(this.next() * 4294967296) ^ salt);
  }
}
