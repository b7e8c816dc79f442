/**
 * Samples streamed into shards, for sources that produce them user by user with final ids (the Amazon protocol,
 * MovieLens, din-remapped): a history is a block (e.g. a user's time-ordered items) that the user's samples point
 * into, as in the in-memory datasets. Samples and blocks collect in the current shard — train and test sets sharing
 * one histValues — which is written as soon as it holds `shardRows` samples; a block still in use then is copied into
 * the next shard, so a sample never points outside its own shard. Memory: one shard's samples and histories.
 */
import type { SampleSet } from '../../core/types.js';
import { IntColumn, Uint8Column } from '../vocab.js';
import type { ShardWriter } from '../shards.js';

/** One split's columns while its shard fills. */
class SetColumns {
  labels = new Uint8Column(1 << 12);
  users = new IntColumn(1 << 12);
  items = new IntColumn(1 << 12);
  histStart = new IntColumn(1 << 12);
  histLen = new IntColumn(1 << 12);
  fields: IntColumn[];
  constructor(numFields: number) {
    this.fields = Array.from({ length: numFields }, () => new IntColumn(1 << 12));
  }
  get size(): number {
    return this.users.length;
  }
  set(histValues: Int32Array): SampleSet {
    const n = this.size;
    return {
      size: n,
      labels: this.labels.data.slice(0, n),
      users: this.users.toArray(),
      items: this.items.toArray(),
      histStart: this.histStart.toArray(),
      histLen: this.histLen.toArray(),
      histValues,
      ...(this.fields.length > 0 ? { fieldValues: this.fields.map((f) => f.toArray()) } : {}),
    };
  }
}

export class SampleShardWriter {
  private train: SetColumns;
  private test: SetColumns;
  private hist = new IntColumn(1 << 16);
  /** Start and length of the current block in `hist` (−1: none). */
  private blockAt = -1;
  private blockLen = 0;
  /** Samples written so far, by split. */
  trainSamples = 0;
  testSamples = 0;

  constructor(private readonly writer: ShardWriter, private readonly shardRows: number, private readonly numFields = 0) {
    this.train = new SetColumns(numFields);
    this.test = new SetColumns(numFields);
  }

  /** Starts a history block holding values[from, to); the samples added next point into it (offsets from its start). */
  block(values: ArrayLike<number>, from: number, to: number): void {
    this.blockAt = this.hist.length;
    this.blockLen = to - from;
    this.hist.append(values, from, to);
  }

  /** Adds a sample whose history is [start, start + len) of the current block. */
  add(test: boolean, label: number, user: number, item: number, start: number, len: number, fields?: ArrayLike<number>): void {
    if (this.train.size + this.test.size >= this.shardRows) this.flush(true);
    const s = test ? this.test : this.train;
    s.labels.push(label);
    s.users.push(user);
    s.items.push(item);
    s.histStart.push(len === 0 ? 0 : this.blockAt + start);
    s.histLen.push(len);
    for (let f = 0; f < this.numFields; f++) s.fields[f].push(fields![f]);
    if (test) this.testSamples++;
    else this.trainSamples++;
  }

  /** Writes the current shard (if it holds samples); `keepBlock`: carry the current block into the next one. */
  private flush(keepBlock: boolean): void {
    if (this.train.size + this.test.size === 0) return;
    const hv = this.hist.toArray();
    this.writer.write({ train: this.train.set(hv), test: this.test.set(hv) });
    this.train = new SetColumns(this.numFields);
    this.test = new SetColumns(this.numFields);
    this.hist = new IntColumn(1 << 16);
    if (keepBlock && this.blockAt >= 0) {
      const at = this.blockAt;
      this.blockAt = 0;
      this.hist.append(hv, at, at + this.blockLen);
    } else this.blockAt = -1;
  }

  /** Writes the last shard. */
  finish(): void {
    this.flush(false);
  }
}
