/**
 * The 'joined' layout (see ./index.ts): one CSV per split (or one file split by `testDay`), one sample per line with
 * its click_sequence. Rows go to a `TaobaoRows` (all in one chunk in memory, or chunk by chunk to disk).
 */
import { basename } from 'node:path';
import { Vocab } from '../../vocab.js';
import type { TaobaoMeta, TmpSampleField } from './chunk.js';
import type { Ctx } from './context.js';
import { type AdFeatures, KeyIndex, TmpItems } from './items.js';
import { JOINED_COLUMNS, PROFILE_FIELDS, type TaobaoFiles } from './layout.js';
import { TaobaoRows } from './rows.js';
import { isDigits, isNull, joinedTime, NUMBER_RE, readCsvTable, short } from './text.js';

/** Per-sample field columns of 'joined': the 8 profile fields, pid, hour. */
export const JOINED_FIELDS = PROFILE_FIELDS.length + 2;

/** Reads the file(s) row by row into `rows`; returns what the samples need besides themselves. */
export async function readJoined(files: Extract<TaobaoFiles, { layout: 'joined' | 'sampled' }>, ctx: Ctx, rows: TaobaoRows): Promise<TaobaoMeta> {
  const { errors, progress, maxHistory } = ctx;
  const items = new TmpItems();
  const users = new KeyIndex();
  const pids = new Vocab();
  const hourVocab = new Vocab();
  const profileVocabs = PROFILE_FIELDS.map(() => new Vocab());
  const P = PROFILE_FIELDS.length;
  const hist: number[] = [];
  const fv = new Int32Array(JOINED_FIELDS);
  let conflicts = 0;
  let capped = 0;
  const parts = files.test === null ? [files.train] : [files.train, files.test];
  for (let part = 0; part < parts.length; part++) {
    const file = parts[part];
    const lines = await readCsvTable(file, JOINED_COLUMNS, errors, 'joinedBadFieldCount', (f, col, lineNo) => {
      const v = col.map((k) => f[k].trim());
      const [clk, timeRaw, user, adgroup, pid, cateId, campaign, customer, brandRaw, priceRaw] = v;
      const seqRaw = v[v.length - 1];
      const bad = (what: string, got: string): void =>
        errors.row('joinedBadValues', file, lineNo, `expected ${what}, got "${short(got)}"`);
      if (clk !== '0' && clk !== '1') return bad('clk 0 or 1', clk);
      const time = joinedTime(timeRaw);
      if (time === null) return bad('time_stamp as "YYYY-MM-DD HH:MM:SS" or Unix seconds', timeRaw);
      if (!isDigits(user)) return bad('userid as a non-negative integer', user);
      if (!isDigits(adgroup)) return bad('adgroup_id as a non-negative integer', adgroup);
      if (pid === '') return bad('a pid', pid);
      if (!isDigits(cateId)) return bad('cate_id as a non-negative integer', cateId);
      for (const [k, x] of [['campaign_id', campaign], ['customer', customer], ['brand', brandRaw]] as const) {
        if (!isNull(x) && !isDigits(x)) return bad(`${k} as a non-negative integer or empty`, x);
      }
      let price = NaN;
      if (!isNull(priceRaw)) {
        price = NUMBER_RE.test(priceRaw) ? Number(priceRaw) : NaN;
        if (!(price >= 0 && Number.isFinite(price))) return bad('price as a non-negative number or empty', priceRaw);
      }
      for (let k = 0; k < P; k++) {
        const x = v[10 + k];
        if (x !== '' && !isDigits(x)) return bad(`${PROFILE_FIELDS[k]} as a non-negative integer or empty`, x);
      }
      const seq = seqRaw === '' ? [] : seqRaw.split('^');
      for (const s of seq) if (!isDigits(s)) return bad('click_sequence as ^-separated adgroup ids', seqRaw);
      // candidate ad
      const feat: AdFeatures = {
        cate: cateId,
        brand: isNull(brandRaw) ? null : brandRaw,
        campaign: isNull(campaign) ? null : campaign,
        customer: isNull(customer) ? null : customer,
        price,
      };
      let item = items.adOf(adgroup);
      if (item < 0) item = items.addAd(adgroup, feat);
      else if (items.known.data[item] === 0) items.setAd(item, feat);
      else if (!items.sameAd(item, feat)) conflicts++;
      // history (oldest first; the most recent maxHistory)
      const from = Math.max(0, seq.length - maxHistory);
      capped += from > 0 ? 1 : 0;
      hist.length = 0;
      for (let k = from; k < seq.length; k++) {
        let h = items.adOf(seq[k]);
        if (h < 0) h = items.addAd(seq[k], null);
        hist.push(h);
      }
      for (let k = 0; k < P; k++) fv[k] = v[10 + k] === '' ? -1 : profileVocabs[k].id(v[10 + k]);
      fv[P] = pids.id(pid);
      fv[P + 1] = hourVocab.id(String(time.hour));
      const test = files.test === null ? (time.t >= ctx.testCut ? 1 : 0) : part;
      rows.add(users.id(user), item, clk === '1' ? 1 : 0, test, hist, 0, hist.length, fv, false);
    });
    if (lines === 0) throw new Error(`${file}: empty file (expected a header line ${JOINED_COLUMNS.join(',')})`);
    progress(`taobao: ${basename(file)} read (${lines} lines)`);
  }
  errors.count('adFeatureConflicts', conflicts);
  if (rows.size === 0) throw new Error(`${files.train}: no valid sample line${errors.hint()}`);
  let historyOnly = 0;
  for (let t = 0; t < items.size; t++) if (items.known.data[t] === 0) historyOnly++;
  const fields: TmpSampleField[] = [
    ...PROFILE_FIELDS.map((fname, k): TmpSampleField => ({ name: fname, group: 'user', idLike: true, keys: profileVocabs[k].keys })),
    { name: 'pid', group: 'context', idLike: false, keys: pids.keys },
    { name: 'hour', group: 'context', idLike: false, keys: hourVocab.keys },
  ];
  return {
    layout: 'joined',
    items,
    priceBuckets: 'log2',
    userKeys: users.keys,
    fields,
    stats: { historyOnlyAds: historyOnly, historiesCapped: capped },
    buildOptions:
      files.test === null
        ? { layout: 'joined', split: 'time', testDay: ctx.testDay }
        : { layout: 'joined', split: 'files' },
  };
}
