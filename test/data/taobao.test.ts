import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import {
  findTaobaoFiles,
  loadTaobao,
  priceOctave,
  taobaoDayStart,
  taobaoLayout,
  taobaoSourceFiles,
  taobaoUnsupported,
  vocabFromCounts,
} from '../../src/data/sources/taobao/index.js';
import { FieldVocabBuilder } from '../../src/data/field-vocab.js';
import { validateDataset } from '../../src/data/sample-set.js';
import { Batcher } from '../../src/data/batcher.js';
import type { Dataset, SampleSet } from '../../src/core/types.js';
import { createModel } from '../../src/models/index.js';
import { sigmoidLogLoss } from '../../src/nn/loss.js';
import { be } from '../nn/helpers.js';
import { tinyConfig } from '../models/fixtures.js';
import { SHARED_DATA, tmpFixture } from './helpers.js';

const TAOBAO = join(SHARED_DATA, 'fixtures', 'taobao');
/** Tests on the shared fixtures skip (saying where they looked) when ../shared/data is not beside the repository. */
const SHARED = existsSync(TAOBAO) ? {} : { skip: `shared fixtures not found at ${TAOBAO}` };
const hist = (s: SampleSet, i: number): number[] => [...s.histValues.subarray(s.histStart[i], s.histStart[i] + s.histLen[i])];
const field = (ds: Dataset, name: string) => {
  const k = ds.sampleFields!.findIndex((f) => f.name === name);
  assert.ok(k >= 0, name);
  return { f: ds.sampleFields![k], train: [...ds.train.fieldValues![k]], test: [...ds.test.fieldValues![k]] };
};
const itemField = (ds: Dataset, name: string) => ds.catalog.itemFields!.find((f) => f.name === name)!;

// ---- a hand-written Tianchi layout -----------------------------------------------------------------------------
// B = 2017-05-13 00:00 Beijing time (the default test day). User 1: impressions t1, t2 (train), t3 (test); user 2:
// tA, tB (train) and one impression of an unknown adgroup; user 3 (test, no profile, unseen pid); user 5 (test,
// profile with a cms_segid unseen in training). User 4 has a profile but no impression; user 9 behaviours only.
const B = 1494604800;
const DAYS = 86400;
const t1 = B - DAYS + 2 * 3600; // 05-12 02:00
const tA = B - DAYS + 5 * 3600; // 05-12 05:00
const tB = B - DAYS + 6 * 3600; // 05-12 06:00
const t2 = B - 3600; // 05-12 23:00
const t3 = B + 10 * 3600; // 05-13 10:00 (test)

const AD_FEATURE = [
  'adgroup_id,cate_id,campaign_id,customer,brand,price',
  '10,100,1000,500,7000,3.5',
  '20,200,2000,500,NULL,64',
  '30,100,1000,600,7001,0.5',
  '40,300,4000,700,7002,10',
].join('\n');
const RAW_SAMPLE = [
  'user,time_stamp,adgroup_id,pid,nonclk,clk',
  `1,${t1},10,430548_1007,1,0`,
  `2,${tA},20,430539_1007,0,1`,
  `1,${t2},20,430548_1007,1,0`,
  `1,${t3},30,430539_1007,1,0`,
  `3,${B + 60},10,430999_1007,0,1`,
  `2,${B - 100},99,430548_1007,1,0`,
  `2,${tB},10,430539_1007,1,0`,
  `5,${B + 7200},20,430548_1007,1,0`,
].join('\n');
const USER_PROFILE = [
  'userid,cms_segid,cms_group_id,final_gender_code,age_level,pvalue_level,shopping_level,occupation,new_user_class_level ',
  '1,0,5,2,5,,3,0,3',
  '2,8,3,1,2,1,3,1,',
  '4,1,1,1,1,1,1,1,1',
  '5,99,5,2,1,2,2,0,1',
].join('\n');
// User 2: 100 behaviours before tA (10 distinct items), then 50 between tA and tB of 3 items, three of them at the same
// time tA + 100 (lines of k = 120, 148, 149: ties keep file order, across the compactions made while reading).
const u2Behaviours = Array.from({ length: 150 }, (_, k) =>
  k < 100
    ? `2,${tA - 1000 + k},pv,${400 + (k % 5)},${8000 + (k % 2)}`
    : `2,${k === 120 || k >= 148 ? tA + 100 : tA + 10 + (k - 100)},pv,${600 + (k % 3)},9000`,
);
const BEHAVIOR_LOG = [
  'user,time_stamp,btag,cate,brand',
  `1,${t1 - 500},pv,100,7000`, // b1 → item (100,7000)
  `1,${t1 - 1000},cart,200,NULL`, // b2 → (200,NULL)
  `9,${t1},pv,100,7000`, // user without impressions
  `1,${t1},pv,100,7001`, // b3: at t1, so not before t1
  `1,${t1 - 2000},fav,300,7002`, // b4
  `1,${t1 - 3000},pv,100,7000`, // b5: the oldest before t1, beyond the cap of 3
  `1,${t2 + 10},buy,200,7003`, // b6
  `1,${t3},pv,500,1`, // at the last impression: never in a history
  `1,${t3 + 5},pv,500,2`,
  `1,${t1 + 100},pv,100,7000`, // b9
  ...u2Behaviours,
].join('\n');
const TIANCHI = {
  'ad_feature.csv': AD_FEATURE + '\n',
  'raw_sample.csv': RAW_SAMPLE + '\n',
  'user_profile.csv': USER_PROFILE + '\n',
  'behavior_log.csv': BEHAVIOR_LOG + '\n',
};

