import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { amazonRawSourceFiles, findAmazonRawFiles, loadAmazonRaw, loadAmazonRawAsync } from '../../src/data/sources/amazon-raw.js';
import { LineSplitter, readLines, readLinesSync } from '../../src/data/parse/lines.js';
import { compareCodePoints } from '../../src/data/parse/text.js';
import { validateSampleSet } from '../../src/data/sample-set.js';
import type { Dataset, SampleSet } from '../../src/core/types.js';
import { SHARED_DATA, tmpFixture } from './helpers.js';

const hist = (s: SampleSet, i: number): number[] => [...s.histValues.subarray(s.histStart[i], s.histStart[i] + s.histLen[i])];
const jsonl = (rows: unknown[]): string => rows.map((r) => JSON.stringify(r)).join('\n') + '\n';
const rev = (reviewerID: string, asin: string, unixReviewTime: number) => ({ reviewerID, asin, unixReviewTime, overall: 5 });

// Hand-made reviews: first-seen order differs from sorted order for users and items; U1 has a time tie (c3 on line 2
// before A2 on line 5); U3 has one review; U4 only reviewed X9 (no meta); U10 sorts before U2 (code-point order).
const REVIEWS = jsonl([
  rev('U2', 'b1', 30),
  rev('U1', 'c3', 5),
  rev('U2', 'A2', 10),
  rev('U4', 'X9', 1),
  rev('U1', 'A2', 5),
  rev('U3', 'Z6', 7),
  rev('U1', 'B4', 1),
  rev('U2', 'a5', 20),
  rev('U1', 'Z6', 9),
  rev('U10', 'c3', 3),
  rev('U10', 'X9', 4),
  rev('U10', 'B4', 2),
]);
// Hand-made meta, Python-literal and JSON lines mixed; "unrev" is never reviewed; line 6 is blank.
const META = [
  `{'asin': 'c3', 'categories': [['Electronics', 'Cameras']], 'title': "Bob's cam"}`,
  `{"asin": "A2", "categories": [["Electronics", "Audio", "Headphones"]]}`,
  `{'asin': 'b1', 'categories': [['Electronics', 'Cameras'], ['Electronics', 'Accessories', 'Bags']], 'related': {'also_bought': ['c3']}, 'price': 9.99, 'ok': True, 'brand': None}`,
  `{"asin": "unrev", "categories": [["Books"]]}`,
  `{'asin': 'B4', 'categories': [['Electronics', 'Audio']], 'salesRank': {'Electronics': 12}}`,
  ``,
  `{"asin": "a5", "categories": [["Electronics", "Cameras"]], "title": "caf\\u00e9"}`,
  `{'asin': 'Z6', 'categories': [['Electronics', 'Audio', 'Headphones']], 'title': u'caf\\xe9'}`,
].join('\n');
const MINI = { 'reviews_Mini_5.json': REVIEWS, 'meta_Mini.json': META };

// Dense ids (sorted asins): A2=0 B4=1 Z6=2 a5=3 b1=4 c3=5; users (sorted): U1=0 U10=1 U2=2 U3=3.
const [A2, B4, Z6, a5, b1, c3] = [0, 1, 2, 3, 4, 5];

test('amazon-raw: ids remapped like build_map, category = categories[-1][-1], counts', () => {
  const ds = loadAmazonRaw(tmpFixture(MINI));
  assert.equal(ds.format, 'amazon-raw');
  assert.deepEqual(ds.catalog.itemKeys, ['A2', 'B4', 'Z6', 'a5', 'b1', 'c3']);
  assert.deepEqual(ds.catalog.attrKeys, ['Audio', 'Bags', 'Cameras', 'Headphones']);
  assert.deepEqual([...ds.catalog.attrOffsets], [0, 1, 2, 3, 4, 5, 6]);
  // A2 Headphones, B4 Audio, Z6 Headphones, a5 Cameras, b1 Bags (last path), c3 Cameras
  assert.deepEqual([...ds.catalog.attrValues], [3, 0, 3, 2, 1, 2]);
  assert.equal(ds.catalog.numItems, 6);
  assert.equal(ds.catalog.numAttrs, 4);
  assert.deepEqual(ds.userKeys, ['U1', 'U10', 'U2', 'U3']); // U4 had no review with meta
  assert.equal(ds.numUsers, 4);
  assert.deepEqual(ds.skipped, { reviewsWithoutMeta: 2, metaForUnreviewedItems: 1, usersWithOneReview: 1, blankMetaLines: 1 });
  assert.deepEqual(ds.stats, {
    users: 4,
    usersWithSamples: 3,
    items: 6,
    categories: 4,
    reviews: 10,
    reviewLines: 12,
    metaLines: 8,
  });
  assert.deepEqual(ds.buildOptions, {
    seed: 1,
    protocol: 'amazon-leave-last-out',
    negativesPerPositive: 1,
    categoryPath: 'last',
    onError: 'skip',
  });
});

