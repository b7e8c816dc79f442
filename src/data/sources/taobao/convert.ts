/**
 * Taobao → SampleSet shards, streamed (`convertTaobaoToShards`): 'tianchi' through external sorts and a join
 * (./tianchi-stream.ts); 'joined' and 'sampled' row by row — rows collect in chunks of `shardRows` that are spilled to
 * the temporary directory as read, then counted (the split by user of a single 'sampled' file is decided here, from
 * every user), the vocabularies built, and every chunk mapped to its final shard. The shards hold the samples, ids,
 * vocabularies, catalog, skipped counts and stats of `loadTaobao`: 'joined' and 'sampled' in the same order (file
 * order), 'tianchi' by user, then time (see ./tianchi-stream.ts).
 */
import { join, resolve } from 'node:path';
import { readTypedJson, writeTypedJson } from '../../cache.js';
import type { ShardManifest } from '../../shards.js';
import { streamToShards, type ShardJob, type StreamConvertOptions } from '../../stream/job.js';
import type { Dataset } from '../../../core/types.js';
import { chunkSets, datasetHead, finishTables } from './assemble.js';
import type { TaobaoChunk, TaobaoMeta } from './chunk.js';
import { TaobaoCounter } from './counter.js';
import { taobaoContext, type Ctx, type TaobaoOptions } from './context.js';
import { JOINED_FIELDS, readJoined } from './joined.js';
import { resolveFiles, type TaobaoFiles } from './layout.js';
import { TaobaoRows } from './rows.js';
import { readSampled, SAMPLED_FIELDS } from './sampled.js';
import { convertTianchi } from './tianchi-stream.js';

/** Options of `convertTaobaoToShards`: those of `loadTaobao`, plus the shard size and the sort memory. */
export type TaobaoConvertOptions = TaobaoOptions & StreamConvertOptions;

/** 'joined' / 'sampled': rows spilled in chunks, then counted and mapped (see the file header). */
async function convertRows(files: Extract<TaobaoFiles, { layout: 'joined' | 'sampled' }>, ctx: Ctx, job: ShardJob): Promise<Omit<Dataset, 'train' | 'test'>> {
  const rows = new TaobaoRows(files.layout === 'joined' ? JOINED_FIELDS : SAMPLED_FIELDS);
  const chunks: string[] = [];
  rows.chunkRows = job.writer.shardRows;
  rows.onChunk = (c) => {
    const file = join(job.tmp, `chunk-${chunks.length}`);
    writeTypedJson(file, c);
    chunks.push(file);
  };
  const meta: TaobaoMeta = files.layout === 'joined' ? await readJoined(files, ctx, rows) : await readSampled(files, ctx, rows);
  const last = rows.take();
  if (last.n > 0) rows.onChunk(last);
  const load = (file: string): TaobaoChunk => {
    const c = readTypedJson(file) as TaobaoChunk;
    meta.split?.(c);
    return c;
  };
  const counter = new TaobaoCounter(meta);
  for (const file of chunks) counter.add(load(file));
  const tables = finishTables(counter, ctx);
  for (const file of chunks) job.writer.write(chunkSets(load(file), meta, tables));
  job.info.lines = rows.size;
  return datasetHead(counter, tables, ctx);
}

/**
 * Converts the Taobao data at `path` (any layout; see ./index.ts) into SampleSet shards in `outDir` with memory bounded
 * independently of the logs (see the file header and ./tianchi-stream.ts for what is held).
 */
export async function convertTaobaoToShards(path: string, outDir: string, opts: TaobaoConvertOptions): Promise<ShardManifest> {
  const files = resolveFiles(path);
  const ctx = taobaoContext(path, files, opts); // validates the options before the output directory is touched
  return streamToShards(outDir, 'taobao', resolve(path), opts, async (job) => {
    return files.layout === 'tianchi' ? convertTianchi(files, ctx, job) : convertRows(files, ctx, job);
  });
}
