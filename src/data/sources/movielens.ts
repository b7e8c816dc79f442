/**
 * MovieLens, in its two file layouts:
 *
 * - `csv` — ml-latest, ml-latest-small, ml-20m, ml-25m, ml-32m: `ratings.csv` (header userId,movieId,rating,timestamp;
 *   columns found by name, extra columns ignored) and `movies.csv` (header movieId,title,genres; titles containing
 *   commas are quoted). UTF-8.
 * - `dat` — ml-1m, ml-10m: `ratings.dat` (`UserID::MovieID::Rating::Timestamp`, no header) and `movies.dat`
 *   (`MovieID::Title::Genres`, no header). ml-1m's movies.dat is ISO-8859-1: movies.dat is decoded as UTF-8 when its
 *   bytes are valid UTF-8 and as latin1 otherwise (a latin1 title such as "Misérables" is never valid UTF-8).
 *   `users.dat` (gender, age, occupation, zip) is ignored: a Dataset has no user features.
 * Genres are "|"-separated in both; "(no genres listed)" or an empty field means no genre. ml-100k's `u.data` is not
 * supported.
 *
 * Protocol (the same for both layouts): every rating is a sample; label = rating ≥ `minRating` (default 4); candidate =
 * the rated movie; history = every movie the user rated earlier, in time order with ties broken by file order
 * (truncation to the most recent N is the batcher's job). Each user's time-ordered movies are stored once in
 * `histValues` and the user's j-th rating points at the first j of them. Users are split into train/test (seeded
 * shuffle, `testFraction` of the users, default 0.2), so test users are unseen in training — like the paper's MovieLens
 * setup.
 *
 * Ids: user and movie ids must be non-negative integers; users and movies get dense ids in first-seen order in the
 * ratings file (movies never rated are not in the catalog) and keep their decimal id as key; genres in first-seen order
 * walking movies by dense id.
 *
 * The ratings file (20M+ lines for ml-20m/25m) is read in chunks and scanned as bytes: numbers are parsed in place and
 * stored in typed columns, no per-line strings or arrays. Consequently a ratings.csv field may be wrapped in plain
 * double quotes, but quoted fields containing escaped quotes or newlines are rejected (MovieLens never writes them).
 * `convertMovieLensToShards` writes the same samples into shards with the ratings in an external sort by (user, time,
 * file order) on disk instead of memory.
 *
 * Errors vs. counts (`onError`, the policy of ./row-errors.ts), always naming the file and the 1-based line:
 *  - Structural problems always throw: a missing file, an empty file (no header line for csv; no movie / no rating line
 *    at all), a csv header without a required column (userId, movieId, rating, timestamp / movieId, title, genres) or
 *    with broken quoting, a ratings header of more than 64 columns, a movies.csv header of other than 3 columns, and
 *    nothing usable left (no valid rating, no valid movie row; the message shows the first skipped line).
 *  - Row errors — ratings: wrong number of fields (`malformedRatingLines`; also unsupported quoting), a user/movie id
 *    that is not a non-negative integer (`ratingsWithBadIds`), a rating or timestamp that is not a finite number
 *    (`ratingsWithBadNumbers`); movies: wrong number of fields or broken CSV quoting (`malformedMovieLines`), a movieId
 *    that is not a non-negative integer (`moviesWithBadIds`) — are skipped and counted under those keys by default
 *    (`onError: 'skip'`; the first few messages kept in `skippedExamples`), or throw
 *    `<file>:<line>: <what was expected>, got …` with `onError: 'fail'`.
 *  - Always counted (nothing is dropped silently): blank lines, duplicate movie rows (the first wins), and rated movies
 *    absent from the movies file (their ratings are kept; the movie has no attributes) as `ratedMoviesNotInMoviesCsv` /
 *    `ratedMoviesNotInMoviesDat` — a count of movies, not of ratings.
 * movies.csv is read record by record, one physical line each; a quoted field may continue over at most
 * MAX_RECORD_LINES lines, so a stray quote costs one skipped row instead of swallowing the rest of the file.
 */
import { closeSync, existsSync, openSync, readFileSync, readSync, statSync } from 'node:fs';
import { basename, dirname, extname, join, resolve } from 'node:path';
import { parseCsv } from '../parse/csv.js';
import { clip } from '../parse/text.js';
import { allocSampleSet } from '../sample-set.js';
import type { ShardManifest } from '../shards.js';
import { ExternalSorter, putFloat64Key } from '../stream/external-sort.js';
import { streamToShards, type StreamConvertOptions } from '../stream/job.js';
import { SampleShardWriter } from '../stream/sample-writer.js';
import type { Dataset } from '../../core/types.js';
import { IntColumn, Vocab } from '../vocab.js';
import { Rng } from '../../util/rng.js';
import { RowErrors, rowErrorPolicy, type RowErrorPolicy } from './row-errors.js';

