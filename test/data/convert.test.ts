/**
 * Every source converts into shards holding exactly what its in-memory loader builds: the same samples (in the same
 * order; Taobao 'tianchi': by user, then time), ids, vocabularies, catalog, users, skipped counts and examples, build
 * options and stats. Tiny shards and tiny sort budgets force chunk boundaries inside users and several sorted runs.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { convertToShards } from '../../src/data/convert.js';
import { openShards } from '../../src/data/shards.js';
import { convertAmazonRawToShards, loadAmazonRaw } from '../../src/data/sources/amazon-raw.js';
import { convertAmazonSeqToShards, loadAmazonSeq } from '../../src/data/sources/amazon-seq.js';
import { convertDinRemappedToShards, loadDinRemapped } from '../../src/data/sources/din-remapped.js';
import { convertMovieLensToShards, loadMovieLens } from '../../src/data/sources/movielens.js';
import { convertTaobaoToShards, loadTaobao } from '../../src/data/sources/taobao/index.js';
import { Rng } from '../../src/util/rng.js';
import { assertSameShards as assertSame, parts, rowsOf, SHARED_DATA, tmpFixture } from './helpers.js';

const outDir = () => join(tmpFixture({}), 'shards');

// ---- amazon-seq ---------------------------------------------------------------------------------------------------

function amazonSeq(seed: number): Record<string, string> {
  const rng = new Rng(seed);
  const lines: string[] = [];
  for (let u = 0; u < 60; u++) {
    const n = rng.int(10);
    lines.push([`u${u}`, ...Array.from({ length: n }, () => `i${rng.int(30)}`)].join(rng.next() < 0.1 ? '\t ' : ' '));
    if (u === 7) lines.push('', 'u3 i1 i2 i3 i4', 'lonely');
  }
  const attrs: Record<string, unknown> = {};
  for (let i = 0; i < 30; i++) if (i % 9 !== 0) attrs[`i${i}`] = i % 13 === 1 ? 'x' : [i % 4, `g${i % 3}`, i % 4];
  return { 'S.txt': lines.join('\n') + '\n  ', 'S_item2attributes.json': JSON.stringify(attrs) };
}

test('amazon-seq → shards: the samples, negatives, ids and counts of the in-memory load', async () => {
  for (const seed of [1, 2]) {
    const dir = tmpFixture(amazonSeq(seed));
    const mem = loadAmazonSeq(dir, { seed: 5 });
    assert.ok(mem.skipped.duplicateUsers && mem.skipped.usersWithoutItems && mem.skipped.blankLines && mem.skipped.badAttributeLists);
    const out = outDir();
    const m = await convertAmazonSeqToShards(dir, out, { seed: 5, shardRows: 23 });
    assert.ok(m.shards.length > 5);
    assertSame(out, mem, 'same', 23);
    assert.equal(m.conversion?.streamed, true);
    assert.deepEqual(m.conversion?.skipped, mem.skipped, 'the manifest records what was skipped');
  }
});

// ---- amazon-raw ---------------------------------------------------------------------------------------------------

function amazonRaw(seed: number): Record<string, string> {
  const rng = new Rng(seed);
  const reviews: string[] = [];
  for (let k = 0; k < 400; k++) {
    const u = `R${rng.int(70)}`;
    const a = `B${rng.int(45)}`;
    const t = 1000 + rng.int(30); // many ties: file order decides
    reviews.push(rng.next() < 0.5 ? JSON.stringify({ reviewerID: u, asin: a, unixReviewTime: t }) : `{'reviewerID': '${u}', 'asin': '${a}', 'unixReviewTime': ${t}}`);
  }
  reviews.splice(50, 0, 'not json', '', JSON.stringify({ reviewerID: 'R1', asin: 'B1', unixReviewTime: 'soon' }),
    JSON.stringify({ reviewerID: 'Once', asin: 'B3', unixReviewTime: 5 }));
  const meta: string[] = [];
  for (let i = 0; i < 45; i++) {
    if (i % 11 === 5) continue; // reviewed items without meta
    meta.push(`{'asin': 'B${i}', 'categories': [['Beauty', 'Skin'], ['Beauty', 'c${i % 6}']]}`);
  }
  meta.push(`{'asin': 'B2', 'categories': [['X']]}`, `{'asin': 'Z9', 'categories': [['Y']]}`);
  return { 'reviews_Mini_5.json': reviews.join('\n') + '\n', 'meta_Mini.json': meta.join('\n') + '\n' };
}

test('amazon-raw → shards: time order with ties, sorted ids, the same negatives — several sorted runs, .gz too', async () => {
  const files = amazonRaw(3);
  const dir = tmpFixture(files);
  const mem = loadAmazonRaw(dir, { seed: 2 });
  assert.ok(mem.skipped.reviewsWithoutMeta && mem.skipped.usersWithOneReview && mem.skipped.duplicateMetaLines);
  const out = outDir();
  const m = await convertAmazonRawToShards(dir, out, { seed: 2, shardRows: 31, memoryMB: 1 / 16 });
  assertSame(out, mem, 'same', 31);
  assert.ok(m.shards.length > 5);
  // a large review log: several sorted runs of 64 KiB
  const rng = new Rng(4);
  const big: string[] = [];
  for (let k = 0; k < 12000; k++) big.push(JSON.stringify({ reviewerID: `R${rng.int(900)}`, asin: `B${rng.int(45)}`, unixReviewTime: rng.int(500) / 4 }));
  const gz = tmpFixture({});
  writeFileSync(join(gz, 'reviews_Big_5.json.gz'), gzipSync(big.join('\n')));
  writeFileSync(join(gz, 'meta_Big.json.gz'), gzipSync(files['meta_Mini.json']));
  const memBig = loadAmazonRaw(gz, { seed: 2 });
  const outBig = outDir();
  const mb = await convertAmazonRawToShards(gz, outBig, { seed: 2, shardRows: 5000, memoryMB: 1 / 16 });
  assert.ok((mb.conversion?.sortRuns as number) >= 3, `${mb.conversion?.sortRuns} runs`);
  assertSame(outBig, memBig, 'same', 5000);
});

// ---- din-remapped -------------------------------------------------------------------------------------------------

function dinLines(rng: Rng, groups: number): string {
  const out: string[] = [];
  for (let g = 0; g < groups; g++) {
    const L = rng.int(6);
    const hist = Array.from({ length: L }, () => rng.int(50));
    const text = `${hist.join(' ')};${hist.map((h) => h % 7).join(' ')}`;
    for (let k = 0, n = 1 + rng.int(3); k < n; k++) {
      const t = rng.int(50);
      out.push(`${text};${t};${t % 7};${rng.int(2)}`);
    }
  }
  out.splice(5, 0, 'a;b;c', '1 2;3;4;5;1', '', `1;${(1 % 7) + 1};2;2;0`);
  return out.join('\n') + '\n';
}

test('din-remapped → shards: train/test files and a single file split by groups', async () => {
  const rng = new Rng(6);
  const pair = tmpFixture({ 'paddle_train.txt': dinLines(rng, 80), 'paddle_test.txt': dinLines(rng, 30) });
  const mem = loadDinRemapped(pair);
  assert.ok(mem.skipped.malformedLines && mem.skipped.conflictingCategories && mem.skipped.historyLengthMismatch);
  const out = outDir();
  await convertDinRemappedToShards(pair, out, { shardRows: 17 });
  assertSame(out, mem, 'same', 17);
  const single = tmpFixture({ 'samples.txt': dinLines(rng, 120) });
  const memS = loadDinRemapped(single, { seed: 9, testFraction: 0.3 });
  const outS = outDir();
  await convertDinRemappedToShards(single, outS, { seed: 9, testFraction: 0.3, shardRows: 40 });
  assertSame(outS, memS, 'same', 40);
});

// ---- movielens ----------------------------------------------------------------------------------------------------

function ratings(rng: Rng, n: number, dat: boolean): string {
  const lines = dat ? [] : ['userId,movieId,rating,timestamp'];
  for (let k = 0; k < n; k++) {
    const f = [1 + rng.int(40), 1 + rng.int(25), (1 + rng.int(10)) / 2, 100 + rng.int(20)];
    lines.push(dat ? f.join('::') : f.join(','));
  }
  lines.splice(9, 0, dat ? 'x::1::2::3' : '1,2,3', '');
  return lines.join('\n') + '\n';
}

test('movielens → shards: each user\'s ratings in time order (ties: file order), users split as in memory — csv and dat', async () => {
  const rng = new Rng(8);
  const movies = ['movieId,title,genres', ...Array.from({ length: 22 }, (_, i) => `${i + 1},"Film ${i}, The (199${i % 10})",${['Drama', 'Comedy|Drama', '(no genres listed)'][i % 3]}`)];
  const csv = tmpFixture({ 'ratings.csv': ratings(rng, 3000, false), 'movies.csv': movies.join('\n') + '\n' });
  const mem = loadMovieLens(csv, { seed: 4 });
  const out = outDir();
  const m = await convertMovieLensToShards(csv, out, { seed: 4, shardRows: 97, memoryMB: 1 / 16 });
  assert.ok((m.conversion?.sortRuns as number) >= 2);
  assertSame(out, mem, 'same', 97);
  const datMovies = Array.from({ length: 20 }, (_, i) => `${i + 1}::Film ${i} (1990)::${i % 2 ? 'Drama' : 'Comedy|War'}`).join('\n');
  const dat = tmpFixture({ 'ratings.dat': ratings(rng, 500, true), 'movies.dat': datMovies + '\n' });
  const memD = loadMovieLens(dat, { testFraction: 0.5 });
  const outD = outDir();
  await convertMovieLensToShards(dat, outD, { testFraction: 0.5, shardRows: 64 });
  assertSame(outD, memD, 'same', 64);
});

// ---- taobao -------------------------------------------------------------------------------------------------------

const B = 1494604800; // 2017-05-13 00:00 UTC+8, the default test day

/** A generated Tianchi directory: skewed users and categories, time ties, NULL brands, malformed lines. */
function tianchi(seed: number, users: number, behaviours: number): Record<string, string> {
  const rng = new Rng(seed);
  const ads = ['adgroup_id,cate_id,campaign_id,customer,brand,price'];
  for (let a = 0; a < 80; a++) ads.push(`${a},${a % 9},${a % 13},${a % 5},${a % 4 === 0 ? 'NULL' : 100 + (a % 11)},${(a * 7) % 300}.5`);
  const raw = ['user,time_stamp,adgroup_id,pid,nonclk,clk'];
  const skew = (n: number) => Math.floor(n * rng.next() ** 2);
  for (let k = 0; k < users * 8; k++) {
    const u = skew(users);
    const t = B - 3 * 86400 + rng.int(4 * 86400 / 600) * 600; // on a 10-minute grid: ties
    const clk = rng.int(10) < 2 ? 1 : 0;
    raw.push(`${u},${t},${rng.int(85)},430548_100${rng.int(3)},${1 - clk},${clk}`);
  }
  raw.splice(7, 0, 'x,1,2,3,1,0', '1,2,3');
  const profile = ['userid,cms_segid,cms_group_id,final_gender_code,age_level,pvalue_level,shopping_level,occupation,new_user_class_level'];
  for (let u = 0; u < users + 5; u++) if (u % 7 !== 3) profile.push(`${u},${u % 3},${u % 5},${1 + (u % 2)},${u % 6},${u % 4 === 0 ? '' : u % 3},3,0,${u % 4}`);
  const log = ['user,time_stamp,btag,cate,brand'];
  for (let k = 0; k < behaviours; k++) {
    const u = skew(users + 3);
    const t = B - 6 * 86400 + rng.int(7 * 86400 / 300) * 300;
    log.push(`${u},${t},${['pv', 'cart', 'fav', 'buy'][rng.int(4)]},${skew(40)},${rng.int(6) === 0 ? 'NULL' : 200 + skew(30)}`);
  }
  log.splice(30, 0, '5,12,view,1,2', '');
  return {
    'ad_feature.csv': ads.join('\n') + '\n',
    'raw_sample.csv': raw.join('\n') + '\n',
    'user_profile.csv': profile.join('\n') + '\n',
    'behavior_log.csv': log.join('\n') + '\n',
  };
}

