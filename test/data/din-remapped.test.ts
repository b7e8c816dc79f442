import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { gzipSync } from 'node:zlib';
import {
  dinRemappedSourceFiles,
  findDinRemappedFiles,
  loadDinRemapped,
  looksLikeDinRemapped,
} from '../../src/data/sources/din-remapped.js';
import { validateSampleSet } from '../../src/data/sample-set.js';
import type { Dataset, SampleSet } from '../../src/core/types.js';
import { AMAZON_FIXTURE, SHARED_DATA, tmpFixture } from './helpers.js';

const hist = (s: SampleSet, i: number): number[] => [...s.histValues.subarray(s.histStart[i], s.histStart[i] + s.histLen[i])];

/** A sample written back in the file's format, through the dataset's vocabularies and catalog. */
function lineOf(ds: Dataset, s: SampleSet, i: number): string {
  const key = (item: number) => ds.catalog.itemKeys[item];
  const cate = (item: number) => {
    const c = ds.catalog;
    assert.equal(c.attrOffsets[item + 1] - c.attrOffsets[item], 1, `item ${key(item)} has one category`);
    return c.attrKeys[c.attrValues[c.attrOffsets[item]]];
  };
  const h = hist(s, i);
  return [h.map(key).join(' '), h.map(cate).join(' '), key(s.items[i]), cate(s.items[i]), String(s.labels[i])].join(';');
}

/** All samples, train then test, written back as lines. */
const allLines = (ds: Dataset): string[] => [
  ...Array.from({ length: ds.train.size }, (_, i) => lineOf(ds, ds.train, i)),
  ...Array.from({ length: ds.test.size }, (_, i) => lineOf(ds, ds.test, i)),
];

// Train lines: the shuffled training file of the original (one line per group, except lines 4–5 which share a history).
const TRAIN =
  ['10 9;3 2;100;3;1', '9;2;7;5;0', '100 10;3 3;9;2;1', '7 9;5 2;10;3;0', '7 9;5 2;100;3;1', ';;42;5;0'].join('\n') + '\n';
// Test lines: each user's positive then negative with the same history.
const TEST = ['9 100;2 3;10;3;1', '9 100;2 3;55;2;0', '7;5;9;2;1', '7;5;42;5;0'].join('\n') + '\n';

test('din-remapped: train/test pair — numeric id order, one category per item, groups of consecutive same-history lines', () => {
  const dir = tmpFixture({ 'paddle_train.txt': TRAIN, 'paddle_test.txt': TEST });
  assert.deepEqual(findDinRemappedFiles(dir), [{ train: join(dir, 'paddle_train.txt'), test: join(dir, 'paddle_test.txt') }]);
  assert.deepEqual(dinRemappedSourceFiles(dir), [join(dir, 'paddle_train.txt'), join(dir, 'paddle_test.txt')]);
  const ds = loadDinRemapped(dir);
  assert.equal(ds.format, 'din-remapped');
  assert.equal(ds.name, basename(dir));
  assert.deepEqual(ds.catalog.itemKeys, ['7', '9', '10', '42', '55', '100']);
  assert.deepEqual(ds.catalog.attrKeys, ['2', '3', '5']);
  assert.deepEqual([...ds.catalog.attrOffsets], [0, 1, 2, 3, 4, 5, 6]);
  assert.deepEqual([...ds.catalog.attrValues], [2, 0, 1, 2, 0, 1]); // 7→5 9→2 10→3 42→5 55→2 100→3
  assert.deepEqual(ds.userKeys, [
    'paddle_train.txt:1',
    'paddle_train.txt:2',
    'paddle_train.txt:3',
    'paddle_train.txt:4', // lines 4 and 5
    'paddle_train.txt:6',
    'paddle_test.txt:1', // lines 1 and 2
    'paddle_test.txt:3', // lines 3 and 4
  ]);
  assert.equal(ds.numUsers, 7);
  const [i7, i9, i10, i42, i55, i100] = [0, 1, 2, 3, 4, 5];
  assert.deepEqual([...ds.train.users], [0, 1, 2, 3, 3, 4]);
  assert.deepEqual([...ds.train.items], [i100, i7, i9, i10, i100, i42]);
  assert.deepEqual([...ds.train.labels], [1, 0, 1, 0, 1, 0]);
  assert.deepEqual(
    Array.from({ length: ds.train.size }, (_, i) => hist(ds.train, i)),
    [[i10, i9], [i9], [i100, i10], [i7, i9], [i7, i9], []],
  );
  assert.equal(ds.train.histStart[3], ds.train.histStart[4]); // one stored history per group
  assert.deepEqual([...ds.test.users], [5, 5, 6, 6]);
  assert.deepEqual([...ds.test.items], [i10, i55, i9, i42]);
  assert.deepEqual([...ds.test.labels], [1, 0, 1, 0]);
  assert.deepEqual(hist(ds.test, 1), [i9, i100]);
  assert.deepEqual(hist(ds.test, 3), [i7]);
  assert.equal(ds.train.histValues, ds.test.histValues);
  assert.equal(ds.train.histValues.length, 2 + 1 + 2 + 2 + 0 + 2 + 1);
  validateSampleSet(ds.train, ds.catalog.numItems, ds.numUsers, 'train');
  validateSampleSet(ds.test, ds.catalog.numItems, ds.numUsers, 'test');
  assert.deepEqual(ds.skipped, {});
  assert.deepEqual(ds.stats, { samples: 10, users: 7, items: 6, categories: 3 });
  assert.deepEqual(ds.buildOptions, { split: 'files', users: 'consecutive-same-history', onError: 'skip' });
  // Every sample written back gives the file's lines, in order.
  assert.deepEqual(
    Array.from({ length: ds.train.size }, (_, i) => lineOf(ds, ds.train, i)),
    TRAIN.trim().split('\n'),
  );
  assert.deepEqual(
    Array.from({ length: ds.test.size }, (_, i) => lineOf(ds, ds.test, i)),
    TEST.trim().split('\n'),
  );
});