test('amazon-raw: categoryPath "first" takes categories[0][-1]', () => {
  const ds = loadAmazonRaw(tmpFixture(MINI), { categoryPath: 'first' });
  assert.deepEqual(ds.catalog.attrKeys, ['Audio', 'Cameras', 'Headphones']);
  assert.deepEqual([...ds.catalog.attrValues], [2, 0, 2, 1, 1, 1]);
  assert.equal(ds.buildOptions.categoryPath, 'first');
  assert.throws(() => loadAmazonRaw(tmpFixture(MINI), { categoryPath: 'middle' as 'first' }), /categoryPath must be/);
});

test('amazon-raw: exact samples — time order with stable ties, prefixes, one negative each', () => {
  const ds = loadAmazonRaw(tmpFixture(MINI), { seed: 1 });
  // U1: B4(1) c3(5, line 2) A2(5, line 5) Z6(9); U10: B4(2) c3(3) (X9 dropped); U2: A2(10) a5(20) b1(30).
  const expTrain: [number, number, number[]][] = [
    [0, c3, [B4]],
    [0, A2, [B4, c3]],
    [2, a5, [A2]],
  ];
  const expTest: [number, number, number[]][] = [
    [0, Z6, [B4, c3, A2]],
    [1, c3, [B4]],
    [2, b1, [A2, a5]],
  ];
  const userItems = [new Set([B4, c3, A2, Z6]), new Set([B4, c3]), new Set([A2, a5, b1])];
  for (const [set, exp] of [
    [ds.train, expTrain],
    [ds.test, expTest],
  ] as const) {
    assert.equal(set.size, exp.length * 2);
    validateSampleSet(set, ds.catalog.numItems, ds.numUsers);
    exp.forEach(([u, item, h], k) => {
      const p = 2 * k;
      assert.equal(set.labels[p], 1);
      assert.equal(set.users[p], u);
      assert.equal(set.items[p], item);
      assert.deepEqual(hist(set, p), h);
      assert.equal(set.labels[p + 1], 0);
      assert.equal(set.users[p + 1], u);
      assert.equal(set.histStart[p + 1], set.histStart[p]);
      assert.equal(set.histLen[p + 1], set.histLen[p]);
      assert.ok(!userItems[u].has(set.items[p + 1]), `negative ${set.items[p + 1]} of user ${u}`);
    });
  }
  assert.equal(ds.train.histValues, ds.test.histValues);
  assert.deepEqual([...ds.train.histValues], [B4, c3, A2, B4, A2, a5]);
});

test('amazon-raw: negatives are uniform over the items the user never reviewed, seeded', () => {
  const dir = tmpFixture(MINI);
  const x = loadAmazonRaw(dir, { seed: 1 });
  const y = loadAmazonRaw(dir, { seed: 1 });
  assert.deepEqual(x.train, y.train);
  assert.deepEqual(x.test, y.test);
  const negs = (d: Dataset): number[] => [...d.train.items, ...d.test.items].filter((_, i) => i % 2 === 1);
  const seen = new Set<string>();
  const u10 = new Map<number, number>(); // U10's test negative over many seeds: every unreviewed item shows up
  for (let seed = 1; seed <= 200; seed++) {
    const d = loadAmazonRaw(dir, { seed });
    seen.add(negs(d).join(','));
    const neg = d.test.items[3];
    u10.set(neg, (u10.get(neg) ?? 0) + 1);
  }
  assert.ok(seen.size > 20, `only ${seen.size} distinct negative draws over 200 seeds`);
  assert.deepEqual([...u10.keys()].sort(), [A2, Z6, a5, b1]);
  for (const c of u10.values()) assert.ok(c > 25, `negative counts ${[...u10.values()]}`);
});

