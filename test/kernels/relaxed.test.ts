// The relaxed-SIMD (FMA) build. Node 20 accepts it only with --experimental-wasm-relaxed-simd, so the whole kernel
// suite is re-run in a child process with that flag, and the selection logic is checked in both directions.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { WasmBackend, relaxedSimdSupported, wasmDir } from '../../src/kernels/wasm-backend.js';

const here = fileURLToPath(new URL('.', import.meta.url));
const FLAG = '--experimental-wasm-relaxed-simd';

function hasRelaxedMadd(bytes: Uint8Array): boolean {
  // f32x4.relaxed_madd = 0xfd 0x105 (LEB128: 0x85 0x02)
  for (let i = 0; i + 2 < bytes.length; i++) {
    if (bytes[i] === 0xfd && bytes[i + 1] === 0x85 && bytes[i + 2] === 0x02) return true;
  }
  return false;
}

test('the relaxed build uses relaxed_madd and the plain build does not', () => {
  assert.ok(hasRelaxedMadd(readFileSync(join(wasmDir(), 'kernels-relaxed.wasm'))));
  assert.ok(!hasRelaxedMadd(readFileSync(join(wasmDir(), 'kernels-simd.wasm'))));
});

test('selection follows engine support', () => {
  const supported = relaxedSimdSupported();
  if (process.version.startsWith('v20.') && !process.execArgv.includes(FLAG)) assert.equal(supported, false);
  const auto = new WasmBackend({ memoryMB: 16 });
  assert.equal(auto.name, supported ? 'wasm-relaxed-simd' : 'wasm-simd');
  assert.equal(new WasmBackend({ memoryMB: 16, relaxed: false }).name, 'wasm-simd');
  if (!supported) {
    assert.throws(() => new WasmBackend({ memoryMB: 16, relaxed: true }), /experimental-wasm-relaxed-simd/);
  }
});

test('plain SIMD never fuses: a·b + c is rounded twice', () => {
  // acc = round(a0·b0) = −(1+2⁻¹¹); then a1·b1 = 1 + 2⁻¹¹ + 2⁻²⁴ rounds (ties-to-even) to 1 + 2⁻¹¹, so the sum is 0;
  // a fused multiply-add keeps the 2⁻²⁴.
  const w = new WasmBackend({ memoryMB: 16, relaxed: false });
  // N = 2 (two equal columns) so the product goes through the register-blocked micro-kernel.
  const A = w.alloc(2), B = w.alloc(4), C = w.alloc(2);
  A.set([-(1 + 2 ** -11), 1 + 2 ** -12]);
  B.set([1, 1, 1 + 2 ** -12, 1 + 2 ** -12]);
  w.gemm(false, false, 1, 2, 2, 1, A, B, 0, C);
  assert.deepEqual(Array.from(C), [0, 0]);
});

test('kernel suite passes on the relaxed build (child process with ' + FLAG + ')', { timeout: 60_000 }, (t) => {
  // Without NODE_TEST_CONTEXT the child reports plain TAP instead of the runner's internal protocol.
  const env: NodeJS.ProcessEnv = { ...process.env, DIN_KERNEL_TEST_EXPECT: 'wasm-relaxed-simd', DIN_WASM_RELAXED: '' };
  delete env.NODE_TEST_CONTEXT;
  const child = spawnSync(process.execPath, [FLAG, '--test-reporter=tap', join(here, 'wasm-backend.test.js')], {
    env,
    encoding: 'utf8',
  });
  const out = `${child.stdout}\n${child.stderr}`;
  for (const line of out.split('\n')) if (/^# wasm-relaxed-simd /.test(line)) t.diagnostic(line.slice(2));
  assert.equal(child.status, 0, `relaxed-SIMD kernel suite failed:\n${out}`);
  assert.match(out, /# pass \d+/);
  assert.match(out, /# fail 0/);
  // The FMA build on FMA hardware keeps the 2⁻²⁴ of the test above; report it (not asserted: relaxed_madd may
  // legally be unfused on hardware without FMA).
  const probe = spawnSync(process.execPath, [FLAG, '--input-type=module', '-e', `
    import { WasmBackend } from ${JSON.stringify(new URL('../../src/kernels/wasm-backend.js', import.meta.url).href)};
    const w = new WasmBackend({ memoryMB: 16, relaxed: true });
    const A = w.alloc(2), B = w.alloc(4), C = w.alloc(2);
    A.set([-(1 + 2 ** -11), 1 + 2 ** -12]); B.set([1, 1, 1 + 2 ** -12, 1 + 2 ** -12]);
    w.gemm(false, false, 1, 2, 2, 1, A, B, 0, C);
    console.log(C[0] === 2 ** -24 ? 'fused' : C[0] === 0 ? 'unfused' : 'wrong ' + C[0]);
  `], { encoding: 'utf8', env });
  assert.equal(probe.status, 0, probe.stderr);
  assert.match(probe.stdout, /^(fused|unfused)/);
  t.diagnostic(`relaxed_madd on this machine: ${probe.stdout.trim()}`);
});

test('eval-mode kernels pass on the relaxed build too (child process with ' + FLAG + ')', { timeout: 60_000 }, (t) => {
  const env: NodeJS.ProcessEnv = { ...process.env, DIN_WASM_RELAXED: '' };
  delete env.NODE_TEST_CONTEXT;
  const child = spawnSync(process.execPath, [FLAG, '--test-reporter=tap', join(here, 'eval.test.js')], { env, encoding: 'utf8' });
  const out = `${child.stdout}\n${child.stderr}`;
  for (const line of out.split('\n')) if (/^# wasm-relaxed-simd /.test(line)) t.diagnostic(line.slice(2));
  assert.equal(child.status, 0, `relaxed-SIMD eval kernel suite failed:\n${out}`);
  assert.match(out, /wasm-relaxed-simd: evalActivationGrid matches/);
  assert.match(out, /# fail 0/);
});
