import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MaskedPooling } from '../../src/nn/pooling.js';
import { be, checkInput, dot, randn, Rng } from './helpers.js';

for (const kind of ['sum', 'avg'] as const) {
  test(`pooling (${kind}): masked, empty rows are zero, backward matches finite differences`, () => {
    const rng = new Rng(kind === 'sum' ? 1 : 2);
    const B = 4;
    const T = 3;
    const D = 2;
    const lengths = Int32Array.from([3, 1, 0, 2]);
    const K = randn(rng, B * T * D); // padded rows are nonzero on purpose
    const pool = new MaskedPooling(be, kind, D);
    const r = randn(rng, B * D);
    const f = () => dot(pool.forward(K, lengths, B, T), r);
    const u = pool.forward(K, lengths, B, T);
    assert.deepEqual(Array.from(u.subarray(4, 6)), [0, 0], 'empty history pools to zeros');
    assert.deepEqual(Array.from(u.subarray(2, 4)), [K[6], K[7]], 'a single behaviour pools to itself (sum and avg)');
    const dK = be.alloc(B * T * D);
    pool.backward(r, dK);
    for (let b = 0; b < B; b++) {
      for (let t = lengths[b]; t < T; t++) {
        const o = (b * T + t) * D;
        assert.deepEqual(Array.from(dK.subarray(o, o + D)), [0, 0], 'padded positions get no gradient');
      }
    }
    checkInput(`pool.${kind}.K`, f, K, Float64Array.from(dK));
  });
}