test('amazon-raw: .json.gz read transparently, sync and async give the same dataset', async () => {
  const plain = loadAmazonRaw(tmpFixture(MINI));
  const gzDir = tmpFixture({});
  writeFileSync(join(gzDir, 'reviews_Mini_5.json.gz'), gzipSync(REVIEWS));
  writeFileSync(join(gzDir, 'meta_Mini.json.gz'), gzipSync(META));
  assert.deepEqual(amazonRawSourceFiles(gzDir), [join(gzDir, 'reviews_Mini_5.json.gz'), join(gzDir, 'meta_Mini.json.gz')]);
  const gz = loadAmazonRaw(gzDir);
  const strip = (d: Dataset) => ({ ...d, name: '' });
  assert.deepEqual(strip(gz), strip(plain));
  assert.deepEqual(strip(await loadAmazonRawAsync(gzDir)), strip(plain));
  // Mixed: gz reviews with plain meta.
  const mixed = tmpFixture({ 'meta_Mini.json': META });
  writeFileSync(join(mixed, 'reviews_Mini_5.json.gz'), gzipSync(REVIEWS));
  assert.deepEqual(strip(loadAmazonRaw(mixed)), strip(plain));
  assert.deepEqual(strip(await loadAmazonRawAsync(tmpFixture(MINI))), strip(plain));
});

test('amazon-raw: truncated or corrupt gzip is an error naming the file', async () => {
  const z = gzipSync(REVIEWS + REVIEWS);
  const dir = tmpFixture({ 'meta_Mini.json': META });
  const file = join(dir, 'reviews_Mini_5.json.gz');
  writeFileSync(file, z.subarray(0, Math.floor(z.length / 2)));
  const re = new RegExp(`^Error: ${file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: corrupt or truncated gzip data \\(`);
  assert.throws(() => loadAmazonRaw(dir), re);
  await assert.rejects(loadAmazonRawAsync(dir), re);
  writeFileSync(file, 'this is not gzip at all\n');
  assert.throws(() => loadAmazonRaw(dir), re);
  await assert.rejects(loadAmazonRawAsync(dir), re);
});

