/**
 * Readers of the four Tianchi files, shared by the in-memory loader (./tianchi.ts) and the streamed conversion
 * (./tianchi-stream.ts): the same rows are accepted, counted and reported, with the same messages, in both.
 * ad_feature and user_profile are per-ad / per-user tables held in memory; raw_sample and behavior_log hand every
 * valid line to a callback, so the caller decides whether lines are kept in memory or spilled to disk.
 */
import { basename } from 'node:path';
import { readLines } from '../../parse/lines.js';
import { Vocab } from '../../vocab.js';
import type { RowErrors } from '../row-errors.js';
import type { Ctx } from './context.js';
import { type KeyIndex, NUM_KEY_MAX, type TmpItems } from './items.js';
import { AD_COLUMNS, BEHAVIOR_COLUMNS, PROFILE_COLUMNS, PROFILE_FIELDS, RAW_COLUMNS, type TaobaoFiles } from './layout.js';
import { BTAGS, headerIndex, isDigits, isNull, MAX_TIME, NUMBER_RE, readCsvTable, short } from './text.js';

export type TianchiFiles = Extract<TaobaoFiles, { layout: 'tianchi' }>;

/** ad_feature: every valid line becomes an ad item (in file order); returns nothing, fills `items`. */
export async function readAdFeature(file: string, items: TmpItems, ctx: Ctx): Promise<void> {
  const { errors, progress } = ctx;
  const adLine: number[] = []; // by adKeys index: its line
  const lines = await readCsvTable(file, AD_COLUMNS, errors, 'adFeatureBadFieldCount', (f, col, lineNo) => {
    const [adgroup, cateId, campaign, customer, brandRaw, priceRaw] = col.map((k) => f[k].trim());
    const ids = [['adgroup_id', adgroup], ['cate_id', cateId], ['campaign_id', campaign], ['customer', customer]] as const;
    for (const [k, v] of ids) {
      if (!isDigits(v)) {
        return errors.row('adFeatureBadValues', file, lineNo,
          `expected ${k} as a non-negative integer, got "${short(v)}"`);
      }
    }
    if (!isNull(brandRaw) && !isDigits(brandRaw)) {
      return errors.row('adFeatureBadValues', file, lineNo,
        `expected brand as a non-negative integer or NULL, got "${short(brandRaw)}"`);
    }
    let price = NaN;
    if (!isNull(priceRaw)) {
      price = NUMBER_RE.test(priceRaw) ? Number(priceRaw) : NaN;
      if (!(price >= 0 && Number.isFinite(price))) {
        return errors.row('adFeatureBadValues', file, lineNo,
          `expected price as a non-negative number, got "${short(priceRaw)}"`);
      }
    }
    const known = items.adKeys.get(adgroup);
    if (known >= 0) {
      return errors.row('adFeatureDuplicates', file, lineNo,
        `adgroup_id ${adgroup} already described on line ${adLine[known]} (expected one line per adgroup)`);
    }
    items.addAd(adgroup, { cate: cateId, brand: isNull(brandRaw) ? null : brandRaw, campaign, customer, price });
    adLine.push(lineNo);
  });
  if (lines === 0) throw new Error(`${file}: empty file (expected a header line ${AD_COLUMNS.join(',')})`);
  progress(`taobao: ${items.adKeys.size} ads read from ${basename(file)}`);
}

/** One valid impression of raw_sample: user (first-seen id), time, ad item, pid (temporary id), label. */
export type ImpressionHandler = (user: number, time: number, item: number, pid: number, label: number) => void;

