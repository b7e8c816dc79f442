/**
 * Samples of a Taobao layout with temporary ids, as the readers produce them and ./assemble.ts turns them into the
 * Dataset: chunks of samples (`TaobaoChunk`) and what the reader learnt besides (`TaobaoMeta`).
 */
import type { SampleFieldGroup } from '../../../core/fields.js';
import type { TmpItems } from './items.js';
import type { TaobaoLayout } from './layout.js';

/** A sample field before its vocabulary. */
export interface TmpSampleField {
  name: string;
  group: SampleFieldGroup;
  /** `vocab` options apply (id-like user fields). */
  idLike: boolean;
  /** Raw keys of the temporary ids (complete once every row is read). */
  keys: string[];
  /** A field of the user (profile): the temporary id of each user (−1 missing); samples take their user's. */
  byUser?: Int32Array;
}

/** Samples with temporary ids (items of `TmpItems`, users in reading order, temporary sample-field ids). */
export interface TaobaoChunk {
  n: number;
  /** Position of each sample in the in-memory sample order (file order); null: `first + i`. */
  order: Float64Array | null;
  /** Position of sample 0 when `order` is null. */
  first: number;
  user: Int32Array;
  item: Int32Array;
  label: Uint8Array;
  /** 1 = test. A split decided after reading (`TaobaoMeta.split`) overwrites it before the chunk is used. */
  test: Uint8Array;
  histStart: Int32Array;
  histLen: Int32Array;
  /** Temporary item ids; samples point into it. */
  histValues: Int32Array;
  /** Per sample field (the order of `TaobaoMeta.fields`): the temporary id of each sample (−1 missing); empty for byUser fields. */
  fields: Int32Array[];
}

/** What a layout reader gives besides the samples. */
export interface TaobaoMeta {
  layout: TaobaoLayout;
  items: TmpItems;
  priceBuckets: 'log2' | 'quantile';
  userKeys: string[];
  fields: TmpSampleField[];
  stats: Record<string, number>;
  buildOptions: Record<string, unknown>;
  /** Sets `chunk.test` in place when the split is only known after reading (the 'sampled' split by user). */
  split?: (chunk: TaobaoChunk) => void;
}