test('amazon-raw: row errors are skipped and counted by default, or fail with file and line', async () => {
  const reviews = [
    JSON.stringify(rev('U1', 'c3', 5)),
    JSON.stringify(rev('U1', 'A2', 6)),
    '{"reviewerID": "U1", "asin": ', // 3: malformed
    JSON.stringify({ asin: 'B4', unixReviewTime: 7 }), // 4: no reviewerID
    JSON.stringify({ reviewerID: 'U1', asin: 'B4' }), // 5: no time
    JSON.stringify(rev('U1', 'B4', 'yesterday' as unknown as number)), // 6: bad time
    '[1, 2]', // 7: not an object
    JSON.stringify({ reviewerID: 'U1', asin: '', unixReviewTime: 8 }), // 8: empty asin
    JSON.stringify(rev('U1', 'Z6', '8' as unknown as number)), // 9: numeric string time: fine
    `{'reviewerID': 'U2', 'asin': 'A2', 'unixReviewTime': 3}`, // 10: Python literal review: fine
    '', // 11: blank
    JSON.stringify(rev('U2', 'c3', 4)),
    JSON.stringify(rev('U2', 'K7', 1)),
    JSON.stringify(rev('U1', 'M8', 2)),
  ].join('\n');
  const meta = [
    `{'asin': 'c3', 'categories': [['E', 'Cameras']]}`,
    `{'asin': 'A2', 'categories': [['E', 'Audio']]`, // 2: malformed (unclosed)
    `{'asin': 'A2', 'categories': [['E', 'Audio']]}`,
    `{'title': 'no asin'}`, // 4: no asin
    `{'asin': 'Z6', 'categories': []}`, // 5: no category → Z6 has no meta
    `{"asin": "c3", "categories": [["E", "Other"]]}`, // 6: duplicate, the first wins
    `{'asin': 'K7', 'categories': [['E', 'Cameras']]}`,
    `{"asin": "M8", "categories": [["E", "Audio"]]}`,
    `{'asin': 'Q9', 'categories': [['E', 'Audio']]}`, // never reviewed
  ].join('\n');
  const dir = tmpFixture({ 'reviews_X_5.json': reviews, 'meta_X.json': meta });
  const ds = loadAmazonRaw(dir);
  assert.deepEqual(ds.skipped, {
    malformedReviewLines: 2,
    reviewsMissingFields: 3,
    reviewsWithBadTime: 1,
    blankReviewLines: 1,
    malformedMetaLines: 1,
    metaWithoutAsin: 1,
    metaWithoutCategory: 1,
    duplicateMetaLines: 1,
    metaForUnreviewedItems: 1,
    reviewsWithoutMeta: 1, // U1's Z6
  });
  assert.deepEqual(ds.catalog.itemKeys, ['A2', 'K7', 'M8', 'c3']);
  assert.deepEqual(ds.catalog.attrKeys, ['Audio', 'Cameras']); // c3 keeps its first meta line's category, not "Other"
  assert.deepEqual([...ds.catalog.attrValues], [0, 1, 0, 1]);
  assert.deepEqual(ds.userKeys, ['U1', 'U2']);
  assert.equal(ds.stats?.reviews, 6);
  // U2's reviews: the Python-literal line (A2 at 3), c3 at 4, K7 at 1 → K7, A2, c3.
  assert.deepEqual([...ds.test.items].filter((_, i) => i % 2 === 0), [0, 3]);
  assert.deepEqual(hist(ds.test, 2), [1, 0]);
  // The first skipped row of each kind is reported with file and line.
  const msgs: string[] = [];
  loadAmazonRaw(dir, { onProgress: (m) => msgs.push(m) });
  const rf = join(dir, 'reviews_X_5.json');
  const mf = join(dir, 'meta_X.json');
  for (const want of [`${rf}:3: `, `${rf}:4: `, `${rf}:6: `, `${mf}:2: `, `${mf}:4: `, `${mf}:5: `, `${mf}:6: `]) {
    assert.ok(msgs.some((m) => m.includes(`skipped ${want}`)), `no progress message for ${want}: ${msgs.join(' | ')}`);
  }

  // onError 'fail': the first row error throws with file, line and what was expected.
  const failOn = (revLines: string[], metaLines: string[]): (() => Dataset) => {
    const d = tmpFixture({ 'reviews_X_5.json': revLines.join('\n'), 'meta_X.json': metaLines.join('\n') });
    return () => loadAmazonRaw(d, { onError: 'fail' });
  };
  const lines = reviews.split('\n');
  const okMeta = [`{'asin': 'c3', 'categories': [['E', 'Cameras']]}`, `{'asin': 'A2', 'categories': [['E', 'Audio']]}`];
  const okRev = [lines[0], lines[1]];
  assert.throws(
    failOn(lines.slice(0, 3), okMeta),
    /reviews_X_5\.json:3: expected a JSON object or Python dict literal, but the line is neither JSON nor a Python literal \(column 30: expected a value, found end of input\)/,
  );
  assert.throws(failOn([...okRev, lines[3]], okMeta), /reviews_X_5\.json:3: expected "reviewerID" as a non-empty string, it is missing/);
  assert.throws(failOn([...okRev, lines[4]], okMeta), /reviews_X_5\.json:3: expected "unixReviewTime" \(Unix seconds\), it is missing/);
  assert.throws(failOn([...okRev, lines[5]], okMeta), /reviews_X_5\.json:3: expected "unixReviewTime" as a number \(Unix seconds\), found "yesterday"/);
  assert.throws(failOn([...okRev, lines[6]], okMeta), /reviews_X_5\.json:3: expected a JSON object or Python dict literal, found a list/);
  assert.throws(failOn([...okRev, lines[7]], okMeta), /reviews_X_5\.json:3: expected "asin" as a non-empty string, found ""/);
  assert.throws(
    failOn(okRev, [okMeta[0], meta.split('\n')[1]]),
    new RegExp(
      "meta_X\\.json:2: expected a JSON object or Python dict literal, but the line is neither JSON nor a Python " +
        "literal \\(column 46: expected ',' or '}' in the dict opened at column 1, found end of input\\)",
    ),
  );
  assert.throws(failOn(okRev, [...okMeta, `{'title': 'x'}`]), /meta_X\.json:3: expected "asin" as a non-empty string, it is missing/);
  assert.throws(
    failOn(okRev, [okMeta[0], `{'asin': 'A2', 'categories': [[]]}`]),
    /meta_X\.json:2: asin "A2": expected "categories" as a non-empty list of category paths \(lists of strings\) to take categories\[-1\]\[-1\] from, found categories \[\[\]\]/,
  );
  assert.throws(failOn(okRev, [...okMeta, okMeta[0]]), /meta_X\.json:3: asin "c3" already described on line 1/);
  // The same under the async loader.
  await assert.rejects(
    loadAmazonRawAsync(tmpFixture({ 'reviews_X_5.json': [...okRev, lines[3]].join('\n'), 'meta_X.json': okMeta.join('\n') }), {
      onError: 'fail',
    }),
    /reviews_X_5\.json:3: expected "reviewerID"/,
  );
  // Ordinary counts are not errors under 'fail'.
  const strict = loadAmazonRaw(
    tmpFixture({
      'reviews_X_5.json': [...okRev, '', lines[12]].join('\n'),
      'meta_X.json': [...okMeta, meta.split('\n')[6], '{"asin": "zz", "categories": [["q"]]}'].join('\n'),
    }),
    { onError: 'fail' },
  );
  assert.deepEqual(strict.skipped, { blankReviewLines: 1, metaForUnreviewedItems: 1, usersWithOneReview: 1 });
  assert.throws(() => loadAmazonRaw(dir, { onError: 'ignore' as 'skip' }), /onError must be 'skip' or 'fail'/);
});

