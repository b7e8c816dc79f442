/**
 * The 'sampled' layout (see ./index.ts): DMR's 267-column preprocessed file(s), one sample per line with its 50
 * behaviours. Rows go to a `TaobaoRows`; a single file is split by user after reading (`TaobaoMeta.split`), since the
 * split needs every user.
 */
import { basename } from 'node:path';
import { CsvReader } from '../../parse/csv.js';
import { Vocab } from '../../vocab.js';
import { Rng } from '../../../util/rng.js';
import type { TaobaoChunk, TaobaoMeta, TmpSampleField } from './chunk.js';
import type { Ctx } from './context.js';
import { type AdFeatures, KeyIndex, TmpItems } from './items.js';
import {
  PROFILE_FIELDS, S_AD, S_BRAND, S_CATE, S_LABEL, S_MASK, S_PID, S_PRICE, S_PROFILE, S_UID, SAMPLED_COLS, SAMPLED_HIST, type TaobaoFiles,
} from './layout.js';
import { TaobaoRows } from './rows.js';
import { canonical, isDigits, NUMBER_RE, short } from './text.js';

/** Per-sample field columns of 'sampled': the 8 profile fields, pid. */
export const SAMPLED_FIELDS = PROFILE_FIELDS.length + 1;

/** Reads the file(s) line by line into `rows`; returns what the samples need besides themselves. */
export async function readSampled(files: Extract<TaobaoFiles, { layout: 'joined' | 'sampled' }>, ctx: Ctx, rows: TaobaoRows): Promise<TaobaoMeta> {
  const { errors, progress, maxHistory, seed, testFraction } = ctx;
  const items = new TmpItems();
  const users = new KeyIndex();
  const pids = new Vocab();
  const profileVocabs = PROFILE_FIELDS.map(() => new Vocab());
  const P = PROFILE_FIELDS.length;
  const cur = new Int32Array(SAMPLED_HIST);
  const fv = new Int32Array(SAMPLED_FIELDS);
  const parts = files.test === null ? [files.train] : [files.train, files.test];
  for (let part = 0; part < parts.length; part++) {
    const file = parts[part];
    rows.breakSharing();
    const reader = new CsvReader(file, { quoting: 'none' }, (f, nf, lineNo) => {
      if (nf === 1 && f[0].trim() === '') return errors.count('blankLines');
      if (nf !== SAMPLED_COLS) {
        return errors.row('sampledBadFieldCount', file, lineNo,
          `expected ${SAMPLED_COLS} comma-separated numbers (DMR's alimama layout), got ${nf} fields`);
      }
      const bad = (what: string, k: number): void =>
        errors.row('sampledBadValues', file, lineNo, `expected ${what} in column ${k}, got "${short(f[k])}"`);
      for (let k = 0; k < SAMPLED_HIST; k++) {
        const m = f[S_MASK + k];
        if (m !== '0' && m !== '1') return bad('a mask 0 or 1', S_MASK + k);
        if (m === '1') {
          if (!isDigits(f[S_CATE + k])) return bad('a behaviour cate id', S_CATE + k);
          if (!isDigits(f[S_BRAND + k])) return bad('a behaviour brand id', S_BRAND + k);
        }
      }
      for (let k = S_UID; k < S_PRICE; k++) if (!isDigits(f[k])) return bad('a non-negative integer id', k);
      const price = NUMBER_RE.test(f[S_PRICE]) ? Number(f[S_PRICE]) : NaN;
      if (!Number.isFinite(price)) return bad('a numeric price', S_PRICE);
      if (!isDigits(f[S_PID])) return bad('a pid id', S_PID);
      if (f[S_LABEL] !== '0' && f[S_LABEL] !== '1') return bad('the label 0 or 1', S_LABEL);
      const u = users.id(f[S_UID]);
      const adgroup = f[S_AD];
      const nb = (s: string): string | null => (s === '0' ? null : s);
      let item = items.adOf(adgroup);
      if (item < 0) {
        const ad: AdFeatures = { cate: f[S_AD + 1], brand: nb(f[S_AD + 4]), campaign: f[S_AD + 2], customer: f[S_AD + 3], price };
        item = items.addAd(adgroup, ad);
      }
      // history: valid positions in order (position 49 the most recent), the last maxHistory
      let n = 0;
      for (let k = 0; k < SAMPLED_HIST; k++) {
        if (f[S_MASK + k] !== '1') continue;
        const c = f[S_CATE + k];
        const b = nb(f[S_BRAND + k]);
        cur[n++] = items.behaviour(c, canonical(c), b, b === null ? -1 : canonical(b));
      }
      for (let k = 0; k < P; k++) fv[k] = profileVocabs[k].id(f[S_PROFILE + k]);
      fv[P] = pids.id(f[S_PID]);
      rows.add(u, item, f[S_LABEL] === '1' ? 1 : 0, part, cur, Math.max(0, n - maxHistory), n, fv, true);
    });
    await reader.read();
    const lines = reader.lines;
    if (lines === 0) throw new Error(`${file}: empty file (expected lines of ${SAMPLED_COLS} comma-separated numbers)`);
    progress(`taobao: ${basename(file)} read (${lines} lines)`);
  }
  if (rows.size === 0) throw new Error(`${files.train}: no valid sample line${errors.hint()}`);
  let split: ((c: TaobaoChunk) => void) | undefined;
  if (files.test === null) {
    const U = users.size;
    const nTest = Math.round(testFraction * U);
    const perm = new Rng(seed).shuffle(Array.from({ length: U }, (_, i) => i));
    const isTest = new Uint8Array(U);
    for (let k = 0; k < nTest; k++) isTest[perm[k]] = 1;
    split = (c) => {
      for (let i = 0; i < c.n; i++) c.test[i] = isTest[c.user[i]];
    };
  }
  const fields: TmpSampleField[] = [
    ...PROFILE_FIELDS.map((fname, k): TmpSampleField => ({ name: fname, group: 'user', idLike: true, keys: profileVocabs[k].keys })),
    { name: 'pid', group: 'context', idLike: false, keys: pids.keys },
  ];
  return {
    layout: 'sampled',
    items,
    priceBuckets: 'quantile',
    userKeys: users.keys,
    fields,
    stats: { sharedHistories: rows.shared },
    buildOptions:
      files.test === null
        ? { layout: 'sampled', split: 'users', seed, testFraction }
        : { layout: 'sampled', split: 'files' },
    split,
  };
}
