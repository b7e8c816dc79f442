import { readFileSync } from 'node:fs';

/**
 * Plain safetensors (https://huggingface.co/docs/safetensors): u64 little-endian header length, a JSON header
 * { name: { dtype, shape, data_offsets: [begin, end] }, "__metadata__": {…} }, then the raw little-endian data.
 * Readable from Python with `safetensors.numpy.load_file` and no code of ours.
 */
export interface NamedTensor {
  /** Dimensions, row-major; their product is `data.length`. */
  shape: number[];
  /** The values; stored as F32 or F64 after the array's type. */
  data: Float32Array | Float64Array;
}

const DTYPE = { F32: 4, F64: 8 } as const;

/**
 * Serializes tensors to safetensors bytes: tensors in name order, dtype F32 or F64 after each array's type, data
 * 8-byte aligned; `metadata` becomes `__metadata__` (omitted when empty). Throws when a tensor's length does not match
 * its shape.
 */
export function encodeSafetensors(tensors: Record<string, NamedTensor>, metadata: Record<string, string> = {}): Buffer {
  const names = Object.keys(tensors).sort();
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length > 0) header.__metadata__ = metadata;
  let offset = 0;
  for (const name of names) {
    const t = tensors[name];
    const count = t.shape.reduce((a, b) => a * b, 1);
    if (count !== t.data.length) {
      throw new Error(`safetensors: tensor "${name}" has ${t.data.length} values but shape [${t.shape}] needs ${count}`);
    }
    const bytes = t.data.byteLength;
    header[name] = {
      dtype: t.data instanceof Float64Array ? 'F64' : 'F32',
      shape: t.shape,
      data_offsets: [offset, offset + bytes],
    };
    offset += bytes;
  }
  let json = JSON.stringify(header);
  // Pad the header with spaces so the data starts 8-byte aligned (allowed by the format).
  json += ' '.repeat((8 - ((8 + Buffer.byteLength(json)) % 8)) % 8);
  const headerBytes = Buffer.from(json, 'utf8');
  const out = Buffer.alloc(8 + headerBytes.length + offset);
  out.writeBigUInt64LE(BigInt(headerBytes.length), 0);
  headerBytes.copy(out, 8);
  let pos = 8 + headerBytes.length;
  for (const name of names) {
    const d = tensors[name].data;
    Buffer.from(d.buffer, d.byteOffset, d.byteLength).copy(out, pos);
    pos += d.byteLength;
  }
  return out;
}

/**
 * Parses safetensors bytes (F32 and F64 tensors only). The tensors are copies, independent of `buf`. Throws, naming
 * `where` (e.g. the file path), on a truncated or malformed file or another dtype.
 */
export function decodeSafetensors(buf: Buffer, where = 'safetensors'): {
  /** The tensors by name. */
  tensors: Record<string, NamedTensor>;
  /** The `__metadata__` string map ({} when absent). */
  metadata: Record<string, string>;
} {
  if (buf.length < 8) throw new Error(`${where}: file too short (${buf.length} bytes)`);
  const n = Number(buf.readBigUInt64LE(0));
  if (8 + n > buf.length) throw new Error(`${where}: header length ${n} exceeds file size ${buf.length}`);
  let header: Record<string, any>;
  try {
    header = JSON.parse(buf.subarray(8, 8 + n).toString('utf8'));
  } catch (e) {
    throw new Error(`${where}: header is not valid JSON (${(e as Error).message})`);
  }
  const base = 8 + n;
  const tensors: Record<string, NamedTensor> = {};
  for (const [name, info] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const size = DTYPE[info.dtype as keyof typeof DTYPE];
    if (!size) throw new Error(`${where}: tensor "${name}" has unsupported dtype ${info.dtype} (F32/F64 only)`);
    const [b, e] = info.data_offsets as [number, number];
    const count = (info.shape as number[]).reduce((a, c) => a * c, 1);
    if (e - b !== count * size || base + e > buf.length) {
      throw new Error(`${where}: tensor "${name}" offsets [${b}, ${e}] do not match shape [${info.shape}] or file size`);
    }
    // Copy so the result is aligned and independent of the file buffer.
    const bytes = new Uint8Array(e - b);
    bytes.set(buf.subarray(base + b, base + e));
    const data = size === 4 ? new Float32Array(bytes.buffer) : new Float64Array(bytes.buffer);
    tensors[name] = { shape: info.shape, data };
  }
  return { tensors, metadata: (header.__metadata__ as Record<string, string>) ?? {} };
}

export function readSafetensors(path: string) {
  return decodeSafetensors(readFileSync(path), path);
}