/** raw_sample: every valid impression, in file order, to `onImpression`; returns how many there were. */
export async function readRawSample(files: TianchiFiles, items: TmpItems, users: KeyIndex, pids: Vocab, ctx: Ctx,
  onImpression: ImpressionHandler): Promise<number> {
  const { errors, progress } = ctx;
  const file = files.rawSample;
  const adShown = new Uint8Array(items.adKeys.size);
  let n = 0;
  const lines = await readCsvTable(file, RAW_COLUMNS, errors, 'rawSampleBadFieldCount', (f, col, lineNo) => {
    const user = f[col[0]].trim();
    const timeRaw = f[col[1]].trim();
    const adgroup = f[col[2]].trim();
    const pid = f[col[3]].trim();
    const nonclk = f[col[4]].trim();
    const clk = f[col[5]].trim();
    if (!isDigits(user)) {
      return errors.row('rawSampleBadValues', file, lineNo,
        `expected user as a non-negative integer, got "${short(user)}"`);
    }
    const time = isDigits(timeRaw) ? Number(timeRaw) : NaN;
    if (!(time <= MAX_TIME)) {
      return errors.row('rawSampleBadValues', file, lineNo,
        `expected time_stamp as Unix seconds, got "${short(timeRaw)}"`);
    }
    if (!isDigits(adgroup)) {
      return errors.row('rawSampleBadValues', file, lineNo,
        `expected adgroup_id as a non-negative integer, got "${short(adgroup)}"`);
    }
    if (pid === '') return errors.row('rawSampleBadValues', file, lineNo, 'expected a pid, got an empty field');
    if (clk !== '0' && clk !== '1') {
      return errors.row('rawSampleBadValues', file, lineNo,
        `expected clk 0 or 1, got "${short(clk)}"`);
    }
    if (nonclk !== (clk === '1' ? '0' : '1')) {
      return errors.row('rawSampleBadValues', file, lineNo,
        `expected nonclk = 1 - clk = ${clk === '1' ? 0 : 1}, got "${short(nonclk)}"`);
    }
    const a = items.adKeys.get(adgroup);
    if (a < 0) {
      return errors.row('impressionsWithUnknownAdgroup', file, lineNo,
        `adgroup_id ${adgroup} is not in ${basename(files.adFeature)}`);
    }
    adShown[a] = 1;
    onImpression(users.id(user), time, items.adItem.data[a], pids.id(pid), clk === '1' ? 1 : 0);
    n++;
    if (n % 5_000_000 === 0) progress(`taobao: ${n} impressions read…`);
  });
  if (lines === 0) throw new Error(`${file}: empty file (expected a header line ${RAW_COLUMNS.join(',')})`);
  if (n === 0) throw new Error(`${file}: no valid impression line${errors.hint()}`);
  let unshown = 0;
  for (let a = 0; a < adShown.length; a++) if (!adShown[a]) unshown++;
  errors.count('adsWithoutImpressions', unshown);
  progress(`taobao: ${n} impressions of ${users.size} users read from ${basename(file)}`);
  return n;
}

/** The user_profile fields of the users with impressions: per field, each user's temporary value id (−1 missing). */
export interface Profiles {
  values: Int32Array[];
  vocabs: Vocab[];
  usersWithoutProfile: number;
}

/** user_profile, for the users already known from raw_sample (others are counted, not kept). */
export async function readUserProfile(file: string, users: KeyIndex, ctx: Ctx): Promise<Profiles> {
  const { errors } = ctx;
  const U = users.size;
  const P = PROFILE_FIELDS.length;
  const values = PROFILE_FIELDS.map(() => new Int32Array(U).fill(-1));
  const profileLine = new Int32Array(U);
  const vocabs = PROFILE_FIELDS.map(() => new Vocab());
  let unused = 0;
  const lines = await readCsvTable(file, PROFILE_COLUMNS, errors, 'userProfileBadFieldCount', (f, col, lineNo) => {
    const v = col.map((k) => f[k].trim());
    if (!isDigits(v[0])) {
      return errors.row('userProfileBadValues', file, lineNo,
        `expected userid as a non-negative integer, got "${short(v[0])}"`);
    }
    for (let k = 1; k <= P; k++) {
      if (v[k] !== '' && !isDigits(v[k])) {
        return errors.row('userProfileBadValues', file, lineNo,
          `expected ${PROFILE_COLUMNS[k]} as a non-negative integer or empty, got "${short(v[k])}"`);
      }
    }
    const u = users.get(v[0]);
    if (u < 0) {
      unused++;
      return;
    }
    if (profileLine[u] > 0) {
      return errors.row('userProfileDuplicates', file, lineNo,
        `userid ${v[0]} already described on line ${profileLine[u]} (expected one line per user)`);
    }
    profileLine[u] = lineNo;
    for (let k = 0; k < P; k++) if (v[k + 1] !== '') values[k][u] = vocabs[k].id(v[k + 1]);
  });
  if (lines === 0) throw new Error(`${file}: empty file (expected a header line ${PROFILE_COLUMNS.join(',')})`);
  errors.count('userProfilesWithoutImpressions', unused);
  let without = 0;
  for (let u = 0; u < U; u++) if (profileLine[u] === 0) without++;
  return { values, vocabs, usersWithoutProfile: without };
}

