import assert from 'node:assert/strict';
import { test } from 'node:test';
import { drawAt, normalAt, Rng } from '../../src/util/rng.js';
import { Embedding, initialRow } from '../../src/nn/embedding.js';
import { createBackend } from '../../src/kernels/backends.js';

test('drawAt and normalAt reach any draw of the sequence directly', () => {
  for (const seed of [0, 1, 42, 0xffffffff]) {
    const rng = new Rng(seed);
    const s0 = rng.state;
    const seq = new Rng(seed);
    for (let k = 0; k < 10_000; k++) assert.equal(drawAt(s0, k), seq.next(), `draw ${k} of seed ${seed}`);
    const nseq = new Rng(seed);
    for (let i = 0; i < 200_000; i++) {
      const want = nseq.normal();
      assert.equal(normalAt(s0, i), want, `normal ${i} of seed ${seed}`);
    }
  }
  // Large positions: exact modular arithmetic (a position 2^31 + 5 equals stepping from the state 2^31 draws later).
  const s0 = new Rng(7).state;
  const k = 2 ** 31 + 5;
  const later = Rng.fromState((s0 + Math.imul(0x6d2b79f5, 2 ** 31)) >>> 0);
  for (let j = 0; j < 5; j++) later.next();
  assert.equal(drawAt(s0, k), later.next());
  // Past 2^32 draws the values do not repeat the first block.
  assert.notEqual(drawAt(s0, 2 ** 32), drawAt(s0, 0));
  assert.notEqual(drawAt(s0, 2 ** 32 + 1), drawAt(s0, 1));
});

test('an embedding table starts as its generator drawn in order, and any row can be computed alone', () => {
  const be = createBackend('js');
  const rows = 500;
  const dim = 7;
  const emb = new Embedding(be, 't', rows, dim, new Rng(3).fork(1), { initStd: 0.01, zeroRows: [rows - 1] });
  const seq = new Rng(3).fork(1);
  for (let i = 0; i < (rows - 1) * dim; i++) assert.equal(emb.param.value[i], seq.normal() * 0.01, `value ${i}`);
  for (let c = 0; c < dim; c++) assert.equal(emb.param.value[(rows - 1) * dim + c], 0, 'zero row');
  const out = new Float64Array(dim);
  for (const r of [0, 17, 250, rows - 1]) {
    initialRow(emb.init, r, dim, out);
    assert.deepEqual(Array.from(out), Array.from(emb.param.value.subarray(r * dim, (r + 1) * dim)), `row ${r}`);
  }
});
