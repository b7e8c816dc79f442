/**
 * One entry point for every dataset: resolves a path or a dataset name, detects the format from the directory's
 * contents, and serves the built Dataset from the binary cache when the sources and options are unchanged.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import type { Dataset } from '../core/types.js';
import { amazonSeqSourceFiles, findAmazonSeqFiles, loadAmazonSeq } from './sources/amazon-seq.js';
import { amazonRawSourceFiles, findAmazonRawFiles, loadAmazonRawAsync } from './sources/amazon-raw.js';
import { loadTaobao, taobaoLayout, taobaoSourceFiles, taobaoUnsupported } from './sources/taobao/index.js';
import { isSchemaFile, loadSchemaDataset, schemaSourceFiles } from './sources/schema/index.js';
import { validateVocabOptions, type VocabOptions } from './field-vocab.js';
import { dinRemappedSourceFiles, findDinRemappedFiles, loadDinRemapped } from './sources/din-remapped.js';
import { loadMovieLens, MOVIELENS_LAYOUTS, movieLensLayout, movieLensSourceFiles } from './sources/movielens.js';
import { generateSynthetic, syntheticOptions, type SyntheticOptions, type SyntheticPreset } from './sources/synthetic.js';
import { rowErrorPolicy, type RowErrorPolicy } from './sources/row-errors.js';
import { cacheKey, cachePath, defaultCacheDir, isInside, readDatasetCache, writeDatasetCache } from './cache.js';

/** A source format `loadDataset` reads; each has its own loader in src/data/sources/ (layouts in its file header). */
export type DatasetFormat = 'amazon-seq' | 'amazon-raw' | 'din-remapped' | 'movielens' | 'taobao' | 'schema' | 'synthetic';
/** Every {@link DatasetFormat}, for validating a `--format` value and listing the choices. */
export const DATASET_FORMATS: readonly DatasetFormat[] = ['amazon-seq', 'amazon-raw', 'din-remapped', 'movielens', 'taobao', 'schema', 'synthetic'];

/** Formats whose sources build field vocabularies from training rows (so --min-count/--top-k/--hash-buckets apply). */
export const VOCAB_FORMATS: readonly DatasetFormat[] = ['schema', 'taobao'];

/** Formats under the Amazon protocol (fixed leave-last-out split; the seed only re-draws negatives). */
export const AMAZON_PROTOCOL_FORMATS: readonly DatasetFormat[] = ['amazon-seq', 'amazon-raw'];

/** Options of `loadDataset` / `loadDatasetWithInfo`. Give `path` or `dataset`, not both. */
export interface LoadOptions {
  /** Directory (or data file) of the dataset, or `synthetic` / `synthetic:small`. */
  path?: string;
  /** A dataset name resolved as `$DIN_DATA_DIR/NAME` (default `./data/NAME`); `synthetic[:small]` also works. */
  dataset?: string;
  /** Source format; `auto` (the default) detects it from the path's contents (`detectFormat`). */
  format?: 'auto' | DatasetFormat;
  /** Seed of negative sampling / user split / generator. Default 1. */
  seed?: number;
  /** MovieLens: fraction of users held out. Default 0.2. */
  testFraction?: number;
  /** Default `$DIN_CACHE_DIR` or `./.din-cache`. Must not be inside the data directory. */
  cacheDir?: string;
  /** Neither read nor write the binary cache: always build from the sources. Default false. */
  noCache?: boolean;
  /** Overrides of the synthetic preset. */
  synthetic?: Partial<SyntheticOptions>;
  /**
   * Malformed rows of a text source: 'skip' counts them in `Dataset.skipped` (default), 'fail' throws at the first
   * (`file:line: …`). Structural problems always throw. Part of the cache key. Ignored by synthetic data.
   */
  onError?: RowErrorPolicy;
  /**
   * Vocabulary controls of sources that build field vocabularies from training rows ({@link VOCAB_FORMATS}): min-count,
   * top-K and hash buckets for every field. Part of the cache key. Other sources reject them.
   */
  vocab?: VocabOptions;
  /** Receives human-readable progress lines (rows read, first skipped rows, cache hits and writes). */
  onProgress?: (msg: string) => void;
}

/** What `loadDatasetWithInfo` returns: the dataset and where it came from. */
export interface LoadResult {
  /** The loaded dataset. */
  dataset: Dataset;
  /** The format it was read as (detected, or as given). */
  format: DatasetFormat;
  /** Absolute source path, or `synthetic[:preset]`. */
  source: string;
  /** Cache file used or written (null when caching is off or not applicable). */
  cacheFile: string | null;
  /** True when the dataset was read from an existing cache file instead of being built. */
  cacheHit: boolean;
  /** Wall-clock seconds the call took (resolving, cache lookup, building). */
  seconds: number;
}

