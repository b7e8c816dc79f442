/** Field values → temporary ids while reading, and the final vocabulary from their training counts. */
import { FieldVocab, FieldVocabBuilder, type VocabOptions } from '../../field-vocab.js';
import { Vocab } from '../../vocab.js';

/** Raw value → temporary id: first-seen ids of a Vocab, or the final hash bucket for hashed fields. */
export class TempField {
  readonly vocab = new Vocab();
  constructor(readonly name: string, readonly opts: VocabOptions, readonly hashed: FieldVocab | null) {}
  id(raw: string): number {
    return this.hashed !== null ? this.hashed.id(raw) : this.vocab.id(raw);
  }
  /** Builds the vocabulary from per-temp-id training counts and first occurrences; returns it and temp → final ids. */
  finish(counts: Float64Array, first: Float64Array): { vocab: FieldVocab; map: Int32Array | null } {
    if (this.hashed !== null) return { vocab: this.hashed, map: null };
    const vocab = buildVocab(this.name, this.opts, this.vocab.keys, counts, first);
    const map = new Int32Array(this.vocab.size);
    for (let t = 0; t < map.length; t++) map[t] = vocab.id(this.vocab.keys[t]);
    return { vocab, map };
  }
}

/**
 * A FieldVocabBuilder fed with values in order of first training occurrence, each as often as its count matters:
 * once (no cut), min(count, minCount) times (min-count cut), or count times (top-K ranks by count). That is exactly
 * the vocabulary the builder gives when fed every occurrence in file order, at a fraction of the map operations.
 */
export function buildVocab(name: string, opts: VocabOptions, keys: string[], counts: Float64Array, first: Float64Array): FieldVocab {
  const b = new FieldVocabBuilder(name, opts);
  const order: number[] = [];
  for (let t = 0; t < keys.length; t++) if (counts[t] > 0) order.push(t);
  order.sort((x, y) => first[x] - first[y]);
  const minCount = opts.minCount ?? 1;
  for (const t of order) {
    const reps = opts.topK !== undefined ? counts[t] : Math.min(counts[t], minCount);
    for (let k = 0; k < reps; k++) b.add(keys[t]);
  }
  return b.build();
}