// scanUInt state (module-level to avoid allocating per field)
let scanEnd = 0;
let scanCanon = true;

/**
 * Parses the non-negative decimal integer at s[i..) up to ',' or the end: its value, or −1 when empty, not all
 * digits or longer than 15 digits. Sets scanEnd to the index of the terminating comma (or s.length) and scanCanon
 * to whether the digits have no leading zero.
 */
function scanUInt(s: string, i: number): number {
  const n = s.length;
  let v = 0;
  let j = i;
  for (; j < n; j++) {
    const c = s.charCodeAt(j);
    if (c === 44) break;
    if (c < 48 || c > 57) {
      const k = s.indexOf(',', j);
      scanEnd = k < 0 ? n : k;
      return -1;
    }
    v = v * 10 + (c - 48);
  }
  scanEnd = j;
  if (j === i || j - i > 15) return -1;
  scanCanon = !(j - i > 1 && s.charCodeAt(i) === 48);
  return v;
}

/** A behaviour a history can contain: the user, its time, its (cate, brand) item. */
export type BehaviourHandler = (user: number, time: number, item: number) => void;

/** What reading behavior_log counted. */
export interface BehaviourCounts {
  /** Lines of the file, header included. */
  lines: number;
  /** Behaviours handed on (before the user's last impression). */
  kept: number;
}

/**
 * behavior_log, streamed: every line of a user with impressions, before that user's last impression (`lastTime`), to
 * `onBehaviour` in file order (its (cate, brand) item created in reading order); the others are counted
 * (`behavioursOfUsersWithoutImpressions`, `behavioursNotBeforeLastImpression`). The header must be exactly
 * user,time_stamp,btag,cate,brand. Lines are scanned in place (no split, no per-field strings): ~723M in the full data.
 */
