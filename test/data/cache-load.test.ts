import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, readdirSync, truncateSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readDatasetCache, writeDatasetCache } from '../../src/data/cache.js';
import { detectFormat, loadDataset, loadDatasetWithInfo } from '../../src/data/load.js';
import { loadAmazonSeq } from '../../src/data/sources/amazon-seq.js';
import { AMAZON_FIXTURE, MOVIELENS_FIXTURE, tmpFixture } from './helpers.js';

test('cache: round trip is exact and keeps shared histories shared', () => {
  const ds = loadAmazonSeq(tmpFixture(AMAZON_FIXTURE));
  const file = join(tmpFixture({}), 'sub', 'x.dincache');
  writeDatasetCache(file, ds);
  const back = readDatasetCache(file);
  assert.deepEqual(back, ds);
  assert.equal(back.train.histValues, back.test.histValues);
  assert.ok(back.train.labels instanceof Uint8Array);
  assert.deepEqual(readdirSync(join(file, '..')), ['x.dincache']); // no temp file left behind
});

test('cache: corrupt or truncated files throw', () => {
  const ds = loadAmazonSeq(tmpFixture(AMAZON_FIXTURE));
  const dir = tmpFixture({});
  const file = join(dir, 'x.dincache');
  writeDatasetCache(file, ds);
  const bytes = readFileSync(file);
  bytes[bytes.length - 3] ^= 0xff;
  writeFileSync(file, bytes);
  assert.throws(() => readDatasetCache(file), /checksum/);
  writeDatasetCache(file, ds);
  truncateSync(file, 100);
  assert.throws(() => readDatasetCache(file), /truncated/);
  writeFileSync(file, 'garbage');
  assert.throws(() => readDatasetCache(file), /not a din cache/);
});

test('loadDataset: caches, reuses, rebuilds on corruption and on source change', async () => {
  const data = tmpFixture(AMAZON_FIXTURE);
  const cacheDir = tmpFixture({});
  const msgs: string[] = [];
  const opts = { path: data, cacheDir, onProgress: (m: string) => msgs.push(m) };
  const first = await loadDatasetWithInfo(opts);
  assert.equal(first.cacheHit, false);
  assert.ok(first.cacheFile !== null && first.cacheFile.startsWith(cacheDir));
  const second = await loadDatasetWithInfo(opts);
  assert.equal(second.cacheHit, true);
  assert.deepEqual(second.dataset, first.dataset);
  // Corrupt the cache: ignored with a message, rebuilt, same data.
  truncateSync(first.cacheFile!, 200);
  msgs.length = 0;
  const third = await loadDatasetWithInfo(opts);
  assert.equal(third.cacheHit, false);
  assert.ok(msgs.some((m) => m.includes('ignoring unreadable cache')), msgs.join('\n'));
  assert.deepEqual(third.dataset, first.dataset);
  assert.equal((await loadDatasetWithInfo(opts)).cacheHit, true);
  // Another seed or a touched source ⇒ another key.
  const seeded = await loadDatasetWithInfo({ ...opts, seed: 9 });
  assert.equal(seeded.cacheHit, false);
  assert.notEqual(seeded.cacheFile, first.cacheFile);
  utimesSync(join(data, 'Mini.txt'), new Date(), new Date(Date.now() + 5000));
  const touched = await loadDatasetWithInfo(opts);
  assert.equal(touched.cacheHit, false);
  assert.notEqual(touched.cacheFile, first.cacheFile);
  // noCache never writes.
  const before = readdirSync(cacheDir).length;
  assert.equal((await loadDatasetWithInfo({ ...opts, noCache: true, seed: 11 })).cacheFile, null);
  assert.equal(readdirSync(cacheDir).length, before);
  // A cache directory inside the data directory is refused.
  await assert.rejects(loadDataset({ path: data, cacheDir: join(data, 'cache') }), /inside the data directory/);
});

test('load: format detection, names, errors', async () => {
  const amazon = tmpFixture(AMAZON_FIXTURE);
  const ml = tmpFixture(MOVIELENS_FIXTURE);
  assert.equal(detectFormat(amazon), 'amazon-seq');
  assert.equal(detectFormat(join(amazon, 'Mini.txt')), 'amazon-seq');
  assert.equal(detectFormat(ml), 'movielens');
  assert.equal(detectFormat('synthetic'), 'synthetic');
  assert.equal(detectFormat('synthetic:small'), 'synthetic');
  const other = tmpFixture({ 'a.csv': 'x\n', 'notes.txt': 'hi\n' });
  assert.throws(
    () => detectFormat(other),
    (e: Error) => /found \[a\.csv, notes\.txt\]/.test(e.message) && /ratings\.csv \+ movies\.csv/.test(e.message) &&
      /_item2attributes\.json/.test(e.message),
  );
  await assert.rejects(loadDataset({ path: join(other, 'nope') }), /nope does not exist/);
  await assert.rejects(loadDataset({ path: other, format: 'movielens', noCache: true }), /ratings\.csv is missing/);
  // dataset NAME resolves under $DIN_DATA_DIR.
  const root = tmpFixture({});
  mkdirSync(join(root, 'ml'));
  for (const [k, v] of Object.entries(MOVIELENS_FIXTURE)) writeFileSync(join(root, 'ml', k), v);
  const saved = process.env.DIN_DATA_DIR;
  process.env.DIN_DATA_DIR = root;
  try {
    const r = await loadDatasetWithInfo({ dataset: 'ml', noCache: true, testFraction: 0 });
    assert.equal(r.format, 'movielens');
    assert.equal(r.dataset.name, 'ml');
    assert.equal(r.dataset.train.size, 7);
    await assert.rejects(loadDataset({ dataset: 'missing' }), /missing does not exist \(dataset "missing"/);
  } finally {
    if (saved === undefined) delete process.env.DIN_DATA_DIR;
    else process.env.DIN_DATA_DIR = saved;
  }
  const syn = await loadDatasetWithInfo({ path: 'synthetic:small', synthetic: { users: 20 } });
  assert.equal(syn.format, 'synthetic');
  assert.equal(syn.dataset.name, 'synthetic-small');
  assert.equal(syn.dataset.numUsers, 20);
  assert.equal(syn.cacheFile, null);
});
