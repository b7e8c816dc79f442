// The WASM arena allocator: alignment, zeroing, reuse after free, coalescing, OOM, misuse (RSS of a large untouched
// arena is measured in bench/gemm.ts, not asserted here). Plus a randomized alloc/free run checked against an independent model of the live blocks.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Arena } from '../../src/kernels/arena.js';
import { WasmBackend } from '../../src/kernels/wasm-backend.js';
import { Rng } from '../../src/util/rng.js';

test('allocations are 16-byte aligned, disjoint and zeroed', () => {
  const w = new WasmBackend({ memoryMB: 16 });
  const arrays: (Float32Array | Int32Array)[] = [];
  for (const n of [0, 1, 3, 4, 5, 17, 64, 1000, 3]) {
    const a = n % 2 ? w.allocInt(n) : w.alloc(n);
    assert.equal(a.length, n);
    assert.equal(a.byteOffset % 16, 0, `n=${n} offset ${a.byteOffset}`);
    assert.ok(a.byteOffset > 0);
    assert.ok(a.every((v) => v === 0));
    arrays.push(a);
  }
  const ranges = arrays.map((a) => [a.byteOffset, a.byteOffset + Math.max(16, a.byteLength)])
    .sort((x, y) => x[0] - y[0]);
  for (let i = 1; i < ranges.length; i++) assert.ok(ranges[i][0] >= ranges[i - 1][1], 'overlapping allocations');
});

test('freed memory is reused and handed out zeroed', () => {
  const w = new WasmBackend({ memoryMB: 16 });
  const keep = w.alloc(8);
  const a = w.alloc(100);
  const fence = w.alloc(4); // keeps `a` off the bump pointer so it goes through the free lists
  a.fill(7);
  const off = a.byteOffset;
  w.free(a);
  const b = w.alloc(100);
  assert.equal(b.byteOffset, off);
  assert.ok(b.every((v) => v === 0));
  // A smaller request splits the free block; the rest stays usable.
  b.fill(3);
  w.free(b);
  const c = w.allocInt(10);
  assert.equal(c.byteOffset, off);
  assert.ok(c.every((v) => v === 0));
  const d = w.alloc(80);
  assert.equal(d.byteOffset, off + 48);
  assert.ok(d.every((v) => v === 0));
  w.free(keep);
  w.free(fence);
  w.free(c);
  w.free(d);
  const s = w.memoryStats();
  assert.equal(s.allocations, 1); // the kernels' scratch block
  assert.equal(s.freeListed, 0, 'everything coalesced back into the bump region');
});

test('adjacent free blocks coalesce', () => {
  const w = new WasmBackend({ memoryMB: 16 });
  const a = w.alloc(64);
  const b = w.alloc(64);
  const c = w.alloc(64);
  const fence = w.alloc(4);
  a.fill(1); b.fill(2); c.fill(3);
  w.free(a);
  w.free(c);
  w.free(b);
  const big = w.alloc(192);
  assert.equal(big.byteOffset, a.byteOffset);
  assert.ok(big.every((v) => v === 0));
  w.free(big);
  w.free(fence);
});

test('out of memory names the environment variable; the arena stays usable', () => {
  const w = new WasmBackend({ memoryMB: 16 });
  const a = w.alloc(1 << 20); // 4 MiB
  assert.throws(() => w.alloc(4 << 20), (e: Error) => /out of WASM memory/.test(e.message) &&
    /DIN_WASM_MEMORY_MB/.test(e.message));
  w.free(a);
  const b = w.alloc(3 << 20); // 12 MiB fits once `a` is back
  assert.equal(b.length, 3 << 20);
  assert.throws(() => new WasmBackend({ memoryMB: 5 }), /out of range/);
});

test('free rejects double frees, subarrays and foreign arrays', () => {
  const w = new WasmBackend({ memoryMB: 16 });
  const a = w.alloc(32);
  assert.throws(() => w.free(a.subarray(4)), /not the start of a live allocation/);
  assert.throws(() => w.free(new Float32Array(4)), /not an array of this WasmBackend/);
  w.free(a);
  assert.throws(() => w.free(a), /not the start of a live allocation/);
  assert.throws(() => w.alloc(-1), /integer >= 0/);
  assert.throws(() => w.alloc(2.5), /integer >= 0/);
});

test('randomized alloc/free keeps blocks disjoint, aligned and accounted', () => {
  const rng = new Rng(201);
  const start = 1 << 16;
  const arena = new Arena(start, start + (1 << 22), () => new Error('OOM'));
  const live = new Map<number, number>(); // ptr -> requested bytes
  for (let step = 0; step < 4000; step++) {
    if (live.size > 0 && rng.next() < 0.45) {
      const ptrs = [...live.keys()];
      const p = ptrs[rng.int(ptrs.length)];
      arena.free(p);
      live.delete(p);
    } else {
      const bytes = rng.next() < 0.1 ? rng.int(60000) : rng.int(2000);
      const { ptr } = arena.alloc(bytes);
      assert.equal(ptr % 16, 0);
      assert.ok(ptr >= start && ptr + bytes <= start + (1 << 22));
      live.set(ptr, bytes);
    }
    if (step % 200 === 0 || live.size === 0) {
      const sorted = [...live.entries()].sort((a, b) => a[0] - b[0]);
      for (let i = 1; i < sorted.length; i++) {
        assert.ok(sorted[i][0] >= sorted[i - 1][0] + sorted[i - 1][1], `overlap at step ${step}`);
      }
      let used = 0;
      for (const [p, b] of live) used += arena.sizeOf(p)!, assert.ok(arena.sizeOf(p)! >= b);
      assert.equal(arena.stats().used, used);
    }
  }
  for (const p of live.keys()) arena.free(p);
  const s = arena.stats();
  assert.equal(s.used, 0);
  assert.equal(s.freeListed, 0, 'all blocks coalesced back into the bump region');
});