test('din-remapped: train/ and test/ subdirectories, .txt.gz, blank lines and CRLF', () => {
  const flat = loadDinRemapped(tmpFixture({ 'paddle_train.txt': TRAIN, 'paddle_test.txt': TEST }));
  const dir = tmpFixture({
    'train/paddle_train.txt': TRAIN.replace(/\n/g, '\r\n'),
    'train/notes.txt': 'free text, not samples\n', // not this format: ignored
    'train/x.gz': 'ignored (not .txt)',
    'README.md': 'x',
  });
  mkdirSync(join(dir, 'test'));
  writeFileSync(join(dir, 'test', 'part-0.txt.gz'), gzipSync(TEST));
  assert.deepEqual(findDinRemappedFiles(dir), [{ train: join(dir, 'train', 'paddle_train.txt'), test: join(dir, 'test', 'part-0.txt.gz') }]);
  const sub = loadDinRemapped(dir);
  assert.deepEqual(sub.train, flat.train);
  assert.deepEqual(sub.test, flat.test);
  assert.deepEqual(sub.catalog, flat.catalog);
  assert.deepEqual(sub.userKeys.slice(5), ['part-0.txt.gz:1', 'part-0.txt.gz:3']);
  // A blank line is counted and ends a group.
  const blank = loadDinRemapped(tmpFixture({ 'a_train.txt': TRAIN, 'a_test.txt': '7;5;9;2;1\n\n7;5;42;5;0\n' }));
  assert.equal(blank.skipped.blankLines, 1);
  assert.deepEqual([...blank.test.users], [5, 6]);
});

test('din-remapped: a single file is split by seeded fraction of groups, never cutting a group', () => {
  const lines: string[] = [];
  for (let g = 0; g < 40; g++) {
    const h = `${g} ${g + 1};${g % 7} ${(g + 1) % 7}`;
    lines.push(`${h};${g + 2};${(g + 2) % 7};1`, `${h};${g + 100};${(g + 100) % 7};0`);
  }
  const dir = tmpFixture({ 'samples.txt': lines.join('\n') });
  const file = join(dir, 'samples.txt');
  assert.deepEqual(findDinRemappedFiles(dir), [{ train: file, test: null }]);
  assert.deepEqual(findDinRemappedFiles(file), [{ train: file, test: null }]);
  const ds = loadDinRemapped(file, { seed: 3 });
  assert.equal(ds.name, 'samples');
  assert.equal(ds.numUsers, 40);
  assert.equal(ds.test.size, 2 * 8); // round(0.2 × 40) groups of 2
  assert.equal(ds.train.size, 2 * 32);
  assert.deepEqual(ds.buildOptions, { seed: 3, split: 'fraction', testFraction: 0.2, users: 'consecutive-same-history', onError: 'skip' });
  for (const s of [ds.train, ds.test]) {
    for (let i = 0; i < s.size; i += 2) {
      assert.equal(s.users[i], s.users[i + 1], 'a group stays together');
      assert.deepEqual([s.labels[i], s.labels[i + 1]], [1, 0]);
    }
  }
  const testUsers = (d: Dataset) => [...new Set(d.test.users)].join(',');
  assert.equal(testUsers(loadDinRemapped(file, { seed: 3 })), testUsers(ds));
  assert.notEqual(testUsers(loadDinRemapped(file, { seed: 4 })), testUsers(ds));
  const half = loadDinRemapped(file, { testFraction: 0.5 });
  assert.equal(half.test.size, 40);
  // All samples, train and test, are the file's lines.
  assert.deepEqual(allLines(ds).sort(), [...lines].sort());
  assert.throws(() => loadDinRemapped(file, { testFraction: 1 }), /testFraction must be in \(0, 1\)/);
  const one = tmpFixture({ 'one.txt': '1;1;2;1;1\n1;1;3;1;0\n' });
  assert.throws(() => loadDinRemapped(one), /one\.txt: no test samples/); // round(0.2 × 1 group) = 0
  assert.throws(() => loadDinRemapped(one, { testFraction: 0.9 }), /one\.txt: no training samples/);
});

