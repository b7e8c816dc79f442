import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadMovieLens } from '../../src/data/sources/movielens.js';
import { parseCsv } from '../../src/data/parse/csv.js';
import { validateSampleSet } from '../../src/data/sample-set.js';
import type { SampleSet } from '../../src/core/types.js';
import { MOVIELENS_FIXTURE, tmpFixture } from './helpers.js';

const hist = (s: SampleSet, i: number): number[] => [...s.histValues.subarray(s.histStart[i], s.histStart[i] + s.histLen[i])];

test('csv: quotes, doubled quotes, newlines in quotes, CRLF, BOM, line numbers', () => {
  const rows: [string[], number][] = [];
  const text = '\ufeffa,b,c\r\n1,"x, ""y""",z\n2,"multi\nline",w\n\n3,,\n';
  parseCsv(Buffer.from(text), 'f.csv', (f, l) => rows.push([f, l]));
  assert.deepEqual(rows, [
    [['a', 'b', 'c'], 1],
    [['1', 'x, "y"', 'z'], 2],
    [['2', 'multi\nline', 'w'], 3],
    [[''], 5],
    [['3', '', ''], 6],
  ]);
  assert.throws(() => parseCsv(Buffer.from('a\n"open,b\n'), 'f.csv', () => {}), /f\.csv:2: unterminated/);
  assert.throws(() => parseCsv(Buffer.from('"a"x,b\n'), 'f.csv', () => {}), /f\.csv:1: unexpected character/);
});

test('movielens: catalog, labels, time-ordered histories', () => {
  const ds = loadMovieLens(tmpFixture(MOVIELENS_FIXTURE), { testFraction: 0 });
  assert.equal(ds.format, 'movielens');
  assert.deepEqual(ds.userKeys, ['10', '20', '30']);
  assert.deepEqual(ds.catalog.itemKeys, ['2', '1', '3', '5']); // movie 4 is never rated
  assert.deepEqual(ds.catalog.attrKeys, ['Comedy', 'Drama', 'Romance', 'Adventure', 'Animation']);
  assert.deepEqual([...ds.catalog.attrOffsets], [0, 3, 5, 5, 5]); // "(no genres listed)" and unknown movie: none
  assert.deepEqual(ds.skipped, { ratedMoviesNotInMoviesCsv: 1 });
  assert.equal(ds.stats?.moviesWithoutGenres, 1);
  assert.equal(ds.test.size, 0);
  const t = ds.train;
  validateSampleSet(t, ds.catalog.numItems, ds.numUsers);
  // user 10: movie 1 (t100), then the tie at t300 in file order: movie 2, movie 3.
  const rows = [...Array(t.size).keys()].map((i) => [t.users[i], t.items[i], t.labels[i], hist(t, i)]);
  assert.deepEqual(rows, [
    [0, 1, 0, []],
    [0, 0, 1, [1]],
    [0, 2, 1, [1, 0]],
    [1, 1, 1, []],
    [1, 3, 0, [1]],
    [2, 2, 0, []],
    [2, 0, 1, [2]],
  ]);
});

test('movielens: split by user, seeded', () => {
  const dir = tmpFixture(MOVIELENS_FIXTURE);
  const ds = loadMovieLens(dir, { testFraction: 1 / 3, seed: 5 });
  assert.equal(ds.train.size + ds.test.size, 7);
  const trainUsers = new Set(ds.train.users);
  const testUsers = new Set(ds.test.users);
  assert.equal(testUsers.size, 1);
  assert.equal(trainUsers.size, 2);
  for (const u of testUsers) assert.ok(!trainUsers.has(u));
  validateSampleSet(ds.test, ds.catalog.numItems, ds.numUsers);
  assert.deepEqual(loadMovieLens(dir, { testFraction: 1 / 3, seed: 5 }).test, ds.test);
  // Over several seeds, different users end up in test.
  const picked = new Set<number>();
  for (let s = 1; s <= 12; s++) picked.add(loadMovieLens(dir, { testFraction: 1 / 3, seed: s }).test.users[0]);
  assert.ok(picked.size > 1);
  // Threshold option.
  const strict = loadMovieLens(dir, { testFraction: 0, minRating: 4.5 });
  assert.deepEqual([...strict.train.labels], [0, 0, 1, 0, 0, 0, 1]);
});

test('movielens: malformed rows name file and line', () => {
  const dir = tmpFixture(MOVIELENS_FIXTURE);
  writeFileSync(join(dir, 'ratings.csv'), 'userId,movieId,rating,timestamp\n1,1,4.0,5\n1,2,good,6\n');
  const fail = { onError: 'fail' } as const;
  assert.throws(() => loadMovieLens(dir, fail), (e: Error) => e.message.startsWith(`${join(dir, 'ratings.csv')}:3: rating "good"`));
  // By default the row is skipped and counted, with the message kept as an example.
  const ds = loadMovieLens(dir, { testFraction: 0 });
  assert.equal(ds.train.size, 1);
  assert.equal(ds.skipped.ratingsWithBadNumbers, 1);
  assert.deepEqual(ds.skippedExamples, [`${join(dir, 'ratings.csv')}:3: rating "good" is not a number`]);
  writeFileSync(join(dir, 'ratings.csv'), 'userId,movieId,rating,timestamp\n1,1,4.0\n');
  assert.throws(() => loadMovieLens(dir, fail), /ratings\.csv:2: expected 4 fields/);
  assert.throws(() => loadMovieLens(dir), /ratings\.csv: no ratings \(1 malformed row was skipped, e\.g\. .*ratings\.csv:2: expected 4 fields/);
  writeFileSync(join(dir, 'ratings.csv'), 'user,movie,rating,timestamp\n');
  assert.throws(() => loadMovieLens(dir), /ratings\.csv:1: header has no "userId" column/);
});