test('taobao tianchi → shards: sorted impressions and behaviours joined user by user give the in-memory samples', async () => {
  for (const [seed, maxHistory, vocab] of [[1, 3, {}], [2, 8, { minCount: 2 }], [3, 50, { topK: 20 }]] as const) {
    const dir = tmpFixture(tianchi(seed, 60, 9000));
    const mem = await loadTaobao(dir, { maxHistory, vocab });
    assert.ok(mem.stats!.behavioursBeyondHistoryCap > 0 || maxHistory === 50);
    const out = outDir();
    const m = await convertTaobaoToShards(dir, out, { maxHistory, vocab, shardRows: 37, memoryMB: 1 / 16 });
    assert.ok((m.conversion?.sortRuns as number) >= 4, `${m.conversion?.sortRuns} sorted runs`);
    assertSame(out, mem, 'user', 37);
  }
});

test('taobao tianchi → shards: the documented order (user, then time, then file order) and a failure cleans up', async () => {
  const files = tianchi(5, 20, 2000);
  const dir = tmpFixture(files);
  const out = outDir();
  await convertTaobaoToShards(dir, out, { shardRows: 1000 });
  const sd = openShards(out);
  const mem = await loadTaobao(dir);
  // in memory the samples are in raw_sample order: sorted stably by (user, time) they must be the shards' order
  const valid = files['raw_sample.csv'].split('\n').slice(1).map((l) => l.split(','))
    .filter((f) => f.length === 6 && /^\d+$/.test(f[0]) && Number(f[2]) < 80);
  for (const which of ['train', 'test'] as const) {
    const times = valid.map((f) => Number(f[1])).filter((t) => (which === 'test') === (t >= B));
    const want = rowsOf([mem[which]]);
    assert.equal(times.length, want.length);
    const order = want.map((_, i) => i).sort((i, j) => want[i][1] - want[j][1] || times[i] - times[j] || i - j);
    assert.deepEqual(rowsOf(parts(sd, which)), order.map((i) => want[i]), which);
  }
  // a malformed behaviour line under onError 'fail': an error naming file and line, nothing left behind
  const rawOk = files['raw_sample.csv'].split('\n').filter((l, i) => i === 0 || (/^\d+,/.test(l) && l.split(',').length === 6 && Number(l.split(',')[2]) < 80)).join('\n');
  const bad = tmpFixture({ ...files, 'raw_sample.csv': rawOk, 'behavior_log.csv': files['behavior_log.csv'].replace('user,time_stamp,btag,cate,brand\n', 'user,time_stamp,btag,cate,brand\n1,2,pv,x,3\n') });
  const failed = join(tmpFixture({}), 'shards');
  await assert.rejects(convertTaobaoToShards(bad, failed, { shardRows: 10, onError: 'fail' }), /behavior_log\.csv:2: expected cate as a non-negative integer/);
  assert.deepEqual(readdirSync(failed), []);
});