/** Options of `loadMovieLens`. */
export interface MovieLensOptions {
  /** Seed of the user split. Default 1. */
  seed?: number;
  /** Fraction of users in the test set. Default 0.2. */
  testFraction?: number;
  /** Ratings ≥ this are positives. Default 4. */
  minRating?: number;
  /** Dataset name; default the directory name. */
  name?: string;
  /** Row errors (see the file header): 'skip' counts them in `skipped` (default), 'fail' throws at the first. */
  onError?: RowErrorPolicy;
  /** Receives human-readable progress lines (ratings read, the first skipped row of each kind). */
  onProgress?: (msg: string) => void;
}

/** Options of the file readers: a policy, or a shared RowErrors collecting the counts of several files. */
export interface MovieLensReadOptions {
  onError?: RowErrorPolicy;
  errors?: RowErrors;
}

/** `csv`: ratings.csv + movies.csv (ml-latest, ml-20m, ml-25m); `dat`: ratings.dat + movies.dat (ml-1m, ml-10m). */
export type MovieLensLayout = 'csv' | 'dat';

const LAYOUT_FILES: Record<MovieLensLayout, readonly [ratings: string, movies: string]> = {
  csv: ['ratings.csv', 'movies.csv'],
  dat: ['ratings.dat', 'movies.dat'],
};

/** Human-readable description of the accepted layouts (for "unknown layout" messages). */
export const MOVIELENS_LAYOUTS =
  'ratings.csv + movies.csv (ml-latest, ml-20m, ml-25m) or ratings.dat + movies.dat (ml-1m, ml-10m)';

const NO_GENRES = '(no genres listed)';

function isFileAt(p: string): boolean {
  try {
    return statSync(p).isFile();
  } catch {
    return false;
  }
}

function splitPath(path: string): { abs: string; dir: string; isFile: boolean } {
  const abs = resolve(path);
  const isFile = isFileAt(abs);
  return { abs, dir: isFile ? dirname(abs) : abs, isFile };
}

/**
 * Which MovieLens layout `path` holds: a directory with both files of a layout, or a `.csv`/`.dat` file inside such a
 * directory (the extension picks the layout). Null when neither matches. Throws when a directory holds both complete
 * layouts (pass the ratings file's path to choose).
 */
export function movieLensLayout(path: string): MovieLensLayout | null {
  const { abs, dir, isFile } = splitPath(path);
  if (!isFile && !existsSync(abs)) return null;
  const complete = (['csv', 'dat'] as const).filter((l) => LAYOUT_FILES[l].every((f) => isFileAt(join(dir, f))));
  if (isFile) {
    const ext = extname(abs).slice(1).toLowerCase();
    return complete.find((l) => l === ext) ?? null;
  }
  if (complete.length > 1) {
    throw new Error(
      `${dir}: holds both MovieLens layouts (ratings.csv + movies.csv and ratings.dat + movies.dat); ` +
        'pass the path of the ratings file to choose one',
    );
  }
  return complete[0] ?? null;
}

/** The [ratings, movies] files of the MovieLens data at `path` (directory or a file in it); throws naming what is missing. */
export function movieLensSourceFiles(path: string): [ratings: string, movies: string] {
  const { abs, dir, isFile } = splitPath(path);
  const layout = movieLensLayout(path);
  if (layout !== null) return [join(dir, LAYOUT_FILES[layout][0]), join(dir, LAYOUT_FILES[layout][1])];
  // Explain with the layout the path is closest to (its extension, else the one with more files present; csv on ties).
  const present = (l: MovieLensLayout): number => LAYOUT_FILES[l].filter((f) => isFileAt(join(dir, f))).length;
  const ext = isFile ? extname(abs).slice(1).toLowerCase() : '';
  const near: MovieLensLayout = ext === 'csv' || ext === 'dat' ? ext : present('dat') > present('csv') ? 'dat' : 'csv';
  const missing = LAYOUT_FILES[near].filter((f) => !isFileAt(join(dir, f)));
  const problems = missing.map((f) => `${f} is missing`);
  if (isFile && ext !== 'csv' && ext !== 'dat') problems.unshift(`${basename(abs)} is not a .csv or .dat file`);
  const what = problems.join(', ');
  throw new Error(`${dir}: movielens needs ${MOVIELENS_LAYOUTS}; ${what}`);
}

// ---------------------------------------------------------------------------------------------------------------
// movies

export interface MovieLensMovie {
  id: number;
  title: string;
  /** Genre names in file order, duplicates removed; empty for "(no genres listed)". */
  genres: string[];
}