test('din-remapped: row errors are skipped and counted by default, or fail with file and line', () => {
  const good = '1 2;10 20;3;30;1';
  const cases: [string, RegExp, string][] = [
    ['1 2;10;3;30;1', /bad\.txt:2: hist_cates has 1 entries, expected 2 \(one per hist_items entry\)/, 'historyLengthMismatch'],
    ['1;11;4;40;1', /bad\.txt:2: item 1 has category 11 but category 10 at bad\.txt:1 \(expected one category per item\)/, 'conflictingCategories'],
    ['5 5;50 51;6;60;0', /bad\.txt:2: item 5 has category 51 but category 50 at bad\.txt:2/, 'conflictingCategories'],
    ['8;80;8;81;0', /bad\.txt:2: item 8 has category 81 but category 80 at bad\.txt:2/, 'conflictingCategories'],
    ['1 2;10 20;3;30', /bad\.txt:2: expected 5 ';'-separated fields \(hist_items;hist_cates;target;target_cate;label\), found 4/, 'malformedLines'],
    ['1 x;10 20;3;30;1', /bad\.txt:2: hist_items: "x" is not a non-negative integer id/, 'malformedLines'],
    ['1 2;10 -20;3;30;1', /bad\.txt:2: hist_cates: "-20" is not a non-negative integer id/, 'malformedLines'],
    ['1 2;10 20;3.5;30;1', /bad\.txt:2: target: "3\.5" is not a non-negative integer id/, 'malformedLines'],
    ['1 2;10 20;3;;1', /bad\.txt:2: target_cate: "" is not a non-negative integer id/, 'malformedLines'],
    ['1 2;10 20;3;30;2', /bad\.txt:2: label: expected 0 or 1, found "2"/, 'malformedLines'],
    ['1 2;10 20;99999999999;30;1', /bad\.txt:2: target: "99999999999" is not a non-negative integer id/, 'malformedLines'],
  ];
  for (const [bad, re, reason] of cases) {
    const content = [good, bad, '7;70;9;90;0', '7;70;9;90;1', '7;70;12;90;0'].join('\n');
    const dir = tmpFixture({ 'bad.txt': content });
    assert.throws(() => loadDinRemapped(dir, { onError: 'fail', testFraction: 0.5 }), re, bad);
    const ds = loadDinRemapped(dir, { testFraction: 0.5 }); // 'skip' is the default
    assert.deepEqual(ds.skipped, { [reason]: 1 }, bad);
    assert.equal(ds.skippedExamples?.length, 1, bad);
    assert.match(ds.skippedExamples![0], re, bad);
    assert.equal(ds.train.size + ds.test.size, 4, bad);
    // Nothing of the skipped line entered the catalog (e.g. item 4 or the conflicting categories).
    assert.deepEqual(ds.catalog.itemKeys, ['1', '2', '3', '7', '9', '12'], bad);
    assert.deepEqual(ds.catalog.attrKeys, ['10', '20', '30', '70', '90'], bad);
  }
  assert.throws(() => loadDinRemapped(tmpFixture({ 'bad.txt': good }), { onError: 'maybe' as 'skip' }), /onError must be 'skip' or 'fail'/);
});

