/**
 * Vocabularies of categorical fields, built from training data only, with the id-space controls of issue 5:
 *  - `minCount`: values seen fewer times in training share the out-of-vocabulary row;
 *  - `topK`: keep only the K most frequent values (ties: first seen first);
 *  - `hashBuckets`: no vocabulary at all — a value's id is a hash of it into N buckets (for id spaces far beyond
 *    memory); no OOV row is needed since every value has a bucket.
 * Without hashing, id 0 is the OOV row (key `<oov>`): values unseen in training — in the test split or at serving
 * time — map to it, never to a crash or a random row. Known values get ids 1.. in first-seen order (stable for a
 * given file), after the min-count / top-K cut.
 */
import { OOV_KEY, type CategoricalField } from '../core/fields.js';
import { hashString } from '../core/hash.js';

/**
 * Id-space controls of a categorical field's vocabulary, built from training rows (see the file header). `minCount`
 * is applied first, then `topK`; `hashBuckets`, when set, replaces both (no vocabulary is built).
 */
export interface VocabOptions {
  /** Values seen fewer times than this in training map to OOV (default 1: keep every seen value). */
  minCount?: number;
  /** Keep at most this many values (the most frequent); the rest map to OOV. */
  topK?: number;
  /** Hash values into this many buckets instead of building a vocabulary. */
  hashBuckets?: number;
}

export function validateVocabOptions(o: VocabOptions, where: string): void {
  if (o.minCount !== undefined && !(Number.isInteger(o.minCount) && o.minCount >= 1)) throw new Error(`${where}: minCount must be an integer >= 1, got ${o.minCount}`);
  if (o.topK !== undefined && !(Number.isInteger(o.topK) && o.topK >= 0)) throw new Error(`${where}: topK must be an integer >= 0, got ${o.topK}`);
  if (o.hashBuckets !== undefined && !(Number.isInteger(o.hashBuckets) && o.hashBuckets >= 1 && o.hashBuckets <= 2 ** 30)) {
    throw new Error(`${where}: hashBuckets must be an integer in 1..2^30, got ${o.hashBuckets}`);
  }
}


/** A built vocabulary: maps raw values to ids of one table. */
export class FieldVocab {
  readonly size: number;
  readonly keys: string[];
  private readonly map: Map<string, number> | null;

  constructor(readonly name: string, keys: string[] | null, readonly hashBuckets = 0) {
    if (keys === null) {
      if (!(hashBuckets >= 1)) throw new Error(`field "${name}": a hashed vocabulary needs hashBuckets >= 1`);
      this.size = hashBuckets;
      this.keys = Array.from({ length: hashBuckets }, (_, i) => `#${i}`);
      this.map = null;
    } else {
      if (keys[0] !== OOV_KEY) throw new Error(`field "${name}": keys[0] must be ${OOV_KEY}`);
      this.keys = keys;
      this.size = keys.length;
      this.map = new Map(keys.map((k, i) => [k, i]));
      if (this.map.size !== keys.length) throw new Error(`field "${name}": duplicate keys`);
    }
  }

  get hashed(): boolean {
    return this.map === null;
  }

  /** The id of a raw value: its row, the OOV row 0 when unknown, or its hash bucket. */
  id(raw: string): number {
    if (this.map === null) return hashString(raw) % this.size;
    return this.map.get(raw) ?? 0;
  }

  /** True when `raw` has its own row (not OOV). Hashed vocabularies know every value. */
  has(raw: string): boolean {
    return this.map === null || this.map.has(raw);
  }

  field(): CategoricalField {
    return this.map === null
      ? { name: this.name, size: this.size, keys: this.keys, hashed: true }
      : { name: this.name, size: this.size, keys: this.keys, oov: true };
  }

  /** Rebuilds a vocabulary saved as a CategoricalField (checkpoint → serving). */
  static fromField(f: CategoricalField): FieldVocab {
    return f.hashed ? new FieldVocab(f.name, null, f.size) : new FieldVocab(f.name, f.keys);
  }
}

/** Counts raw values of one field over the training rows, then builds its {@link FieldVocab}. */
export class FieldVocabBuilder {
  private readonly counts = new Map<string, number>();

  constructor(readonly name: string, readonly opts: VocabOptions = {}) {
    validateVocabOptions(opts, `field "${name}"`);
  }

  /** Counts one training occurrence (no-op when hashing: nothing to learn). */
  add(raw: string): void {
    if (this.opts.hashBuckets) return;
    this.counts.set(raw, (this.counts.get(raw) ?? 0) + 1);
  }

  /** Distinct values seen so far. */
  get distinct(): number {
    return this.counts.size;
  }

  build(): FieldVocab {
    const { minCount = 1, topK, hashBuckets } = this.opts;
    if (hashBuckets) return new FieldVocab(this.name, null, hashBuckets);
    let kept = [...this.counts.entries()].filter(([, c]) => c >= minCount);
    if (topK !== undefined && kept.length > topK) {
      // Most frequent first; ties keep first-seen order (Array.prototype.sort is stable); then back to first-seen order.
      const order = new Map(kept.map(([k], i) => [k, i]));
      kept = kept.sort((a, b) => b[1] - a[1]).slice(0, topK).sort((a, b) => order.get(a[0])! - order.get(b[0])!);
    }
    return new FieldVocab(this.name, [OOV_KEY, ...kept.map(([k]) => k)]);
  }
}