export interface MovieLensMovies {
  /** One entry per distinct movie id, in file order (later duplicate rows are counted in `skipped`, not listed). */
  movies: MovieLensMovie[];
  /** How the file was decoded. */
  encoding: 'utf8' | 'latin1';
  skipped: Record<string, number>;
}

function parseGenres(g: string): string[] {
  const t = g.trim();
  if (t === '' || t === NO_GENRES) return [];
  return [...new Set(t.split('|').map((x) => x.trim()).filter((x) => x !== ''))];
}

const DIGITS = /^[0-9]+$/;

/** A non-negative integer id from text, or −1 after reporting the row error (file, line and column). */
function idFromText(s: string, file: string, line: number, column: string, errors: RowErrors, reason: string): number {
  const t = s.trim();
  const v = DIGITS.test(t) ? Number(t) : NaN;
  if (!Number.isSafeInteger(v)) {
    errors.row(reason, file, line, `${column} "${clip(s)}" is not a non-negative integer id`);
    return -1;
  }
  return v;
}

/** Most physical lines one movies.csv record (a quoted field with line breaks) may span. */
export const MAX_RECORD_LINES = 20;

/**
 * CSV records of `buf`, one physical line each (a quoted field may continue over up to MAX_RECORD_LINES lines).
 * `onRow(fields, line)` gets every record; blank lines come as `['']`; a line that does not parse as CSV goes to
 * `onBroken(line, what)` and reading resumes at the next line. Line numbers count `\n`.
 */
