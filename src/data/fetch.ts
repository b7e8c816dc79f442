/**
 * `din data fetch NAME`: downloads a public dataset from its official URL into `<root>/<dir>` (root: `--dir`,
 * else `$DIN_DATA_DIR`, else `./data` — the same place `--dataset NAME` reads from).
 *
 * - Streams to `<file>.part`; a re-run resumes it with an HTTP Range request. A server that answers 200 instead of 206
 *   (Range ignored) restarts the file from zero; 416 means the .part is already complete (its size equals the file's)
 *   or unusable (restart from zero). Redirects are followed (at most 10). A dropped connection keeps the .part and says
 *   to re-run. Success is an atomic rename `.part` → final name.
 * - Checksums: a registry entry pins `sha256` (and/or GroupLens' published `md5`) when known; `--sha256` pins one
 *   from the command line (and replaces the registry's hashes). Without a pinned hash the SHA-256 of the download is
 *   printed so it can be pinned. On a mismatch the download is deleted (the .part too: a resume could not repair a
 *   corrupt file) and nothing is renamed into place.
 * - Archives: `.zip` files are extracted into the target directory (a single top-level folder inside the archive,
 *   e.g. `ml-1m/`, is stripped) and then deleted; `.gz` files are kept compressed as they are (the loaders read gzip).
 * - `<dir>/.din-fetch.json` records what was fetched (URLs, sizes, hashes, files); a re-run finding it and its files
 *   does nothing unless `--force`.
 * - Datasets behind a login (Taobao on Tianchi) have no URL: fetching them throws {@link ManualDownloadRequired}
 *   explaining where to get the files and where to put them (or succeeds when they are already there).
 *
 * Uses node:http/https rather than fetch(): no transparent gzip decoding of `.gz` bodies, and full control of
 * Range, redirects and errors.
 */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { basename, dirname, join, resolve, sep } from 'node:path';
import { pipeline } from 'node:stream/promises';
import cliProgress from 'cli-progress';
import yauzl from 'yauzl';
import { writeJsonAtomic } from '../util/fs.js';

// ---------------------------------------------------------------------------------------------------------------
// Registry

/** One downloadable file of a registry entry. */
export interface RemoteFile {
  /** Official http(s) URL of the file (`--url` can replace it with a mirror). */
  url: string;
  /** Name saved under the target directory (default: the URL's last path segment). */
  file?: string;
  /** Exact size in bytes when known (checked); null when not. */
  size: number | null;
  /** Expected SHA-256 (hex) when known; null when not pinned yet (the first download prints it). */
  sha256: string | null;
  /** Expected MD5 (hex) as published by the provider, when there is one. */
  md5?: string | null;
  /** `zip`: extracted, then the archive is deleted; `gzip`: kept compressed as-is; `plain`: kept as-is. */
  archive: 'zip' | 'gzip' | 'plain';
  /** zip only: the files to extract (paths after stripping the archive's top folder); default all. */
  extract?: string[];
}

/** A dataset of the `din data fetch` registry ({@link DATASETS}). */
export interface DatasetEntry {
  /** Registry name, as given to `din data fetch NAME` / {@link fetchDataset}, e.g. `movielens-1m`. */
  name: string;
  /** One-line description (contents, size, origin) shown by `din data list`. */
  title: string;
  /** The provider's page for the dataset (documentation, terms; the download page of a manual dataset). */
  homepage: string;
  /** Directory under the data root. */
  dir: string;
  /** Empty for a dataset that must be downloaded by hand (see `manual`). */
  files: RemoteFile[];
  /** Rough download size from the provider's page, for `data list`. */
  approxSize?: string;
  /** The files the target directory holds once fetched. */
  produces: string[];
  /** Summary of the terms of use and what to cite, shown by `din data list` and in manual-download instructions. */
  licence: string;
  /** What reads it / how to use it. */
  note?: string;
  /** Set when there is no public URL: how to get the files by hand. */
  manual?: string;
}

const MOVIELENS_LICENCE =
  'GroupLens MovieLens terms: research use; no redistribution or commercial use without permission; ' +
  'cite F. M. Harper and J. A. Konstan, ACM TiiS 5(4), 2015 (see the README in the archive)';

