/**
 * From chunks of rows to the Dataset (the second half of the builder; ./rows.ts reads the rows): the split decided
 * after reading (by user; by time fraction in memory only), training counts over the chunks in row order, the
 * vocabularies and the catalog from those counts, and each chunk's train/test SampleSets with final ids. The same
 * steps serve the in-memory loader (one chunk) and the streamed conversion (chunks read back from disk).
 */
import type { Dataset, ItemCatalog, SampleSet } from '../../../core/types.js';
import type { ItemField, SampleField } from '../../../core/fields.js';
import type { FieldVocab } from '../../field-vocab.js';
import { allocSampleSet } from '../../sample-set.js';
import { IntColumn } from '../../vocab.js';
import { Rng } from '../../../util/rng.js';
import { SchemaRows, TEST, TRAIN } from './rows.js';
import { buildVocab, type TempField } from './vocab.js';

export class SchemaBuilder extends SchemaRows {
  // ---- the Dataset ----

  /**
   * The test-user flags of a split by user (null for other splits): round(f·users) users drawn by a seeded shuffle.
   * Needs every user, so it is decided after all rows are read; the same for the in-memory and the streaming build.
   */
  userTestFlags(seed: number): Uint8Array | null {
    const sp = this.split;
    if (sp === undefined || sp.by !== 'user') return null;
    const U = this.users.size;
    const perm = new Rng(seed).shuffle(Array.from({ length: U }, (_, i) => i));
    const nTest = clampTest(Math.round(sp.testFraction * U), U);
    const testUser = new Uint8Array(U);
    for (let k = 0; k < nTest; k++) testUser[perm[k]] = 1;
    return testUser;
  }

  /** Final split of a chunk's rows, in place: by user (flags) or by time fraction (needs all rows: in-memory only). */
  applySplit(chunk: RowChunk, testUser: Uint8Array | null): void {
    const n = chunk.labels.length;
    const split = chunk.split;
    const sp = this.split;
    if (sp !== undefined && sp.by === 'time' && sp.testFraction !== undefined) {
      if (chunk.first !== 0 || this.labels.length > 0) throw new Error(`${this.schema.path}: a time split by testFraction needs all rows at once`);
      const order = Array.from({ length: n }, (_, i) => i);
      const t = chunk.time!;
      order.sort((a, b) => t[a] - t[b] || a - b);
      const nTest = clampTest(Math.round(sp.testFraction * n), n);
      for (let k = 0; k < n; k++) split[order[k]] = k >= n - nTest ? TEST : TRAIN;
    } else if (testUser !== null) {
      for (let r = 0; r < n; r++) split[r] = testUser[chunk.users[r]] ? TEST : TRAIN;
    }
  }

  /** Counts of training occurrences (items, sample-field values) and their first positions, over chunks in row order. */
  newCounter(): SchemaCounter {
    const numItems = this.items.itemKeys.length;
    return {
      itemCount: new Float64Array(numItems),
      itemFirst: new Float64Array(numItems).fill(Infinity),
      occ: 0,
      sampleCount: this.samples.map((tf) => new Float64Array(tf.hashed !== null ? tf.hashed.size : tf.vocab.size)),
      sampleFirst: this.samples.map((tf) => new Float64Array(tf.hashed !== null ? tf.hashed.size : tf.vocab.size).fill(Infinity)),
      trainRows: 0,
      testRows: 0,
    };
  }

  /** Adds a (split) chunk's training rows to the counter: candidate, then kept behaviours, per row. */
  count(c: SchemaCounter, chunk: RowChunk): void {
    const { itemCount, itemFirst } = c;
    const { items, histStart: hs, histLen: hl, hist: hv, split } = chunk;
    const n = chunk.labels.length;
    let occ = c.occ;
    const see = (it: number) => {
      if (itemCount[it] === 0) itemFirst[it] = occ;
      itemCount[it]++;
      occ++;
    };
    for (let r = 0; r < n; r++) {
      if (split[r] !== TRAIN) {
        c.testRows++;
        continue;
      }
      c.trainRows++;
      see(items[r]);
      for (let p = hs[r], e = hs[r] + hl[r]; p < e; p++) see(hv[p]);
    }
    c.occ = occ;
    for (let k = 0; k < this.samples.length; k++) {
      const col = chunk.samples[k];
      const counts = c.sampleCount[k];
      const first = c.sampleFirst[k];
      for (let r = 0; r < n; r++) {
        if (split[r] !== TRAIN) continue;
        const t = col[r];
        if (counts[t] === 0) first[t] = chunk.first + r;
        counts[t]++;
      }
    }
  }