test('taobao tianchi: items, goods rows, item fields, user/context fields, histories strictly before, time split', async () => {
  const dir = tmpFixture(TIANCHI);
  assert.equal(taobaoLayout(dir), 'tianchi');
  const four = ['raw_sample.csv', 'ad_feature.csv', 'user_profile.csv', 'behavior_log.csv'];
  assert.deepEqual(taobaoSourceFiles(dir), four.map((f) => join(dir, f)));
  const msgs: string[] = [];
  const ds = await loadTaobao(dir, { maxHistory: 3, onProgress: (m) => msgs.push(m) });
  validateDataset(ds);
  assert.equal(ds.format, 'taobao');
  const c = ds.catalog;
  // ads in ad_feature order (40 never shown), then behaviour items in order of reading; items only in compacted-away
  // behaviours of user 2 are not in the catalog
  assert.deepEqual(c.itemKeys, [
    '10', '20', '30',
    'cate=100,brand=7000', 'cate=200,brand=NULL', 'cate=100,brand=7001', 'cate=300,brand=7002', 'cate=200,brand=7003',
    'cate=402,brand=8001', 'cate=403,brand=8000', 'cate=404,brand=8001',
    'cate=601,brand=9000', 'cate=602,brand=9000', 'cate=600,brand=9000',
  ]);
  assert.equal(c.numItems, 14);
  assert.deepEqual(c.attrKeys, ['100', '200', '300', '402', '403', '404', '601', '602', '600']);
  assert.deepEqual([...c.attrOffsets], [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14]);
  assert.deepEqual([...c.attrValues], [0, 1, 0, 0, 1, 0, 2, 1, 3, 4, 5, 6, 7, 8]);
  // goods rows: adgroups seen in training (10, 20) own a row, 30 (test only) the OOV row 0, behaviours none
  assert.deepEqual([...c.goodsRows!], [1, 2, 0, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1]);
  assert.equal(c.numGoodsRows, 3);
  assert.deepEqual(c.itemFields!.map((f) => f.name), ['brand', 'campaign', 'customer', 'price']);
  const brand = itemField(ds, 'brand');
  assert.deepEqual(brand.keys, ['<oov>', '7000', '7002', '8001', '8000', '7001', '9000']);
  // behaviour (100,7000) shares brand id 1 with ad 10; 7003 is only in a test history → OOV; NULL → −1
  assert.deepEqual([...brand.values], [1, -1, 5, 1, -1, 5, 2, 0, 3, 4, 3, 6, 6, 6]);
  const none = [-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1];
  assert.deepEqual(itemField(ds, 'campaign').keys, ['<oov>', '1000', '2000']);
  assert.deepEqual([...itemField(ds, 'campaign').values], [1, 2, 1, ...none]);
  assert.deepEqual([...itemField(ds, 'customer').values], [1, 1, 0, ...none]);
  const price = itemField(ds, 'price');
  assert.deepEqual(price.keys, ['<oov>', '[2,4)', '[64,128)']);
  assert.deepEqual([...price.values], [1, 2, 0, ...none]);

  // samples in file order; split at 2017-05-13 00:00 UTC+8
  assert.deepEqual(ds.userKeys, ['1', '2', '3', '5']);
  assert.deepEqual([...ds.train.users], [0, 1, 0, 1]);
  assert.deepEqual([...ds.train.items], [0, 1, 1, 0]);
  assert.deepEqual([...ds.train.labels], [0, 1, 0, 0]);
  assert.deepEqual([...ds.test.users], [0, 2, 3]);
  assert.deepEqual([...ds.test.items], [2, 0, 1]);
  assert.deepEqual([...ds.test.labels], [0, 1, 0]);
  // histories: strictly before the impression, oldest first, the 3 most recent; stored once per user
  const [i100_7000, i200_null, i100_7001, i300_7002, i200_7003, i402, i403, i404, i601, i602, i600] = [3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13];
  assert.deepEqual(hist(ds.train, 0), [i300_7002, i200_null, i100_7000]); // at t1: b4 b2 b1 (b5 beyond the cap, b3 at t1)
  assert.deepEqual(hist(ds.train, 1), [i402, i403, i404]); // user 2's 3 latest of the 100 before tA
  assert.deepEqual(hist(ds.train, 2), [i100_7000, i100_7001, i100_7000]); // at t2: b1 b3 b9
  assert.deepEqual(hist(ds.train, 3), [i600, i601, i602]); // k = 120, 148, 149: equal times in file order
  assert.deepEqual(hist(ds.test, 0), [i100_7001, i100_7000, i200_7003]); // at t3: b3 b9 b6
  assert.deepEqual(hist(ds.test, 1), []);
  assert.deepEqual(hist(ds.test, 2), []);
  assert.deepEqual([...ds.train.histValues], [
    i300_7002, i200_null, i100_7000, i100_7001, i100_7000, i200_7003, i402, i403, i404, i600, i601, i602,
  ]);
  assert.equal(ds.train.histValues, ds.test.histValues);

  // user fields (missing profile / value → OOV 0; values unseen in training → OOV 0) and context fields
  assert.deepEqual(ds.sampleFields!.map((f) => `${f.group}:${f.name}`), [
    'user:cms_segid', 'user:cms_group_id', 'user:final_gender_code', 'user:age_level', 'user:pvalue_level',
    'user:shopping_level', 'user:occupation', 'user:new_user_class_level', 'context:pid', 'context:hour',
  ]);
  const seg = field(ds, 'cms_segid');
  assert.deepEqual(seg.f.keys, ['<oov>', '0', '8']);
  assert.deepEqual(seg.train, [1, 2, 1, 2]);
  assert.deepEqual(seg.test, [1, 0, 0]); // user 3 has no profile, user 5's 99 is unseen in training
  const gender = field(ds, 'final_gender_code');
  assert.deepEqual(gender.f.keys, ['<oov>', '2', '1']);
  assert.deepEqual(gender.test, [1, 0, 1]);
  const pvalue = field(ds, 'pvalue_level');
  assert.deepEqual(pvalue.f.keys, ['<oov>', '1']);
  assert.deepEqual(pvalue.train, [0, 1, 0, 1]); // user 1's value is empty
  const ucl = field(ds, 'new_user_class_level'); // header name had a trailing space
  assert.deepEqual(ucl.f.keys, ['<oov>', '3']);
  assert.deepEqual(ucl.test, [1, 0, 0]);
  const pid = field(ds, 'pid');
  assert.deepEqual(pid.f.keys, ['<oov>', '430548_1007', '430539_1007']);
  assert.deepEqual(pid.train, [1, 2, 1, 2]);
  assert.deepEqual(pid.test, [2, 0, 1]);
  const hour = field(ds, 'hour');
  assert.deepEqual(hour.f.keys, ['<oov>', '2', '5', '23', '6']);
  assert.deepEqual(hour.train, [1, 2, 3, 4]);
  assert.deepEqual(hour.test, [0, 0, 1]); // 10:00 and 00:00 unseen in training; 02:00 seen
  assert.ok(ds.sampleFields!.every((f) => f.oov === true && f.keys[0] === '<oov>'));

  assert.deepEqual(ds.skipped, {
    impressionsWithUnknownAdgroup: 1,
    adsWithoutImpressions: 1,
    userProfilesWithoutImpressions: 1,
    behavioursOfUsersWithoutImpressions: 1,
    behavioursNotBeforeLastImpression: 2,
  });
  assert.equal(ds.stats!.usersWithoutProfile, 1);
  assert.equal(ds.stats!.behavioursKept, 12);
  assert.equal(ds.stats!.behavioursBeyondHistoryCap, 1 + 97 + 47); // b5, user 2's 100 − 3 and 50 − 3 (compacted while reading)
  assert.equal(ds.stats!.behaviourLines, 160);
  assert.deepEqual(ds.buildOptions, {
    layout: 'tianchi', split: 'time', testDay: '2017-05-13', maxHistory: 3, vocab: {}, priceBuckets: 'log2-octaves', onError: 'skip',
  });
  assert.match(msgs.join('\n'), /skipped .*raw_sample\.csv:7: adgroup_id 99 is not in ad_feature\.csv/);

  // the default cap (50): b5 is in; user 2 keeps the 50 latest before tA and all 50 between tA and tB
  const full = await loadTaobao(dir);
  validateDataset(full);
  assert.deepEqual([...full.train.histLen], [4, 50, 6, 50]);
  assert.equal(full.stats!.behavioursBeyondHistoryCap, 50);
  const k121 = full.train.histStart[3] + 20; // bucket 1 in time order: k = 100..119, 121..147, then the ties at tA + 100
  assert.deepEqual(hist(full.train, 3).slice(-3), [i600, i601, i602].map((i) => full.catalog.itemKeys.indexOf(ds.catalog.itemKeys[i])));
  assert.equal(full.train.histValues[k121], full.catalog.itemKeys.indexOf('cate=601,brand=9000')); // k = 121 (121 % 3 = 1)
});

