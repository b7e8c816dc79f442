/**
 * Binary cache of a built Dataset, so later runs never re-parse text.
 *
 * File layout (little-endian; a big-endian reader ignores the file):
 *   0  "DINCACHE"                8 bytes
 *   8  format version            u32   (CACHE_VERSION; bump it when a source's output changes)
 *  12  endianness marker         u32   0x01020304 as written
 *  16  header length H           u32   bytes of UTF-8 JSON
 *  20  reserved                  u32
 *  24  payload length            f64   bytes after the (8-aligned) header
 *  32  sha256(header ‖ payload)  32 bytes
 *  64  header JSON, zero-padded to a multiple of 8, then the payload: every typed array's bytes at an 8-aligned
 *      offset. The JSON is the Dataset with each typed array replaced by {"$a": k} → entry k of `arrays`; one array
 *      object referenced twice (train and test share `histValues`) is written once and shared again on load.
 * Any mismatch (magic, version, length, hash, JSON) makes `readDatasetCache` throw; the loader then rebuilds.
 * Writes go to a temp file in the same directory and are renamed into place, so readers never see half a file.
 */
import { createHash } from 'node:crypto';
import { closeSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import { isAbsolute, join, relative, resolve } from 'node:path';
import type { Dataset } from '../core/types.js';

export const CACHE_VERSION = 1;
const MAGIC = 'DINCACHE';
const FIXED = 64;
const ENDIAN_MARK = 0x01020304;

type AnyTyped =
  | Int8Array
  | Uint8Array
  | Int16Array
  | Uint16Array
  | Int32Array
  | Uint32Array
  | Float32Array
  | Float64Array;
const CTORS = { Int8Array, Uint8Array, Int16Array, Uint16Array, Int32Array, Uint32Array, Float32Array, Float64Array };
type CtorName = keyof typeof CTORS;

interface ArrayEntry {
  type: CtorName;
  offset: number;
  length: number;
}

/** `$DIN_CACHE_DIR`, else `./.din-cache` (relative to the working directory). */
export function defaultCacheDir(): string {
  return resolve(process.env.DIN_CACHE_DIR ?? '.din-cache');
}

/** Stable JSON (sorted keys) so equal options always give equal keys. */
function stable(v: unknown): string {
  if (v === null || typeof v !== 'object') return JSON.stringify(v) ?? 'null';
  if (Array.isArray(v)) return `[${v.map(stable).join(',')}]`;
  const o = v as Record<string, unknown>;
  return `{${Object.keys(o)
    .filter((k) => o[k] !== undefined)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${stable(o[k])}`)
    .join(',')}}`;
}

/** Cache key: hash of (cache version, format, absolute source paths with sizes and mtimes, build options). */
export function cacheKey(format: string, sourceFiles: string[], options: Record<string, unknown>): string {
  const files = sourceFiles.map((f) => {
    const abs = resolve(f);
    const st = statSync(abs);
    return { path: abs, size: st.size, mtimeMs: st.mtimeMs };
  });
  return createHash('sha256')
    .update(stable({ v: CACHE_VERSION, format, files, options }))
    .digest('hex');
}

/** True if `child` is `parent` or inside it. */
export function isInside(child: string, parent: string): boolean {
  const r = relative(resolve(parent), resolve(child));
  return r === '' || (!r.startsWith('..') && !isAbsolute(r));
}

export function cacheFileName(name: string, format: string, key: string): string {
  const safe = name.replace(/[^A-Za-z0-9._-]+/g, '_').slice(0, 60);
  return `${safe}-${format}-${key.slice(0, 20)}.dincache`;
}

const pad8 = (n: number): number => (n + 7) & ~7;

export function writeDatasetCache(file: string, ds: Dataset): void {
  writeTypedJson(file, { dataset: ds });
}

/**
 * Writes any JSON value whose leaves may be typed arrays in the cache file layout above (atomically). Used for the
 * dataset cache and for SampleSet shards (./shards.ts).
 */
export function writeTypedJson(file: string, value: unknown): void {
  const arrays: AnyTyped[] = [];
  const index = new Map<AnyTyped, number>();
  const entries: ArrayEntry[] = [];
  let payload = 0;
  const json = JSON.stringify(value, (_k, v: unknown) => {
    if (ArrayBuffer.isView(v) && !(v instanceof DataView)) {
      const a = v as AnyTyped;
      let k = index.get(a);
      if (k === undefined) {
        const type = a.constructor.name as CtorName;
        if (!(type in CTORS)) throw new Error(`cache: unsupported array type ${type}`);
        k = arrays.length;
        index.set(a, k);
        arrays.push(a);
        entries.push({ type, offset: payload, length: a.length });
        payload = pad8(payload + a.byteLength);
      }
      return { $a: k };
    }
    return v;
  });
  const header = Buffer.from(stable({ arrays: entries, json }), 'utf8');
  const headerPadded = pad8(header.length);
  const fixed = Buffer.alloc(FIXED);
  fixed.write(MAGIC, 0, 'latin1');
  fixed.writeUInt32LE(CACHE_VERSION, 8);
  new Uint32Array(fixed.buffer, fixed.byteOffset + 12, 1)[0] = ENDIAN_MARK; // native order
  fixed.writeUInt32LE(header.length, 16);
  fixed.writeDoubleLE(payload, 24);
  const zeros = Buffer.alloc(8);
  const hash = createHash('sha256');
  const pieces: Uint8Array[] = [header, zeros.subarray(0, headerPadded - header.length)];
  let at = 0;
  for (const a of arrays) {
    const bytes = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
    pieces.push(bytes);
    at += a.byteLength;
    const padded = pad8(at);
    pieces.push(zeros.subarray(0, padded - at));
    at = padded;
  }
  for (const p of pieces) hash.update(p);
  hash.digest().copy(fixed, 32);

  mkdirSync(resolve(file, '..'), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}-${Math.floor(Math.random() * 1e9)}`;
  const fd = openSync(tmp, 'w');
  try {
    writeAll(fd, fixed);
    for (const p of pieces) writeAll(fd, p);
  } catch (e) {
    closeSync(fd);
    rmSync(tmp, { force: true });
    throw e;
  }
  closeSync(fd);
  renameSync(tmp, file);
}

