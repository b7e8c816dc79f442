/** Vocabularies from counts, and price buckets, of the Taobao layouts. */
import { OOV_KEY } from '../../../core/fields.js';
import { FieldVocab, validateVocabOptions, type VocabOptions } from '../../field-vocab.js';

/**
 * A FieldVocab from values in first-seen order with their training counts — exactly what FieldVocabBuilder builds
 * from the same occurrences (minCount, then top-K by count with ties in first-seen order, then first-seen order),
 * without one Map update per occurrence.
 */
export function vocabFromCounts(name: string, keys: string[], counts: ArrayLike<number>, opts: VocabOptions = {}): FieldVocab {
  validateVocabOptions(opts, `field "${name}"`);
  if (opts.hashBuckets) return new FieldVocab(name, null, opts.hashBuckets);
  const minCount = opts.minCount ?? 1;
  let kept: number[] = [];
  for (let i = 0; i < keys.length; i++) if (counts[i] >= minCount && counts[i] > 0) kept.push(i);
  if (opts.topK !== undefined && kept.length > opts.topK) {
    kept = kept.sort((a, b) => counts[b] - counts[a] || a - b).slice(0, opts.topK).sort((a, b) => a - b);
  }
  return new FieldVocab(name, [OOV_KEY, ...kept.map((i) => keys[i])]);
}

/** Log-scale price bucket key: "[0,1)" below 1, else "[2^k,2^(k+1))". */
export function priceOctave(p: number): string {
  if (p < 1) return '[0,1)';
  let k = Math.floor(Math.log2(p));
  if (2 ** k > p) k--;
  if (2 ** (k + 1) <= p) k++;
  return `[${2 ** k},${2 ** (k + 1)})`;
}

export const PRICE_QUANTILES = 10;

export function upperBound(a: ArrayLike<number>, lo: number, hi: number, x: number): number {
  while (lo < hi) {
    const m = (lo + hi) >>> 1;
    if (a[m] <= x) lo = m + 1;
    else hi = m;
  }
  return lo;
}

export function lowerBound(a: ArrayLike<number>, lo: number, hi: number, x: number): number {
  while (lo < hi) {
    const m = (lo + hi) >>> 1;
    if (a[m] < x) lo = m + 1;
    else hi = m;
  }
  return lo;
}
