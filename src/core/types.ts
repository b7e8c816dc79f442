/**
 * Columnar sample storage shared by every source. One sample = (user, candidate item, label, behaviour history).
 * Histories are slices of one shared `histValues` array, so a user's prefix histories (Amazon protocol: b1..bk for
 * every k) share storage instead of being copied per sample.
 *
 * Ids are dense indices 0..n−1 into the dataset's vocabularies; −1 never appears in a SampleSet (it means padding
 * only inside a Batch).
 */
import type { ItemField, SampleField } from './fields.js';

/**
 * The items (goods) of a dataset — candidate ads and behaviours alike — with their attribute (category) bags and any
 * further item fields. Shared by the train and test splits.
 */
export interface ItemCatalog {
  /** Number of distinct items (goods); item ids are 0..numItems−1. */
  numItems: number;
  /** Number of distinct attribute/category ids (attr ids are 0..numAttrs−1). */
  numAttrs: number;
  /** CSR item → attribute ids: attrs of item i are attrValues[attrOffsets[i] .. attrOffsets[i+1]). May be empty. */
  attrOffsets: Int32Array;
  /** Attribute ids of every item, concatenated in item order (see `attrOffsets`); each id in 0..numAttrs−1. */
  attrValues: Int32Array;
  /**
   * Goods-id filter (the paper's frequency filter): the goods-id feature row of each item. Items outside the kept set
   * share one "rare" row, while keeping their own attributes. Absent: every item is its own goods row.
   */
  goodsRows?: Int32Array;
  /** Rows of the goods-id tables when `goodsRows` is set (kept goods + 1 rare row). −1 rows: items without a goods id. */
  numGoodsRows?: number;
  /** The last goods row is the shared rare / out-of-vocabulary row: its embedding starts at zero. */
  goodsOov?: boolean;
  /** Further single-valued item fields (shop, brand, campaign …), each with its own table; see fields.ts. */
  itemFields?: ItemField[];
  /** Original (raw) id strings, index = dense id. */
  itemKeys: string[];
  /** Original (raw) attribute / category strings, index = dense attribute id. */
  attrKeys: string[];
}

/**
 * One split (train or test) of a dataset in columnar form: sample i is (`users[i]`, candidate `items[i]`,
 * `labels[i]`, its history slice of `histValues`). See the file header.
 */
export interface SampleSet {
  /** Number of samples. */
  size: number;
  /** Label of each sample: 1 = positive (a click; Amazon: the real next item; MovieLens: a high rating), else 0. */
  labels: Uint8Array;
  /** Dense user index per sample (0..numUsers−1). */
  users: Int32Array;
  /** Candidate item per sample. */
  items: Int32Array;
  /** History of sample i = histValues[histStart[i] .. histStart[i] + histLen[i]), oldest first, most recent last. */
  histStart: Int32Array;
  /** History length of each sample as stored (0 allowed); the batcher truncates it further to its `maxHistory`. */
  histLen: Int32Array;
  /**
   * Item ids of every history, concatenated; samples point into it with `histStart` / `histLen`. Usually the same
   * array object in a dataset's train and test sets (one user's prefix histories are stored once).
   */
  histValues: Int32Array;
  /** Per sample field of the dataset (`Dataset.sampleFields`, same order): its id for each sample. */
  fieldValues?: Int32Array[];
}

/**
 * A loaded dataset: the item catalog, the users, the train and test splits, and how it was built. Every source
 * (`loadDataset` and the per-format loaders) returns one.
 */
export interface Dataset {
  /** Short name, e.g. "amazon-beauty", "synthetic". */
  name: string;
  /** Source format that produced it: "amazon-seq" | "movielens" | "synthetic" | … */
  format: string;
  /** The items (goods, attributes, item fields) that candidates and histories refer to. */
  catalog: ItemCatalog;
  /** Number of distinct users; user ids are 0..numUsers−1 (GAUC groups by them). */
  numUsers: number;
  /**
   * Original (raw) user id strings, index = dense user id. Sources without user ids name their pseudo-users (e.g.
   * din-remapped: `<file>:<line>`; synthetic: `u<k>`).
   */
  userKeys: string[];
  /** Training samples. */
  train: SampleSet;
  /** Test samples, held out by the source's split (by time, by user, or given as a file). */
  test: SampleSet;
  /** User-profile and context fields, one id per sample (values in each SampleSet's `fieldValues`). */
  sampleFields?: SampleField[];
  /** Rows/lines skipped while reading, by reason (printed and stored with runs; never silent). */
  skipped: Record<string, number>;
  /** A few messages (`file:line: what was expected, found …`) of rows skipped as malformed, to show the user. */
  skippedExamples?: string[];
  /** Options the dataset was built with (seed, negatives, …) so a run can record and rebuild it. */
  buildOptions: Record<string, unknown>;
  /** Descriptive numbers (users, items, interactions; for synthetic data the oracle AUC, …). Optional. */
  stats?: Record<string, number>;
}

/** A padded mini-batch. `T` is the longest (truncated) history in the batch; padding ids are −1. */
export interface Batch {
  /** Number of rows (samples) in this batch: the batch size, or fewer for the last batch of an epoch. */
  size: number;
  /** Columns of `hist`: the longest history in the batch after truncation to `maxHistory`; at least 1. */
  T: number;
  /** Click labels as 0/1 floats, length size. */
  labels: Float32Array;
  /** Dense user id of each row, length size (for GAUC grouping). */
  users: Int32Array;
  /** Candidate item ids, length size. */
  items: Int32Array;
  /** History item ids, size×T row-major, −1 past each row's length. */
  hist: Int32Array;
  /** Valid history length per row (0 allowed). */
  lengths: Int32Array;
  /** Indices of the samples in the SampleSet (for GAUC grouping and bookkeeping). */
  index: Int32Array;
  /** Sample-field ids (user profile, context) per field, length size each; absent when the data has none. */
  fieldValues?: Int32Array[];
}