const LAYOUTS: string =
  'amazon-seq: <Name>.txt ("user item item …" per line) + <Name>_item2attributes.json; ' +
  'amazon-raw: reviews_<Cat>_5.json[.gz] + meta_<Cat>.json[.gz] (the original Amazon dump); ' +
  'taobao: the Tianchi display-ad files (raw_sample, ad_feature, user_profile, behavior_log), the joined train_sample/test_sample CSVs, or the 267-column sampled file; ' +
  'schema: a .json file describing your CSV/JSONL/Parquet logs (see src/data/sources/schema/index.ts); ' +
  'din-remapped: .txt[.gz] files of "hist_items;hist_cates;target;target_cate;label" lines (train/ + test/, a *train*/*test* pair, or one file); ' +
  `movielens: ${MOVIELENS_LAYOUTS}; synthetic: the path "synthetic" or "synthetic:small"`;

function syntheticPreset(spec: string): SyntheticPreset | null {
  if (spec === 'synthetic') return 'default';
  if (spec.startsWith('synthetic:')) {
    const p = spec.slice('synthetic:'.length);
    if (p !== 'default' && p !== 'small') throw new Error(`unknown synthetic preset "${p}" (expected default or small)`);
    return p;
  }
  return null;
}

/** The path `loadDataset` will read: `path`, or `$DIN_DATA_DIR/<dataset>` (default `./data/<dataset>`). */
export function resolveDataPath(opts: Pick<LoadOptions, 'path' | 'dataset'>): string {
  if (opts.path !== undefined && opts.dataset !== undefined) throw new Error('give either a path or a dataset name, not both');
  if (opts.path !== undefined) return opts.path;
  if (opts.dataset !== undefined) {
    if (syntheticPreset(opts.dataset) !== null) return opts.dataset;
    return join(process.env.DIN_DATA_DIR || 'data', opts.dataset);
  }
  throw new Error('no dataset given (a path, a dataset name, or "synthetic")');
}

/** Detects the format of a directory (or data file) from what it contains; throws listing what was found. */
export function detectFormat(path: string): DatasetFormat {
  if (syntheticPreset(path) !== null) return 'synthetic';
  const abs = resolve(path);
  if (!existsSync(abs)) throw new Error(`dataset path ${abs} does not exist`);
  const isFile = statSync(abs).isFile();
  const dir = isFile ? dirname(abs) : abs;
  if (isFile && isSchemaFile(abs)) return 'schema';
  const found: DatasetFormat[] = [];
  if (findAmazonSeqFiles(abs).length > 0) found.push('amazon-seq');
  if (findAmazonRawFiles(abs).length > 0) found.push('amazon-raw');
  if (findDinRemappedFiles(abs).length > 0) found.push('din-remapped');
  const names = readdirSync(dir);
  if (movieLensLayout(abs) !== null) found.push('movielens');
  if (taobaoLayout(abs) !== null) found.push('taobao');
  if (found.length === 1) return found[0];
  if (found.length > 1) throw new Error(`${abs}: ambiguous layout (${found.join(' and ')} both match); pass a format`);
  const unsupported = taobaoUnsupported(abs);
  if (unsupported !== null) throw new Error(unsupported);
  const listing = names.length > 20 ? [...names.slice(0, 20), `… ${names.length - 20} more`] : names;
  throw new Error(`${abs}: unknown dataset layout; found [${listing.join(', ')}]. Expected one of — ${LAYOUTS}`);
}

/**
 * Loads a dataset like `loadDataset` and reports how: the format, the source, the cache file and whether it was a hit,
 * and the time taken. A non-synthetic dataset is served from the binary cache when its source files (paths, sizes,
 * mtimes) and build options are unchanged, otherwise built and cached; an unreadable cache file is rebuilt, and a cache
 * that cannot be written is reported through `onProgress` (then `cacheFile` is null). Synthetic data is generated,
 * never cached. Throws when the path does not exist, the format cannot be detected (or is ambiguous), `vocab` is given
 * for a format outside `VOCAB_FORMATS`, the cache directory lies inside the data directory, or the source fails.
 */
