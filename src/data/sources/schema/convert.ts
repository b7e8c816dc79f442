/** Schema logs → SampleSet shards, streamed (see `convertSchemaToShards`). */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { readTypedJson, writeTypedJson } from '../../cache.js';
import type { ShardManifest } from '../../shards.js';
import { streamToShards, type StreamConvertOptions } from '../../stream/job.js';
import { readAll } from './read.js';
import { readSchema } from './spec.js';
import { SchemaBuilder, type RowChunk } from './tables.js';
import type { SchemaLoadOptions } from './types.js';

/** Options of `convertSchemaToShards`: those of loading, plus the shard size. */
export interface SchemaConvertOptions extends SchemaLoadOptions, StreamConvertOptions {}

/**
 * Streams the schema's data files into SampleSet shards in `outDir` (../../shards.ts) with memory bounded by the chunk,
 * not the log: rows are read into chunks of `shardRows`, each written to a temporary file as soon as it is full
 * (item ids are final when read; sample-field ids are temporary); after the last file, one pass over the chunks
 * counts training occurrences (the split by user is decided here, from every user), the vocabularies are built
 * exactly as the in-memory loader builds them, and a second pass maps each chunk to its final train/test shard.
 * The shards hold the same samples, ids and vocabularies as `loadSchemaDataset` gives (in file order; tested).
 *
 * Held in memory: one chunk (a few arrays of shardRows entries plus its history positions, about 3× while it is
 * converted) and what no streaming can avoid — per distinct item its key and field ids, per distinct user and per
 * distinct value of every non-hashed field its string (hashed fields keep none). A split by time with testFraction
 * needs every row's time at once: it is refused here (use testFrom, a split by user or column, or train/test files).
 * Every stat equals the in-memory one except `historyPositions`, the positions stored: a history repeated by the next
 * row is stored once per shard, so a row starting a shard stores its own copy.
 */
export async function convertSchemaToShards(schemaPath: string, outDir: string, opts: SchemaConvertOptions): Promise<ShardManifest> {
  const schema = readSchema(schemaPath);
  const sp = schema.spec.split;
  if (sp !== undefined && sp.by === 'time' && sp.testFraction !== undefined) {
    throw new Error(`${schema.path}: a split by time with "testFraction" needs every row's time at once, so it cannot be streamed into shards; ` +
      'use "testFrom" (a time), a split by user or column, or separate train/test files');
  }
  const seed = opts.seed ?? 1;
  const b = new SchemaBuilder(schema, opts); // checks the options before the output directory is touched
  return streamToShards(outDir, 'chunks', schema.path, opts, async (job) => {
    const t0 = performance.now();
    const chunks: string[] = [];
    const spill = (chunk: RowChunk) => {
      const file = join(job.tmp, `chunk-${chunks.length}`);
      writeTypedJson(file, chunk);
      chunks.push(file);
    };
    b.chunkRows = opts.shardRows;
    b.onChunk = spill;
    const lines = await readAll(b, schema, job.progress);
    if (b.labels.length > 0) spill(b.takeChunk());
    const readSeconds = (performance.now() - t0) / 1000;
    const testUser = b.userTestFlags(seed);
    const load = (file: string): RowChunk => {
      const chunk = readTypedJson(file) as RowChunk;
      b.applySplit(chunk, testUser);
      return chunk;
    };
    const counter = b.newCounter();
    let positions = 0;
    for (const file of chunks) {
      const chunk = load(file);
      b.count(counter, chunk);
      positions += chunk.hist.length;
    }
    const tables = b.finishTables(counter);
    for (const file of chunks) {
      job.writer.write(b.sets(load(file), tables));
      rmSync(file);
    }
    job.info.lines = lines;
    job.info.readSeconds = readSeconds;
    const rows = counter.trainRows + counter.testRows;
    const seconds = (performance.now() - t0) / 1000;
    job.progress(`schema ${schema.name}: ${rows} rows → ${job.writer.shards.length} shards in ${job.writer.dir} (${seconds.toFixed(1)} s, ${Math.round(rows / Math.max(seconds, 1e-9))} rows/s)`);
    return b.head(seed, tables, counter, positions);
  });
}
