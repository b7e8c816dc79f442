/**
 * A map from table rows (non-negative int32) to working-set rows, cleared every step: open addressing with linear
 * probing over typed arrays, sized to the working set (never to the table), so an external table of a billion rows
 * costs the trainer memory only for the rows of one step.
 */
export class RowMap {
  private keys: Int32Array;
  private vals: Int32Array;
  private mask: number;
  private n = 0;

  constructor(capacity = 64) {
    let size = 16;
    while (size < capacity * 2) size *= 2;
    this.keys = new Int32Array(size).fill(-1);
    this.vals = new Int32Array(size);
    this.mask = size - 1;
  }

  /** Number of entries. */
  get size(): number {
    return this.n;
  }

  /** The value stored for `key`, or −1. */
  get(key: number): number {
    const keys = this.keys;
    let i = RowMap.hash(key) & this.mask;
    for (;;) {
      const k = keys[i];
      if (k === key) return this.vals[i];
      if (k === -1) return -1;
      i = (i + 1) & this.mask;
    }
  }

  /** Stores `value` for `key` (a key not yet in the map). */
  set(key: number, value: number): void {
    if ((this.n + 1) * 2 > this.keys.length) this.rehash(this.keys.length * 2);
    const keys = this.keys;
    let i = RowMap.hash(key) & this.mask;
    while (keys[i] !== -1 && keys[i] !== key) i = (i + 1) & this.mask;
    if (keys[i] === -1) this.n++;
    keys[i] = key;
    this.vals[i] = value;
  }

  /** Removes every entry (O(capacity)). */
  clear(): void {
    if (this.n === 0) return;
    this.keys.fill(-1);
    this.n = 0;
  }

  private rehash(size: number): void {
    const { keys, vals } = this;
    this.keys = new Int32Array(size).fill(-1);
    this.vals = new Int32Array(size);
    this.mask = size - 1;
    this.n = 0;
    for (let i = 0; i < keys.length; i++) if (keys[i] !== -1) this.set(keys[i], vals[i]);
  }

  private static hash(k: number): number {
    return Math.imul(k ^ (k >>> 16), 0x45d9f3b) >>> 0;
  }
}