export async function loadDatasetWithInfo(opts: LoadOptions): Promise<LoadResult> {
  const t0 = performance.now();
  const progress = opts.onProgress ?? (() => {});
  const spec = resolveDataPath(opts);
  const seed = opts.seed ?? 1;
  const onError = rowErrorPolicy(opts.onError);
  if (syntheticPreset(spec) === null && !existsSync(resolve(spec))) {
    const hint = opts.dataset !== undefined ? ` (dataset "${opts.dataset}" under DIN_DATA_DIR=${process.env.DIN_DATA_DIR || 'data'})` : '';
    throw new Error(`dataset path ${resolve(spec)} does not exist${hint}`);
  }
  const format = opts.format === undefined || opts.format === 'auto' ? detectFormat(spec) : opts.format;
  const vocab = opts.vocab && Object.values(opts.vocab).some((v) => v !== undefined) ? opts.vocab : undefined;
  if (vocab) {
    validateVocabOptions(vocab, 'vocabulary options');
    if (!VOCAB_FORMATS.includes(format)) {
      throw new Error(`--min-count/--top-k/--hash-buckets apply to sources that build field vocabularies (${VOCAB_FORMATS.join(', ')}); ` +
        `${format} builds its own (use --reg filter --filter-top K to coarsen its goods ids)`);
    }
  }
  if (!DATASET_FORMATS.includes(format)) throw new Error(`unknown format "${format}" (expected ${DATASET_FORMATS.join(', ')})`);
  const done = (dataset: Dataset, source: string, cacheFile: string | null, cacheHit: boolean): LoadResult => ({
    dataset,
    format,
    source,
    cacheFile,
    cacheHit,
    seconds: (performance.now() - t0) / 1000,
  });

  if (format === 'synthetic') {
    // Generation is fast and deterministic: no cache.
    const preset = syntheticPreset(spec);
    if (preset === null) throw new Error(`format synthetic expects the path "synthetic" or "synthetic:small", got ${spec}`);
    const o = syntheticOptions(preset, { seed: opts.seed, ...opts.synthetic });
    const name = preset === 'default' ? 'synthetic' : `synthetic-${preset}`;
    return done(generateSynthetic(o, name), spec, null, false);
  }

  const abs = resolve(spec);
  const dataDir = statSync(abs).isFile() ? dirname(abs) : abs;
  const testFraction = opts.testFraction ?? 0.2;
  const source: Record<Exclude<DatasetFormat, 'synthetic'>, { files: () => string[]; options: Record<string, unknown>; build: () => Promise<Dataset> }> = {
    'amazon-seq': {
      files: () => amazonSeqSourceFiles(abs),
      options: { seed, onError },
      build: async () => loadAmazonSeq(abs, { seed, onError, onProgress: progress }),
    },
    'amazon-raw': {
      files: () => amazonRawSourceFiles(abs),
      options: { seed, categoryPath: 'last', onError },
      build: () => loadAmazonRawAsync(abs, { seed, onError, onProgress: progress }),
    },
    'din-remapped': {
      files: () => dinRemappedSourceFiles(abs),
      options: { seed, testFraction, onError },
      build: async () => loadDinRemapped(abs, { seed, testFraction, onError, onProgress: progress }),
    },
    taobao: {
      files: () => taobaoSourceFiles(abs),
      options: { seed, testFraction, onError, ...(vocab ? { vocab } : {}) },
      build: () => loadTaobao(abs, { seed, testFraction, onError, ...(vocab ? { vocab } : {}), onProgress: progress }),
    },
    schema: {
      files: () => schemaSourceFiles(abs),
      options: { seed, onError, ...(vocab ? { vocab } : {}) },
      build: () => loadSchemaDataset(abs, { seed, onError, ...(vocab ? { vocab } : {}), onProgress: progress }),
    },
    movielens: {
      files: () => movieLensSourceFiles(abs),
      options: { seed, testFraction, onError },
      build: async () => loadMovieLens(abs, { seed, testFraction, onError, onProgress: progress }),
    },
  };
  const src = source[format];
  const files = src.files();
  const options = src.options;
  const build = src.build;

  if (opts.noCache) return done(await build(), abs, null, false);
  const cacheDir = resolve(opts.cacheDir ?? defaultCacheDir());
  if (isInside(cacheDir, dataDir)) {
    throw new Error(`cache directory ${cacheDir} is inside the data directory ${dataDir}; choose another (--cache-dir or DIN_CACHE_DIR)`);
  }
  const key = cacheKey(format, files, options);
  const file = cachePath(cacheDir, basename(dataDir), format, key);
  if (existsSync(file)) {
    try {
      const ds = readDatasetCache(file);
      progress(`dataset ${ds.name}: loaded from cache ${file}`);
      return done(ds, abs, file, true);
    } catch (e) {
      progress(`ignoring unreadable cache (${(e as Error).message}); rebuilding`);
    }
  }
  const ds = await build();
  try {
    writeDatasetCache(file, ds);
    progress(`dataset ${ds.name}: cached to ${file}`);
  } catch (e) {
    progress(`could not write cache ${file} (${(e as Error).message}); continuing without`);
    return done(ds, abs, null, false);
  }
  return done(ds, abs, file, false);
}

/** Loads (or builds and caches) a dataset. See `LoadOptions`. */
export async function loadDataset(opts: LoadOptions): Promise<Dataset> {
  return (await loadDatasetWithInfo(opts)).dataset;
}
