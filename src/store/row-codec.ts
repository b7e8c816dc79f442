/**
 * The bytes of one stored row (Redis values; anything that must survive a crash or another process):
 *
 *   0  u16  magic 0x5244 ("DR")          4  u16  table index        8  u32  step the row was written at
 *   2  u8   format version (1)           6  u16  value width (dim)  12 u32  floats of optimizer state
 *   3  u8   flags (0)
 *   16 f32 × (dim + state)  value, then optimizer state (little-endian)
 *   end u32 CRC-32 of every byte before it
 *
 * Self-describing and checksummed: a torn, truncated or foreign value (another table, another model shape) is an
 * error naming the row when read, never numbers used silently.
 */
import { crc32 } from 'node:zlib';

/** Format version written in every row. */
export const ROW_FORMAT_VERSION = 1;
const MAGIC = 0x5244;
const HEADER = 16;

/** Bytes of an encoded row of `floats` floats. */
export function encodedRowBytes(floats: number): number {
  return HEADER + 4 * floats + 4;
}

/** Encodes floats src[at … at+dim+state) of table `table` into a new buffer. */
export function encodeRow(table: number, dim: number, state: number, step: number, src: Float32Array, at: number): Buffer {
  const floats = dim + state;
  const buf = Buffer.allocUnsafe(encodedRowBytes(floats));
  buf.writeUInt16LE(MAGIC, 0);
  buf.writeUInt8(ROW_FORMAT_VERSION, 2);
  buf.writeUInt8(0, 3);
  buf.writeUInt16LE(table, 4);
  buf.writeUInt16LE(dim, 6);
  buf.writeUInt32LE(step >>> 0, 8);
  buf.writeUInt32LE(state, 12);
  if (((buf.byteOffset + HEADER) & 3) === 0) {
    new Float32Array(buf.buffer, buf.byteOffset + HEADER, floats).set(src.subarray(at, at + floats));
  } else {
    for (let i = 0; i < floats; i++) buf.writeFloatLE(src[at + i], HEADER + 4 * i);
  }
  buf.writeUInt32LE(crc32(buf.subarray(0, HEADER + 4 * floats)), HEADER + 4 * floats);
  return buf;
}

/**
 * Decodes a row of table `table` into dst[at …); returns the step it was written at. Throws, naming `where`, when the
 * bytes are not a row of that table and shape or fail the checksum.
 */
export function decodeRow(buf: Uint8Array, table: number, dim: number, state: number, dst: Float32Array, at: number, where: string): number {
  const floats = dim + state;
  const need = encodedRowBytes(floats);
  const b = Buffer.isBuffer(buf) ? buf : Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  if (b.length !== need) throw new Error(`${where}: ${b.length} bytes, a row of this table has ${need} (truncated, or written by another model shape)`);
  if (b.readUInt16LE(0) !== MAGIC) throw new Error(`${where}: not a din row (bad magic)`);
  if (b.readUInt8(2) !== ROW_FORMAT_VERSION) throw new Error(`${where}: row format version ${b.readUInt8(2)}, this din reads ${ROW_FORMAT_VERSION}`);
  const crc = b.readUInt32LE(HEADER + 4 * floats);
  if (crc32(b.subarray(0, HEADER + 4 * floats)) !== crc) throw new Error(`${where}: checksum mismatch (corrupt row)`);
  const t = b.readUInt16LE(4);
  const d = b.readUInt16LE(6);
  const s = b.readUInt32LE(12);
  if (t !== table || d !== dim || s !== state) {
    throw new Error(`${where}: a row of table ${t} with ${d} values and ${s} state floats, expected table ${table} with ${dim} and ${state}`);
  }
  // The payload may not be 4-byte aligned inside a network buffer: copy through a DataView-free aligned path.
  const off = b.byteOffset + HEADER;
  if ((off & 3) === 0) {
    dst.set(new Float32Array(b.buffer, off, floats), at);
  } else {
    for (let i = 0; i < floats; i++) dst[at + i] = b.readFloatLE(HEADER + 4 * i);
  }
  return b.readUInt32LE(8);
}
