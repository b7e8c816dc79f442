import { test } from 'node:test';
import assert from 'node:assert/strict';
import { backendInfo, createBackend } from '../../src/kernels/backends.js';
import { WasmBackend } from '../../src/kernels/wasm-backend.js';
import { JsBackend } from '../../src/kernels/js-backend.js';

test('createBackend kinds', () => {
  const saved = process.env.DIN_BACKEND;
  try {
    delete process.env.DIN_BACKEND;
    const auto = createBackend();
    assert.ok(auto instanceof WasmBackend);
    assert.equal(auto.dtype, 'float32');
    assert.ok(createBackend('wasm', { memoryMB: 16 }) instanceof WasmBackend);
    const js = createBackend('js');
    assert.ok(js instanceof JsBackend);
    assert.equal(js.dtype, 'float64');
    assert.equal(createBackend('js-f32').dtype, 'float32');
    assert.throws(() => createBackend('gpu' as never), /unknown backend/);
    process.env.DIN_BACKEND = 'js';
    assert.ok(createBackend() instanceof JsBackend);
    assert.ok(createBackend('wasm', { memoryMB: 16 }) instanceof WasmBackend, 'an explicit kind wins over the env');
    process.env.DIN_BACKEND = 'nope';
    assert.throws(() => createBackend(), /DIN_BACKEND=nope/);
  } finally {
    if (saved === undefined) delete process.env.DIN_BACKEND;
    else process.env.DIN_BACKEND = saved;
  }
});

test('backendInfo', () => {
  if (!process.env.DIN_BACKEND) assert.match(backendInfo(), /^wasm-(relaxed-)?simd$/);
  assert.match(backendInfo(createBackend('wasm', { memoryMB: 16 })), /^wasm-(relaxed-)?simd, 16 MiB arena$/);
  assert.equal(backendInfo(createBackend('js')), 'js-f64 (float64)');
  assert.equal(backendInfo('js-f32'), 'js-f32');
});
