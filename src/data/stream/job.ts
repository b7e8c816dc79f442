/**
 * The frame of every streamed conversion into shards: the shard directory is prepared (an earlier shard set there is
 * replaced; a foreign directory refused), a temporary directory for sort runs and spilled chunks is made inside it
 * (`.tmp-<tag>-<pid>`), the source writes its shards, then the head and the manifest (with how the conversion went).
 * The temporary directory is removed on success and on failure; on failure the shards written so far are removed too,
 * so a failed conversion leaves no manifest and no half shard set.
 */
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { type DatasetHead, type ShardManifest, ShardWriter } from '../shards.js';
import { DEFAULT_SORT_MEMORY } from './external-sort.js';

/** Options every streamed conversion takes. */
export interface StreamConvertOptions {
  /** Samples per shard (and the most held in memory at once). */
  shardRows: number;
  /** Memory budget of the external sorts' runs, in MiB (default 256). Sources that need no sort ignore it. */
  memoryMB?: number;
  /** Receives human-readable progress lines. */
  onProgress?: (msg: string) => void;
}

/** What a source's conversion works with. */
export interface ShardJob {
  writer: ShardWriter;
  /** The temporary directory (exists; removed after the conversion). */
  tmp: string;
  /** Memory budget of the external sorts, in bytes. */
  sortBytes: number;
  progress: (msg: string) => void;
  /** Adds to the manifest's `conversion` record (rows, lines, sort runs …). */
  info: Record<string, unknown>;
}

/** Default `memoryMB` of the external sorts. */
export const DEFAULT_SORT_MB = DEFAULT_SORT_MEMORY / 2 ** 20;

/** Validates a memory budget in MiB (a positive number, default 256; below 1/16 MiB counts as 1/16) and returns it in bytes. */
export function sortBytes(memoryMB: number | undefined): number {
  const mb = memoryMB ?? DEFAULT_SORT_MB;
  if (!(Number.isFinite(mb) && mb > 0)) throw new Error(`the sort memory budget must be a positive number of MiB, got ${memoryMB}`);
  return Math.max(64 << 10, Math.floor(mb * 2 ** 20));
}

/**
 * Runs `convert` in the frame of the file header; it writes shards through `job.writer` and returns the dataset head.
 * `source` names the input in the manifest.
 */
export async function streamToShards(outDir: string, tag: string, source: string, opts: StreamConvertOptions,
  convert: (job: ShardJob) => Promise<DatasetHead>): Promise<ShardManifest> {
  const t0 = performance.now();
  const bytes = sortBytes(opts.memoryMB);
  const writer = new ShardWriter(outDir, opts.shardRows);
  const tmp = join(writer.dir, `.tmp-${tag}-${process.pid}`);
  mkdirSync(tmp, { recursive: true });
  const job: ShardJob = { writer, tmp, sortBytes: bytes, progress: opts.onProgress ?? (() => {}), info: {} };
  try {
    const head = await convert(job);
    const seconds = (performance.now() - t0) / 1000;
    const rows = writer.trainSamples + writer.testSamples;
    return writer.finish(head, {
      source,
      rows,
      seconds,
      rowsPerSecond: rows / Math.max(seconds, 1e-9),
      peakRssMB: Math.round(process.resourceUsage().maxRSS / 1024),
      sortMemoryMB: bytes / 2 ** 20,
      ...job.info,
      skipped: head.skipped,
      skippedExamples: head.skippedExamples ?? [],
      streamed: true,
    });
  } catch (e) {
    writer.abort();
    throw e;
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}
