/**
 * MovieLens "latest" layout (ml-latest-small, ml-25m, …): `ratings.csv` (userId,movieId,rating,timestamp) and
 * `movies.csv` (movieId,title,genres with "|" between genres; titles may contain quoted commas).
 *
 * Protocol: every rating is a sample; label = rating ≥ `minRating` (default 4); candidate = the rated movie;
 * history = every movie the user rated earlier, in time order with ties broken by file order (truncation to the most
 * recent N is the batcher's job). Each user's time-ordered movies are stored once in `histValues` and the user's
 * j-th rating points at the first j of them. Users are split into train/test (seeded shuffle, `testFraction` of the
 * users, default 0.2), so test users are unseen in training — like the paper's MovieLens setup.
 *
 * Ids: users and movies in first-seen order in ratings.csv (movies never rated are not in the catalog); genres in
 * first-seen order walking movies by dense id; "(no genres listed)" means no attribute.
 *
 * Errors: a missing header column, a row with the wrong number of fields, a non-numeric rating/timestamp or broken
 * quoting throws naming the file and line. Blank lines, rated movies absent from movies.csv (kept, no attributes)
 * and duplicate movies.csv rows are counted in `skipped`.
 */
import { existsSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { readCsvFile } from '../csv.js';
import { allocSampleSet } from '../sample-set.js';
import type { Dataset, SampleSet } from '../types.js';
import { IntColumn, Vocab } from '../vocab.js';
import { Rng } from '../../util/rng.js';

export interface MovieLensOptions {
  /** Seed of the user split. Default 1. */
  seed?: number;
  /** Fraction of users in the test set. Default 0.2. */
  testFraction?: number;
  /** Ratings ≥ this are positives. Default 4. */
  minRating?: number;
  /** Dataset name; default the directory name. */
  name?: string;
  onProgress?: (msg: string) => void;
}

const NO_GENRES = '(no genres listed)';

export function movieLensSourceFiles(path: string): string[] {
  let dir = resolve(path);
  if (statSync(dir).isFile()) dir = dirname(dir);
  const ratings = join(dir, 'ratings.csv');
  const movies = join(dir, 'movies.csv');
  for (const f of [ratings, movies]) {
    if (!existsSync(f)) throw new Error(`${dir}: movielens needs ratings.csv and movies.csv; ${basename(f)} is missing`);
  }
  return [ratings, movies];
}

function columnIndex(header: string[], file: string, names: string[]): number[] {
  const lower = header.map((h) => h.trim().toLowerCase());
  return names.map((n) => {
    const i = lower.indexOf(n.toLowerCase());
    if (i < 0) {
      throw new Error(`${file}:1: header has no "${n}" column (found: ${header.join(',')}; expected ${names.join(',')})`);
    }
    return i;
  });
}

export function loadMovieLens(path: string, opts: MovieLensOptions = {}): Dataset {
  const seed = opts.seed ?? 1;
  const testFraction = opts.testFraction ?? 0.2;
  const minRating = opts.minRating ?? 4;
  if (!(testFraction >= 0 && testFraction <= 1)) throw new Error(`testFraction must be in [0, 1], got ${testFraction}`);
  const [ratingsFile, moviesFile] = movieLensSourceFiles(path);
  const name = opts.name ?? basename(dirname(ratingsFile));
  const progress = opts.onProgress ?? (() => {});
  const skipped: Record<string, number> = {};
  const skip = (reason: string, n = 1): void => {
    skipped[reason] = (skipped[reason] ?? 0) + n;
  };

  // ---- movies.csv: movieId → genres ----
  const genresOf = new Map<string, string[]>();
  let mCols: number[] | null = null;
  readCsvFile(moviesFile, (f, line) => {
    if (mCols === null) {
      mCols = columnIndex(f, moviesFile, ['movieId', 'genres']);
      if (f.length < 3) throw new Error(`${moviesFile}:1: expected header movieId,title,genres`);
      return;
    }
    if (f.length === 1 && f[0].trim() === '') {
      skip('blankLines');
      return;
    }
    if (f.length !== 3) {
      throw new Error(
        `${moviesFile}:${line}: expected 3 fields (movieId,title,genres; quote titles containing commas), got ${f.length}`,
      );
    }
    const id = f[mCols[0]].trim();
    if (genresOf.has(id)) {
      skip('duplicateMovies');
      return;
    }
    const g = f[mCols[1]].trim();
    genresOf.set(id, g === '' || g === NO_GENRES ? [] : g.split('|').map((x) => x.trim()).filter((x) => x !== ''));
  });

  // ---- ratings.csv ----
  const users = new Vocab();
  const items = new Vocab();
  const rUser = new IntColumn(1 << 16);
  const rItem = new IntColumn(1 << 16);
  const rLabel = new IntColumn(1 << 16);
  let rTime = new Float64Array(1 << 16);
  let rCols: number[] | null = null;
  let expectFields = 0;
  readCsvFile(ratingsFile, (f, line) => {
    if (rCols === null) {
      rCols = columnIndex(f, ratingsFile, ['userId', 'movieId', 'rating', 'timestamp']);
      expectFields = f.length;
      return;
    }
    if (f.length === 1 && f[0].trim() === '') {
      skip('blankLines');
      return;
    }
    if (f.length !== expectFields) {
      throw new Error(`${ratingsFile}:${line}: expected ${expectFields} fields like the header, got ${f.length}`);
    }
    const rating = Number(f[rCols[2]]);
    const ts = Number(f[rCols[3]]);
    if (f[rCols[2]].trim() === '' || !Number.isFinite(rating)) {
      throw new Error(`${ratingsFile}:${line}: rating "${f[rCols[2]]}" is not a number`);
    }
    if (f[rCols[3]].trim() === '' || !Number.isFinite(ts)) {
      throw new Error(`${ratingsFile}:${line}: timestamp "${f[rCols[3]]}" is not a number`);
    }
    const k = rUser.length;
    if (k === rTime.length) {
      const t = new Float64Array(k * 2);
      t.set(rTime);
      rTime = t;
    }
    rTime[k] = ts;
    rUser.push(users.id(f[rCols[0]].trim()));
    rItem.push(items.id(f[rCols[1]].trim()));
    rLabel.push(rating >= minRating ? 1 : 0);
  });
  const nR = rUser.length;
  const numUsers = users.size;
  const numItems = items.size;
  if (nR === 0) throw new Error(`${ratingsFile}: no ratings`);
  progress(`movielens: ${nR} ratings, ${numUsers} users, ${numItems} movies read`);

  // ---- catalog ----
  const attrs = new Vocab();
  const attrOffsets = new Int32Array(numItems + 1);
  const attrValues = new IntColumn(numItems * 3);
  let missing = 0;
  let noGenres = 0;
  for (let i = 0; i < numItems; i++) {
    const g = genresOf.get(items.keys[i]);
    if (g === undefined) missing++;
    else {
      if (g.length === 0) noGenres++;
      const seen = new Set<number>();
      for (const x of g) {
        const a = attrs.id(x);
        if (!seen.has(a)) {
          seen.add(a);
          attrValues.push(a);
        }
      }
    }
    attrOffsets[i + 1] = attrValues.length;
  }
  if (missing > 0) skip('ratedMoviesNotInMoviesCsv', missing);

  // ---- per-user time order (counting sort by user keeps file order; then a stable sort by time) ----
  const userOff = new Int32Array(numUsers + 1);
  const U = rUser.data;
  for (let k = 0; k < nR; k++) userOff[U[k] + 1]++;
  for (let u = 0; u < numUsers; u++) userOff[u + 1] += userOff[u];
  const order = new Int32Array(nR);
  const fill = userOff.slice(0, numUsers);
  for (let k = 0; k < nR; k++) order[fill[U[k]]++] = k;
  const tmp: number[] = [];
  for (let u = 0; u < numUsers; u++) {
    const a = userOff[u];
    const b = userOff[u + 1];
    let sorted = true;
    for (let k = a + 1; k < b; k++) if (rTime[order[k]] < rTime[order[k - 1]]) sorted = false;
    if (sorted) continue;
    tmp.length = 0;
    for (let k = a; k < b; k++) tmp.push(order[k]);
    tmp.sort((x, y) => rTime[x] - rTime[y] || x - y);
    for (let k = a; k < b; k++) order[k] = tmp[k - a];
  }
  const histValues = new Int32Array(nR);
  const I = rItem.data;
  for (let k = 0; k < nR; k++) histValues[k] = I[order[k]];

  // ---- split users ----
  const perm = new Int32Array(numUsers);
  for (let u = 0; u < numUsers; u++) perm[u] = u;
  new Rng(seed).shuffle(perm);
  let nTest = Math.round(testFraction * numUsers);
  if (numUsers >= 2 && testFraction > 0 && testFraction < 1) nTest = Math.min(numUsers - 1, Math.max(1, nTest));
  const isTest = new Uint8Array(numUsers);
  for (let k = 0; k < nTest; k++) isTest[perm[k]] = 1;
  let testSize = 0;
  for (let u = 0; u < numUsers; u++) if (isTest[u]) testSize += userOff[u + 1] - userOff[u];
  const train = allocSampleSet(nR - testSize, histValues);
  const test = allocSampleSet(testSize, histValues);
  const L = rLabel.data;
  let tr = 0;
  let te = 0;
  for (let u = 0; u < numUsers; u++) {
    const set = isTest[u] ? test : train;
    const a = userOff[u];
    for (let k = a; k < userOff[u + 1]; k++) {
      const i = isTest[u] ? te++ : tr++;
      set.labels[i] = L[order[k]];
      set.users[i] = u;
      set.items[i] = histValues[k];
      set.histStart[i] = a;
      set.histLen[i] = k - a;
    }
  }

  return {
    name,
    format: 'movielens',
    catalog: {
      numItems,
      numAttrs: attrs.size,
      attrOffsets,
      attrValues: attrValues.toArray(),
      itemKeys: items.keys,
      attrKeys: attrs.keys,
    },
    numUsers,
    userKeys: users.keys,
    train,
    test,
    skipped,
    buildOptions: { seed, testFraction, minRating, split: 'by-user' },
    stats: {
      users: numUsers,
      items: numItems,
      attrs: attrs.size,
      ratings: nR,
      moviesWithoutGenres: noGenres,
      trainUsers: numUsers - nTest,
      testUsers: nTest,
    },
  };
}
