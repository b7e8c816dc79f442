import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  loadMovieLens,
  movieLensLayout,
  movieLensSourceFiles,
  readMovieLensMovies,
  readMovieLensRatings,
} from '../../src/data/sources/movielens.js';
import { validateSampleSet } from '../../src/data/sample-set.js';
import type { Dataset, SampleSet } from '../../src/core/types.js';
import { Rng } from '../../src/util/rng.js';
import { tmpFixture } from './helpers.js';

const hist = (s: SampleSet, i: number): number[] => [...s.histValues.subarray(s.histStart[i], s.histStart[i] + s.histLen[i])];
const rows = (s: SampleSet): [number, number, number, number[]][] =>
  [...Array(s.size).keys()].map((i) => [s.users[i], s.items[i], s.labels[i], hist(s, i)]);

// ml-1m layout: "::"-separated, no headers, movies.dat in latin1 (é = one byte 0xE9), CRLF in movies.dat, a blank
// line in ratings.dat, a rated movie (5) missing from movies.dat, a movie (4) never rated, a duplicate movie row.
const MOVIES_DAT_TEXT =
  "1::Toy Story (1995)::Animation|Children's|Comedy\r\n" +
  '2::Misérables, Les (1995)::Drama|Musical|Drama\r\n' +
  '3::Heat (1995)::Action|Crime|Thriller\r\n' +
  '4::Unrated (1990)::Horror\r\n' +
  '2::Duplicate row (1995)::Western\r\n';
const RATINGS_DAT =
  '1::2::5::978300760\n' +
  '1::1::3::978302109\n' +
  '1::3::4::978300760\n' + // ties with line 1: file order decides
  '\n' +
  '2::1::4::978298709\n' +
  '2::5::2::978299000\n' +
  '3::3::1::978000000\n' +
  '3::2::4::978000100\n';

function datDir(extra: Record<string, string> = {}): string {
  const dir = tmpFixture({ 'ratings.dat': RATINGS_DAT, ...extra });
  writeFileSync(join(dir, 'movies.dat'), Buffer.from(MOVIES_DAT_TEXT, 'latin1'));
  return dir;
}

// The same ratings in the ml-20m layout: headers, quoted titles with commas, UTF-8, decimal ratings, extra files.
const CSV_20M = {
  'movies.csv':
    'movieId,title,genres\n' +
    "1,Toy Story (1995),Animation|Children's|Comedy\n" +
    '2,"Misérables, Les (1995)",Drama|Musical|Drama\n' +
    '3,Heat (1995),Action|Crime|Thriller\n' +
    '4,Unrated (1990),Horror\n' +
    '2,Duplicate row (1995),Western\n',
  'ratings.csv':
    '\ufeffuserId,movieId,rating,timestamp\r\n' +
    '1,2,5.0,978300760\r\n' +
    '1,1,3.0,978302109\r\n' +
    '1,3,4.0,978300760\r\n' +
    '\r\n' +
    '2,1,4.0,978298709\r\n' +
    '2,5,2.0,978299000\r\n' +
    '3,3,1.0,978000000\r\n' +
    '3,2,4.0,978000100', // no final newline
  'tags.csv': 'userId,movieId,tag,timestamp\n1,2,classic,978300761\n',
  'links.csv': 'movieId,imdbId,tmdbId\n1,0114709,862\n',
};

// Expected for both layouts (testFraction 0): users 1,2,3 → 0,1,2; movies in first-seen order 2,1,3,5 → 0..3.
const EXPECTED_ROWS: [number, number, number, number[]][] = [
  [0, 0, 1, []], // user 1: movie 2 (t760, line 1)
  [0, 2, 1, [0]], //         movie 3 (t760, line 3: tie, file order)
  [0, 1, 0, [0, 2]], //      movie 1 (t2109), rating 3
  [1, 1, 1, []], // user 2: movie 1
  [1, 3, 0, [1]], //         movie 5 (not in the movies file: kept, no genres)
  [2, 2, 0, []], // user 3: movie 3, rating 1
  [2, 0, 1, [2]],
];

