export type { Batch, Dataset, ItemCatalog, SampleSet } from '../core/types.js';
export { Batcher, countItemOccurrences, type BatcherOptions } from './batcher.js';
export {
  DATASET_FORMATS,
  detectFormat,
  loadDataset,
  loadDatasetWithInfo,
  resolveDataPath,
  type DatasetFormat,
  type LoadOptions,
  type LoadResult,
} from './load.js';
export { defaultCacheDir, readDatasetCache, writeDatasetCache, CACHE_VERSION } from './cache.js';
export { loadAmazonSeq, type AmazonSeqOptions } from './sources/amazon-seq.js';
export { loadMovieLens, type MovieLensOptions } from './sources/movielens.js';
export {
  generateSynthetic,
  syntheticOptions,
  SYNTHETIC_PRESETS,
  type SyntheticOptions,
  type SyntheticPreset,
} from './sources/synthetic.js';
export { allocSampleSet, validateSampleSet } from './sample-set.js';
