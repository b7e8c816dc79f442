import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeSafetensors, encodeSafetensors } from '../../src/checkpoint/safetensors.js';

test('safetensors round-trips F32 and F64 bit for bit, with metadata', () => {
  const a = Float32Array.from([1.5, -2.25, Math.PI, 1e-30, -0]);
  const b = Float64Array.from([Math.E, 1 / 3]);
  const buf = encodeSafetensors({ 'x.w': { shape: [5], data: a }, y: { shape: [2, 1], data: b } }, { k: 'v' });
  const n = Number(buf.readBigUInt64LE(0));
  assert.equal((8 + n) % 8, 0, 'data section is 8-byte aligned');
  const header = JSON.parse(buf.subarray(8, 8 + n).toString());
  assert.deepEqual(header['x.w'], { dtype: 'F32', shape: [5], data_offsets: [0, 20] });
  assert.deepEqual(header.y, { dtype: 'F64', shape: [2, 1], data_offsets: [20, 36] });
  const { tensors, metadata } = decodeSafetensors(buf);
  assert.deepEqual(metadata, { k: 'v' });
  assert.deepEqual(new Uint8Array(tensors['x.w'].data.buffer), new Uint8Array(a.buffer));
  assert.ok(tensors.y.data instanceof Float64Array);
  assert.deepEqual(Array.from(tensors.y.data), Array.from(b));
});

test('safetensors rejects shape mismatches and truncated files with a clear error', () => {
  assert.throws(() => encodeSafetensors({ w: { shape: [3], data: new Float32Array(2) } }), /"w" has 2 values but shape \[3\]/);
  const buf = encodeSafetensors({ w: { shape: [4], data: new Float32Array(4) } });
  assert.throws(() => decodeSafetensors(buf.subarray(0, buf.length - 4), 'f.safetensors'), /f\.safetensors: tensor "w"/);
  assert.throws(() => decodeSafetensors(Buffer.alloc(4), 'g'), /g: file too short/);
});