function checkCommon(ds: Dataset): void {
  assert.equal(ds.format, 'movielens');
  assert.deepEqual(ds.userKeys, ['1', '2', '3']);
  assert.deepEqual(ds.catalog.itemKeys, ['2', '1', '3', '5']);
  assert.deepEqual(ds.catalog.attrKeys, ['Drama', 'Musical', 'Animation', "Children's", 'Comedy', 'Action', 'Crime', 'Thriller']);
  // Movie 2 keeps its first row's genres (Drama listed twice counts once); movie 5 has none.
  assert.deepEqual([...ds.catalog.attrOffsets], [0, 2, 5, 8, 8]);
  assert.deepEqual([...ds.catalog.attrValues], [0, 1, 2, 3, 4, 5, 6, 7]);
  assert.equal(ds.catalog.numAttrs, 8);
  assert.equal(ds.test.size, 0);
  validateSampleSet(ds.train, ds.catalog.numItems, ds.numUsers);
  assert.deepEqual(rows(ds.train), EXPECTED_ROWS);
  assert.deepEqual([...ds.train.histValues], [0, 2, 1, 1, 3, 2, 0]);
  assert.equal(ds.stats?.ratings, 7);
  assert.equal(ds.stats?.moviesWithoutGenres, 0);
}

test('movielens 1m layout: latin1 titles, catalog, labels, histories, skips', () => {
  const dir = datDir({ 'users.dat': '1::F::1::10::48067\n2::M::56::16::70072\n' });
  const mv = readMovieLensMovies(join(dir, 'movies.dat'), 'dat');
  assert.equal(mv.encoding, 'latin1');
  assert.deepEqual(mv.movies, [
    { id: 1, title: 'Toy Story (1995)', genres: ['Animation', "Children's", 'Comedy'] },
    { id: 2, title: 'Misérables, Les (1995)', genres: ['Drama', 'Musical'] },
    { id: 3, title: 'Heat (1995)', genres: ['Action', 'Crime', 'Thriller'] },
    { id: 4, title: 'Unrated (1990)', genres: ['Horror'] },
  ]);
  assert.deepEqual(mv.skipped, { duplicateMovies: 1 });

  const ds = loadMovieLens(dir, { testFraction: 0 });
  checkCommon(ds);
  assert.deepEqual(ds.skipped, { duplicateMovies: 1, blankLines: 1, ratedMoviesNotInMoviesDat: 1 });
  assert.equal(ds.buildOptions.layout, 'dat');
  assert.ok(ds.name.startsWith('din-test-'));
  // Threshold option: only 5-star ratings are positive.
  assert.deepEqual([...loadMovieLens(dir, { testFraction: 0, minRating: 5 }).train.labels], [1, 0, 0, 0, 0, 0, 0]);
});

test('movielens 1m layout: a UTF-8 movies.dat is read as UTF-8', () => {
  const dir = datDir();
  writeFileSync(join(dir, 'movies.dat'), Buffer.from(MOVIES_DAT_TEXT, 'utf8'));
  const mv = readMovieLensMovies(join(dir, 'movies.dat'), 'dat');
  assert.equal(mv.encoding, 'utf8');
  assert.equal(mv.movies[1].title, 'Misérables, Les (1995)');
});

