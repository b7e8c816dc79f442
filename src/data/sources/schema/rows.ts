/**
 * Rows of a schema log → columns (the reading half of the builder; ./tables.ts is the other half): each row is
 * validated (row errors are skipped and counted, or thrown), its candidate and behaviours become items, its sample
 * fields temporary ids. Rows collect in a chunk: all of them (the in-memory loader), or `chunkRows` at a time handed
 * to `onChunk` (the streamed conversion). Item ids are final when read; sample-field ids are temporary.
 */
import { FieldVocabBuilder, validateVocabOptions, type VocabOptions } from '../../field-vocab.js';
import type { SampleFieldGroup } from '../../../core/fields.js';
import { Float64Column, IntColumn, Uint8Column, Vocab } from '../../vocab.js';
import { RowErrors, rowErrorPolicy, type RowErrorPolicy } from '../row-errors.js';
import { SchemaItems } from './items.js';
import type { RowChunk } from './tables.js';
import type { DataSchema, SchemaDataFile, SchemaLoadOptions, SchemaSplit, SchemaVocabOptions } from './types.js';
import { BadValue, describe, labelValue, scalar, sequence, timeValue } from './values.js';
import { TempField } from './vocab.js';

export interface ColumnUse {
  name: string;
  /** Where the schema names it, for messages: `candidate.fields[1]`. */
  role: string;
}

/** Split state of a row. */
export const TRAIN = 0;
export const TEST = 1;

export class SchemaRows {
  /** The loader's vocabulary options (CLI flags), recorded in buildOptions so a run can rebuild the same data. */
  protected readonly loaderVocab: VocabOptions | null;
  readonly errors: RowErrors;
  readonly policy: RowErrorPolicy;
  protected readonly progress: (msg: string) => void;
  readonly cols: ColumnUse[] = [];
  private readonly colIndex = new Map<string, number>();
  // column indices (into cols) of each role; −1: none
  private readonly cLabel: number;
  private readonly cUser: number;
  private readonly cSplit: number;
  private readonly cGoods: number;
  private readonly cCat: number;
  private readonly cFields: number[];
  private readonly bGoods: number;
  private readonly bCat: number;
  /** Per item field: its behaviour column, −1 if none. */
  private readonly bFields: number[];
  private readonly bCols: number[];
  /** Slots in bCols of the behaviour goods / category / each field column (−1: none). */
  private readonly gSlot: number;
  private readonly cSlot: number;
  private readonly fSlots: number[];
  private readonly cSample: number[];
  private readonly seqSep: string;
  private readonly maxHistory: number;
  private readonly newestFirst: boolean;
  protected readonly split: SchemaSplit | undefined;
  private readonly testValues: Set<string>;
  private readonly testFrom: number | null;
  // names
  readonly goodsName: string | null;
  readonly catName: string | null;
  readonly fieldNames: string[];
  readonly sampleNames: string[];
  readonly sampleGroups: SampleFieldGroup[];
  // vocab options and temp fields
  readonly goodsOpts: VocabOptions;
  protected readonly cat: TempField | null;
  protected readonly fields: TempField[];
  protected readonly samples: TempField[];
  // users and items
  readonly users = new Vocab();
  readonly items: SchemaItems;
  // rows
  // rows of the current chunk (all rows when not streaming; see takeChunk)
  labels = new Uint8Column();
  rowUser = new IntColumn(1 << 16);
  rowItem = new IntColumn(1 << 16);
  histStart = new IntColumn(1 << 16);
  histLen = new IntColumn(1 << 16);
  rowSplit = new Uint8Column();
  rowTime = new Float64Column();
  rowSample: IntColumn[];
  hist = new IntColumn(1 << 16);
  /** Rows committed before the current chunk. */
  rowsBefore = 0;
  /** Streaming: hand the rows to `onChunk` whenever the current chunk reaches this many (see convertSchemaToShards). */
  chunkRows = Infinity;
  onChunk: ((chunk: RowChunk) => void) | null = null;
  private prevStart = -1;
  private prevLen = -1;
  private prevCarried = new Int32Array(0);
  truncated = 0;
  shared = 0;
  // scratch of the row being read
  private readonly seqs: string[][] = [];
  private readonly posItems: number[] = [];
  /** The sequence cells, and their length, of the last committed row, while `seqs` / `posItems` still hold them. */
  private readonly prevCells: unknown[] = [];
  private prevL = 0;
  private prevValid = false;
  private readonly fieldVals: string[];
  private readonly sampleVals: string[];
  // current file
  file = '';
  private role: SchemaDataFile['role'] = 'all';
  private parquet = false;
  fileRows = 0;

