/**
 * Allocator for the one WASM memory the kernels run on. The memory never grows (growth would detach every typed-array
 * view the layers hold), so this only hands out byte ranges of a fixed region.
 *
 * Layout: a bump pointer `top` plus free blocks binned by size class (floor(log2(bytes))), with immediate coalescing
 * of neighbours; a free block that touches `top` is given back to the bump region. Blocks are 16-byte aligned and
 * sized in multiples of 16 (SIMD loads/stores). Bookkeeping lives in JS maps, not in headers inside the memory, so a
 * kernel writing past an array cannot corrupt the allocator.
 *
 * Zeroing: a fresh WebAssembly.Memory is zero and untouched pages cost no RSS, so memory above the high-water mark
 * is handed out as is; only reused memory (below the mark) is cleared.
 */
export const ALIGN = 16;

export interface ArenaStats {
  /** Bytes the arena may hand out. */
  capacity: number;
  /** Bytes in live allocations (rounded to 16). */
  used: number;
  /** Number of live allocations. */
  allocations: number;
  /** Highest byte offset (relative to the arena start) ever handed out. */
  highWater: number;
  /** Bytes in the free lists (below the bump pointer). */
  freeListed: number;
}

export class Arena {
  private top: number;
  private hwm: number;
  private usedBytes = 0;
  private readonly live = new Map<number, number>();
  private readonly freeByStart = new Map<number, number>();
  private readonly freeByEnd = new Map<number, number>();
  private readonly bins: Set<number>[] = Array.from({ length: 33 }, () => new Set<number>());

  /**
   * @param start first byte offset the arena may use (multiple of 16)
   * @param end one past the last byte offset
   * @param onOutOfMemory builds the error thrown when a request does not fit
   */
  constructor(readonly start: number, readonly end: number,
    private readonly onOutOfMemory: (bytes: number, stats: ArenaStats) => Error) {
    if (start % ALIGN !== 0 || end < start) throw new Error(`Arena: bad range [${start}, ${end})`);
    this.top = start;
    this.hwm = start;
  }

  /**
   * Reserves `bytes` (rounded up to 16, at least 16) and returns the byte offset. `needsZero` tells the caller
   * whether the range may hold old data (it was used before) and must be cleared.
   */
  alloc(bytes: number): { ptr: number; needsZero: boolean } {
    const size = bytes <= ALIGN ? ALIGN : Math.ceil(bytes / ALIGN) * ALIGN;
    let ptr = this.takeFree(size);
    if (ptr < 0) {
      if (this.top + size > this.end) throw this.onOutOfMemory(size, this.stats());
      ptr = this.top;
      this.top += size;
    }
    this.live.set(ptr, size);
    this.usedBytes += size;
    const needsZero = ptr < this.hwm;
    if (ptr + size > this.hwm) this.hwm = ptr + size;
    return { ptr, needsZero };
  }

  /** Returns the block starting at `ptr`; throws if `ptr` is not the start of a live block (double free, foreign). */
  free(ptr: number): void {
    const size = this.live.get(ptr);
    if (size === undefined) {
      throw new Error(`free: byte offset ${ptr} is not the start of a live allocation (double free, a subarray, ` +
        'or an array from another backend)');
    }
    this.live.delete(ptr);
    this.usedBytes -= size;
    let start = ptr;
    let end = ptr + size;
    const left = this.freeByEnd.get(start);
    if (left !== undefined) {
      this.unlinkFree(left, start - left);
      start = left;
    }
    const rightSize = this.freeByStart.get(end);
    if (rightSize !== undefined) {
      this.unlinkFree(end, rightSize);
      end += rightSize;
    }
    if (end === this.top) this.top = start;
    else this.linkFree(start, end - start);
  }

  /** Size in bytes of the live block at `ptr`, or undefined. */
  sizeOf(ptr: number): number | undefined {
    return this.live.get(ptr);
  }

  stats(): ArenaStats {
    let freeListed = 0;
    for (const s of this.freeByStart.values()) freeListed += s;
    return {
      capacity: this.end - this.start,
      used: this.usedBytes,
      allocations: this.live.size,
      highWater: this.hwm - this.start,
      freeListed,
    };
  }

  private takeFree(size: number): number {
    const c0 = sizeClass(size);
    // The own class holds blocks in [2^c, 2^(c+1)): look for one that fits (bounded scan); any larger class fits.
    let scanned = 0;
    for (const p of this.bins[c0]) {
      const s = this.freeByStart.get(p)!;
      if (s >= size) return this.splitFree(p, s, size);
      if (++scanned >= 64) break;
    }
    for (let c = c0 + 1; c < this.bins.length; c++) {
      const bin = this.bins[c];
      if (bin.size === 0) continue;
      const p = bin.values().next().value as number;
      return this.splitFree(p, this.freeByStart.get(p)!, size);
    }
    return -1;
  }

  private splitFree(p: number, s: number, size: number): number {
    this.unlinkFree(p, s);
    // The remainder's neighbours are the new block and whatever followed p (never free: it would have coalesced).
    if (s > size) this.linkFree(p + size, s - size);
    return p;
  }

  private linkFree(p: number, s: number): void {
    this.freeByStart.set(p, s);
    this.freeByEnd.set(p + s, p);
    this.bins[sizeClass(s)].add(p);
  }

  private unlinkFree(p: number, s: number): void {
    this.freeByStart.delete(p);
    this.freeByEnd.delete(p + s);
    this.bins[sizeClass(s)].delete(p);
  }
}

function sizeClass(bytes: number): number {
  return bytes >= 2 ** 32 ? 32 : 31 - Math.clz32(bytes);
}