test('movielens 20m layout (csv): same dataset as the 1m layout of the same ratings', () => {
  const dir = tmpFixture(CSV_20M);
  const mv = readMovieLensMovies(join(dir, 'movies.csv'), 'csv');
  assert.equal(mv.movies[1].title, 'Misérables, Les (1995)');
  const ds = loadMovieLens(dir, { testFraction: 0 });
  checkCommon(ds);
  assert.deepEqual(ds.skipped, { duplicateMovies: 1, blankLines: 1, ratedMoviesNotInMoviesCsv: 1 });
  assert.equal(ds.buildOptions.layout, 'csv');
  // Apart from the layout name and the skip key, both layouts give the same Dataset, for any split.
  for (const seed of [1, 5]) {
    const a = loadMovieLens(dir, { seed, testFraction: 1 / 3, name: 'x' });
    const b = loadMovieLens(datDir(), { seed, testFraction: 1 / 3, name: 'x' });
    assert.deepEqual({ ...a, skipped: {}, buildOptions: {} }, { ...b, skipped: {}, buildOptions: {} });
  }
  // Half-star ratings and a decimal threshold; columns are found by name.
  writeFileSync(join(dir, 'ratings.csv'), 'timestamp,rating,movieId,userId\n5,3.5,1,7\n6,3.0,2,7\n7,4.5,3,7\n');
  const half = loadMovieLens(dir, { testFraction: 0, minRating: 3.5 });
  assert.deepEqual(rows(half.train), [
    [0, 0, 1, []],
    [0, 1, 0, [0]],
    [0, 2, 1, [0, 1]],
  ]);
  assert.deepEqual(half.catalog.itemKeys, ['1', '2', '3']);
});

test('movielens layouts: seeded user split', () => {
  const dir = datDir();
  for (const seed of [5, 6, 9]) {
    const ds = loadMovieLens(dir, { seed, testFraction: 1 / 3 });
    // One of three users is held out: the first of the seeded permutation.
    const perm = new Rng(seed).shuffle(Int32Array.from([0, 1, 2]));
    const testUser = perm[0];
    assert.deepEqual(rows(ds.test), EXPECTED_ROWS.filter((r) => r[0] === testUser));
    assert.deepEqual(rows(ds.train), EXPECTED_ROWS.filter((r) => r[0] !== testUser));
    assert.equal(ds.stats?.testUsers, 1);
    validateSampleSet(ds.test, ds.catalog.numItems, ds.numUsers);
  }
  const all = loadMovieLens(dir, { testFraction: 1 });
  assert.equal(all.train.size, 0);
  assert.deepEqual(rows(all.test), EXPECTED_ROWS);
});

test('movielens layouts: detection and missing files', () => {
  const dat = datDir({ 'users.dat': '1::F::1::10::48067\n' });
  const csv = tmpFixture(CSV_20M);
  assert.equal(movieLensLayout(dat), 'dat');
  assert.equal(movieLensLayout(join(dat, 'ratings.dat')), 'dat');
  assert.equal(movieLensLayout(join(dat, 'users.dat')), 'dat');
  assert.equal(movieLensLayout(csv), 'csv');
  assert.equal(movieLensLayout(join(csv, 'movies.csv')), 'csv');
  assert.equal(movieLensLayout(join(csv, 'nope')), null);
  assert.deepEqual(movieLensSourceFiles(dat), [join(dat, 'ratings.dat'), join(dat, 'movies.dat')]);
  assert.deepEqual(movieLensSourceFiles(join(csv, 'tags.csv')), [join(csv, 'ratings.csv'), join(csv, 'movies.csv')]);

  const half = tmpFixture({ 'ratings.dat': RATINGS_DAT, 'README': 'x\n' });
  assert.equal(movieLensLayout(half), null);
  assert.throws(() => movieLensSourceFiles(half), /movies\.dat is missing$/);
  assert.throws(() => loadMovieLens(half), /movies\.dat is missing$/);
  const empty = tmpFixture({ 'a.txt': 'x\n' });
  assert.equal(movieLensLayout(empty), null);
  assert.throws(
    () => movieLensSourceFiles(empty),
    (e: Error) => e.message.includes('ratings.csv + movies.csv') && e.message.includes('ratings.dat + movies.dat') &&
      e.message.endsWith('ratings.csv is missing, movies.csv is missing'),
  );
  assert.throws(() => movieLensSourceFiles(join(empty, 'a.txt')), /; a\.txt is not a \.csv or \.dat file, ratings\.csv is missing/);
  assert.throws(() => movieLensSourceFiles(join(csv, 'nope')), (e: Error) =>
    e.message.startsWith(`${join(csv, 'nope')}: movielens needs`) && e.message.endsWith('ratings.csv is missing, movies.csv is missing'));
  writeFileSync(join(csv, 'notes.txt'), 'x\n');
  assert.throws(() => movieLensSourceFiles(join(csv, 'notes.txt')), /; notes\.txt is not a \.csv or \.dat file$/);
  // Both layouts in one directory: ambiguous unless a file picks one.
  const both = datDir(CSV_20M);
  assert.throws(() => movieLensLayout(both), /holds both MovieLens layouts/);
  assert.throws(() => loadMovieLens(both), /holds both MovieLens layouts/);
  assert.equal(movieLensLayout(join(both, 'ratings.dat')), 'dat');
  assert.equal(loadMovieLens(join(both, 'ratings.dat'), { testFraction: 0 }).buildOptions.layout, 'dat');
  assert.equal(loadMovieLens(join(both, 'ratings.csv'), { testFraction: 0 }).buildOptions.layout, 'csv');
});

