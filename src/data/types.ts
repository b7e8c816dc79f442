/**
 * Columnar sample storage shared by every source. One sample = (user, candidate item, label, behaviour history).
 * Histories are slices of one shared `histValues` array, so a user's prefix histories (Amazon protocol: b1..bk for
 * every k) share storage instead of being copied per sample.
 *
 * Ids are dense indices 0..n−1 into the dataset's vocabularies; −1 never appears in a SampleSet (it means padding
 * only inside a Batch).
 */
import type { ItemField, SampleField } from './fields.js';

export interface ItemCatalog {
  /** Number of distinct items (goods); item ids are 0..numItems−1. */
  numItems: number;
  /** Number of distinct attribute/category ids (attr ids are 0..numAttrs−1). */
  numAttrs: number;
  /** CSR item → attribute ids: attrs of item i are attrValues[attrOffsets[i] .. attrOffsets[i+1]). May be empty. */
  attrOffsets: Int32Array;
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
  attrKeys: string[];
}

export interface SampleSet {
  /** Number of samples. */
  size: number;
  labels: Uint8Array;
  /** Dense user index per sample (0..numUsers−1). */
  users: Int32Array;
  /** Candidate item per sample. */
  items: Int32Array;
  /** History of sample i = histValues[histStart[i] .. histStart[i] + histLen[i]), oldest first, most recent last. */
  histStart: Int32Array;
  histLen: Int32Array;
  histValues: Int32Array;
  /** Per sample field of the dataset (`Dataset.sampleFields`, same order): its id for each sample. */
  fieldValues?: Int32Array[];
}

export interface Dataset {
  /** Short name, e.g. "amazon-beauty", "synthetic". */
  name: string;
  /** Source format that produced it: "amazon-seq" | "movielens" | "synthetic" | … */
  format: string;
  catalog: ItemCatalog;
  numUsers: number;
  userKeys: string[];
  train: SampleSet;
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
  size: number;
  T: number;
  labels: Float32Array;
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
