import type { Backend, Float } from '../kernels/backend.js';

/**
 * A backend-owned buffer of `rows × width` values that grows with the batch. Layers hold one per output/scratch
 * array so a training step allocates nothing once the largest batch has been seen. Growing frees the old array, so
 * a view handed out earlier is only valid until the next `ensure` with a larger row count (i.e. the next forward).
 */
export class FloatBuf {
  private arr: Float;
  private cap: number;
  private viewRows = -1;
  private viewArr: Float;

  constructor(private readonly backend: Backend, readonly width: number, initialRows = 0) {
    this.cap = Math.max(0, initialRows);
    this.arr = backend.alloc(Math.max(1, this.cap * width));
    this.viewArr = this.arr;
  }

  /** An exact `rows × width` view, growing the storage (×1.5, at least to `rows`) when needed. Contents are kept only if no growth happened. */
  ensure(rows: number): Float {
    if (rows > this.cap) {
      const cap = Math.max(rows, Math.ceil(this.cap * 1.5), 8);
      this.backend.free(this.arr);
      this.arr = this.backend.alloc(cap * this.width);
      this.cap = cap;
      this.viewRows = -1;
    }
    if (rows !== this.viewRows) {
      this.viewArr = this.arr.subarray(0, rows * this.width) as Float;
      this.viewRows = rows;
    }
    return this.viewArr;
  }

  /** The current view (as returned by the last `ensure`). */
  get view(): Float {
    return this.viewArr;
  }

  dispose(): void {
    this.backend.free(this.arr);
    this.cap = 0;
    this.viewRows = -1;
  }
}

/** Int32 counterpart of {@link FloatBuf} (ids, slots, row indices handed to kernels). */
export class IntBuf {
  private arr: Int32Array;
  private cap: number;
  private viewRows = -1;
  private viewArr: Int32Array;

  constructor(private readonly backend: Backend, readonly width = 1, initialRows = 0) {
    this.cap = Math.max(0, initialRows);
    this.arr = backend.allocInt(Math.max(1, this.cap * width));
    this.viewArr = this.arr;
  }

  ensure(rows: number): Int32Array {
    if (rows > this.cap) {
      const cap = Math.max(rows, Math.ceil(this.cap * 1.5), 8);
      this.backend.free(this.arr);
      this.arr = this.backend.allocInt(cap * this.width);
      this.cap = cap;
      this.viewRows = -1;
    }
    if (rows !== this.viewRows) {
      this.viewArr = this.arr.subarray(0, rows * this.width);
      this.viewRows = rows;
    }
    return this.viewArr;
  }

  get view(): Int32Array {
    return this.viewArr;
  }

  dispose(): void {
    this.backend.free(this.arr);
    this.cap = 0;
    this.viewRows = -1;
  }
}