test('movielens layouts: malformed lines name the file and line', () => {
  const dir = datDir();
  const r = join(dir, 'ratings.dat');
  const m = join(dir, 'movies.dat');
  const bad = (file: string, content: string | Buffer, message: string): void => {
    writeFileSync(file, content);
    assert.throws(() => loadMovieLens(dir, { onError: 'fail' }), (e: Error) => {
      assert.equal(e.message, message);
      return true;
    });
  };
  bad(r, '1::2::5::1\n\n1::3::5\n', `${r}:3: expected 4 fields separated by "::" (UserID::MovieID::Rating::Timestamp), got 3`);
  bad(r, '1::2::5::1::9\n', `${r}:1: expected 4 fields separated by "::" (UserID::MovieID::Rating::Timestamp), got 5`);
  bad(r, '1,2,5,1\n', `${r}:1: expected 4 fields separated by "::" (UserID::MovieID::Rating::Timestamp), got 1`);
  bad(r, '1::2::5::1\r\nu1::2::5::1\r\n', `${r}:2: userId "u1" is not a non-negative integer id`);
  bad(r, '1::2::5::1\n1::-3::5::1\n', `${r}:2: movieId "-3" is not a non-negative integer id`);
  bad(r, '1::2.5::5::1\n', `${r}:1: movieId "2.5" is not a non-negative integer id`);
  bad(r, '1::2::good::1\n', `${r}:1: rating "good" is not a number`);
  bad(r, '1::2::::1\n', `${r}:1: rating "" is not a number`);
  bad(r, '1::2::4::1\n1::3::4::t\n', `${r}:2: timestamp "t" is not a number`);
  bad(r, '', `${r}: no ratings`);
  writeFileSync(r, RATINGS_DAT);
  bad(m, Buffer.from('1::Toy Story (1995)::Comedy\n2::Misérables::Drama::Musical\n', 'latin1'),
    `${m}:2: expected 3 fields separated by "::" (MovieID::Title::Genres), got 4`);
  bad(m, '1::Toy Story (1995)\n', `${m}:1: expected 3 fields separated by "::" (MovieID::Title::Genres), got 2`);
  bad(m, '\n\nx1::Heat::Action\n', `${m}:3: movieId "x1" is not a non-negative integer id`);

  // The csv layout: same rules, header on line 1.
  const c = tmpFixture(CSV_20M);
  const rc = join(c, 'ratings.csv');
  const mc = join(c, 'movies.csv');
  const badCsv = (file: string, content: string, message: string): void => {
    writeFileSync(file, content);
    assert.throws(() => loadMovieLens(c, { onError: 'fail' }), (e: Error) => {
      assert.equal(e.message, message);
      return true;
    });
  };
  const H = 'userId,movieId,rating,timestamp\n';
  badCsv(rc, `${H}1,2,4,5\n1,x,4,5\n`, `${rc}:3: movieId "x" is not a non-negative integer id`);
  badCsv(rc, `${H}1,2,4,5,6\n`, `${rc}:2: expected 4 fields like the header, got 5`);
  badCsv(rc, `${H}1,2,4,\n`, `${rc}:2: timestamp "" is not a number`);
  badCsv(rc, `${H}1,2,"4""",5\n`, `${rc}:2: unsupported quoting (quoted ratings fields may not contain quotes or line breaks)`);
  badCsv(rc, `${H}1,2,"4\n",5\n`, `${rc}:2: unsupported quoting (quoted ratings fields may not contain quotes or line breaks)`);
  badCsv(rc, 'user,movieId,rating,timestamp\n', `${rc}:1: header has no "userId" column (found: user,movieId,rating,timestamp; expected userId,movieId,rating,timestamp)`);
  badCsv(rc, '', `${rc}: empty file (expected header userId,movieId,rating,timestamp)`);
  writeFileSync(rc, `${H}"1","2"," 4.5 ",5\n`); // plain quotes and spaces around numbers are fine
  assert.deepEqual(rows(loadMovieLens(c, { testFraction: 0 }).train), [[0, 0, 1, []]]);
  badCsv(mc, 'movieId,title,genres\n1,Toy Story, The (1995),Comedy\n', `${mc}:2: expected 3 fields (movieId,title,genres; quote titles containing commas), got 4`);
  badCsv(mc, 'movieId,title,genres\n1a,Toy Story (1995),Comedy\n', `${mc}:2: movieId "1a" is not a non-negative integer id`);
});