test('taobao tianchi: .csv.gz files, testDay, vocab options, missing/tarred files, empty files', async () => {
  const gz = Object.fromEntries(Object.entries(TIANCHI).map(([k, v]) => [`${k}.gz`, v])) as Record<string, string>;
  const dir = tmpFixture({});
  for (const [k, v] of Object.entries(gz)) writeFileSync(join(dir, k), gzipSync(v));
  assert.equal(taobaoLayout(dir), 'tianchi');
  const a = await loadTaobao(dir, { maxHistory: 3 });
  const b = await loadTaobao(tmpFixture(TIANCHI), { maxHistory: 3 });
  assert.deepEqual(a.catalog.itemKeys, b.catalog.itemKeys);
  assert.deepEqual([...a.train.histValues], [...b.train.histValues]);
  assert.deepEqual(a.skipped, b.skipped);

  // every impression is before 2017-05-14: an empty test split is a structural error; so is a malformed day
  await assert.rejects(loadTaobao(dir, { testDay: '2017-05-14' }), /the test split is empty \(test day 2017-05-14, UTC\+8\)/);
  await assert.rejects(loadTaobao(dir, { testDay: '2017-05-12' }), /the train split is empty/);
  await assert.rejects(loadTaobao(dir, { testDay: '13.05.2017' }), /testDay must be a date YYYY-MM-DD, got 13\.05\.2017/);
  assert.equal(taobaoDayStart('2017-05-13'), B);

  // vocab: minCount 2 drops brands seen once in training (7002, 7001); hashing gives no OOV row
  const m = await loadTaobao(dir, { maxHistory: 3, vocab: { minCount: 2 } });
  validateDataset(m);
  assert.deepEqual(itemField(m, 'brand').keys, ['<oov>', '7000', '8001', '9000']);
  assert.deepEqual(itemField(m, 'price').keys, ['<oov>', '[2,4)', '[64,128)']); // price: never cut
  assert.deepEqual(field(m, 'cms_segid').f.keys, ['<oov>', '0', '8']);
  const top = await loadTaobao(dir, { maxHistory: 3, vocab: { topK: 1 } });
  assert.equal(top.catalog.numGoodsRows, 2);
  assert.deepEqual(itemField(top, 'brand').keys, ['<oov>', '7000']);
  const h = await loadTaobao(dir, { maxHistory: 3, vocab: { hashBuckets: 16 } });
  validateDataset(h);
  assert.equal(h.catalog.numGoodsRows, 16);
  assert.equal(itemField(h, 'brand').hashed, true);
  assert.equal(field(h, 'age_level').f.hashed, true);
  assert.equal(field(h, 'pid').f.hashed, undefined); // pid and hour are not id-like: never hashed
  assert.equal(h.buildOptions.vocab && (h.buildOptions.vocab as { hashBuckets: number }).hashBuckets, 16);

  // structure: missing file, only a .tar.gz, empty file, missing column, corrupt gzip
  const noLog = tmpFixture({ 'raw_sample.csv': RAW_SAMPLE, 'ad_feature.csv': AD_FEATURE, 'user_profile.csv': USER_PROFILE });
  assert.equal(taobaoLayout(noLog), 'tianchi');
  assert.throws(() => taobaoSourceFiles(noLog), /taobao \(Tianchi layout\) needs .*behavior_log\.csv is missing/);
  writeFileSync(join(noLog, 'behavior_log.csv.tar.gz'), 'x');
  await assert.rejects(
    loadTaobao(noLog),
    /behavior_log\.csv is only there as behavior_log\.csv\.tar\.gz \(unpack it: tar xzf behavior_log\.csv\.tar\.gz\)/,
  );
  const empty = tmpFixture({ ...TIANCHI, 'user_profile.csv': '' });
  await assert.rejects(loadTaobao(empty), (e: Error) => e.message.startsWith(`${join(empty, 'user_profile.csv')}: empty file`));
  const noCol = tmpFixture({ ...TIANCHI, 'ad_feature.csv': AD_FEATURE.replace('customer,', 'advertiser,') });
  await assert.rejects(loadTaobao(noCol), new RegExp(`${join(noCol, 'ad_feature.csv')}: missing column customer`));
  const badLogHeader = tmpFixture({ ...TIANCHI, 'behavior_log.csv': BEHAVIOR_LOG.replace('btag,cate', 'cate,btag') });
  await assert.rejects(loadTaobao(badLogHeader), /behavior_log\.csv: expected the header user,time_stamp,btag,cate,brand \(in this order\)/);
  const corrupt = tmpFixture({ ...TIANCHI, 'behavior_log.csv': '' });
  const bytes = gzipSync(BEHAVIOR_LOG);
  writeFileSync(join(corrupt, 'behavior_log.csv.gz'), bytes.subarray(0, bytes.length - 20));
  // the plain file wins when both exist; with only the truncated .gz the read fails naming it
  await assert.rejects(loadTaobao(corrupt), /behavior_log\.csv: empty file/);
  const corrupt2 = tmpFixture({ 'raw_sample.csv': RAW_SAMPLE, 'ad_feature.csv': AD_FEATURE, 'user_profile.csv': USER_PROFILE });
  writeFileSync(join(corrupt2, 'behavior_log.csv.gz'), bytes.subarray(0, bytes.length - 20));
  await assert.rejects(loadTaobao(corrupt2), /behavior_log\.csv\.gz: corrupt or truncated gzip data/);
});