test('amazon-raw: structural problems always throw', () => {
  assert.throws(() => loadAmazonRaw('/nonexistent/amazon-raw-dir'), /no such file or directory/);
  assert.throws(() => loadAmazonRaw(tmpFixture({ 'reviews_X_5.json': REVIEWS })), /no amazon-raw files \(expected reviews_<Cat>_5/);
  const two = tmpFixture({ ...MINI, 'reviews_Beauty_5.json.gz': '', 'meta_Beauty.json': '' });
  assert.throws(() => loadAmazonRaw(two), /several amazon-raw datasets \(Beauty, Mini\); pass the path of one reviews file/);
  assert.equal(loadAmazonRaw(join(two, 'reviews_Mini_5.json')).catalog.numItems, 6);
  assert.throws(
    () => loadAmazonRaw(tmpFixture({ 'reviews_X_5.json': REVIEWS, 'meta_X.json': `{'asin': 'nope', 'categories': [['a']]}` })),
    /reviews_X_5\.json: no review has a meta line in .*meta_X\.json/,
  );
  assert.throws(
    () =>
      loadAmazonRaw(
        tmpFixture({
          'reviews_X_5.json': jsonl([rev('u', 'a', 1), rev('v', 'b', 1)]),
          'meta_X.json': META.replace(/c3/g, 'a').replace(/A2/g, 'b'),
        }),
      ),
    /no user with at least 2 reviews/,
  );
  assert.throws(
    () =>
      loadAmazonRaw(
        tmpFixture({
          'reviews_X_5.json': jsonl([rev('u', 'c3', 1), rev('u', 'A2', 2)]),
          'meta_X.json': META.split('\n').slice(0, 2).join('\n'), // only c3 and A2 exist
        }),
      ),
    /user "u" reviewed every item; no negative exists/,
  );
});

test('amazon-raw: file discovery', () => {
  assert.deepEqual(findAmazonRawFiles('/nonexistent/x'), []);
  assert.deepEqual(findAmazonRawFiles(tmpFixture({ 'Mini.txt': 'u a b c\n', 'Mini_item2attributes.json': '{}' })), []);
  const dir = tmpFixture({ ...MINI, 'reviews_Mini_5.json.gz': 'x', 'meta_Mini.json.gz': 'x', 'reviews_Solo_5.json': '', 'notes.txt': '' });
  const plain = { category: 'Mini', reviews: join(dir, 'reviews_Mini_5.json'), meta: join(dir, 'meta_Mini.json') };
  assert.deepEqual(findAmazonRawFiles(dir), [plain]); // plain preferred over .gz; Solo has no meta
  assert.deepEqual(findAmazonRawFiles(join(dir, 'reviews_Mini_5.json')), [plain]);
  assert.deepEqual(findAmazonRawFiles(join(dir, 'meta_Mini.json')), [plain]);
  // A given .gz file is used even though its plain twin exists.
  assert.deepEqual(findAmazonRawFiles(join(dir, 'reviews_Mini_5.json.gz')), [{ ...plain, reviews: join(dir, 'reviews_Mini_5.json.gz') }]);
  assert.deepEqual(findAmazonRawFiles(join(dir, 'reviews_Solo_5.json')), []);
  assert.deepEqual(findAmazonRawFiles(join(dir, 'notes.txt')), []);
  assert.deepEqual(amazonRawSourceFiles(dir), [plain.reviews, plain.meta]);
  assert.equal(loadAmazonRaw(dir).name, dir.split('/').pop());
  assert.equal(loadAmazonRaw(dir, { name: 'amazon-mini' }).name, 'amazon-mini');
});

test('LineSplitter: chunk boundaries, CRLF, multi-byte characters, BOM, last line without newline', async () => {
  const text = '\uFEFFfirst é\r\nsecond 😀\n\nfourth€';
  const bytes = Buffer.from(text, 'utf8');
  for (const size of [1, 2, 3, 5, 7, bytes.length]) {
    const got: [string, number][] = [];
    const s = new LineSplitter((l, n) => got.push([l, n]));
    for (let i = 0; i < bytes.length; i += size) s.push(bytes.subarray(i, i + size));
    assert.equal(s.end(), 4);
    assert.deepEqual(got, [
      ['first é', 1],
      ['second 😀', 2],
      ['', 3],
      ['fourth€', 4],
    ], `chunk size ${size}`);
  }
  // A trailing newline adds no line; a reused chunk buffer does not corrupt pending bytes.
  const got: string[] = [];
  const s = new LineSplitter((l) => got.push(l));
  const buf = Buffer.from('ab');
  s.push(buf);
  buf.write('cd');
  s.push(Buffer.from('\nx\n'));
  assert.equal(s.end(), 2);
  assert.deepEqual(got, ['ab', 'x']);
  // Files: plain, gz and a missing file, sync and async.
  const dir = tmpFixture({ 'a.txt': 'l1\nl2\n' });
  writeFileSync(join(dir, 'a.txt.gz'), gzipSync('l1\nl2'));
  for (const f of ['a.txt', 'a.txt.gz']) {
    const a: string[] = [];
    assert.equal(readLinesSync(join(dir, f), (l) => a.push(l)), 2);
    const b: string[] = [];
    assert.equal(await readLines(join(dir, f), (l) => b.push(l)), 2);
    assert.deepEqual(a, ['l1', 'l2']);
    assert.deepEqual(b, ['l1', 'l2']);
  }
  assert.throws(() => readLinesSync(join(dir, 'missing.txt'), () => {}), /missing\.txt: cannot read \(ENOENT/);
  assert.throws(() => readLinesSync(join(dir, 'missing.txt.gz'), () => {}), /missing\.txt\.gz: cannot read \(ENOENT/);
  await assert.rejects(readLines(join(dir, 'missing.txt.gz'), () => {}), /missing\.txt\.gz: cannot read \(ENOENT/);
  await assert.rejects(readLines(join(dir, 'missing.txt'), () => {}), /missing\.txt: cannot read \(ENOENT/);
});

test('compareCodePoints: Python str order (code points), not UTF-16 order', () => {
  const keys = ['b', 'B', '\uFFFD', '😀', 'a', 'A10', 'A2', ''];
  assert.deepEqual([...keys].sort(compareCodePoints), ['', 'A10', 'A2', 'B', 'a', 'b', '\uFFFD', '😀']);
  assert.ok('😀' < '\uFFFD'); // what plain JS comparison would say
  assert.ok(compareCodePoints('😀', '\uFFFD') > 0);
  assert.equal(compareCodePoints('abc', 'abc'), 0);
  assert.ok(compareCodePoints('ab', 'abc') < 0);
});

// ---- the real Electronics head (290 review lines) with a hand-written meta file ----
const RAW = join(SHARED_DATA, 'fixtures', 'amazon-electronics-raw', 'reviews_Electronics_5.head.jsonl');
// 0594481813 has no meta line (its 8 reviews must be dropped); B00NOTREVIEWED is never reviewed.
const ELECTRONICS_META = [
  `{'asin': '0528881469', 'title': 'Rand McNally 528881469 7-inch Intelliroute TND 700 Truck GPS', 'price': 299.99, 'categories': [['Electronics', 'GPS & Navigation', 'Vehicle GPS', 'Trucking GPS']], 'related': {'also_bought': ['B002HMWQRQ', 'B003VW2HZA']}}`,
  `{"asin": "0594451647", "title": "Barnes & Noble HDTV Adapter Kit for NOOK HD and NOOK HD+", "categories": [["Electronics", "Computers & Accessories", "Cables & Accessories", "Cables & Interconnects", "HDMI Cables"]]}`,
  `{'asin': 'B00NOTREVIEWED', 'categories': [['Electronics', 'Nothing']]}`,
  `{'asin': '0972683275', 'title': "VideoSecu 24\\" Long Arm TV Wall Mount", 'categories': [['Electronics', 'Accessories & Supplies', 'Audio & Video Accessories', 'TV Accessories & Parts', 'TV Ceiling & Wall Mounts']], 'salesRank': {'Electronics': 1}, 'brand': None}`,
  `{"asin": "1400501466", "categories": [["Electronics", "Computers & Accessories", "Tablets"], ["Books", "eBook Readers"]], "title": "Barnes & Noble NOOK"}`,
  `{'asin': '1400501520', 'categories': [['Electronics', 'Computers & Accessories', 'Tablets']], 'description': u'6\\u2033 display'}`,
].join('\n');

interface RawReview {
  reviewerID: string;
  asin: string;
  unixReviewTime: number;
}

test('amazon-raw (real Electronics head): reviews without meta dropped and counted, protocol on what remains', async (t) => {
  if (!existsSync(RAW)) {
    t.skip(`fixture not found at ${RAW}`);
    return;
  }
  const dir = tmpFixture({ 'meta_Electronics.json': ELECTRONICS_META + '\n' });
  symlinkSync(RAW, join(dir, 'reviews_Electronics_5.json')); // read in place, never copied
  const rows: RawReview[] = readFileSync(RAW, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as RawReview);
  assert.equal(rows.length, 290);
  const kept = rows.filter((r) => r.asin !== '0594481813');
  const reviewers = [...new Set(kept.map((r) => r.reviewerID))].sort();

  const ds = loadAmazonRaw(dir);
  assert.deepEqual(ds.catalog.itemKeys, ['0528881469', '0594451647', '0972683275', '1400501466', '1400501520']);
  // categories[-1][-1]: 1400501466's last path is ["Books", "eBook Readers"]
  assert.deepEqual(ds.catalog.attrKeys, ['HDMI Cables', 'TV Ceiling & Wall Mounts', 'Tablets', 'Trucking GPS', 'eBook Readers']);
  assert.deepEqual([...ds.catalog.attrValues], [3, 0, 1, 4, 2]);
  assert.deepEqual(ds.userKeys, reviewers);
  assert.equal(ds.skipped.reviewsWithoutMeta, rows.length - kept.length);
  assert.equal(ds.skipped.reviewsWithoutMeta, 8);
  assert.equal(ds.skipped.metaForUnreviewedItems, 1);
  // Only A3LDPF5FMB782Z reviewed twice (1400501466 at 1336003200, then 1400501520 at 1362873600): one test pair.
  assert.equal(ds.skipped.usersWithOneReview, reviewers.length - 1);
  assert.deepEqual(ds.stats, {
    users: reviewers.length,
    usersWithSamples: 1,
    items: 5,
    categories: 5,
    reviews: 282,
    reviewLines: 290,
    metaLines: 6,
  });
  assert.equal(ds.train.size, 0);
  assert.equal(ds.test.size, 2);
  const u = reviewers.indexOf('A3LDPF5FMB782Z');
  assert.deepEqual([...ds.test.users], [u, u]);
  assert.deepEqual([...ds.test.labels], [1, 0]);
  assert.equal(ds.test.items[0], 4);
  assert.deepEqual(hist(ds.test, 0), [3]);
  assert.deepEqual(hist(ds.test, 1), [3]);
  assert.ok(![3, 4].includes(ds.test.items[1]));
  validateSampleSet(ds.test, 5, ds.numUsers);

  // The same from gzip, sync and async.
  const gzDir = tmpFixture({});
  writeFileSync(join(gzDir, 'reviews_Electronics_5.json.gz'), gzipSync(readFileSync(RAW)));
  writeFileSync(join(gzDir, 'meta_Electronics.json.gz'), gzipSync(ELECTRONICS_META));
  const strip = (d: Dataset) => ({ ...d, name: '' });
  assert.deepEqual(strip(loadAmazonRaw(gzDir)), strip(ds));
  assert.deepEqual(strip(await loadAmazonRawAsync(gzDir)), strip(ds));
});