  /** Vocabularies and the catalog from the training counts. Throws when a split has no rows. */
  finishTables(c: SchemaCounter): SchemaTables {
    const { schema } = this;
    const sp = this.split;
    if (c.trainRows === 0 || c.testRows === 0) {
      const which = c.trainRows === 0 ? 'training' : 'test';
      const how = sp === undefined ? `in the ${which} files` : `after the split ${JSON.stringify(sp)}`;
      throw new Error(`${schema.path}: no ${which} rows ${how}${this.errors.hint()}`);
    }
    for (const msg of this.errors.firsts()) this.progress(`schema: skipped ${msg}`);
    const numItems = this.items.itemKeys.length;
    const { itemCount, itemFirst } = c;

    // ---- goods → goodsRows ----
    const goodsList: number[] = [];
    for (let i = 0; i < numItems; i++) if (this.items.hasGoods.data[i]) goodsList.push(i);
    const goodsVocab = buildVocab(
      this.goodsName ?? 'goods',
      this.goodsOpts,
      goodsList.map((i) => this.items.itemKeys[i]),
      Float64Array.from(goodsList, (i) => itemCount[i]),
      Float64Array.from(goodsList, (i) => itemFirst[i]),
    );
    const goodsRows = new Int32Array(numItems).fill(-1);
    for (const i of goodsList) goodsRows[i] = goodsVocab.id(this.items.itemKeys[i]);

    /** Builds an item table's vocabulary from the items' temp values; returns the final id per item (−1 absent). */
    const itemTable = (tf: TempField, col: IntColumn): { vocab: FieldVocab; values: Int32Array } => {
      const size = tf.hashed !== null ? tf.hashed.size : tf.vocab.size;
      const counts = new Float64Array(size);
      const first = new Float64Array(size).fill(Infinity);
      for (let i = 0; i < numItems; i++) {
        const t = col.data[i];
        if (t < 0 || itemCount[i] === 0) continue;
        counts[t] += itemCount[i];
        if (itemFirst[i] < first[t]) first[t] = itemFirst[i];
      }
      const { vocab, map } = tf.finish(counts, first);
      const values = new Int32Array(numItems);
      for (let i = 0; i < numItems; i++) {
        const t = col.data[i];
        values[i] = t < 0 ? -1 : map === null ? t : map[t];
      }
      return { vocab, values };
    };

    // ---- category → attribute bag ----
    let attrKeys: string[] = [];
    let attrOffsets = new Int32Array(numItems + 1);
    let attrValues = new Int32Array(0);
    if (this.cat !== null) {
      const { vocab, values } = itemTable(this.cat, this.items.cat);
      attrKeys = vocab.keys;
      const offs = new Int32Array(numItems + 1);
      let m = 0;
      for (let i = 0; i < numItems; i++) {
        if (values[i] >= 0) m++;
        offs[i + 1] = m;
      }
      const vals = new Int32Array(m);
      for (let i = 0, k = 0; i < numItems; i++) if (values[i] >= 0) vals[k++] = values[i];
      attrOffsets = offs;
      attrValues = vals;
    }
    const itemFields: ItemField[] = this.fields.map((tf, f) => {
      const { vocab, values } = itemTable(tf, this.items.field[f]);
      return { ...vocab.field(), values };
    });

    // ---- sample fields: training rows ----
    const sampleFields: SampleField[] = [];
    const sampleMaps: Array<Int32Array | null> = [];
    this.samples.forEach((tf, k) => {
      const { vocab, map } = tf.finish(c.sampleCount[k], c.sampleFirst[k]);
      sampleFields.push({ ...vocab.field(), group: this.sampleGroups[k] });
      sampleMaps.push(map);
    });

    const catalog: ItemCatalog = {
      numItems,
      numAttrs: attrKeys.length,
      attrOffsets,
      attrValues,
      goodsRows,
      numGoodsRows: goodsVocab.size,
      itemKeys: this.items.itemKeys,
      attrKeys,
      ...(itemFields.length > 0 ? { itemFields } : {}),
    };
    return { catalog, sampleFields, sampleMaps, goodsItems: goodsList.length };
  }