  constructor(readonly schema: DataSchema, opts: SchemaLoadOptions) {
    const s = schema.spec;
    this.policy = rowErrorPolicy(opts.onError);
    const lv = Object.fromEntries(Object.entries(opts.vocab ?? {}).filter(([, v]) => v !== undefined));
    this.loaderVocab = Object.keys(lv).length ? (lv as VocabOptions) : null;
    this.errors = new RowErrors(this.policy);
    this.progress = opts.onProgress ?? (() => {});
    const col = (n: string | undefined, role: string): number => {
      if (n === undefined) return -1;
      let k = this.colIndex.get(n);
      if (k === undefined) {
        k = this.cols.length;
        this.cols.push({ name: n, role });
        this.colIndex.set(n, k);
      }
      return k;
    };
    this.cLabel = col(s.label, 'label');
    this.cUser = col(s.user, 'user');
    this.split = s.split;
    this.cSplit = s.split !== undefined && s.split.by !== 'user' ? col(s.split.column, 'split.column') : -1;
    this.testValues = new Set(s.split?.by === 'column' ? s.split.testValues.map(String) : []);
    this.testFrom = s.split?.by === 'time' && s.split.testFrom !== undefined ? timeValue(s.split.testFrom) : null;
    const c = s.candidate;
    this.cGoods = col(c.goods, 'candidate.goods');
    this.cCat = col(c.category, 'candidate.category');
    this.fieldNames = c.fields ?? [];
    this.cFields = this.fieldNames.map((f, i) => col(f, `candidate.fields[${i}]`));
    const b = s.behaviors;
    this.bGoods = col(b?.goods, 'behaviors.goods');
    this.bCat = col(b?.category, 'behaviors.category');
    this.bFields = this.fieldNames.map((f) => col(b?.fields?.[f], `behaviors.fields.${f}`));
    this.bCols = [this.bGoods, this.bCat, ...this.bFields].filter((k) => k >= 0);
    const slot = (k: number) => (k < 0 ? -1 : this.bCols.indexOf(k));
    this.gSlot = slot(this.bGoods);
    this.cSlot = slot(this.bCat);
    this.fSlots = this.bFields.map(slot);
    this.sampleNames = [...(s.userFields ?? []), ...(s.contextFields ?? [])];
    this.sampleGroups = [...(s.userFields ?? []).map(() => 'user' as const), ...(s.contextFields ?? []).map(() => 'context' as const)];
    this.cSample = [
      ...(s.userFields ?? []).map((f, i) => col(f, `userFields[${i}]`)),
      ...(s.contextFields ?? []).map((f, i) => col(f, `contextFields[${i}]`)),
    ];
    this.seqSep = s.sequenceSeparator ?? '|';
    this.maxHistory = s.maxHistory ?? Infinity;
    this.newestFirst = b?.order === 'newest-first';

    // The loader's options (CLI flags) override the schema's global ones key by key; undefined keys do not override.
    const given = Object.fromEntries(Object.entries(opts.vocab ?? {}).filter(([, v]) => v !== undefined)) as SchemaVocabOptions;
    const global: SchemaVocabOptions = { minCount: s.vocab?.minCount, topK: s.vocab?.topK, hashBuckets: s.vocab?.hashBuckets, ...given };
    const optsOf = (field: string): VocabOptions => {
      const merged: SchemaVocabOptions = { ...global, ...(s.vocab?.perField?.[field] ?? {}) };
      const out: VocabOptions = {};
      if (merged.minCount !== undefined && merged.minCount !== null) out.minCount = merged.minCount;
      if (merged.topK !== undefined && merged.topK !== null) out.topK = merged.topK;
      if (merged.hashBuckets !== undefined && merged.hashBuckets !== null) out.hashBuckets = merged.hashBuckets;
      validateVocabOptions(out, `${schema.path}: field "${field}"`);
      return out;
    };
    const temp = (field: string): TempField => {
      const o = optsOf(field);
      return new TempField(field, o, o.hashBuckets ? new FieldVocabBuilder(field, o).build() : null);
    };
    this.goodsName = c.goods ?? b?.goods ?? null;
    this.catName = c.category ?? b?.category ?? null;
    this.goodsOpts = this.goodsName !== null ? optsOf(this.goodsName) : {};
    this.cat = this.catName !== null ? temp(this.catName) : null;
    this.fields = this.fieldNames.map(temp);
    this.samples = this.sampleNames.map(temp);
    this.items = new SchemaItems(this.catName, this.cat, this.fieldNames, this.fields, this.errors);
    this.rowSample = this.sampleNames.map(() => new IntColumn(1 << 16));
    this.fieldVals = this.fieldNames.map(() => '');
    this.sampleVals = this.sampleNames.map(() => '');
  }