test('movielens ratings parser: numbers equal Number(text); chunk boundaries keep rows and line numbers', () => {
  const values = ['0.1', '0.3', '3.14159', '-2.5', '+3', '7.', '.25', '1e3', '123456789012345', '1234567890123456789', '978300760'];
  const dir = tmpFixture({ 'ratings.dat': values.map((v, k) => `1::${k}::4::${v}\n`).join('') });
  const p = readMovieLensRatings(join(dir, 'ratings.dat'), 'dat');
  assert.deepEqual([...p.times], values.map(Number));
  assert.deepEqual(p.movieIds, values.map((_, k) => k));

  // ~11 MB: more than one 8 MiB read chunk, so some line straddles a chunk boundary.
  const n = 400_000;
  const parts: string[] = [];
  for (let k = 0; k < n; k++) parts.push(`${k % 997}::${k % 3001}::${(k % 10) / 2}::${1_000_000_000 + k}`);
  const big = tmpFixture({ 'ratings.dat': parts.join('\n') + '\n' });
  const file = join(big, 'ratings.dat');
  const q = readMovieLensRatings(file, 'dat', { minRating: 3 });
  assert.equal(q.size, n);
  let bad = -1;
  for (let k = 0; k < n && bad < 0; k++) {
    const ok = q.times[k] === 1_000_000_000 + k && q.userIds[q.users[k]] === k % 997 &&
      q.movieIds[q.items[k]] === k % 3001 && q.labels[k] === ((k % 10) / 2 >= 3 ? 1 : 0);
    if (!ok) bad = k;
  }
  assert.equal(bad, -1, `row ${bad} parsed wrongly`);
  writeFileSync(file, parts.join('\n') + '\n1::2::3\n');
  assert.throws(() => readMovieLensRatings(file, 'dat', { onError: 'fail' }), (e: Error) => e.message.startsWith(`${file}:${n + 1}: expected 4 fields`));
  const skipped = readMovieLensRatings(file, 'dat');
  assert.equal(skipped.size, n);
  assert.deepEqual(skipped.skipped, { malformedRatingLines: 1 });
});
