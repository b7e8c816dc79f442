import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { ExternalSorter, float64FromKey, int32Key, putFloat64Key, type SortedReader } from '../../src/data/stream/external-sort.js';
import { Rng } from '../../src/util/rng.js';
import { tmpFixture } from './helpers.js';

/** Every record of a reader, as arrays. */
function drain(r: SortedReader, words: number): number[][] {
  const out: number[][] = [];
  while (r.next()) out.push(Array.from(r.rec.subarray(r.at, r.at + words)));
  return out;
}

/** The expected order: a stable sort by the first `keyWords` words (unsigned). */
function expected(recs: number[][], keyWords: number): number[][] {
  return recs
    .map((r, i) => [r, i] as const)
    .sort(([a, i], [b, j]) => {
      for (let k = 0; k < keyWords; k++) if (a[k] !== b[k]) return a[k] - b[k];
      return i - j;
    })
    .map(([r]) => r);
}

function records(n: number, words: number, rng: Rng, keyRange: number[]): number[][] {
  return Array.from({ length: n }, (_, i) => Array.from({ length: words }, (_, k) => (k < keyRange.length ? rng.int(keyRange[k]) : i)));
}

test('external sort: in memory, one run, many runs, merge passes — always the stable order', () => {
  const rng = new Rng(7);
  for (const [n, words, keyWords, memoryBytes, maxFanIn, spillLast] of [
    [0, 3, 2, 1 << 20, 64, false],
    [1, 3, 2, 1 << 20, 64, true],
    [5000, 3, 2, 1 << 20, 64, false], // in memory
    [5000, 3, 2, 1 << 20, 64, true], // one run on disk
    [20000, 3, 2, 64 << 10, 64, false], // ~8 runs of 2730 records, one merge
    [20000, 6, 2, 64 << 10, 3, false], // ~15 runs, merged 3 at a time in passes
    [30000, 4, 4, 64 << 10, 2, false], // a key of every word
  ] as const) {
    const dir = join(tmpFixture({}), 'runs');
    const s = new ExternalSorter({ words, keyWords, dir, memoryBytes, maxFanIn, spillLast });
    // keys with many ties (stability), and full 32-bit words (every digit of the radix sort)
    const recs = records(n, words, rng, [50, 2 ** 32, 2 ** 32, 2 ** 32].slice(0, keyWords));
    for (const r of recs) s.push(r);
    const r = s.finish();
    assert.deepEqual(drain(r, words), expected(recs, keyWords), `n=${n} words=${words} memory=${memoryBytes} fanIn=${maxFanIn}`);
    assert.equal(s.records, n);
    if (memoryBytes < 1 << 20 && n > 0) assert.ok(s.runsWritten > 1, `${s.runsWritten} runs`);
    if (maxFanIn < 4 && n > 0) assert.ok(s.mergePasses >= 1, `${s.mergePasses} merge passes`);
    r.close();
    s.close();
    assert.deepEqual(readdirSync(dir), [], 'run files deleted');
  }
});

test('external sort: reserve() writes in place; digits equal in every record are skipped without changing the order', () => {
  const dir = join(tmpFixture({}), 'runs');
  const s = new ExternalSorter({ words: 3, keyWords: 2, dir, memoryBytes: 64 << 10 });
  const recs: number[][] = [];
  const rng = new Rng(3);
  for (let i = 0; i < 9000; i++) {
    // user ids below 2^11 (two digits constant), times in a narrow range (the high digit constant)
    const rec = [rng.int(300), 1494000000 + rng.int(5000), i];
    recs.push(rec);
    const o = s.reserve();
    s.buf[o] = rec[0];
    s.buf[o + 1] = rec[1];
    s.buf[o + 2] = rec[2];
  }
  const r = s.finish();
  assert.deepEqual(drain(r, 3), expected(recs, 2));
  s.close();
  assert.throws(() => s.finish(), /finish called twice/);
});

test('external sort: int32 and float64 key words keep numeric order', () => {
  const xs = [0, -0, 1, -1, 0.5, -0.5, 1e300, -1e300, Number.MIN_VALUE, -Number.MIN_VALUE, Infinity, -Infinity, 1494604800, 1494604800.5];
  const key = (x: number) => {
    const w = new Uint32Array(2);
    putFloat64Key(w, 0, x);
    return w;
  };
  for (const a of xs) {
    const ka = key(a);
    assert.equal(float64FromKey(ka[0], ka[1]), a + 0);
    for (const b of xs) {
      const kb = key(b);
      const cmp = ka[0] !== kb[0] ? Math.sign(ka[0] - kb[0]) : Math.sign(ka[1] - kb[1]);
      assert.equal(cmp, Math.sign(a - b) || 0, `${a} vs ${b}`);
    }
  }
  const ints = [-(2 ** 31), -5, -1, 0, 1, 7, 2 ** 31 - 1];
  for (let i = 1; i < ints.length; i++) assert.ok(int32Key(ints[i - 1]) < int32Key(ints[i]));
  // a sort by (float time, then push order)
  const dir = join(tmpFixture({}), 'runs');
  const s = new ExternalSorter({ words: 3, keyWords: 2, dir, memoryBytes: 64 << 10 });
  const rng = new Rng(9);
  const times = Array.from({ length: 7000 }, () => (rng.int(40) - 20) / 4);
  times.forEach((t, i) => {
    const o = s.reserve();
    putFloat64Key(s.buf, o, t);
    s.buf[o + 2] = i;
  });
  const r = s.finish();
  const got: number[] = [];
  while (r.next()) got.push(r.rec[r.at + 2]);
  const want = times.map((t, i) => [t, i]).sort((a, b) => a[0] - b[0] || a[1] - b[1]).map((p) => p[1]);
  assert.deepEqual(got, want);
  s.close();
  assert.ok(existsSync(dir));
});