/** The registry: every dataset `din data fetch` knows, with its files, checksums where pinned, and licence. */
export const DATASETS: readonly DatasetEntry[] = [
  {
    name: 'amazon-electronics',
    title: 'Amazon Electronics 5-core reviews + product metadata (McAuley, 2014 crawl): the DIN paper\'s Amazon data',
    homepage: 'http://jmcauley.ucsd.edu/data/amazon/',
    dir: 'amazon-electronics',
    files: [
      {
        url: 'http://snap.stanford.edu/data/amazon/productGraph/categoryFiles/reviews_Electronics_5.json.gz',
        size: null,
        sha256: null,
        archive: 'gzip',
      },
      {
        url: 'http://snap.stanford.edu/data/amazon/productGraph/categoryFiles/meta_Electronics.json.gz',
        size: null,
        sha256: null,
        archive: 'gzip',
      },
    ],
    produces: ['reviews_Electronics_5.json.gz', 'meta_Electronics.json.gz'],
    licence:
      'Amazon product data by J. McAuley (UCSD): research use; cite R. He and J. McAuley, WWW 2016, and ' +
      'J. McAuley et al., SIGIR 2015',
    note: 'kept gzipped as downloaded (the loaders read .gz)',
  },
  {
    name: 'movielens-1m',
    title: 'MovieLens 1M: 1,000,209 ratings of ~3,900 movies by 6,040 users (2003)',
    homepage: 'https://grouplens.org/datasets/movielens/1m/',
    dir: 'movielens-1m',
    files: [
      {
        url: 'https://files.grouplens.org/datasets/movielens/ml-1m.zip',
        size: null,
        sha256: null,
        md5: 'c4d9eecfca2ab87c1945afe126590906',
        archive: 'zip',
      },
    ],
    approxSize: '6 MB',
    produces: ['ratings.dat', 'movies.dat', 'users.dat', 'README'],
    licence: MOVIELENS_LICENCE,
    note: '"::"-separated .dat files (the 1M layout), not the csv layout of the newer sets',
  },
  {
    name: 'movielens-20m',
    title: 'MovieLens 20M: 20,000,263 ratings of 27,278 movies by 138,493 users (2015)',
    homepage: 'https://grouplens.org/datasets/movielens/20m/',
    dir: 'movielens-20m',
    files: [
      {
        url: 'https://files.grouplens.org/datasets/movielens/ml-20m.zip',
        size: null,
        sha256: null,
        md5: 'cd245b17a1ae2cc31bb14903e1204af3',
        archive: 'zip',
        // The tag genome (genome-scores.csv, ~300 MB) is left in the archive: DIN does not use it.
        extract: ['ratings.csv', 'movies.csv', 'tags.csv', 'links.csv', 'README.txt'],
      },
    ],
    approxSize: '190 MB',
    produces: ['ratings.csv', 'movies.csv', 'tags.csv', 'links.csv', 'README.txt'],
    licence: MOVIELENS_LICENCE,
  },
  {
    name: 'movielens-latest-small',
    title: 'MovieLens latest small: ~100,000 ratings of ~9,000 movies by ~600 users (updated from time to time)',
    homepage: 'https://grouplens.org/datasets/movielens/latest/',
    dir: 'movielens-latest-small',
    files: [
      {
        // "latest" is re-issued from time to time, so no hash is pinned.
        url: 'https://files.grouplens.org/datasets/movielens/ml-latest-small.zip',
        size: null,
        sha256: null,
        archive: 'zip',
      },
    ],
    approxSize: '1 MB',
    produces: ['ratings.csv', 'movies.csv', 'tags.csv', 'links.csv', 'README.txt'],
    licence: MOVIELENS_LICENCE,
  },
  {
    name: 'taobao',
    title: 'Taobao display-ad click data (Alibaba, Tianchi dataset 56): 26M ad impressions of 1.14M users over 8 days',
    homepage: 'https://tianchi.aliyun.com/dataset/56',
    dir: 'taobao',
    files: [],
    approxSize: 'about 1 GB compressed (behavior_log is most of it)',
    produces: ['raw_sample.csv', 'ad_feature.csv', 'user_profile.csv', 'behavior_log.csv'],
    licence: 'Tianchi / Alibaba dataset terms: research use, accepted when you download it; no redistribution',
    manual:
      'Tianchi only serves this dataset to logged-in users, so din cannot download it. To get it:\n' +
      '  1. open https://tianchi.aliyun.com/dataset/56 and sign in (a free Alibaba Cloud / Tianchi account);\n' +
      '  2. download raw_sample.csv, ad_feature.csv, user_profile.csv and behavior_log.csv (offered as .tar.gz:\n' +
      '     unpack each with `tar xzf NAME.csv.tar.gz`);\n' +
      '  3. put the four .csv files in {dir}\n' +
      '  4. run `din data fetch taobao` again: it checks that the files are there.',
  },
];

export function datasetNames(): string[] {
  return DATASETS.map((d) => d.name);
}