  rowError(reason: string, lineNo: number, what: string): void {
    this.errors.row(reason, this.file, this.parquet ? `row ${lineNo}` : lineNo, what);
  }

  beginFile(f: SchemaDataFile): void {
    this.file = f.path;
    this.role = f.role;
    this.parquet = f.format === 'parquet';
    this.fileRows = 0;
  }

  /** The error for a schema column missing from a data file. */
  missingColumn(k: number, what: string, available: string[]): Error {
    const c = this.cols[k];
    const list = available.length > 50 ? [...available.slice(0, 50), `… ${available.length - 50} more`] : available;
    return new Error(`${this.schema.path}: column "${c.name}" (${c.role}) is not in ${this.file}; its ${what} are: ${list.join(', ') || '(none)'}`);
  }

  // ---- one row ----

  row(v: unknown[], lineNo: number): void {
    try {
      this.rowInner(v, lineNo);
    } catch (e) {
      if (e instanceof BadValue) this.rowError('badValues', lineNo, e.message);
      else throw e;
    }
  }

  private rowInner(v: unknown[], lineNo: number): void {
    const cols = this.cols;
    const label = labelValue(v[this.cLabel]);
    if (label < 0) {
      this.rowError('badLabels', lineNo, `expected label "${cols[this.cLabel].name}" to be 0/1 (or true/false), got ${describe(v[this.cLabel])}`);
      return;
    }
    const user = scalar(v[this.cUser], cols[this.cUser].name);
    if (user === '') {
      this.rowError('missingUsers', lineNo, `expected a user id in "${cols[this.cUser].name}", got ${describe(v[this.cUser])}`);
      return;
    }
    let split: number = this.role === 'test' ? TEST : TRAIN;
    let time = 0;
    const sp = this.split;
    if (sp !== undefined && sp.by === 'time') {
      const t = timeValue(v[this.cSplit]);
      if (t === null) {
        this.rowError('badTimes', lineNo, `expected time "${sp.column}" to be a number or a date, got ${describe(v[this.cSplit])}`);
        return;
      }
      time = t;
      if (this.testFrom !== null) split = t >= this.testFrom ? TEST : TRAIN;
    } else if (sp !== undefined && sp.by === 'column') {
      split = this.testValues.has(scalar(v[this.cSplit], sp.column)) ? TEST : TRAIN;
    }
    // candidate
    const goods = this.cGoods >= 0 ? scalar(v[this.cGoods], cols[this.cGoods].name) : '';
    const cat = this.cCat >= 0 ? scalar(v[this.cCat], cols[this.cCat].name) : '';
    let any = goods !== '' || cat !== '';
    const fv = this.fieldVals;
    for (let f = 0; f < fv.length; f++) {
      fv[f] = scalar(v[this.cFields[f]], cols[this.cFields[f]].name);
      if (fv[f] !== '') any = true;
    }
    if (!any) {
      const named = [this.cGoods, this.cCat, ...this.cFields].filter((k) => k >= 0).map((k) => cols[k].name);
      this.rowError('emptyItems', lineNo, `expected the candidate (${named.join(', ')}) to have a goods id or a field value, got none`);
      return;
    }
    // behaviours
    const bc = this.bCols;
    // the same sequence cells (text) as the last committed row — common in logs, one row per shown ad: reuse its
    // parsed sequences and items instead of splitting and looking them up again
    let reuse = this.prevValid;
    for (let k = 0; reuse && k < bc.length; k++) reuse = typeof v[bc[k]] === 'string' && v[bc[k]] === this.prevCells[k];
    this.prevValid = false;
    let L = reuse ? this.prevL : 0;
    for (let k = 0; !reuse && k < bc.length; k++) {
      this.seqs[k] = sequence(v[bc[k]], cols[bc[k]].name, this.seqSep);
      if (k === 0) L = this.seqs[k].length;
      else if (this.seqs[k].length !== L) {
        const lens = bc.map((_, j) => (j <= k ? String(this.seqs[j].length) : '…')).join(', ');
        this.rowError('unequalSequenceLengths', lineNo, `expected the behaviour sequences ${bc.map((j) => cols[j].name).join(', ')} to have equal lengths, got ${lens}`);
        return;
      }
    }
    const kept = Math.min(L, this.maxHistory);
    // positions kept: the most recent `kept`; in stored (oldest-first) order, position p ↦ sequence index
    const seqIndex = (p: number): number => (this.newestFirst ? kept - 1 - p : L - kept + p);
    for (let p = 0; !reuse && p < kept; p++) {
      const q = seqIndex(p);
      let has = false;
      for (let k = 0; k < bc.length; k++) if (this.seqs[k][q] !== '') has = true;
      if (!has) {
        this.rowError('emptyItems', lineNo, `expected behaviour ${q + 1} of ${bc.map((j) => cols[j].name).join(', ')} to have a goods id or a field value, got none`);
        return;
      }
    }
    const sampleVals = this.sampleVals;
    for (let k = 0; k < sampleVals.length; k++) sampleVals[k] = scalar(v[this.cSample[k]], cols[this.cSample[k]].name);

    // ---- valid: commit ----
    this.fileRows++;
    this.labels.push(label);
    this.rowUser.push(this.users.id(user));
    this.rowSplit.push(split);
    if (sp !== undefined && sp.by === 'time') this.rowTime.push(time);
    this.rowItem.push(this.items.item(goods, cat, fv, true));
    if (kept < L) this.truncated++;
    const pos = this.posItems;
    pos.length = kept;
    const { gSlot, cSlot, fSlots, seqs } = this;
    for (let p = 0; p < kept; p++) {
      const q = seqIndex(p);
      for (let f = 0; f < fv.length; f++) fv[f] = fSlots[f] >= 0 ? seqs[fSlots[f]][q] : '';
      const cat = cSlot >= 0 ? seqs[cSlot][q] : '';
      if (!reuse) pos[p] = this.items.item(gSlot >= 0 ? seqs[gSlot][q] : '', cat, fv, false);
      else if (this.items.hasGoods.data[pos[p]] === 1) this.items.mergeValues(pos[p], cat, fv, false);
    }
    for (let k = 0; k < bc.length; k++) this.prevCells[k] = v[bc[k]];
    this.prevL = L;
    this.prevValid = true;
    // share the previous row's history when equal (compared across chunk boundaries too; storage is per chunk)
    let same = kept === this.prevLen;
    const prev = this.prevStart >= 0 ? this.hist.data : this.prevCarried;
    const at = this.prevStart >= 0 ? this.prevStart : 0;
    for (let p = 0; same && p < kept; p++) if (prev[at + p] !== pos[p]) same = false;
    if (same && kept > 0 && this.prevStart >= 0) {
      this.shared++;
      this.histStart.push(this.prevStart);
    } else {
      if (same && kept > 0) this.shared++;
      this.prevStart = this.hist.length;
      for (let p = 0; p < kept; p++) this.hist.push(pos[p]);
      this.histStart.push(this.prevStart);
    }
    this.prevLen = kept;
    this.histLen.push(kept);
    for (let k = 0; k < sampleVals.length; k++) this.rowSample[k].push(this.samples[k].id(sampleVals[k]));
    if (this.labels.length >= this.chunkRows && this.onChunk !== null) this.onChunk(this.takeChunk());
  }

