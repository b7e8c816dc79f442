import type { Backend } from './backend.js';
import { JsBackend } from './js-backend.js';
import { WasmBackend, resolveVariant, simdSupported, type WasmBackendOptions } from './wasm-backend.js';

/**
 * Which backend `createBackend` makes: `wasm` (float32 SIMD kernels, the fast path), `js` (float64 reference),
 * `js-f32` (plain TS in float32) or `auto` (env `DIN_BACKEND` if set, else `wasm` where the engine has WASM SIMD,
 * else `js-f32`).
 */
export type BackendKind = 'wasm' | 'js' | 'js-f32' | 'auto';

const KINDS: readonly BackendKind[] = ['wasm', 'js', 'js-f32', 'auto'];

/**
 * The one place backends are made.
 *  - 'wasm':   WasmBackend (float32 SIMD kernels; relaxed SIMD where the engine supports it)
 *  - 'js':     JsBackend float64 (reference, gradient checks)
 *  - 'js-f32': JsBackend float32
 *  - 'auto':   env DIN_BACKEND if set, else 'wasm' where the engine has WASM SIMD, else 'js-f32'.
 * A missing wasm build is an error (run `npm run build:wasm`), not a silent fallback.
 * Each call returns a new backend: arrays of one backend cannot be passed to another, so create one per model.
 */
export function createBackend(kind: BackendKind = 'auto', opts: WasmBackendOptions = {}): Backend {
  const k = resolveKind(kind);
  switch (k) {
    case 'wasm':
      return new WasmBackend(opts);
    case 'js':
      return new JsBackend('float64');
    case 'js-f32':
      return new JsBackend('float32');
  }
}

function resolveKind(kind: BackendKind): Exclude<BackendKind, 'auto'> {
  if (!KINDS.includes(kind)) throw new Error(`unknown backend "${kind}" (expected one of ${KINDS.join(', ')})`);
  if (kind !== 'auto') return kind;
  const env = process.env.DIN_BACKEND;
  if (env) {
    if (!KINDS.includes(env as BackendKind)) {
      throw new Error(`DIN_BACKEND=${env} is not a backend (expected one of ${KINDS.join(', ')})`);
    }
    if (env !== 'auto') return env as Exclude<BackendKind, 'auto'>;
  }
  return simdSupported() ? 'wasm' : 'js-f32';
}

/** How to make another backend like `backend` (for a replica of a model in a worker thread). */
export interface BackendSpec {
  kind: Exclude<BackendKind, 'auto'>;
  wasm?: WasmBackendOptions;
}

export function backendSpec(backend: Backend): BackendSpec {
  if (backend instanceof WasmBackend) {
    return { kind: 'wasm', wasm: { relaxed: backend.name === 'wasm-relaxed-simd', memoryMB: backend.memoryMB } };
  }
  if (backend instanceof JsBackend) return { kind: backend.dtype === 'float64' ? 'js' : 'js-f32' };
  throw new Error(`backend ${backend.name} cannot be replicated in a worker thread (expected a WasmBackend or JsBackend)`);
}

export function createBackendFromSpec(spec: BackendSpec): Backend {
  return createBackend(spec.kind, spec.wasm ?? {});
}

/**
 * A short description for logs: of `backend` when given (e.g. "wasm-relaxed-simd, 1024 MiB arena"), otherwise of what
 * `createBackend(kind)` would return here (e.g. "wasm-simd").
 */
export function backendInfo(backend?: Backend | BackendKind): string {
  if (backend instanceof WasmBackend) return `${backend.name}, ${backend.memoryMB} MiB arena`;
  if (backend !== undefined && typeof backend !== 'string') return `${backend.name} (${backend.dtype})`;
  const k = resolveKind(backend ?? 'auto');
  if (k === 'wasm') return resolveVariant('auto') === 'relaxed' ? 'wasm-relaxed-simd' : 'wasm-simd';
  if (k === 'js') return 'js-f64';
  return simdSupported() ? 'js-f32' : 'js-f32 (engine has no WASM SIMD)';
}
