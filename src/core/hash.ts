/**
 * The hash of raw values into hashed vocabularies (`hashBuckets`): used where a vocabulary is built (src/data) and
 * where raw values are looked up in it (the serving engine), so both must be this one function.
 */

/** FNV-1a (32-bit) of a string's UTF-16 code units, then a murmur-style finalizer: stable across runs and platforms. */
export function hashString(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
