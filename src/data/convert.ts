/**
 * One entry point converting any dataset into SampleSet shards (`din data convert`): the format is detected as by
 * `loadDataset`, then the source's streamed converter writes the shards with memory bounded independently of the log
 * size — up to what no streaming avoids (vocabularies, catalog keys, per-user state). Each converter's shards hold
 * exactly what the source's in-memory loader builds (same samples, ids, vocabularies, catalog, skipped counts); the
 * order of the samples is the loader's except for Taobao's 'tianchi' layout (by user, then time; see
 * ./sources/taobao/tianchi-stream.ts). Sources that sort (amazon-raw, movielens, taobao 'tianchi') spill sorted runs of
 * at most `memoryMB` each to a temporary directory inside the output directory, removed on success and failure.
 *
 * Synthetic data is generated in memory, then sharded (it is not a log: its size is a parameter).
 */
import { resolve } from 'node:path';
import { validateVocabOptions, type VocabOptions } from './field-vocab.js';
import { DATASET_FORMATS, detectFormat, VOCAB_FORMATS, type DatasetFormat } from './load.js';
import { writeShardedDataset, type ShardManifest } from './shards.js';
import { convertAmazonRawToShards } from './sources/amazon-raw.js';
import { convertAmazonSeqToShards } from './sources/amazon-seq.js';
import { convertDinRemappedToShards } from './sources/din-remapped.js';
import { convertMovieLensToShards } from './sources/movielens.js';
import { rowErrorPolicy, type RowErrorPolicy } from './sources/row-errors.js';
import { convertSchemaToShards } from './sources/schema/index.js';
import { generateSynthetic, syntheticOptions, type SyntheticPreset } from './sources/synthetic.js';
import { convertTaobaoToShards } from './sources/taobao/index.js';
import type { StreamConvertOptions } from './stream/job.js';

/** Options of `convertToShards`: what `loadDataset` takes for building, plus the shard size and the sort memory. */
export interface ConvertOptions extends StreamConvertOptions {
  /** Source format; `auto` (the default) detects it (`detectFormat`). */
  format?: 'auto' | DatasetFormat;
  /** Seed of negative sampling / user split / generator. Default 1. */
  seed?: number;
  /** MovieLens, din-remapped (single file), taobao 'sampled' (single file): fraction held out. Default 0.2. */
  testFraction?: number;
  /** Malformed rows: 'skip' (count them, the default) or 'fail' (throw at the first, naming file and line). */
  onError?: RowErrorPolicy;
  /** Vocabulary controls of the sources that build field vocabularies (schema, taobao). */
  vocab?: VocabOptions;
}

/**
 * Converts the dataset at `path` into shards in `outDir` (created; an earlier shard set there is replaced, a foreign
 * non-empty directory refused). Throws like the loader (naming file and line), leaving no manifest behind.
 */
export async function convertToShards(path: string, outDir: string, opts: ConvertOptions): Promise<ShardManifest> {
  const spec = path.startsWith('synthetic') ? path : resolve(path);
  const format: DatasetFormat = opts.format === undefined || opts.format === 'auto' ? detectFormat(spec) : opts.format;
  if (!DATASET_FORMATS.includes(format)) throw new Error(`unknown format "${format}" (expected ${DATASET_FORMATS.join(', ')})`);
  const onError = rowErrorPolicy(opts.onError);
  const vocab = opts.vocab && Object.values(opts.vocab).some((v) => v !== undefined) ? opts.vocab : undefined;
  if (vocab) {
    validateVocabOptions(vocab, 'vocabulary options');
    if (!VOCAB_FORMATS.includes(format)) {
      throw new Error(`--min-count/--top-k/--hash-buckets apply to sources that build field vocabularies (${VOCAB_FORMATS.join(', ')}); ` +
        `${format} builds its own`);
    }
  }
  const seed = opts.seed ?? 1;
  const testFraction = opts.testFraction ?? 0.2;
  const base = { shardRows: opts.shardRows, memoryMB: opts.memoryMB, onProgress: opts.onProgress, seed, onError };
  switch (format) {
    case 'schema':
      return convertSchemaToShards(spec, outDir, { ...base, ...(vocab ? { vocab } : {}) });
    case 'taobao':
      return convertTaobaoToShards(spec, outDir, { ...base, testFraction, ...(vocab ? { vocab } : {}) });
    case 'amazon-seq':
      return convertAmazonSeqToShards(spec, outDir, base);
    case 'amazon-raw':
      return convertAmazonRawToShards(spec, outDir, base);
    case 'din-remapped':
      return convertDinRemappedToShards(spec, outDir, { ...base, testFraction });
    case 'movielens':
      return convertMovieLensToShards(spec, outDir, { ...base, testFraction });
    case 'synthetic': {
      const t0 = performance.now();
      const preset: SyntheticPreset = spec === 'synthetic' ? 'default' : (spec.slice('synthetic:'.length) as SyntheticPreset);
      if (preset !== 'default' && preset !== 'small') throw new Error(`unknown synthetic preset "${preset}" (expected default or small)`);
      const ds = generateSynthetic(syntheticOptions(preset, { seed }), preset === 'default' ? 'synthetic' : `synthetic-${preset}`);
      const rows = ds.train.size + ds.test.size;
      return writeShardedDataset(outDir, ds, opts.shardRows, {
        source: spec, rows, seconds: (performance.now() - t0) / 1000, streamed: false,
        peakRssMB: Math.round(process.resourceUsage().maxRSS / 1024),
      });
    }
  }
}