test('din-remapped: discovery', () => {
  assert.deepEqual(findDinRemappedFiles('/nonexistent/din'), []);
  assert.deepEqual(findDinRemappedFiles(tmpFixture(AMAZON_FIXTURE)), []); // amazon-seq .txt is not this format
  assert.deepEqual(findDinRemappedFiles(tmpFixture({ 'x.txt': 'hello;world\n', 'y.csv': TRAIN })), []);
  assert.equal(looksLikeDinRemapped(join(tmpFixture({ 'x.txt': '\n\n  \n' + TEST }), 'x.txt')), true); // first non-blank line
  assert.equal(looksLikeDinRemapped(join(tmpFixture({ 'x.txt': '' }), 'x.txt')), false);
  const gz = tmpFixture({});
  writeFileSync(join(gz, 'all.txt.gz'), gzipSync(TRAIN + TEST));
  assert.deepEqual(findDinRemappedFiles(gz), [{ train: join(gz, 'all.txt.gz'), test: null }]);
  writeFileSync(join(gz, 'broken.txt.gz'), 'not gzip');
  assert.deepEqual(findDinRemappedFiles(gz), [{ train: join(gz, 'all.txt.gz'), test: null }]);
  // Several candidates without a unique pair: the loader asks for one file.
  const several = tmpFixture({ 'a.txt': TRAIN, 'b.txt': TEST });
  assert.equal(findDinRemappedFiles(several).length, 2);
  assert.throws(
    () => loadDinRemapped(several),
    /several din-remapped files and no unique \*train\*\/\*test\* pair \(a\.txt, b\.txt\); pass the path of one file/,
  );
  const two = tmpFixture({ 'x_train.txt': TRAIN, 'y_train.txt': TRAIN, 'x_test.txt': TEST });
  assert.throws(() => loadDinRemapped(two), /several din-remapped files/);
  // A file path means single-file mode even with its partner beside it.
  const pair = tmpFixture({ 'paddle_train.txt': TRAIN, 'paddle_test.txt': TEST });
  assert.deepEqual(findDinRemappedFiles(join(pair, 'paddle_train.txt')), [{ train: join(pair, 'paddle_train.txt'), test: null }]);
  assert.deepEqual(dinRemappedSourceFiles(join(pair, 'paddle_train.txt')), [join(pair, 'paddle_train.txt')]);
  assert.throws(() => loadDinRemapped('/nonexistent/din'), /no such file or directory/);
  assert.throws(
    () => loadDinRemapped(tmpFixture({ 'x.txt': 'hello\n' })),
    /no din-remapped files \(expected \.txt files of "hist_items;hist_cates;target;target_cate;label" lines/,
  );
});

const SAMPLE = join(SHARED_DATA, 'fixtures', 'amazon-electronics-din', 'din_remapped_sample.txt');

test('din-remapped (original sample lines): every line round-trips, categories per item agree', (t) => {
  if (!existsSync(SAMPLE)) {
    t.skip(`fixture not found at ${SAMPLE}`);
    return;
  }
  const lines = readFileSync(SAMPLE, 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '');
  assert.equal(lines.length, 100);
  let groups = 0;
  const cateOf = new Map<string, string>();
  for (let i = 0; i < lines.length; i++) {
    const f = lines[i].split(';');
    if (i === 0 || f.slice(0, 2).join(';') !== lines[i - 1].split(';').slice(0, 2).join(';')) groups++;
    const items = f[0].split(' ');
    const cates = f[1].split(' ');
    items.forEach((it, k) => cateOf.set(it, cates[k]));
    cateOf.set(f[2], f[3]);
  }
  const ds = loadDinRemapped(SAMPLE, { seed: 1 });
  assert.equal(ds.name, 'din_remapped_sample');
  assert.equal(ds.numUsers, groups);
  assert.equal(ds.train.size + ds.test.size, 100);
  assert.deepEqual(ds.skipped, {});
  assert.deepEqual(ds.catalog.itemKeys, [...cateOf.keys()].sort((a, b) => Number(a) - Number(b)));
  for (let i = 0; i < ds.catalog.numItems; i++) {
    assert.equal(ds.catalog.attrKeys[ds.catalog.attrValues[i]], cateOf.get(ds.catalog.itemKeys[i]));
  }
  assert.deepEqual(allLines(ds).sort(), [...lines].sort());
  assert.equal(ds.stats?.items, cateOf.size);
  validateSampleSet(ds.train, ds.catalog.numItems, ds.numUsers, 'train');
  validateSampleSet(ds.test, ds.catalog.numItems, ds.numUsers, 'test');
});