function writeAll(fd: number, b: Uint8Array): void {
  let off = 0;
  while (off < b.length) off += writeSync(fd, b, off, b.length - off);
}

/** Reads a cache file written by `writeDatasetCache`; throws (saying why) if it is corrupt, truncated or foreign. */
export function readDatasetCache(file: string): Dataset {
  const parsed = readTypedJson(file) as { dataset: Dataset };
  const ds = parsed?.dataset;
  if (!ds || !ds.catalog || !ds.train || !ds.test) throw new Error(`${file}: incomplete dataset`);
  return ds;
}

/** Reads a file written by `writeTypedJson`; throws (saying why) if it is corrupt, truncated or foreign. */
export function readTypedJson(file: string): unknown {
  let buf: Buffer<ArrayBuffer>;
  try {
    buf = readFileSync(file);
  } catch (e) {
    throw new Error(`${file}: cannot read (${(e as Error).message})`);
  }
  if (buf.length < FIXED || buf.toString('latin1', 0, 8) !== MAGIC) throw new Error(`${file}: not a din cache file`);
  const version = buf.readUInt32LE(8);
  if (version !== CACHE_VERSION) throw new Error(`${file}: cache version ${version}, expected ${CACHE_VERSION}`);
  const mark = new DataView(buf.buffer, buf.byteOffset, buf.length);
  if (mark.getUint32(12, true) !== ENDIAN_MARK) throw new Error(`${file}: written on a machine of other endianness`);
  const H = buf.readUInt32LE(16);
  const payload = buf.readDoubleLE(24);
  const payloadStart = FIXED + pad8(H);
  if (buf.length !== payloadStart + payload) {
    throw new Error(`${file}: ${buf.length} bytes, expected ${payloadStart + payload} (truncated?)`);
  }
  const digest = createHash('sha256').update(buf.subarray(FIXED)).digest();
  if (!digest.equals(buf.subarray(32, 64))) throw new Error(`${file}: checksum mismatch (corrupt)`);
  const head = JSON.parse(buf.toString('utf8', FIXED, FIXED + H)) as { arrays: ArrayEntry[]; json: string };
  const views: AnyTyped[] = head.arrays.map((e) => {
    const Ctor = CTORS[e.type];
    if (Ctor === undefined) throw new Error(`${file}: unknown array type ${e.type}`);
    const byteLen = e.length * Ctor.BYTES_PER_ELEMENT;
    if (e.offset + byteLen > payload) throw new Error(`${file}: array past the end of the payload`);
    const start = buf.byteOffset + payloadStart + e.offset;
    if (start % Ctor.BYTES_PER_ELEMENT === 0) return new Ctor(buf.buffer, start, e.length);
    // Unaligned Buffer (pooled small file): copy.
    const out = new Ctor(e.length);
    new Uint8Array(out.buffer).set(buf.subarray(payloadStart + e.offset, payloadStart + e.offset + byteLen));
    return out;
  });
  const parsed = JSON.parse(head.json, (_k, v: unknown) => {
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
      const o = v as Record<string, unknown>;
      if (typeof o.$a === 'number' && Object.keys(o).length === 1) {
        const a = views[o.$a];
        if (a === undefined) throw new Error(`${file}: bad array reference ${o.$a}`);
        return a;
      }
    }
    return v;
  }) as unknown;
  return parsed;
}

/** Path of the cache file for these inputs. */
export function cachePath(cacheDir: string, name: string, format: string, key: string): string {
  return join(cacheDir, cacheFileName(name, format, key));
}