const TAOBAO = join(SHARED_DATA, 'fixtures', 'taobao');
const SHARED = existsSync(TAOBAO) ? {} : { skip: `shared fixtures not found at ${TAOBAO}` };

test('taobao joined and sampled → shards: the in-memory samples in file order', SHARED, async () => {
  const joined = tmpFixture({});
  for (const f of ['train_sample.csv', 'test_sample.csv']) copyFileSync(join(TAOBAO, f), join(joined, f));
  const memJ = await loadTaobao(joined, { maxHistory: 5 });
  const outJ = outDir();
  await convertTaobaoToShards(joined, outJ, { maxHistory: 5, shardRows: 50 });
  assertSame(outJ, memJ, 'same', 50);
  const file = join(TAOBAO, 'alimama_sampled_train.txt');
  const memS = await loadTaobao(file, { seed: 3, maxHistory: 20 });
  const outS = outDir();
  await convertTaobaoToShards(file, outS, { seed: 3, maxHistory: 20, shardRows: 41 });
  assertSame(outS, memS, 'same', 41);
});

// ---- the dispatcher -----------------------------------------------------------------------------------------------

test('convertToShards detects the format and streams every one; options are checked before the output is touched', async () => {
  const dir = tmpFixture(amazonSeq(3));
  const out = outDir();
  const m = await convertToShards(dir, out, { shardRows: 50, seed: 2 });
  assert.equal(m.sourceFormat, 'amazon-seq');
  assertSame(out, loadAmazonSeq(dir, { seed: 2 }));
  await assert.rejects(convertToShards(dir, out, { shardRows: 50, vocab: { minCount: 2 } }), /apply to sources that build field vocabularies/);
  await assert.rejects(convertToShards(dir, out, { shardRows: 50, memoryMB: 0 }), /sort memory budget must be a positive number/);
  assert.ok(existsSync(join(out, 'manifest.json')), 'the earlier shard set is still there');
  const syn = outDir();
  const s = await convertToShards('synthetic:small', syn, { shardRows: 5000 });
  assert.equal(s.sourceFormat, 'synthetic');
});