function readCsvRecords(
  buf: Buffer,
  file: string,
  onRow: (fields: string[], line: number) => void,
  onBroken: (line: number, what: string) => void,
): void {
  let start = buf.length >= 3 && buf[0] === 0xef && buf[1] === 0xbb && buf[2] === 0xbf ? 3 : 0;
  let line = 1;
  const lineEnd = (from: number): number => {
    const e = buf.indexOf(LF, from);
    return e < 0 ? buf.length : e;
  };
  while (start < buf.length) {
    let end = lineEnd(start);
    let content = end;
    if (content > start && buf[content - 1] === CR) content--;
    let blank = true;
    for (let i = start; i < content && blank; i++) if (buf[i] !== SP && buf[i] !== TAB) blank = false;
    if (blank) {
      onRow([''], line);
      start = end + 1;
      line++;
      continue;
    }
    // Parse the line; on an unterminated quoted field, retry with the next lines joined (a multi-line field).
    let spanned = 1;
    let failure: string | null = null;
    let firstFailure: string | null = null; // what is wrong with the line alone (reported if no join helps)
    const rows: string[][] = [];
    for (;;) {
      rows.length = 0;
      failure = null;
      try {
        parseCsv(buf.subarray(start, end), file, (f) => rows.push(f));
      } catch (e) {
        const msg = (e as Error).message;
        failure = msg.startsWith(`${file}:`) ? msg.slice(file.length + 1).replace(/^\d+: /, '') : msg;
        firstFailure ??= failure;
      }
      if (failure === null || !failure.startsWith('unterminated') || spanned >= MAX_RECORD_LINES || end >= buf.length) break;
      end = lineEnd(end + 1);
      spanned++;
    }
    if (failure !== null) {
      onBroken(line, firstFailure ?? failure);
      start = lineEnd(start) + 1; // resume at the next physical line
      line++;
      continue;
    }
    for (const f of rows) onRow(f, line);
    start = end + 1;
    line += spanned;
  }
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

/** Decodes `buf` as UTF-8 when it is valid UTF-8, else as latin1 (ml-1m's movies.dat is ISO-8859-1). */
function decodeUtf8OrLatin1(buf: Buffer): { text: string; encoding: 'utf8' | 'latin1' } {
  try {
    return { text: new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(buf), encoding: 'utf8' };
  } catch {
    return { text: buf.toString('latin1'), encoding: 'latin1' };
  }
}

/** Reads movies.csv (`csv`) or movies.dat (`dat`). See the module comment for errors and skips. */
export function readMovieLensMovies(file: string, layout: MovieLensLayout, opts: MovieLensReadOptions = {}): MovieLensMovies {
  const errors = opts.errors ?? new RowErrors(rowErrorPolicy(opts.onError));
  const skipped = errors.skipped;
  const skip = (reason: string): void => errors.count(reason);
  const bytes = readBytes(file);
  const movies: MovieLensMovie[] = [];
  let rows = 0; // non-blank data lines
  const seen = new Set<number>();
  const add = (id: number, title: string, genres: string): void => {
    if (seen.has(id)) {
      skip('duplicateMovies');
      return;
    }
    seen.add(id);
    movies.push({ id, title, genres: parseGenres(genres) });
  };

  const noMovies = (): Error => {
    const empty = layout === 'csv' ? 'no movie rows after the header' : 'empty file (expected MovieID::Title::Genres lines)';
    return new Error(`${file}: ${rows === 0 ? empty : 'no valid movie row'}${errors.hint(file)}`);
  };

  if (layout === 'csv') {
    let cols: number[] | null = null;
    readCsvRecords(
      bytes,
      file,
      (f, line) => {
        if (cols === null) {
          cols = columnIndex(f, file, ['movieId', 'title', 'genres']);
          if (f.length !== 3) throw new Error(`${file}:1: expected header movieId,title,genres, got ${f.join(',')}`);
          return;
        }
        if (f.length === 1 && f[0].trim() === '') {
          skip('blankLines');
          return;
        }
        rows++;
        if (f.length !== 3) {
          const what = `expected 3 fields (movieId,title,genres; quote titles containing commas), got ${f.length}`;
          errors.row('malformedMovieLines', file, line, what);
          return;
        }
        const id = idFromText(f[cols[0]], file, line, 'movieId', errors, 'moviesWithBadIds');
        if (id >= 0) add(id, f[cols[1]], f[cols[2]]);
      },
      (line, what) => {
        if (cols === null) throw new Error(`${file}:${line}: ${what}`); // the header
        rows++;
        errors.row('malformedMovieLines', file, line, what);
      },
    );
    if (cols === null) throw new Error(`${file}: empty file (expected header movieId,title,genres)`);
    if (movies.length === 0) throw noMovies();
    return { movies, encoding: 'utf8', skipped };
  }

  const { text, encoding } = decodeUtf8OrLatin1(bytes);
  const lines = text.split('\n');
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop(); // final newline
  for (let k = 0; k < lines.length; k++) {
    let s = lines[k];
    if (s.endsWith('\r')) s = s.slice(0, -1);
    if (k === 0 && s.startsWith('\ufeff')) s = s.slice(1);
    const line = k + 1;
    if (s.trim() === '') {
      skip('blankLines');
      continue;
    }
    rows++;
    const f = s.split('::');
    if (f.length !== 3) {
      const what = `expected 3 fields separated by "::" (MovieID::Title::Genres), got ${f.length}`;
      errors.row('malformedMovieLines', file, line, what);
      continue;
    }
    const id = idFromText(f[0], file, line, 'movieId', errors, 'moviesWithBadIds');
    if (id >= 0) add(id, f[1], f[2]);
  }
  if (movies.length === 0) throw noMovies();
  return { movies, encoding, skipped };
}

function readBytes(file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (e) {
    throw new Error(`${file}: cannot read (${(e as Error).message})`);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// ratings

/** Raw id → dense id in first-seen order; a flat table for ids below 2^24, a Map above. */
class DenseIds {
  private table = new Int32Array(1024).fill(-1);
  private readonly big = new Map<number, number>();
  /** Raw id of each dense id. */
  readonly raw: number[] = [];

  id(x: number): number {
    if (x < TABLE_LIMIT) {
      if (x >= this.table.length) {
        const t = new Int32Array(Math.min(TABLE_LIMIT, Math.max(x + 1, this.table.length * 2))).fill(-1);
        t.set(this.table);
        this.table = t;
      }
      let v = this.table[x];
      if (v < 0) {
        v = this.raw.length;
        this.table[x] = v;
        this.raw.push(x);
      }
      return v;
    }
    let v = this.big.get(x);
    if (v === undefined) {
      v = this.raw.length;
      this.big.set(x, v);
      this.raw.push(x);
    }
    return v;
  }
}
const TABLE_LIMIT = 1 << 24;

/** Columnar ratings, one entry per rating line in file order. */
export interface MovieLensRatings {
  size: number;
  /** Dense user id (first-seen order) per rating. */
  users: Int32Array;
  /** Dense movie id (first-seen order) per rating. */
  items: Int32Array;
  /** rating ≥ minRating. */
  labels: Uint8Array;
  times: Float64Array;
  /** Raw user id of each dense user id. */
  userIds: number[];
  /** Raw movie id of each dense movie id. */
  movieIds: number[];
  skipped: Record<string, number>;
}

const LF = 0x0a;
const CR = 0x0d;
const SP = 0x20;
const TAB = 0x09;
const COMMA = 0x2c;
const COLON = 0x3a;
const QUOTE = 0x22;
const DOT = 0x2e;
const CHUNK = 8 << 20;
const POW10 = Array.from({ length: 23 }, (_, k) => 10 ** k);

/** Non-negative integer in b[s, e) (surrounding spaces/tabs allowed), or −1. */
function parseUint(b: Buffer, s: number, e: number): number {
  while (s < e && (b[s] === SP || b[s] === TAB)) s++;
  while (e > s && (b[e - 1] === SP || b[e - 1] === TAB)) e--;
  if (s === e || e - s > 16) return -1;
  let v = 0;
  for (let i = s; i < e; i++) {
    const d = b[i] - 48;
    if (d < 0 || d > 9) return -1;
    v = v * 10 + d;
  }
  return v <= Number.MAX_SAFE_INTEGER ? v : -1;
}

/**
 * The number in b[s, e), or NaN. `[-+]?digits[.digits]` with up to 15 digits is parsed in place (one correctly rounded
 * division, so the value equals `Number(text)`); anything else goes through `Number(text)` (exponents, long mantissas).
 */
function parseNumber(b: Buffer, s: number, e: number): number {
  while (s < e && (b[s] === SP || b[s] === TAB)) s++;
  while (e > s && (b[e - 1] === SP || b[e - 1] === TAB)) e--;
  if (s === e) return NaN;
  let i = s;
  let neg = false;
  if (b[i] === 0x2d || b[i] === 0x2b) {
    neg = b[i] === 0x2d;
    i++;
  }
  let m = 0;
  let digits = 0;
  let frac = -1;
  for (; i < e; i++) {
    const c = b[i];
    const d = c - 48;
    if (d >= 0 && d <= 9) {
      m = m * 10 + d;
      digits++;
      if (frac >= 0) frac++;
    } else if (c === DOT && frac < 0) frac = 0;
    else break;
  }
  if (i === e && digits > 0 && digits <= 15) {
    const v = frac > 0 ? m / POW10[frac] : m;
    return neg ? -v : v;
  }
  const v = Number(b.toString('latin1', s, e));
  return Number.isFinite(v) ? v : NaN;
}

/**
 * Reads ratings.csv (`csv`) or ratings.dat (`dat`) into typed columns. Labels are `rating >= minRating`. See the
 * module comment for errors and skips.
 */
export function readMovieLensRatings(
  file: string,
  layout: MovieLensLayout,
  opts: { minRating?: number; onProgress?: (msg: string) => void } & MovieLensReadOptions = {},
): MovieLensRatings {
  let cap = Math.max(1024, Math.ceil(statSync(file).size / 22));
  let U = new Int32Array(cap);
  let I = new Int32Array(cap);
  let L = new Uint8Array(cap);
  let T = new Float64Array(cap);
  let n = 0;
  const ids = scanMovieLensRatings(file, layout, opts, (u, m, label, t) => {
    if (n === cap) {
      cap = Math.ceil(cap * 1.5);
      const u2 = new Int32Array(cap);
      u2.set(U);
      U = u2;
      const i2 = new Int32Array(cap);
      i2.set(I);
      I = i2;
      const l2 = new Uint8Array(cap);
      l2.set(L);
      L = l2;
      const t2 = new Float64Array(cap);
      t2.set(T);
      T = t2;
    }
    U[n] = u;
    I[n] = m;
    L[n] = label;
    T[n] = t;
    n++;
  });
  return {
    size: n,
    users: U.subarray(0, n),
    items: I.subarray(0, n),
    labels: L.subarray(0, n),
    times: T.subarray(0, n),
    userIds: ids.userIds,
    movieIds: ids.movieIds,
    skipped: ids.skipped,
  };
}

/** One valid rating: dense user and movie ids (first-seen order), label (rating ≥ minRating) and time. */
export type RatingHandler = (user: number, movie: number, label: number, time: number) => void;

/**
 * Scans ratings.csv (`csv`) or ratings.dat (`dat`) and hands every valid rating to `onRating`, in file order, with
 * dense user and movie ids; returns the raw ids of the dense ids. See the module comment for errors and skips.
 */
export function scanMovieLensRatings(
  file: string,
  layout: MovieLensLayout,
  opts: { minRating?: number; onProgress?: (msg: string) => void } & MovieLensReadOptions,
  onRating: RatingHandler,
): { userIds: number[]; movieIds: number[]; skipped: Record<string, number>; ratings: number } {
  const errors = opts.errors ?? new RowErrors(rowErrorPolicy(opts.onError));
  const minRating = opts.minRating ?? 4;
  const progress = opts.onProgress ?? (() => {});
  const dat = layout === 'dat';
  const text = dat ? 'latin1' : 'utf8';
  const skipped = errors.skipped;
  const users = new DenseIds();
  const items = new DenseIds();
  let n = 0;
  let blank = 0;

  // Field positions of userId, movieId, rating, timestamp and the field count (csv: from the header).
  let cu = 0;
  let cm = 1;
  let cr = 2;
  let ct = 3;
  let nf = 4;
  let header = !dat;
  const fs = new Int32Array(64);
  const fe = new Int32Array(64);
  const expected = dat ? '4 fields separated by "::" (UserID::MovieID::Rating::Timestamp)' : '';

  const fail = (line: number, msg: string): never => {
    throw new Error(`${file}:${line}: ${msg}`);
  };
  const fieldText = (b: Buffer, k: number): string => clip(b.toString(text, fs[k], fe[k]));
  /** A row error: under 'skip' counted (the caller then skips the line), under 'fail' thrown. */
  const bad = (reason: string, line: number, msg: string): void => errors.row(reason, file, line, msg);

  /** Parses the complete lines of b[0, end); `line` is the number of the first. Returns the next line number. */
  const parseLines = (b: Buffer, start: number, end: number, line: number): number => {
    let p = start;
    while (p < end) {
      let le = b.indexOf(LF, p);
      if (le < 0 || le >= end) le = end;
      const next = le + 1;
      if (le > p && b[le - 1] === CR) le--;
      if (header) {
        header = false;
        let row: string[] = [];
        parseCsv(b.subarray(p, le), file, (f) => {
          row = f;
        });
        [cu, cm, cr, ct] = columnIndex(row, file, ['userId', 'movieId', 'rating', 'timestamp']);
        nf = row.length;
        if (nf > fs.length) fail(1, `header has ${nf} columns; at most ${fs.length} are supported`);
        p = next;
        line++;
        continue;
      }
      // Blank (or whitespace-only) line?
      let q = p;
      while (q < le && (b[q] === SP || b[q] === TAB)) q++;
      if (q === le) {
        blank++;
        p = next;
        line++;
        continue;
      }
      // Split into fields.
      let f = 0;
      let s = p;
      let badQuote = false;
      for (;;) {
        let e: number;
        let after: number;
        if (dat) {
          e = s;
          while (e < le && !(b[e] === COLON && e + 1 < le && b[e + 1] === COLON)) e++;
          after = e + 2;
        } else if (s < le && b[s] === QUOTE) {
          let c = s + 1;
          while (c < le && b[c] !== QUOTE) c++;
          if (c >= le || (c + 1 < le && b[c + 1] !== COMMA)) {
            badQuote = true;
            break;
          }
          if (f < nf) {
            fs[f] = s + 1;
            fe[f] = c;
          }
          f++;
          e = c + 1;
          after = e + 1;
          if (e >= le) break;
          s = after;
          continue;
        } else {
          e = s;
          while (e < le && b[e] !== COMMA) e++;
          after = e + 1;
        }
        if (f < nf) {
          fs[f] = s;
          fe[f] = e;
        }
        f++;
        if (e >= le) break;
        s = after;
      }
      let u = -1;
      let m = -1;
      let r = NaN;
      let t = NaN;
      if (badQuote) {
        bad('malformedRatingLines', line, 'unsupported quoting (quoted ratings fields may not contain quotes or line breaks)');
      } else if (f !== nf) {
        const what = dat ? `expected ${expected}, got ${f}` : `expected ${nf} fields like the header, got ${f}`;
        bad('malformedRatingLines', line, what);
      } else if ((u = parseUint(b, fs[cu], fe[cu])) < 0) {
        bad('ratingsWithBadIds', line, `userId "${fieldText(b, cu)}" is not a non-negative integer id`);
      } else if ((m = parseUint(b, fs[cm], fe[cm])) < 0) {
        bad('ratingsWithBadIds', line, `movieId "${fieldText(b, cm)}" is not a non-negative integer id`);
      } else if ((r = parseNumber(b, fs[cr], fe[cr])) !== r) {
        bad('ratingsWithBadNumbers', line, `rating "${fieldText(b, cr)}" is not a number`);
      } else if ((t = parseNumber(b, fs[ct], fe[ct])) !== t) {
        bad('ratingsWithBadNumbers', line, `timestamp "${fieldText(b, ct)}" is not a number`);
      }
      if (t !== t) {
        // skipped row (under 'fail' `bad` has thrown)
        p = next;
        line++;
        continue;
      }
      onRating(users.id(u), items.id(m), r >= minRating ? 1 : 0, t);
      n++;
      p = next;
      line++;
    }
    return line;
  };

  const fd = openSync(file, 'r');
  try {
    let buf = Buffer.allocUnsafe(CHUNK);
    let have = 0;
    let line = 1;
    let bomChecked = false;
    let nextReport = 5_000_000;
    for (;;) {
      if (have === buf.length) {
        const bigger = Buffer.allocUnsafe(buf.length * 2); // a line longer than the buffer
        buf.copy(bigger, 0, 0, have);
        buf = bigger;
      }
      const got = readSync(fd, buf, have, buf.length - have, null);
      have += got;
      const eof = got === 0;
      const end = eof ? have : buf.lastIndexOf(LF, have - 1) + 1;
      if (end > 0) {
        let start = 0;
        if (!bomChecked) {
          bomChecked = true;
          if (end >= 3 && buf[0] === 0xef && buf[1] === 0xbb && buf[2] === 0xbf) start = 3;
        }
        line = parseLines(buf, start, end, line);
      }
      if (eof) break;
      if (end > 0) {
        buf.copy(buf, 0, end, have);
        have -= end;
      }
      if (n >= nextReport) {
        progress(`movielens: ${n} ratings read`);
        nextReport += 5_000_000;
      }
    }
  } finally {
    closeSync(fd);
  }
  if (header) throw new Error(`${file}: empty file (expected header userId,movieId,rating,timestamp)`);
  errors.count('blankLines', blank);
  return { userIds: users.raw, movieIds: items.raw, skipped, ratings: n };
}

// ---------------------------------------------------------------------------------------------------------------
// dataset

/** What both the loader and the converter read first: options, files, the movies, and the row errors. */
function begin(path: string, opts: MovieLensOptions) {
  const seed = opts.seed ?? 1;
  const testFraction = opts.testFraction ?? 0.2;
  const minRating = opts.minRating ?? 4;
  const policy = rowErrorPolicy(opts.onError);
  if (!(testFraction >= 0 && testFraction <= 1)) throw new Error(`testFraction must be in [0, 1], got ${testFraction}`);
  const [ratingsFile, moviesFile] = movieLensSourceFiles(path);
  const layout: MovieLensLayout = ratingsFile.endsWith('.dat') ? 'dat' : 'csv';
  const name = opts.name ?? basename(dirname(ratingsFile));
  const progress = opts.onProgress ?? (() => {});
  const errors = new RowErrors(policy);
  const mv = readMovieLensMovies(moviesFile, layout, { errors });
  const genresOf = new Map<number, string[]>();
  for (const m of mv.movies) genresOf.set(m.id, m.genres);
  return { seed, testFraction, minRating, policy, ratingsFile, layout, name, progress, errors, genresOf };
}

type Begun = ReturnType<typeof begin>;

/**
 * After the ratings: the catalog (genres of the rated movies), the user split (seeded shuffle), and the dataset
 * without its samples. Throws when no rating was valid.
 */
function finishHead(b: Begun, nR: number, userIds: number[], movieIds: number[]): { head: Omit<Dataset, 'train' | 'test'>; isTest: Uint8Array } {
  const { errors, progress, ratingsFile, layout, seed, testFraction } = b;
  for (const msg of errors.firsts()) progress(`movielens: skipped ${msg}`);
  const numUsers = userIds.length;
  const numItems = movieIds.length;
  if (nR === 0) throw new Error(`${ratingsFile}: no ratings${errors.hint(ratingsFile)}`);
  progress(`movielens (${layout}): ${nR} ratings, ${numUsers} users, ${numItems} movies read`);

  // ---- catalog ----
  const attrs = new Vocab();
  const attrOffsets = new Int32Array(numItems + 1);
  const attrValues = new IntColumn(numItems * 3);
  let missing = 0;
  let noGenres = 0;
  for (let i = 0; i < numItems; i++) {
    const g = b.genresOf.get(movieIds[i]);
    if (g === undefined) missing++;
    else {
      if (g.length === 0) noGenres++;
      for (const x of g) attrValues.push(attrs.id(x)); // parseGenres removed duplicates
    }
    attrOffsets[i + 1] = attrValues.length;
  }
  errors.count(layout === 'dat' ? 'ratedMoviesNotInMoviesDat' : 'ratedMoviesNotInMoviesCsv', missing);

  // ---- split users ----
  const perm = new Int32Array(numUsers);
  for (let u = 0; u < numUsers; u++) perm[u] = u;
  new Rng(seed).shuffle(perm);
  let nTest = Math.round(testFraction * numUsers);
  if (numUsers >= 2 && testFraction > 0 && testFraction < 1) nTest = Math.min(numUsers - 1, Math.max(1, nTest));
  const isTest = new Uint8Array(numUsers);
  for (let k = 0; k < nTest; k++) isTest[perm[k]] = 1;
  const head: Omit<Dataset, 'train' | 'test'> = {
    name: b.name,
    format: 'movielens',
    catalog: {
      numItems,
      numAttrs: attrs.size,
      attrOffsets,
      attrValues: attrValues.toArray(),
      itemKeys: movieIds.map(String),
      attrKeys: attrs.keys,
    },
    numUsers,
    userKeys: userIds.map(String),
    skipped: errors.skipped,
    skippedExamples: errors.examples(),
    buildOptions: { seed, testFraction, minRating: b.minRating, split: 'by-user', layout, onError: b.policy },
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
  return { head, isTest };
}

/**
 * Builds the Dataset of a MovieLens directory (csv or dat layout) under the protocol of the file header: every rating
 * a sample, labelled by `minRating`, with the user's earlier ratings as history; users split into train and test.
 * Throws when `testFraction` is outside [0, 1], on structural problems, and with `onError: 'fail'` at the first row
 * error.
 */
export function loadMovieLens(path: string, opts: MovieLensOptions = {}): Dataset {
  const b = begin(path, opts);
  const rt = readMovieLensRatings(b.ratingsFile, b.layout, { minRating: b.minRating, onProgress: b.progress, errors: b.errors });
  const nR = rt.size;
  const { head, isTest } = finishHead(b, nR, rt.userIds, rt.movieIds);
  const numUsers = head.numUsers;

  // ---- per-user time order (counting sort by user keeps file order; then a stable sort by time) ----
  const U = rt.users;
  const rTime = rt.times;
  const userOff = new Int32Array(numUsers + 1);
  for (let k = 0; k < nR; k++) userOff[U[k] + 1]++;
  for (let u = 0; u < numUsers; u++) userOff[u + 1] += userOff[u];
  const order = new Int32Array(nR);
  const fill = userOff.slice(0, numUsers);
  for (let k = 0; k < nR; k++) order[fill[U[k]]++] = k;
  const tmp: number[] = [];
  for (let u = 0; u < numUsers; u++) {
    const a = userOff[u];
    const c = userOff[u + 1];
    let sorted = true;
    for (let k = a + 1; k < c; k++) if (rTime[order[k]] < rTime[order[k - 1]]) sorted = false;
    if (sorted) continue;
    tmp.length = 0;
    for (let k = a; k < c; k++) tmp.push(order[k]);
    tmp.sort((x, y) => rTime[x] - rTime[y] || x - y);
    for (let k = a; k < c; k++) order[k] = tmp[k - a];
  }
  const histValues = new Int32Array(nR);
  const I = rt.items;
  for (let k = 0; k < nR; k++) histValues[k] = I[order[k]];

  let testSize = 0;
  for (let u = 0; u < numUsers; u++) if (isTest[u]) testSize += userOff[u + 1] - userOff[u];
  const train = allocSampleSet(nR - testSize, histValues);
  const test = allocSampleSet(testSize, histValues);
  const L = rt.labels;
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
  return { ...head, train, test };
}

/**
 * Converts MovieLens into shards holding exactly the samples of `loadMovieLens` (same order and ids): ratings go to
 * an external sort by (user, time, file order) instead of memory (20 bytes each on disk); the merge then writes each
 * user's samples, the user's time-ordered movies one history block. Held in memory: the movies' genres, the user and
 * movie ids, the sort's runs (`memoryMB`), one user's ratings and one shard.
 */
export async function convertMovieLensToShards(path: string, outDir: string, opts: MovieLensOptions & StreamConvertOptions): Promise<ShardManifest> {
  const b = begin(path, { ...opts, onProgress: opts.onProgress });
  return streamToShards(outDir, 'movielens', b.ratingsFile, opts, async (job) => {
    // (user, time hi, time lo) → movie, label
    const sorter = new ExternalSorter({ words: 5, keyWords: 3, dir: job.tmp, memoryBytes: job.sortBytes, name: 'ratings' });
    try {
      const ids = scanMovieLensRatings(b.ratingsFile, b.layout, { minRating: b.minRating, onProgress: b.progress, errors: b.errors }, (u, m, label, t) => {
        const o = sorter.reserve();
        sorter.buf[o] = u;
        putFloat64Key(sorter.buf, o + 1, t);
        sorter.buf[o + 3] = m;
        sorter.buf[o + 4] = label;
      });
      const { head, isTest } = finishHead(b, ids.ratings, ids.userIds, ids.movieIds);
      const w = new SampleShardWriter(job.writer, opts.shardRows);
      let items = new Int32Array(256);
      let labels = new Uint8Array(256);
      let n = 0;
      let cur = -1;
      const flushUser = () => {
        w.block(items, 0, n);
        for (let k = 0; k < n; k++) w.add(isTest[cur] === 1, labels[k], cur, items[k], 0, k);
        n = 0;
      };
      const reader = sorter.finish();
      try {
        while (reader.next()) {
          const r = reader.rec;
          const o = reader.at;
          if (r[o] !== cur) {
            if (cur >= 0) flushUser();
            cur = r[o];
          }
          if (n === items.length) {
            const i2 = new Int32Array(2 * n);
            i2.set(items);
            items = i2;
            const l2 = new Uint8Array(2 * n);
            l2.set(labels);
            labels = l2;
          }
          items[n] = r[o + 3];
          labels[n++] = r[o + 4];
        }
        if (cur >= 0) flushUser();
      } finally {
        reader.close();
      }
      w.finish();
      job.info.sortRuns = sorter.runsWritten;
      return head;
    } finally {
      sorter.close();
    }
  });
}
