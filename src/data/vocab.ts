/** String → dense id map, ids assigned in first-seen order (so a dataset's ids are reproducible from its file). */
export class Vocab {
  private readonly map = new Map<string, number>();
  readonly keys: string[] = [];

  get size(): number {
    return this.keys.length;
  }

  /** The id of `key`, adding it if new. */
  id(key: string): number {
    let v = this.map.get(key);
    if (v === undefined) {
      v = this.keys.length;
      this.map.set(key, v);
      this.keys.push(key);
    }
    return v;
  }

  /** The id of `key`, or −1 if unknown. */
  get(key: string): number {
    const v = this.map.get(key);
    return v === undefined ? -1 : v;
  }
}

/** A growable Int32Array (push-only), so parsers can collect columns without boxing numbers in JS arrays. */
export class IntColumn {
  data: Int32Array;
  length = 0;
  constructor(capacity = 1024) {
    this.data = new Int32Array(Math.max(16, capacity));
  }
  push(v: number): void {
    if (this.length === this.data.length) {
      const next = new Int32Array(this.data.length * 2);
      next.set(this.data);
      this.data = next;
    }
    this.data[this.length++] = v;
  }
  /** Appends src[from, to). */
  append(src: ArrayLike<number>, from: number, to: number): void {
    const n = to - from;
    if (this.length + n > this.data.length) {
      const next = new Int32Array(Math.max(this.data.length * 2, this.length + n));
      next.set(this.data.subarray(0, this.length));
      this.data = next;
    }
    if (ArrayBuffer.isView(src)) this.data.set((src as Int32Array).subarray(from, to), this.length);
    else for (let k = 0; k < n; k++) this.data[this.length + k] = src[from + k];
    this.length += n;
  }
  /** A right-sized copy. */
  toArray(): Int32Array {
    return this.data.slice(0, this.length);
  }
}

/** A growable Float64Array (push-only). */
export class Float64Column {
  data: Float64Array;
  length = 0;
  constructor(capacity = 1024) {
    this.data = new Float64Array(Math.max(16, capacity));
  }
  push(v: number): void {
    if (this.length === this.data.length) {
      const next = new Float64Array(this.data.length * 2);
      next.set(this.data);
      this.data = next;
    }
    this.data[this.length++] = v;
  }
}

/** A growable Uint8Array (push-only; values 0..255). */
export class Uint8Column {
  data: Uint8Array;
  length = 0;
  constructor(capacity = 1024) {
    this.data = new Uint8Array(Math.max(16, capacity));
  }
  push(v: number): void {
    if (this.length === this.data.length) {
      const next = new Uint8Array(this.data.length * 2);
      next.set(this.data);
      this.data = next;
    }
    this.data[this.length++] = v;
  }
}