test('taobao tianchi: malformed rows are skipped and counted, or fail with file:line', async () => {
  const files = {
    'ad_feature.csv': [AD_FEATURE, '10,100,1000,500,7000,9.9', '50,abc,1,1,1,1', '60,1,1,1,1'].join('\n'),
    'raw_sample.csv': [
      RAW_SAMPLE,
      `1,${t1},10,430548_1007,1`, // 5 fields
      '  ', // blank
      `1,${t1},10,430548_1007,1,2`, // clk 2
      `x1,${t1},10,p,1,0`, // user not numeric
      `1,${t1},10,p,0,0`, // nonclk ≠ 1 − clk
    ].join('\n'),
    'user_profile.csv': [USER_PROFILE, '1,0,5,2,5,,3,0,3', '7,a,1,1,1,1,1,1,1'].join('\n'),
    'behavior_log.csv': [
      BEHAVIOR_LOG,
      `1,${t1 - 7},look,100,7000`,
      `1,${t1 - 7},pv,100`,
      `1,abc,pv,100,7000`,
      `1,${t1 - 7},pv,100,70x0`,
      `1,${t1 - 7},pv,100,7000,1`,
    ].join('\n'),
  };
  const dir = tmpFixture(files);
  const ds = await loadTaobao(dir, { maxHistory: 3 });
  validateDataset(ds);
  assert.deepEqual(ds.skipped, {
    adFeatureDuplicates: 1,
    adFeatureBadValues: 1,
    adFeatureBadFieldCount: 1,
    rawSampleBadFieldCount: 1,
    rawSampleBadValues: 3,
    impressionsWithUnknownAdgroup: 1,
    blankLines: 1,
    adsWithoutImpressions: 1,
    userProfileDuplicates: 1,
    userProfileBadValues: 1,
    userProfilesWithoutImpressions: 1,
    behaviorLogBadValues: 3,
    behaviorLogBadFieldCount: 2,
    behavioursOfUsersWithoutImpressions: 1,
    behavioursNotBeforeLastImpression: 2,
  });
  // the valid rows give exactly the clean dataset
  const clean = await loadTaobao(tmpFixture(TIANCHI), { maxHistory: 3 });
  assert.deepEqual(ds.catalog.itemKeys, clean.catalog.itemKeys);
  assert.deepEqual([...ds.train.histValues], [...clean.train.histValues]);
  assert.deepEqual(ds.skippedExamples, [
    `${join(dir, 'ad_feature.csv')}:6: adgroup_id 10 already described on line 2 (expected one line per adgroup)`,
    `${join(dir, 'ad_feature.csv')}:7: expected cate_id as a non-negative integer, got "abc"`,
    `${join(dir, 'ad_feature.csv')}:8: expected 6 comma-separated fields (adgroup_id,cate_id,campaign_id,customer,brand,price), got 5`,
  ]);

  // 'fail': the first malformed row throws file:line: what was expected, got …
  await assert.rejects(
    loadTaobao(dir, { onError: 'fail' }),
    (e: Error) => e.message.startsWith(`${join(dir, 'ad_feature.csv')}:6: adgroup_id 10 already described on line 2`),
  );
  const rawOnly = tmpFixture({ ...TIANCHI, 'raw_sample.csv': files['raw_sample.csv'] });
  await assert.rejects(
    loadTaobao(rawOnly, { onError: 'fail' }),
    (e: Error) => e.message === `${join(rawOnly, 'raw_sample.csv')}:7: adgroup_id 99 is not in ad_feature.csv`,
  );
  const noUnknownAd = RAW_SAMPLE.replace(/\n2,\d+,99,.*\n/, '\n');
  const logOnly = tmpFixture({ ...TIANCHI, 'behavior_log.csv': files['behavior_log.csv'], 'raw_sample.csv': noUnknownAd });
  await assert.rejects(
    loadTaobao(logOnly, { onError: 'fail' }),
    (e: Error) => e.message === `${join(logOnly, 'behavior_log.csv')}:162: expected btag pv, cart, fav or buy, got "look"`,
  );
  // nothing usable: the structural error says how many rows were skipped and shows the first
  const allBad = tmpFixture({ ...TIANCHI, 'raw_sample.csv': 'user,time_stamp,adgroup_id,pid,nonclk,clk\n1,2,3\n' });
  await assert.rejects(
    loadTaobao(allBad),
    /raw_sample\.csv: no valid impression line \(1 malformed row was skipped, e\.g\. .*raw_sample\.csv:2: expected 6 comma-separated fields/,
  );
});

// ---- layout detection -------------------------------------------------------------------------------------------

test('taobao: layout detection, the UserBehavior dataset is recognised and refused', SHARED, async () => {
  assert.ok(existsSync(TAOBAO), `shared fixtures at ${TAOBAO}`);
  const ub = join(TAOBAO, 'UserBehavior_head_sample.csv');
  assert.equal(taobaoLayout(join(TAOBAO, 'train_sample.csv')), 'joined');
  assert.equal(taobaoLayout(join(TAOBAO, 'alimama_sampled_train.txt')), 'sampled');
  assert.equal(taobaoLayout(ub), null);
  assert.match(
    taobaoUnsupported(ub)!,
    /UserBehavior_head_sample\.csv: this is Taobao's UserBehavior dataset \(Tianchi dataset 649: user,item,category,behavior,timestamp/,
  );
  assert.match(taobaoUnsupported(ub)!, /not supported/);
  await assert.rejects(loadTaobao(ub), /UserBehavior_head_sample\.csv: this is Taobao's UserBehavior dataset/);
  // the fixture directory holds two layouts: ambiguous
  assert.throws(
    () => taobaoLayout(TAOBAO),
    /holds two taobao layouts, joined \(test_sample\.csv, train_sample\.csv\) and sampled \(alimama_sampled_train\.txt\)/,
  );
  // a directory with only the UserBehavior file (symlinked, read in place)
  const ubDir = tmpFixture({});
  symlinkSync(ub, join(ubDir, 'UserBehavior.csv'));
  assert.equal(taobaoLayout(ubDir), null);
  assert.throws(() => taobaoSourceFiles(ubDir), /UserBehavior\.csv: this is Taobao's UserBehavior dataset/);
  // no taobao data at all
  const other = tmpFixture({ 'ratings.csv': 'userId,movieId,rating,timestamp\n1,2,3,4\n' });
  assert.equal(taobaoLayout(other), null);
  assert.equal(findTaobaoFiles(other), null);
  assert.equal(taobaoUnsupported(other), null);
  await assert.rejects(loadTaobao(other), /no taobao data \(expected raw_sample\.csv/);
  await assert.rejects(loadTaobao(join(other, 'nope')), /no such file or directory/);
  // a joined pair, a sampled pair in train/ + test/ subdirectories
  const pair = tmpFixture({});
  symlinkSync(join(TAOBAO, 'train_sample.csv'), join(pair, 'train_sample.csv'));
  symlinkSync(join(TAOBAO, 'test_sample.csv'), join(pair, 'test_sample.csv'));
  assert.equal(taobaoLayout(pair), 'joined');
  assert.deepEqual(findTaobaoFiles(pair), {
    layout: 'joined', dir: pair, train: join(pair, 'train_sample.csv'), test: join(pair, 'test_sample.csv'),
  });
  const lines = readFileSync(join(TAOBAO, 'alimama_sampled_train.txt'), 'utf8').split('\n');
  const sub = tmpFixture({
    'big_train/train_sorted.csv': lines.slice(0, 400).join('\n'),
    'big_test/test.csv': lines.slice(400).join('\n'),
  });
  assert.equal(taobaoLayout(sub), 'sampled');
  assert.deepEqual(taobaoSourceFiles(sub), [join(sub, 'big_train', 'train_sorted.csv'), join(sub, 'big_test', 'test.csv')]);
  const s = await loadTaobao(sub);
  validateDataset(s);
  assert.equal(s.train.size, 400);
  assert.equal(s.test.size, 100);
  assert.deepEqual(s.buildOptions.split, 'files');
});

// ---- the shared fixtures, read in place ---------------------------------------------------------------------------

test('taobao joined: train_sample.csv + test_sample.csv', SHARED, async () => {
  const dir = tmpFixture({});
  symlinkSync(join(TAOBAO, 'train_sample.csv'), join(dir, 'train_sample.csv'));
  symlinkSync(join(TAOBAO, 'test_sample.csv'), join(dir, 'test_sample.csv'));
  const ds = await loadTaobao(dir);
  validateDataset(ds);
  assert.equal(ds.train.size, 100);
  assert.equal(ds.test.size, 100);
  assert.equal(ds.numUsers, 24);
  assert.equal(ds.catalog.numItems, 99); // every item an ad; all clicked ads also appear as candidates
  assert.ok([...ds.catalog.goodsRows!].every((r) => r >= 0));
  assert.equal(ds.stats!.historyOnlyAds, 0);
  assert.deepEqual(ds.skipped, { adFeatureConflicts: 7 });
  // first train row: 0,2017-05-06 00:00:00,874257,172298,430548_1007,5443,160194,864,339907,3.9,…,170301^573514
  const c = ds.catalog;
  assert.equal(ds.userKeys[ds.train.users[0]], '874257');
  assert.equal(c.itemKeys[ds.train.items[0]], '172298');
  assert.deepEqual(hist(ds.train, 0).map((i) => c.itemKeys[i]), ['170301', '573514']);
  assert.equal(c.attrKeys[c.attrValues[c.attrOffsets[ds.train.items[0]]]], '5443');
  const brand = itemField(ds, 'brand');
  assert.equal(brand.keys[brand.values[ds.train.items[0]]], '339907');
  const price = itemField(ds, 'price');
  assert.equal(price.keys[price.values[ds.train.items[0]]], '[2,4)');
  assert.equal(field(ds, 'pid').f.keys[field(ds, 'pid').train[0]], '430548_1007');
  assert.equal(field(ds, 'hour').f.keys[field(ds, 'hour').train[0]], '0');
  assert.equal(field(ds, 'pvalue_level').train[0], 0); // empty → OOV
  assert.equal(field(ds, 'new_user_class_level').f.size, 1); // empty in every row
  assert.equal(ds.train.labels.reduce((a, b) => a + b, 0), 4);
  assert.equal(ds.test.labels.reduce((a, b) => a + b, 0), 4);
  assert.deepEqual(ds.buildOptions.split, 'files');
  // one file alone: split by time; every row is from 2017-05-06, so the default test day leaves no test split
  await assert.rejects(loadTaobao(join(TAOBAO, 'train_sample.csv')), /train_sample: the test split is empty \(test day 2017-05-13/);
  await assert.rejects(loadTaobao(join(TAOBAO, 'train_sample.csv'), { testDay: '2017-05-06' }), /train_sample: the train split is empty/);
});

test('taobao joined: a single file split by testDay; malformed rows', SHARED, async () => {
  const head = readFileSync(join(TAOBAO, 'train_sample.csv'), 'utf8').split('\n')[0];
  const row = (clk: number, time: string, user: string, ad: string, seq: string) =>
    `${clk},${time},${user},${ad},430548_1007,5443,160194,864,,3.9,0,3,2,3,,3,0,,${seq}`;
  const file = [
    head,
    row(0, '2017-05-12 23:59:59', '1', '11', ''),
    row(1, '2017-05-13 00:00:00', '1', '12', '11'),
    row(0, '2017-05-12 10:00:00', '2', '13', '99^11'),
    row(0, 'yesterday', '2', '13', ''),
    row(2, '2017-05-12 10:00:00', '2', '13', ''),
    row(0, '2017-05-12 10:00:00', '2', '13', '1^x'),
    '1,2,3',
  ].join('\n');
  const dir = tmpFixture({ 'joined.csv': file });
  assert.equal(taobaoLayout(dir), 'joined');
  const ds = await loadTaobao(dir);
  validateDataset(ds);
  assert.equal(ds.train.size, 2);
  assert.equal(ds.test.size, 1);
  assert.deepEqual(ds.catalog.itemKeys, ['11', '12', '13', '99']);
  assert.deepEqual(hist(ds.test, 0), [0]);
  assert.deepEqual(hist(ds.train, 1), [3, 0]);
  // 99 only appears in a click sequence: no attribute, −1 fields, but a goods row (it occurs in training)
  assert.equal(ds.catalog.attrOffsets[4] - ds.catalog.attrOffsets[3], 0);
  assert.deepEqual(ds.catalog.itemFields!.map((f) => f.values[3]), [-1, -1, -1, -1]);
  assert.equal(ds.stats!.historyOnlyAds, 1);
  assert.deepEqual(field(ds, 'hour').train, [1, 2]);
  assert.deepEqual(field(ds, 'hour').f.keys, ['<oov>', '23', '10']);
  assert.deepEqual(ds.skipped, { joinedBadValues: 3, joinedBadFieldCount: 1 });
  await assert.rejects(
    loadTaobao(dir, { onError: 'fail' }),
    (e: Error) => e.message === `${join(dir, 'joined.csv')}:5: expected time_stamp as "YYYY-MM-DD HH:MM:SS" or Unix seconds, got "yesterday"`,
  );
  const missing = tmpFixture({ 'x.csv': head.replace(',price', '') + '\n' });
  await assert.rejects(loadTaobao(missing), /x\.csv: missing column price/);
});

test('taobao sampled: the DMR alimama file, seeded user split', SHARED, async () => {
  const file = join(TAOBAO, 'alimama_sampled_train.txt');
  const ds = await loadTaobao(file, { seed: 3 });
  validateDataset(ds);
  assert.equal(ds.name, 'alimama_sampled_train');
  assert.equal(ds.train.size + ds.test.size, 500);
  assert.equal(ds.numUsers, 230);
  const testUsers = new Set(ds.test.users);
  assert.equal(testUsers.size, Math.round(0.2 * 230));
  for (const u of ds.train.users) assert.ok(!testUsers.has(u), 'a user is in one split only');
  assert.equal(ds.catalog.numItems, 297 + 4140);
  assert.equal(ds.catalog.numAttrs, 930);
  assert.deepEqual(ds.sampleFields!.map((f) => f.name), [
    'cms_segid', 'cms_group_id', 'final_gender_code', 'age_level', 'pvalue_level', 'shopping_level', 'occupation',
    'new_user_class_level', 'pid',
  ]);
  assert.deepEqual(ds.buildOptions, {
    layout: 'sampled', split: 'users', seed: 3, testFraction: 0.2, maxHistory: 50, vocab: {}, priceBuckets: 'quantiles-10', onError: 'skip',
  });
  // the first line: uid 1000043; ad 328301 (cate 6410, campaign 233148, customer 206117, brand 121422); pid 1; label 0;
  // 50 behaviours, the most recent (column 49/99/149) cate 8998 brand 205025
  const all = (s: SampleSet, i: number) => ({ user: ds.userKeys[s.users[i]], s, i });
  const rows = [...Array(ds.train.size)].map((_, i) => all(ds.train, i)).concat([...Array(ds.test.size)].map((_, i) => all(ds.test, i)));
  const first = rows.find((r) => r.user === '1000043')!;
  const c = ds.catalog;
  const item = first.s.items[first.i];
  assert.equal(c.itemKeys[item], '328301');
  assert.notEqual(c.goodsRows![item], -1);
  assert.equal(c.attrKeys[c.attrValues[c.attrOffsets[item]]], '6410');
  for (const [name, want] of [['campaign', '233148'], ['customer', '206117']] as const) {
    const f = itemField(ds, name);
    if (first.s === ds.train) assert.equal(f.keys[f.values[item]], want);
  }
  assert.equal(first.s.labels[first.i], 0);
  const h = hist(first.s, first.i);
  assert.equal(h.length, 50);
  assert.equal(c.itemKeys[h[49]], 'cate=8998,brand=205025');
  assert.equal(c.itemKeys[h[0]], 'cate=8998,brand=211122');
  assert.ok(h.every((x) => c.goodsRows![x] === -1));
  // line 130 (uid 10017) has 2 behaviours; line 446 (uid 100419) one
  const short = rows.find((r) => r.user === '10017')!;
  assert.deepEqual(hist(short.s, short.i).map((x) => c.itemKeys[x]), ['cate=4292,brand=389674', 'cate=4520,brand=293786']);
  const one = rows.find((r) => r.user === '100419')!;
  assert.deepEqual(hist(one.s, one.i).map((x) => c.itemKeys[x]), ['cate=5945,brand=402653']);
  // brand 0 of an ad is "no brand"
  const brand = itemField(ds, 'brand');
  assert.ok(!brand.keys.includes('0'));
  assert.ok([...brand.values].some((v, i) => v === -1 && c.goodsRows![i] >= 0));
  // price: 10 equal-frequency buckets of the training ads
  assert.equal(itemField(ds, 'price').size, 11);
  // the same seed gives the same split; another seed another
  const again = await loadTaobao(file, { seed: 3 });
  assert.deepEqual([...again.test.users], [...ds.test.users]);
  const other = await loadTaobao(file, { seed: 4, maxHistory: 5 });
  assert.notDeepEqual([...other.test.users].map((u) => other.userKeys[u]), [...ds.test.users].map((u) => ds.userKeys[u]));
  assert.ok([...other.train.histLen].every((l) => l <= 5));
  await assert.rejects(loadTaobao(file, { testFraction: 1 }), /testFraction must be in \(0, 1\), got 1/);
});

test('taobao sampled: malformed lines skipped or failing', SHARED, async () => {
  const lines = readFileSync(join(TAOBAO, 'alimama_sampled_train.txt'), 'utf8').split('\n').filter((l) => l !== '');
  const f = lines[0].split(',');
  const badMask = [...f];
  badMask[160] = '2';
  const badLabel = [...f];
  badLabel[266] = 'yes';
  const text = [...lines.slice(0, 20), '', badMask.join(','), f.slice(0, 266).join(','), badLabel.join(',')].join('\n');
  const dir = tmpFixture({ 'alimama.txt': text });
  const ds = await loadTaobao(dir);
  validateDataset(ds);
  assert.equal(ds.train.size + ds.test.size, 20);
  assert.deepEqual(ds.skipped, { sampledBadValues: 2, sampledBadFieldCount: 1, blankLines: 1 });
  await assert.rejects(
    loadTaobao(dir, { onError: 'fail' }),
    (e: Error) => e.message === `${join(dir, 'alimama.txt')}:22: expected a mask 0 or 1 in column 160, got "2"`,
  );
});

// ---- helpers --------------------------------------------------------------------------------------------------

test('taobao: vocabFromCounts builds what FieldVocabBuilder builds; price octaves', () => {
  const seq = ['a', 'b', 'a', 'c', 'd', 'b', 'a', 'e', 'c', 'f', 'f', 'g'];
  for (const opts of [{}, { minCount: 2 }, { topK: 3 }, { topK: 2, minCount: 2 }, { topK: 0 }, { hashBuckets: 5 }]) {
    const b = new FieldVocabBuilder('x', opts);
    const counts = new Map<string, number>();
    for (const s of seq) {
      b.add(s);
      counts.set(s, (counts.get(s) ?? 0) + 1);
    }
    const v = vocabFromCounts('x', [...counts.keys()], [...counts.values()], opts);
    assert.deepEqual(v.field(), b.build().field(), JSON.stringify(opts));
  }
  assert.deepEqual([0, 0.99, 1, 1.5, 2, 3.9, 4, 127.99, 128, 1e6].map(priceOctave), [
    '[0,1)', '[0,1)', '[1,2)', '[1,2)', '[2,4)', '[2,4)', '[4,8)', '[64,128)', '[128,256)', '[524288,1048576)',
  ]);
});

// ---- end to end: a DIN model on the loaded fixture data --------------------------------------------------------

test('taobao: DIN with item fields, behaviour items and user/context fields trains on a batch (finite loss)', SHARED, async () => {
  const tianchi = await loadTaobao(tmpFixture(TIANCHI), { maxHistory: 3 });
  for (const ds of [tianchi, await loadTaobao(join(TAOBAO, 'alimama_sampled_train.txt'))]) {
    const model = createModel(tinyConfig({ model: 'din', goodsDim: 4, attrDim: 4 }), {
      backend: be,
      catalog: ds.catalog,
      seed: 1,
      sampleFields: ds.sampleFields,
    });
    const names = model.params().map((p) => p.name);
    for (const n of ['field.brand', 'field.price', 'user.age_level', 'ctx.pid']) assert.ok(names.includes(n), `${n} in ${names}`);
    const batcher = new Batcher(ds.train, { batchSize: 64, maxHistory: 50, shuffle: true, seed: 2 });
    const batch = batcher.epoch(0).next().value!;
    assert.equal(batch.fieldValues!.length, ds.sampleFields!.length);
    model.zeroGrad();
    const d = be.alloc(batch.size);
    const loss = sigmoidLogLoss(model.forward(batch, 'train'), batch.labels, batch.size, d);
    model.backward(d);
    assert.ok(Number.isFinite(loss) && loss > 0, `loss ${loss}`);
    for (const p of model.params()) {
      const n = p.sparse ? p.sparse.count * p.shape[1] : p.grad.length;
      for (let i = 0; i < n; i++) assert.ok(Number.isFinite(p.grad[i]), p.name);
    }
  }
});