export async function readBehaviourLog(file: string, users: KeyIndex, lastTime: Int32Array, items: TmpItems, ctx: Ctx,
  onBehaviour: BehaviourHandler, status: () => string = () => ''): Promise<BehaviourCounts> {
  const { errors, progress } = ctx;
  const t0 = performance.now();
  let noUser = 0;
  let afterLast = 0;
  let kept = 0;
  const diagnose = (line: string, lineNo: number): void => diagnoseBehaviour(errors, file, line, lineNo);
  const lines = await readLines(file, (line, lineNo) => {
    if (lineNo === 1) {
      const names = line.split(',').map((s) => s.trim());
      if (names.join(',') !== BEHAVIOR_COLUMNS.join(',')) {
        headerIndex(file, line, BEHAVIOR_COLUMNS); // throws when a column is missing
        throw new Error(`${file}: expected the header ${BEHAVIOR_COLUMNS.join(',')} (in this order), found "${short(line, 200)}"`);
      }
      return;
    }
    if (lineNo % 50_000_000 === 0) {
      const s = (performance.now() - t0) / 1000;
      progress(`taobao: ${lineNo} behaviour lines read (${Math.round(lineNo / s)} lines/s), ${kept} kept${status()}…`);
    }
    const n = line.length;
    // user
    const uNum = scanUInt(line, 0);
    const uCanon = scanCanon;
    let e = scanEnd;
    if (uNum < 0 || e >= n) return line.trim() === '' ? errors.count('blankLines') : diagnose(line, lineNo);
    const uEnd = e;
    // time
    const t = scanUInt(line, e + 1);
    e = scanEnd;
    if (t < 0 || t > MAX_TIME || e >= n) return diagnose(line, lineNo);
    // btag
    const b0 = e + 1;
    const b1 = line.indexOf(',', b0);
    if (b1 < 0) return diagnose(line, lineNo);
    const bl = b1 - b0;
    const c0 = line.charCodeAt(b0);
    const okTag =
      (bl === 2 && c0 === 112 && line.charCodeAt(b0 + 1) === 118) || // pv
      (bl === 3 && (line.startsWith('buy', b0) || line.startsWith('fav', b0))) ||
      (bl === 4 && line.startsWith('cart', b0));
    if (!okTag) return diagnose(line, lineNo);
    // cate
    const cNum = scanUInt(line, b1 + 1);
    const cCanon = scanCanon;
    const cEnd = scanEnd;
    if (cNum < 0 || cEnd >= n) return diagnose(line, lineNo);
    // brand
    const r0 = cEnd + 1;
    let brandNum = -1;
    let brandNull = false;
    if (r0 === n || (n - r0 === 4 && (line.startsWith('NULL', r0) || line.startsWith('null', r0)))) {
      brandNull = true;
    } else {
      brandNum = scanUInt(line, r0);
      if (brandNum < 0 || scanEnd !== n) return diagnose(line, lineNo);
      if (!scanCanon) brandNum = -2; // not canonical: string key
    }
    // the user and whether any history can contain it
    const u = uCanon ? users.getNum(uNum) : users.get(line.slice(0, uEnd));
    if (u < 0) {
      noUser++;
      return;
    }
    if (t >= lastTime[u]) {
      afterLast++;
      return;
    }
    let item = -1;
    if (cCanon && cNum < NUM_KEY_MAX && (brandNull || (brandNum >= 0 && brandNum < NUM_KEY_MAX - 1))) {
      item = items.findBehaviour(cNum, brandNull ? -1 : brandNum);
    }
    if (item < 0) {
      item = items.behaviour(line.slice(b1 + 1, cEnd), cCanon ? cNum : -1, brandNull ? null : line.slice(r0, n), brandNum);
    }
    kept++;
    onBehaviour(u, t, item);
  });
  if (lines === 0) throw new Error(`${file}: empty file (expected a header line ${BEHAVIOR_COLUMNS.join(',')})`);
  errors.count('behavioursOfUsersWithoutImpressions', noUser);
  errors.count('behavioursNotBeforeLastImpression', afterLast);
  const s = (performance.now() - t0) / 1000;
  progress(
    `taobao: ${lines - 1} behaviour lines read from ${basename(file)} in ${s.toFixed(1)} s, ` +
      `${kept} before their user's last impression`,
  );
  return { lines, kept };
}

/** The row error of a behaviour line the fast scanner rejected: which field is wrong. */
function diagnoseBehaviour(errors: RowErrors, file: string, line: string, lineNo: number): void {
  const f = line.split(',');
  if (f.length !== 5) {
    return errors.row('behaviorLogBadFieldCount', file, lineNo,
      `expected 5 comma-separated fields (${BEHAVIOR_COLUMNS.join(',')}), got ${f.length}`);
  }
  const bad = (what: string, v: string): void =>
    errors.row('behaviorLogBadValues', file, lineNo, `expected ${what}, got "${short(v)}"`);
  const id = (v: string): boolean => isDigits(v) && v.length <= 15;
  if (!id(f[0])) return bad('user as a non-negative integer (at most 15 digits)', f[0]);
  if (!(isDigits(f[1]) && Number(f[1]) <= MAX_TIME)) return bad('time_stamp as Unix seconds', f[1]);
  if (!BTAGS.has(f[2])) return bad('btag pv, cart, fav or buy', f[2]);
  if (!id(f[3])) return bad('cate as a non-negative integer (at most 15 digits)', f[3]);
  return bad('brand as a non-negative integer (at most 15 digits) or NULL', f[4]);
}