  /** The rows of the current chunk (temporary sample-field ids, split as known so far); starts a new chunk. */
  takeChunk(): RowChunk {
    const timed = this.split !== undefined && this.split.by === 'time';
    const chunk: RowChunk = {
      first: this.rowsBefore,
      labels: this.labels.data.slice(0, this.labels.length),
      users: this.rowUser.toArray(),
      items: this.rowItem.toArray(),
      histStart: this.histStart.toArray(),
      histLen: this.histLen.toArray(),
      hist: this.hist.toArray(),
      split: this.rowSplit.data.slice(0, this.rowSplit.length),
      time: timed ? this.rowTime.data.slice(0, this.rowTime.length) : null,
      samples: this.rowSample.map((c) => c.toArray()),
    };
    this.rowsBefore += chunk.labels.length;
    this.labels = new Uint8Column();
    this.rowUser = new IntColumn(1 << 16);
    this.rowItem = new IntColumn(1 << 16);
    this.histStart = new IntColumn(1 << 16);
    this.histLen = new IntColumn(1 << 16);
    this.rowSplit = new Uint8Column();
    this.rowTime = new Float64Column();
    this.rowSample = this.sampleNames.map(() => new IntColumn(1 << 16));
    this.hist = new IntColumn(1 << 16);
    // stored histories are shared within a chunk only; the last one is kept to compare the next row with
    if (this.prevStart >= 0) this.prevCarried = chunk.hist.slice(this.prevStart, this.prevStart + Math.max(0, this.prevLen));
    this.prevStart = -1;
    return chunk;
  }
}
