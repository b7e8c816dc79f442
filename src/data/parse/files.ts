/**
 * Opening data files, plain or gzip-compressed (a name ending in `.gz`, any case), the same way for every source:
 *
 *  - `readChunks` streams the (decompressed) bytes of a file to a callback, asynchronously, in chunks of about 1 MiB;
 *  - `readChunksSync` does the same synchronously: plain files in 8 MiB blocks, a `.gz` file decompressed in memory
 *    at once (zlib has no synchronous streaming API);
 *  - `readHead` returns the first bytes of a file (a `.gz` file partially decompressed), for format sniffing.
 *
 * Errors name the file: `<file>: cannot read (<why>)` for a missing or unreadable file, `<file>: corrupt or truncated
 * gzip data (<why>)` for a bad gzip stream. An error thrown by the callback itself propagates unchanged.
 */
import { closeSync, createReadStream, openSync, readFileSync, readSync } from 'node:fs';
import { pipeline } from 'node:stream';
import { constants as zc, createGunzip, gunzipSync } from 'node:zlib';

/** Whether a file is read as gzip: its name ends in `.gz` (case-insensitive). */
export function isGzip(file: string): boolean {
  return file.toLowerCase().endsWith('.gz');
}

/** `<file>: corrupt or truncated gzip data (<why>)`. */
export function gzipError(file: string, e: unknown): Error {
  return new Error(`${file}: corrupt or truncated gzip data (${(e as Error).message})`);
}

/** `<file>: cannot read (<why>)`. */
export function cannotRead(file: string, e: unknown): Error {
  return new Error(`${file}: cannot read (${(e as Error).message})`);
}

/** Size of the chunks `readChunksSync` reads from a plain file. */
const SYNC_BLOCK = 1 << 23;

/** Calls `onChunk` with the bytes of a plain or `.gz` file, streaming. The chunk may be reused after the call returns. */
export async function readChunks(file: string, onChunk: (b: Buffer) => void): Promise<void> {
  let chunkError: unknown;
  const src = createReadStream(file, { highWaterMark: 1 << 20 });
  let stream: NodeJS.ReadableStream = src;
  const gz = isGzip(file);
  if (gz) {
    const gunzip = createGunzip();
    pipeline(src, gunzip, () => {
      /* errors surface through the iteration below */
    });
    stream = gunzip;
  }
  try {
    for await (const chunk of stream) {
      try {
        onChunk(chunk as Buffer);
      } catch (e) {
        chunkError = e;
        throw e;
      }
    }
  } catch (e) {
    if (e === chunkError) throw e; // the handler's own error, not a read error
    const err = e as NodeJS.ErrnoException;
    if (err.syscall !== undefined) throw cannotRead(file, err);
    if (gz) throw gzipError(file, e);
    throw e;
  }
}

/** Calls `onChunk` with the bytes of a plain or `.gz` file, synchronously (a `.gz` file is decompressed at once). */
export function readChunksSync(file: string, onChunk: (b: Buffer) => void): void {
  if (isGzip(file)) {
    let compressed: Buffer;
    try {
      compressed = readFileSync(file);
    } catch (e) {
      throw cannotRead(file, e);
    }
    let data: Buffer;
    try {
      data = gunzipSync(compressed);
    } catch (e) {
      throw gzipError(file, e);
    }
    onChunk(data);
    return;
  }
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (e) {
    throw cannotRead(file, e);
  }
  try {
    const buf = Buffer.allocUnsafe(SYNC_BLOCK);
    for (;;) {
      let n: number;
      try {
        n = readSync(fd, buf, 0, buf.length, null);
      } catch (e) {
        throw cannotRead(file, e);
      }
      if (n === 0) break;
      onChunk(buf.subarray(0, n));
    }
  } finally {
    closeSync(fd);
  }
}

/**
 * The first `bytes` bytes of a file — of its decompressed content for a `.gz` file, as far as those bytes decompress.
 * Throws `cannot read (<why>)` or `corrupt gzip data (<why>)` (without the file name: callers word their own message).
 */
export function readHead(file: string, bytes: number): Buffer {
  let buf: Buffer;
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (e) {
    throw new Error(`cannot read (${(e as Error).message})`);
  }
  try {
    const b = Buffer.alloc(bytes);
    buf = b.subarray(0, readSync(fd, b, 0, b.length, 0));
  } catch (e) {
    throw new Error(`cannot read (${(e as Error).message})`);
  } finally {
    closeSync(fd);
  }
  if (isGzip(file)) {
    try {
      buf = gunzipSync(buf, { finishFlush: zc.Z_SYNC_FLUSH });
    } catch (e) {
      throw new Error(`corrupt gzip data (${(e as Error).message})`);
    }
  }
  return buf;
}