  /** The train and test SampleSets of a split chunk (file order within each), sharing the chunk's histValues. */
  sets(chunk: RowChunk, t: SchemaTables): { train: SampleSet; test: SampleSet } {
    const { split, labels, users, items, histStart: hs, histLen: hl } = chunk;
    const n = labels.length;
    const { sampleFields, sampleMaps } = t;
    let nTrain = 0;
    for (let r = 0; r < n; r++) if (split[r] === TRAIN) nTrain++;
    const mk = (which: number, size: number): SampleSet => {
      const set = allocSampleSet(size, chunk.hist);
      if (sampleFields.length > 0) set.fieldValues = sampleFields.map(() => new Int32Array(size));
      let j = 0;
      for (let r = 0; r < n; r++) {
        if (split[r] !== which) continue;
        set.labels[j] = labels[r];
        set.users[j] = users[r];
        set.items[j] = items[r];
        set.histStart[j] = hs[r];
        set.histLen[j] = hl[r];
        for (let k = 0; k < sampleFields.length; k++) {
          const v = chunk.samples[k][r];
          const m = sampleMaps[k];
          set.fieldValues![k][j] = m === null ? v : m[v];
        }
        j++;
      }
      return set;
    };
    return { train: mk(TRAIN, nTrain), test: mk(TEST, n - nTrain) };
  }

  /** The dataset without its samples (catalog, users, fields, counts, options, stats). */
  head(seed: number, t: SchemaTables, c: SchemaCounter, historyPositions: number): Omit<Dataset, 'train' | 'test'> {
    const { schema } = this;
    const { catalog, sampleFields, goodsItems } = t;
    const numItems = catalog.numItems;
    const n = c.trainRows + c.testRows;
    this.progress(
      `schema ${schema.name}: ${n} rows (${c.trainRows} train, ${c.testRows} test), ${this.users.size} users, ${numItems} items ` +
        `(${numItems - goodsItems} without goods id), ${catalog.numGoodsRows} goods rows, ${catalog.numAttrs} categories` +
        (catalog.itemFields?.length ? `, item fields ${catalog.itemFields.map((f) => `${f.name} ${f.size}`).join(', ')}` : '') +
        (sampleFields.length ? `, sample fields ${sampleFields.map((f) => `${f.name} ${f.size}`).join(', ')}` : ''),
    );
    return {
      name: schema.name,
      format: 'schema',
      catalog,
      numUsers: this.users.size,
      userKeys: this.users.keys,
      ...(sampleFields.length > 0 ? { sampleFields } : {}),
      skipped: this.errors.skipped,
      skippedExamples: this.errors.examples(),
      buildOptions: {
        seed, onError: this.policy, schema: schema.spec as unknown as Record<string, unknown>,
        ...(this.loaderVocab ? { vocab: this.loaderVocab } : {}),
      },
      stats: {
        rows: n,
        trainRows: c.trainRows,
        testRows: c.testRows,
        users: this.users.size,
        items: numItems,
        goodsItems,
        goodslessItems: numItems - goodsItems,
        goodsRows: catalog.numGoodsRows!,
        categories: catalog.numAttrs,
        historyPositions,
        sharedHistories: this.shared,
        truncatedHistories: this.truncated,
      },
    };
  }

  /** The whole Dataset in memory (every row is in the current chunk). */
  build(seed: number): Dataset {
    const chunk = this.takeChunk();
    this.applySplit(chunk, this.userTestFlags(seed));
    const c = this.newCounter();
    this.count(c, chunk);
    const t = this.finishTables(c);
    const { train, test } = this.sets(chunk, t);
    return { ...this.head(seed, t, c, chunk.hist.length), train, test };
  }
}

/** Rows of one chunk as read (item ids final; sample-field ids temporary until the vocabularies are built). */
export interface RowChunk {
  /** Index of the chunk's first row among all committed rows. */
  first: number;
  labels: Uint8Array;
  users: Int32Array;
  items: Int32Array;
  histStart: Int32Array;
  histLen: Int32Array;
  hist: Int32Array;
  split: Uint8Array;
  time: Float64Array | null;
  samples: Int32Array[];
}

export interface SchemaCounter {
  itemCount: Float64Array;
  itemFirst: Float64Array;
  occ: number;
  sampleCount: Float64Array[];
  sampleFirst: Float64Array[];
  trainRows: number;
  testRows: number;
}

export interface SchemaTables {
  catalog: ItemCatalog;
  sampleFields: SampleField[];
  sampleMaps: Array<Int32Array | null>;
  goodsItems: number;
}

export function clampTest(k: number, n: number): number {
  return n >= 2 ? Math.min(n - 1, Math.max(1, k)) : k;
}