/** The registry entry named `name`; throws listing the known names. */
export function findDataset(name: string): DatasetEntry {
  const d = DATASETS.find((x) => x.name === name);
  if (!d) throw new Error(`unknown dataset "${name}": known datasets are ${datasetNames().join(', ')} (see \`din data list\`)`);
  return d;
}

/** `$DIN_DATA_DIR`, else `./data` (the root `--dataset NAME` reads `NAME/` from). */
export function defaultDataRoot(): string {
  return process.env.DIN_DATA_DIR || 'data';
}

export function fileNameOf(f: RemoteFile): string {
  if (f.file) return f.file;
  const name = basename(new URL(f.url).pathname);
  if (!name) throw new Error(`registry: cannot tell a file name from ${f.url}; set "file"`);
  return name;
}

/** Thrown for a dataset behind a login; the message holds the instructions. */
export class ManualDownloadRequired extends Error {
  constructor(
    message: string,
    readonly dataset: string,
    readonly dir: string,
    readonly missing: string[],
  ) {
    super(message);
    this.name = 'ManualDownloadRequired';
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Progress

/** Receives the progress of one file's download at a time: `start`, any number of `update`s, then `stop`. */
export interface DownloadProgress {
  /** `total`: bytes of the whole file when known; `done`: bytes already there (a resumed .part). */
  start(label: string, total: number | null, done: number): void;
  /** `done`: bytes of the file present so far, counting a resumed .part (not the bytes since the last update). */
  update(done: number): void;
  /** The file's transfer ended (complete or interrupted): finish or remove the display. */
  stop(): void;
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v.toFixed(v < 10 ? 2 : 1)} ${units[u]}`;
}

/**
 * A live bar (bytes, total when known, speed, ETA) when `stream` is a TTY and not CI — as in src/train/progress.ts;
 * otherwise a plain line at each quarter (or every 30 s when the size is unknown); nothing when `quiet`.
 */
export function createDownloadProgress(opts: { quiet?: boolean; stream?: NodeJS.WriteStream } = {}): DownloadProgress {
  const stream = opts.stream ?? process.stderr;
  if (opts.quiet) return { start() {}, update() {}, stop() {} };
  let t0 = 0;
  let first = 0;
  let total: number | null = null;
  let label = '';
  const speed = (done: number): string => {
    const s = (performance.now() - t0) / 1000;
    return s > 0 ? `${formatBytes(Math.round((done - first) / s))}/s` : '-';
  };
  if (stream.isTTY && !process.env.CI) {
    let bar: cliProgress.SingleBar | null = null;
    return {
      start(l, t, done) {
        label = l;
        total = t;
        t0 = performance.now();
        first = done;
        bar = new cliProgress.SingleBar(
          {
            stream,
            format:
              t !== null
                ? '{label} [{bar}] {percentage}% | {doneBytes} / {totalBytes} | {speed} | ETA {eta_formatted}'
                : '{label} {doneBytes} | {speed}',
            hideCursor: true,
            etaBuffer: 50,
            fps: 5,
          },
          cliProgress.Presets.shades_classic,
        );
        bar.start(t ?? 1, t !== null ? done : 0, {
          label,
          doneBytes: formatBytes(done),
          totalBytes: t !== null ? formatBytes(t) : '?',
          speed: '-',
        });
      },
      update(done) {
        bar?.update(total !== null ? done : 0, { doneBytes: formatBytes(done), speed: speed(done) });
      },
      stop() {
        bar?.stop();
        bar = null;
      },
    };
  }
  let nextMark = 0;
  let nextTime = 0;
  return {
    start(l, t, done) {
      label = l;
      total = t;
      t0 = performance.now();
      first = done;
      nextMark = t ? Math.floor((4 * done) / t + 1) / 4 : 0;
      nextTime = t0 + 30_000;
    },
    update(done) {
      if (total !== null && total > 0) {
        if (done / total < nextMark || done >= total) return;
        while (nextMark <= done / total) nextMark += 0.25;
        stream.write(`${label} ${Math.round((100 * done) / total)}% | ${formatBytes(done)} / ${formatBytes(total)} | ${speed(done)}\n`);
      } else if (performance.now() >= nextTime) {
        nextTime = performance.now() + 30_000;
        stream.write(`${label} ${formatBytes(done)} | ${speed(done)}\n`);
      }
    },
    stop() {},
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Download

export interface DownloadOptions {
  /** Expected SHA-256 (hex); a mismatch deletes the download and throws. */
  sha256?: string | null;
  /** Expected MD5 (hex); same. */
  md5?: string | null;
  /** Expected size in bytes; same. */
  size?: number | null;
  progress?: DownloadProgress;
  log?: (line: string) => void;
  /** Label of the progress bar (default: the file name). */
  label?: string;
  maxRedirects?: number;
  /** Abort when the connection is silent this long (default 60 s); the .part is kept. */
  idleTimeoutMs?: number;
}

export interface DownloadResult {
  path: string;
  bytes: number;
  sha256: string;
  md5: string;
  /** URL after redirects. */
  finalUrl: string;
  /** Bytes of an existing .part that were kept (0: downloaded from zero). */
  resumedFrom: number;
  /** Bytes received over the network in this call. */
  received: number;
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

interface Response {
  res: http.IncomingMessage;
  req: http.ClientRequest;
  finalUrl: string;
  /** Set when the idle timeout fired. */
  timedOut: () => boolean;
}

function userAgent(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8'));
    return `din/${pkg.version} (+Node ${process.versions.node})`;
  } catch {
    return `din (+Node ${process.versions.node})`;
  }
}

function networkHint(e: NodeJS.ErrnoException): string {
  if (e.code === 'ENOTFOUND' || e.code === 'EAI_AGAIN' || e.code === 'ECONNREFUSED' || e.code === 'ENETUNREACH' || e.code === 'ETIMEDOUT') {
    return ' (no network, or behind a proxy? --url <url> fetches from a mirror)';
  }
  return '';
}

/** GET `url` following redirects; resolves with the first non-redirect response (body not yet read). */
async function get(url: string, headers: Record<string, string>, opts: DownloadOptions): Promise<Response> {
  const max = opts.maxRedirects ?? 10;
  const idle = opts.idleTimeoutMs ?? 60_000;
  let current = url;
  for (let hop = 0; ; hop++) {
    let u: URL;
    try {
      u = new URL(current);
    } catch {
      throw new Error(`invalid URL "${current}"${current === url ? '' : ` (redirected from ${url})`}`);
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') {
      throw new Error(`cannot download ${current}: only http and https URLs are supported`);
    }
    const mod = u.protocol === 'https:' ? https : http;
    let timedOut = false;
    const { res, req } = await new Promise<{ res: http.IncomingMessage; req: http.ClientRequest }>((ok, fail) => {
      const req = mod.get(u, { headers: { 'User-Agent': userAgent(), 'Accept-Encoding': 'identity', ...headers } }, (res) => ok({ res, req }));
      req.setTimeout(idle, () => {
        timedOut = true;
        req.destroy(new Error(`no data for ${Math.round(idle / 1000)} s`));
      });
      req.on('error', (e: NodeJS.ErrnoException) => fail(new Error(`GET ${current} failed: ${e.message}${networkHint(e)}`)));
    });
    const status = res.statusCode ?? 0;
    if (REDIRECTS.has(status) && res.headers.location) {
      res.resume();
      if (hop >= max) throw new Error(`GET ${url}: more than ${max} redirects (last to ${res.headers.location})`);
      const next = new URL(res.headers.location, current).href;
      opts.log?.(`${current} redirects (HTTP ${status}) to ${next}`);
      current = next;
      continue;
    }
    return { res, req, finalUrl: current, timedOut: () => timedOut };
  }
}

function contentLength(res: http.IncomingMessage): number | null {
  const v = res.headers['content-length'];
  const n = v === undefined ? NaN : Number(v);
  return Number.isSafeInteger(n) && n >= 0 ? n : null;
}

/** `bytes START-END/TOTAL` (TOTAL may be `*`) or `bytes * /TOTAL`. */
export function parseContentRange(v: string | undefined): { start: number | null; end: number | null; total: number | null } | null {
  if (!v) return null;
  const m = /^bytes\s+(?:(\d+)-(\d+)|\*)\/(\d+|\*)$/i.exec(v.trim());
  if (!m) return null;
  return {
    start: m[1] !== undefined ? Number(m[1]) : null,
    end: m[2] !== undefined ? Number(m[2]) : null,
    total: m[3] !== '*' ? Number(m[3]) : null,
  };
}

export async function hashFile(path: string): Promise<{ sha256: string; md5: string }> {
  const s = createHash('sha256');
  const m = createHash('md5');
  for await (const chunk of createReadStream(path)) {
    s.update(chunk as Buffer);
    m.update(chunk as Buffer);
  }
  return { sha256: s.digest('hex'), md5: m.digest('hex') };
}

function sizeOf(path: string): number {
  return existsSync(path) ? statSync(path).size : 0;
}

/**
 * Downloads `url` to `dest` through `dest.part`, resuming an existing .part; checks size and hashes when given;
 * renames into place only when everything matches.
 */
export async function download(url: string, dest: string, opts: DownloadOptions = {}): Promise<DownloadResult> {
  const part = `${dest}.part`;
  const log = opts.log ?? (() => {});
  const progress = opts.progress ?? createDownloadProgress({ quiet: true });
  const label = opts.label ?? basename(dest);
  mkdirSync(dirname(dest), { recursive: true });
  let offset = sizeOf(part);
  const resumedFrom0 = offset;
  if (offset > 0) log(`resuming ${part} at ${formatBytes(offset)}`);
  let finalUrl = url;
  let received = 0;
  let restarted = false;
  for (let attempt = 0; ; attempt++) {
    if (attempt > 2) throw new Error(`GET ${url}: could not get a usable response after ${attempt} tries`);
    const r = await get(url, offset > 0 ? { Range: `bytes=${offset}-` } : {}, opts);
    finalUrl = r.finalUrl;
    const { res } = r;
    const status = res.statusCode ?? 0;
    if (status === 416 && offset > 0) {
      res.resume();
      const total = parseContentRange(res.headers['content-range'])?.total ?? null;
      if (total === offset) {
        log(`${part} is already complete (${formatBytes(offset)})`);
        break;
      }
      log(
        `${finalUrl} cannot resume at byte ${offset} (HTTP 416${total !== null ? `; the file has ${total} bytes` : ''}): ` +
          `restarting ${part} from zero`,
      );
      rmSync(part, { force: true });
      offset = 0;
      restarted = true;
      continue;
    }
    if (status === 206 && offset > 0) {
      const cr = parseContentRange(res.headers['content-range']);
      if (!cr || cr.start !== offset) {
        res.destroy();
        log(`${finalUrl} answered the resume request with bytes "${res.headers['content-range'] ?? '?'}", not from ${offset}: restarting from zero`);
        rmSync(part, { force: true });
        offset = 0;
        restarted = true;
        continue;
      }
      const total = cr.total ?? (contentLength(res) !== null ? offset + contentLength(res)! : null);
      checkOffered(total, opts.size, finalUrl, res);
      received = await receive(r, part, 'a', offset, total, progress, label, finalUrl);
      break;
    }
    if (status === 200) {
      if (offset > 0) {
        log(`${finalUrl} ignored the resume request (HTTP 200, not 206): restarting ${basename(part)} from zero`);
        restarted = true;
      }
      offset = 0;
      const total = contentLength(res);
      checkOffered(total, opts.size, finalUrl, res);
      received = await receive(r, part, 'w', 0, total, progress, label, finalUrl);
      break;
    }
    res.resume();
    const what = status === 404 ? ' (not found: the URL may have moved; --url <url> fetches from another place)' : '';
    throw new Error(`download failed: GET ${finalUrl}${finalUrl !== url ? ` (from ${url})` : ''} answered HTTP ${status} ${res.statusMessage ?? ''}`.trimEnd() + what);
  }

  const bytes = sizeOf(part);
  const fail = (msg: string): never => {
    rmSync(part, { force: true });
    throw new Error(
      `${msg}; the download (${part}) was deleted, nothing was put in place. A re-run downloads it anew; ` +
        `if the file changed upstream on purpose, check it and pin the new hash (--sha256)`,
    );
  };
  if (opts.size != null && bytes !== opts.size) fail(`${finalUrl}: got ${bytes} bytes, expected ${opts.size}`);
  const h = await hashFile(part);
  if (opts.sha256 && h.sha256 !== opts.sha256.toLowerCase()) {
    fail(`sha256 mismatch for ${finalUrl} (${label}): expected ${opts.sha256.toLowerCase()}, got ${h.sha256}`);
  }
  if (opts.md5 && h.md5 !== opts.md5.toLowerCase()) {
    fail(`md5 mismatch for ${finalUrl} (${label}): expected ${opts.md5.toLowerCase()}, got ${h.md5}`);
  }
  renameSync(part, dest);
  return { path: dest, bytes, ...h, finalUrl, resumedFrom: restarted ? 0 : resumedFrom0, received };
}

function checkOffered(total: number | null, size: number | null | undefined, url: string, res: http.IncomingMessage): void {
  if (size != null && total !== null && total !== size) {
    res.destroy();
    throw new Error(`${url} offers ${total} bytes, expected ${size}: not downloading (a different file? --url points elsewhere?)`);
  }
}

/** Streams the body into `part`; on a drop keeps what arrived and throws telling to re-run. Returns bytes received. */
async function receive(
  r: Response,
  part: string,
  flags: 'a' | 'w',
  offset: number,
  total: number | null,
  progress: DownloadProgress,
  label: string,
  url: string,
): Promise<number> {
  let done = offset;
  progress.start(label, total, offset);
  const count = async function* (src: AsyncIterable<Buffer>) {
    for await (const chunk of src) {
      done += chunk.length;
      progress.update(done);
      yield chunk;
    }
  };
  let reason: string | null = null;
  try {
    await pipeline(r.res, count, createWriteStream(part, { flags }));
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err.code === 'ENOSPC' || err.code === 'EACCES' || err.code === 'EROFS') {
      progress.stop();
      throw new Error(`cannot write ${part}: ${err.message}`);
    }
    reason = r.timedOut() ? 'the connection went silent' : err.message === 'aborted' ? 'the connection was closed' : err.message;
  }
  progress.stop();
  if (reason === null && total !== null && done < total) reason = 'the connection was closed';
  if (reason !== null) {
    throw new Error(
      `download of ${url} interrupted after ${formatBytes(done)}${total !== null ? ` of ${formatBytes(total)}` : ''} (${reason}); ` +
        `the partial file ${part} is kept: run the same command again to resume`,
    );
  }
  return done - offset;
}

// ---------------------------------------------------------------------------------------------------------------
// Zip extraction

function isJunk(name: string): boolean {
  return name.startsWith('__MACOSX/') || basename(name) === '.DS_Store';
}

/**
 * Extracts `zipPath` into `destDir`: a single top-level folder shared by every file is stripped; `only` (paths after
 * stripping) restricts what is taken and must all be present. Each file is written to `<name>.part` then renamed.
 * Returns the extracted paths (relative, `/`-separated), in archive order.
 */
export async function extractZip(zipPath: string, destDir: string, opts: { only?: string[] } = {}): Promise<string[]> {
  let zip: yauzl.ZipFile;
  try {
    zip = await yauzl.openPromise(zipPath, { lazyEntries: true, autoClose: false, validateEntrySizes: true });
  } catch (e) {
    throw new Error(`${zipPath} is not a readable zip archive: ${(e as Error).message}`);
  }
  const entries: yauzl.Entry[] = [];
  try {
    for await (const entry of zip.eachEntry()) {
      if (!entry.fileName.endsWith('/') && !isJunk(entry.fileName)) entries.push(entry);
    }
  } catch (e) {
    zip.close();
    throw new Error(`${zipPath}: ${(e as Error).message}`);
  }
  const tops = new Set(entries.map((e) => (e.fileName.includes('/') ? e.fileName.split('/')[0] : '')));
  const strip = tops.size === 1 && !tops.has('') ? `${[...tops][0]}/` : '';
  const rel = (e: yauzl.Entry) => e.fileName.slice(strip.length);
  if (opts.only) {
    const have = new Set(entries.map(rel));
    const missing = opts.only.filter((f) => !have.has(f));
    if (missing.length) {
      zip.close();
      throw new Error(`${zipPath} lacks ${missing.join(', ')} (it holds: ${[...have].join(', ') || 'no files'})`);
    }
  }
  const root = resolve(destDir);
  const out: string[] = [];
  try {
    for (const entry of entries) {
      const name = rel(entry);
      if (opts.only && !opts.only.includes(name)) continue;
      const target = resolve(root, name);
      if (!target.startsWith(root + sep)) throw new Error(`entry "${entry.fileName}" would be written outside ${root}`);
      mkdirSync(dirname(target), { recursive: true });
      const stream = await zip.openReadStreamPromise(entry);
      try {
        await pipeline(stream, createWriteStream(`${target}.part`));
      } catch (e) {
        rmSync(`${target}.part`, { force: true });
        throw new Error(`entry "${entry.fileName}": ${(e as Error).message}`);
      }
      renameSync(`${target}.part`, target);
      out.push(name);
    }
  } catch (e) {
    throw new Error(`extracting ${zipPath}: ${(e as Error).message}`);
  } finally {
    zip.close();
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// Fetching a dataset

export const MANIFEST = '.din-fetch.json';

/** Options of {@link fetchDataset}. */
export interface FetchOptions {
  /** Data root (default {@link defaultDataRoot}); the dataset goes to `<root>/<entry.dir>`. */
  root?: string;
  /** Source override: the URL of a one-file dataset, or a base URL ending in "/" for a several-file one. */
  url?: string;
  /** Required SHA-256 of a one-file dataset's download (replaces the registry's hashes). */
  sha256?: string;
  /** Download again even if the files are there. */
  force?: boolean;
  /** No log lines and no progress display, unless `log` / `progress` are given. */
  quiet?: boolean;
  /** Where progress lines and messages go (default: stderr, nothing when quiet). */
  log?: (line: string) => void;
  /** Progress display of the downloads (default: a bar on a TTY, else a line per quarter; none when `quiet`). */
  progress?: DownloadProgress;
  /** Passed to the downloader (`download` in src/data/fetch.ts). */
  idleTimeoutMs?: number;
}

/** One downloaded file, as recorded in `<dir>/.din-fetch.json`. */
export interface FetchedFile {
  /** Where it came from: the final URL after redirects (the source URL when a file already in place was used). */
  url: string;
  /** Name of the download in the dataset directory (for a zip: the archive, deleted after extraction). */
  file: string;
  /** Size of the download in bytes. */
  bytes: number;
  /** SHA-256 (hex) of the download. */
  sha256: string;
  /** MD5 (hex) of the download. */
  md5: string;
  /** Extracted files (zip). */
  extracted?: string[];
}

/** What {@link fetchDataset} did. */
export interface FetchResult {
  /** Registry name of the dataset. */
  name: string;
  /** Absolute directory holding the dataset (`<root>/<entry.dir>`). */
  dir: string;
  /** Files in `dir` that make up the dataset. */
  files: string[];
  /** One record per remote file (from the earlier fetch's record when `alreadyThere`; empty for a manual dataset). */
  downloads: FetchedFile[];
  /** True when nothing was done (already fetched, or a manual dataset found in place). */
  alreadyThere: boolean;
}

interface Manifest {
  dataset: string;
  fetchedAt: string;
  downloads: FetchedFile[];
  files: string[];
}

function readManifest(dir: string): Manifest | null {
  try {
    return JSON.parse(readFileSync(join(dir, MANIFEST), 'utf8')) as Manifest;
  } catch {
    return null;
  }
}

/** Where each file of `entry` comes from, after applying `--url`. */
export function sourcesOf(entry: DatasetEntry, url?: string): { file: RemoteFile; url: string; name: string }[] {
  if (url !== undefined && entry.files.length > 1 && !url.endsWith('/')) {
    throw new Error(
      `${entry.name} has ${entry.files.length} files (${entry.files.map(fileNameOf).join(', ')}): ` +
        `--url must be a base URL ending in "/" under which each is fetched by name, got "${url}"`,
    );
  }
  return entry.files.map((file) => {
    const name = fileNameOf(file);
    const src = url === undefined ? file.url : entry.files.length > 1 ? url + name : url;
    return { file, url: src, name };
  });
}

export function manualInstructions(entry: DatasetEntry, dir: string, missing: string[]): string {
  return (
    `${entry.name} must be downloaded by hand: ${(entry.manual ?? '').replace('{dir}', dir + sep)}\n` +
    `  missing now: ${missing.join(', ')}\n  licence: ${entry.licence}`
  );
}

/**
 * Downloads the registry dataset `name` into `<root>/<entry.dir>` (see the file header): resumes `.part` files,
 * verifies pinned sizes and hashes, extracts zip archives, and records the result in `.din-fetch.json`. Does nothing
 * when that record and its files are there, unless `force`. Throws for an unknown name, a failed or mismatching
 * download, a file in place that does not match, a bad `sha256` / `url` option, and — for a dataset behind a login
 * whose files are not in place yet — a `ManualDownloadRequired` error whose message explains the manual steps.
 */
export async function fetchDataset(name: string, opts: FetchOptions = {}): Promise<FetchResult> {
  const entry = findDataset(name);
  const log = opts.log ?? (opts.quiet ? () => {} : (line: string) => process.stderr.write(line + '\n'));
  const root = resolve(opts.root ?? defaultDataRoot());
  const dir = join(root, entry.dir);

  if (entry.files.length === 0) {
    const missing = entry.produces.filter((f) => !existsSync(join(dir, f)));
    if (missing.length === 0) {
      log(`${entry.name}: all files present in ${dir} (${entry.produces.join(', ')})`);
      return { name: entry.name, dir, files: [...entry.produces], downloads: [], alreadyThere: true };
    }
    throw new ManualDownloadRequired(manualInstructions(entry, dir, missing), entry.name, dir, missing);
  }

  let sha256: string | undefined;
  if (opts.sha256 !== undefined) {
    sha256 = opts.sha256.trim().toLowerCase();
    if (!/^[0-9a-f]{64}$/.test(sha256)) throw new Error(`--sha256 must be 64 hexadecimal digits, got "${opts.sha256}"`);
    if (entry.files.length > 1) throw new Error(`--sha256 applies to a one-file dataset; ${entry.name} has ${entry.files.length} files`);
  }
  const sources = sourcesOf(entry, opts.url);

  if (!opts.force) {
    const m = readManifest(dir);
    if (m && m.files.length > 0 && m.files.every((f) => existsSync(join(dir, f)))) {
      log(`${entry.name} is already in ${dir} (fetched ${m.fetchedAt}); --force fetches it again`);
      return { name: entry.name, dir, files: m.files, downloads: m.downloads, alreadyThere: true };
    }
  }
  mkdirSync(dir, { recursive: true });
  const progress = opts.progress ?? createDownloadProgress({ quiet: opts.quiet });
  const downloads: FetchedFile[] = [];
  const files: string[] = [];
  for (const src of sources) {
    const dest = join(dir, src.name);
    const expect = {
      sha256: sha256 ?? src.file.sha256,
      md5: sha256 !== undefined ? null : (src.file.md5 ?? null),
      size: src.file.size,
    };
    if (opts.force) {
      rmSync(dest, { force: true });
      rmSync(`${dest}.part`, { force: true });
    }
    let got: { bytes: number; sha256: string; md5: string; url: string };
    if (existsSync(dest)) {
      // Only a complete, verified download is ever renamed to its final name; check it again all the same.
      const h = await hashFile(dest);
      const bytes = sizeOf(dest);
      const bad =
        (expect.sha256 && h.sha256 !== expect.sha256.toLowerCase() && `sha256 ${h.sha256}, expected ${expect.sha256}`) ||
        (expect.md5 && h.md5 !== expect.md5.toLowerCase() && `md5 ${h.md5}, expected ${expect.md5}`) ||
        (expect.size != null && bytes !== expect.size && `${bytes} bytes, expected ${expect.size}`);
      if (bad) throw new Error(`${dest} is already there but does not match (${bad}): delete it or pass --force`);
      log(`using ${dest} (already downloaded, ${formatBytes(bytes)})`);
      got = { bytes, ...h, url: src.url };
    } else {
      log(`downloading ${src.url} → ${dest}`);
      const t0 = performance.now();
      let r: DownloadResult;
      try {
        r = await download(src.url, dest, { ...expect, progress, log, label: src.name, idleTimeoutMs: opts.idleTimeoutMs });
      } catch (e) {
        const msg = (e as Error).message;
        // Could not even start: offer the by-hand route (a file found at `dest` is checked, then used).
        if (/^(GET |download failed)/.test(msg)) {
          throw new Error(`${msg}\n  alternatively download it by other means, save it as ${dest}, and run this command again`);
        }
        throw e;
      }
      const s = (performance.now() - t0) / 1000;
      log(
        `downloaded ${src.name}: ${formatBytes(r.bytes)}` +
          (r.resumedFrom > 0 ? ` (resumed at ${formatBytes(r.resumedFrom)})` : '') +
          ` in ${s.toFixed(1)} s` +
          (s > 0 && r.received > 0 ? ` (${formatBytes(Math.round(r.received / s))}/s)` : ''),
      );
      got = { bytes: r.bytes, sha256: r.sha256, md5: r.md5, url: r.finalUrl };
    }
    if (expect.sha256) log(`sha256 ${got.sha256}  ${src.name} (verified)`);
    else {
      const pin = sources.length === 1 ? `pass --sha256 ${got.sha256} to require it, or pin it` : 'pin it';
      log(`sha256 ${got.sha256}  ${src.name}${expect.md5 ? ' (md5 verified)' : ''} — not pinned: ${pin} in the registry (src/data/fetch.ts)`);
    }
    const record: FetchedFile = { url: got.url, file: src.name, bytes: got.bytes, sha256: got.sha256, md5: got.md5 };
    if (src.file.archive === 'zip') {
      log(`extracting ${src.name} into ${dir}`);
      try {
        record.extracted = await extractZip(dest, dir, { only: src.file.extract });
      } catch (e) {
        throw new Error(`${(e as Error).message}\n  the download is kept as ${dest}: --force downloads it again`);
      }
      rmSync(dest, { force: true });
      files.push(...record.extracted);
    } else {
      files.push(src.name);
    }
    downloads.push(record);
  }
  writeJsonAtomic(join(dir, MANIFEST), { dataset: entry.name, fetchedAt: new Date().toISOString(), downloads, files } satisfies Manifest);
  return { name: entry.name, dir, files, downloads, alreadyThere: false };
}
