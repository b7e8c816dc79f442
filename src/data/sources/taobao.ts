/**
 * The public Taobao display-ad click data (Alibaba, Tianchi dataset 56, "Ad Display/Click Data on Taobao.com": 26M
 * impressions of 1.14M users over 8 days, 2017-05-06 … 2017-05-13), in three layouts, detected from what a directory
 * holds (`taobaoLayout`):
 *
 * 1. 'tianchi' — the four raw files as Tianchi serves them (each `X.csv` or `X.csv.gz`; a `X.csv.tar.gz` must be
 *    unpacked first), each with a header line (column names are trimmed; columns are found by name, except
 *    behavior_log whose header must list exactly user,time_stamp,btag,cate,brand in that order):
 *      raw_sample.csv    user,time_stamp,adgroup_id,pid,nonclk,clk      one impression per line, label = clk
 *      ad_feature.csv    adgroup_id,cate_id,campaign_id,customer,brand,price    (brand may be NULL)
 *      user_profile.csv  userid,cms_segid,cms_group_id,final_gender_code,age_level,pvalue_level,shopping_level,
 *                        occupation,new_user_class_level                       (values may be empty)
 *      behavior_log.csv  user,time_stamp,btag,cate,brand   btag ∈ pv/cart/fav/buy; ~723M lines in the full data
 *    Sample = one impression (label clk). Candidate = the adgroup: an item with a goods id (the adgroup), one attribute
 *    (its cate_id) and the item fields brand, campaign, customer, price. User fields: the 8 user_profile columns of
 *    the impression's user (a user without a profile line, or an empty value, gets the OOV row). Context fields: pid
 *    and the hour of day of the impression (UTC+8, Beijing time, in which the data's days are defined).
 *    History: the user's behaviour_log events strictly before the impression's time_stamp, oldest first, the most
 *    recent `maxHistory` (default 50) kept. A behaviour is an item WITHOUT goods id (goods row −1) whose attribute is
 *    its cate and whose brand field is its brand (campaign/customer/price −1); identical (cate, brand) behaviours are
 *    one item, so the catalog holds each pair once and behaviour ↔ candidate share the cate and brand tables. The
 *    behaviour type (btag) is validated but not used (the paper's behaviour groups carry no type; keying behaviour
 *    items by (cate, brand, btag) would be needed to use it). Equal time stamps keep file order.
 *    Split by time: impressions at or after 00:00 (UTC+8) of `testDay` (default 2017-05-13, the last day) are the
 *    test split, earlier ones train — the split of the DMR/PaddleRec preprocessing (7 days train, day 8 test).
 * 2. 'joined' — one CSV per split whose header is (columns found by name)
 *      clk,time_stamp,userid,adgroup_id,pid,cate_id,campaign_id,customer,brand,price,cms_segid,cms_group_id,
 *      final_gender_code,age_level,pvalue_level,shopping_level,occupation,new_user_class_level,click_sequence
 *    (as the train_sample.csv / test_sample.csv samples under ../shared/data/fixtures/taobao), time_stamp as
 *    "YYYY-MM-DD HH:MM:SS" (Beijing time, as written) or Unix seconds, click_sequence = `^`-separated adgroup ids the
 *    user clicked before (possibly empty), taken as oldest first (in the fixture a user's sequence grows at its end).
 *    Candidate, user and context fields as for 'tianchi' (profile values from the row itself). Behaviours are ads:
 *    items WITH goods ids; an ad's cate/brand/campaign/customer/price come from the first row where it is the
 *    candidate; an ad that only ever appears in click sequences has no attribute and −1 item fields (stat
 *    `historyOnlyAds`); later rows giving a known ad different features keep the first (`adFeatureConflicts`).
 *    A `*train*` + `*test*` pair is used as given; a single file is split by time like 'tianchi' (`testDay`).
 * 3. 'sampled' — the preprocessed file of Alibaba's "Deep Match to Rank" model (DMR, Lyu et al., AAAI 2020;
 *    github.com/lvze92/DMR, also PaddleRec models/rank/dmr with the sample alimama_sampled_train.txt): no header,
 *    267 comma-separated numbers per line. Column meaning as read by DMR's model.py (`feature_ph[:, a:b]` slices;
 *    data_iterator.py takes the last column as the target) and described by PaddleRec's
 *    datasets/Ali_Display_Ad_Click/readme.md (raw_sample split by time: 2017-05-06…12 train, 05-13 test; columns
 *    0:150 the 50 behaviours before each impression, 150:250 masks, 250:259 user_profile, 259:265 ad_feature, last
 *    column the click):
 *      0–49 btag of 50 behaviours (0 = padding; 1–4 = the four behaviour types, mapping not documented)
 *      50–99 cate, 100–149 brand of those behaviours; 150–199 mask (1 = real behaviour); 200–249 DMR's "match mask"
 *      (for its auxiliary loss; not used here). Histories are left-padded, position 49 the most recent (DMR uses
 *      position −1 as the user's latest state and predicts it from −2).
 *      250 uid (raw user id; DMR embeds it with user_size 1141730), 251–258 the 8 user_profile fields (empty raw
 *      values appear as 0; PaddleRec's reader also maps '' and NULL to 0), 259 adgroup_id, 260 cate_id,
 *      261 campaign_id, 262 customer, 263 brand, 264 price (a normalised float, transform undocumented),
 *      265 pid (0/1), 266 clk label.
 *    Users (for GAUC) are the uid column. Behaviours are (cate, brand) items without goods ids as for 'tianchi';
 *    brand 0 (ad or behaviour) is taken as "no brand" (−1): in the sample 38% of ads have brand 0 and no behaviour
 *    does, matching NULL brands of ad_feature. Profile values are kept as given (0 included). Context: pid (no time
 *    column, so no hour field). Consecutive lines of one user with the same history share its storage.
 *    Files: a `*train*` + `*test*` pair (or train/ + test/ subdirectories with one such file each, as PaddleRec's
 *    big_train/ + big_test/) is used as given; a single file is split by user: round(testFraction × users) users
 *    (default 0.2), chosen by a seeded shuffle (`seed`), go to test with all their lines.
 * Taobao's UserBehavior data (Tianchi dataset 649: user,item,category,behavior,timestamp — no ads, no clicks) is a
 * different dataset: it is recognised and refused with an error naming the file (`taobaoUnsupported`).
 *
 * Items, vocabularies (built from the TRAINING split only; see ../field-vocab.ts):
 *  - Catalog items are the candidate ads and behaviour items referenced by some sample, in order of first reading.
 *    itemKeys: the adgroup id for ads, `cate=<cate>,brand=<brand|NULL>` for behaviour items; attrKeys: cate ids.
 *  - Goods rows: a vocabulary of adgroup ids over training occurrences (as candidate or in a kept history); row 0 is
 *    the OOV/rare row shared by adgroups unseen in training or cut by `vocab` (minCount / topK), or hash buckets.
 *  - Item fields brand, campaign, customer (−1 absent) and price: vocabularies over training occurrences of the items
 *    carrying each value (candidates and kept behaviours), OOV row 0. Price buckets: for 'tianchi' and 'joined' (price
 *    in yuan) log-scale octaves [2^k, 2^(k+1)), keys like "[64,128)", all prices below 1 in "[0,1)"; for 'sampled'
 *    (normalised price) ten equal-frequency buckets over the distinct training ads (keys "<b1", "[b1,b2)", …,
 *    ">=b9"; equal boundaries merge).
 *  - Sample fields: user group = the 8 profile columns (in file order), context group = pid (+ hour, 0–23, except
 *    'sampled'); one vocabulary each over the training samples, OOV row 0 for missing and unseen values.
 *  - `vocab` (minCount, topK, hashBuckets) applies to the id-like fields: adgroup (goods rows), campaign, customer,
 *    brand and the user fields. cate (the attribute), price, pid and hour always keep every training value.
 *
 * Errors vs. counts (`onError`, the policy of ./row-errors.ts):
 *  - Structural problems throw naming the file: no Taobao layout at the path (or several), a missing one of the four
 *    Tianchi files (or only its .tar.gz), an empty file, a missing header column, an unreadable file or a corrupt
 *    gzip stream, an empty train or test split.
 *  - Row errors are skipped and counted under these keys (`onError: 'skip'`, the default; the first kept as
 *    examples) or throw `<file>:<line>: <what was expected>, got …` (`onError: 'fail'`): `<file>BadFieldCount` (not
 *    as many fields as the header / 267) and `<file>BadValues` (a non-numeric id or time stamp, a label or mask not
 *    0/1, nonclk ≠ 1 − clk, an unknown btag, a negative or non-numeric price …) for <file> = adFeature, userProfile,
 *    rawSample, behaviorLog, joined, sampled; `adFeatureDuplicates` / `userProfileDuplicates` (a second line for an
 *    adgroup / user: the first wins); `impressionsWithUnknownAdgroup` (raw_sample adgroup not in ad_feature).
 *  - Always counted in `skipped`: `blankLines`; `adsWithoutImpressions` (ad_feature lines never shown),
 *    `userProfilesWithoutImpressions`, `behavioursOfUsersWithoutImpressions`, `behavioursNotBeforeLastImpression`
 *    (behaviour_log lines no history can contain); `adFeatureConflicts` ('joined'). Numbers that are not skipped rows
 *    go to `stats` (`usersWithoutProfile`, `behavioursBeyondHistoryCap`, `historyOnlyAds`, …).
 *
 * Memory ('tianchi'; behavior_log is streamed, never held): the ad table (5 ints + 1 float per ad_feature line),
 * 5 ints per impression while reading (user, time, ad, pid, label), each user's distinct impression times, the
 * profiles (8 ints per user with impressions), the (cate, brand) → item map, and per user only the behaviours a
 * history can still contain, in a block pool: between two consecutive distinct impression times of a user only the
 * `maxHistory` most recent behaviours can ever be in a history, so a user's list is compacted to those whenever it
 * has grown by half (behaviours at or after the user's last impression are dropped on reading). That bound is what
 * the histories hold anyway: they are stored once per user and shared by all its samples (train and test). So the
 * pool holds 8 bytes per behaviour, at most ~1.5× the behaviours the histories keep (+ 2·maxHistory per user); at
 * the end it is flattened into the shared histories (4 bytes per kept behaviour) and freed. The Dataset then takes
 * ~57 bytes per impression (10 sample fields) plus the shared histories. Measured on a generated Tianchi-layout
 * directory (2M impressions, 200K users, 20M behaviour lines of uniformly random users, 492K (cate, brand) items) on
 * a shared 2-core machine: ~1.5M behaviour lines/s, ~0.8M raw_sample lines/s, 23 s and 420 MB peak RSS in all.
 */
import { closeSync, existsSync, openSync, readdirSync, readSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { constants as zc, gunzipSync } from 'node:zlib';
import { allocSampleSet } from '../sample-set.js';
import type { Dataset, ItemCatalog, SampleSet } from '../types.js';
import { OOV_KEY, type ItemField, type SampleField, type SampleFieldGroup } from '../fields.js';
import { FieldVocab, validateVocabOptions, type VocabOptions } from '../field-vocab.js';
import { Float64Column, IntColumn, Vocab } from '../vocab.js';
import { Rng } from '../../util/rng.js';
import { listFiles } from '../../util/fs.js';
import { readLines } from './amazon-raw.js';
import { RowErrors, rowErrorPolicy, type RowErrorPolicy } from './row-errors.js';

export type { RowErrorPolicy } from './row-errors.js';

/**
 * Which Taobao file layout a directory holds (see the file header): `tianchi` (the four raw files), `joined` (one CSV
 * per split with a click_sequence column) or `sampled` (DMR's 267-column preprocessed file).
 */
export type TaobaoLayout = 'tianchi' | 'joined' | 'sampled';

export const TAOBAO_DEFAULT_MAX_HISTORY = 50;
export const TAOBAO_DEFAULT_TEST_DAY = '2017-05-13';
export const TAOBAO_DEFAULT_TEST_FRACTION = 0.2;

/** Options of `loadTaobao`. */
export interface TaobaoOptions {
  /** Seed of the single-file user split of the 'sampled' layout. Default 1. */
  seed?: number;
  /** Dataset name; default: the directory name (the file stem when given a file). */
  name?: string;
  /** Row errors (see the file header): 'skip' counts them in `skipped` (default), 'fail' throws at the first. */
  onError?: RowErrorPolicy;
  /** Id-space controls of the id-like fields (adgroup, campaign, customer, brand, user fields). */
  vocab?: VocabOptions;
  /** Most recent behaviours kept per history. Default 50. */
  maxHistory?: number;
  /** 'tianchi' and single-file 'joined': first day (YYYY-MM-DD, UTC+8) of the test split. Default 2017-05-13. */
  testDay?: string;
  /** Single-file 'sampled': fraction of users held out as test. Default 0.2. */
  testFraction?: number;
  /** Receives human-readable progress lines (lines read per file, the first skipped row of each kind). */
  onProgress?: (msg: string) => void;
}

export type TaobaoFiles =
  | { layout: 'tianchi'; dir: string; rawSample: string; adFeature: string; userProfile: string; behaviorLog: string }
  | { layout: 'joined' | 'sampled'; dir: string; train: string; test: string | null };

// ---------------------------------------------------------------------------------------------------------------------
// Layout detection

const TIANCHI_FILES = {
  rawSample: 'raw_sample.csv',
  adFeature: 'ad_feature.csv',
  userProfile: 'user_profile.csv',
  behaviorLog: 'behavior_log.csv',
} as const;
type TianchiKey = keyof typeof TIANCHI_FILES;
const TIANCHI_KEYS = Object.keys(TIANCHI_FILES) as TianchiKey[];

const PROFILE_FIELDS = [
  'cms_segid',
  'cms_group_id',
  'final_gender_code',
  'age_level',
  'pvalue_level',
  'shopping_level',
  'occupation',
  'new_user_class_level',
] as const;
const AD_COLUMNS = ['adgroup_id', 'cate_id', 'campaign_id', 'customer', 'brand', 'price'] as const;
const PROFILE_COLUMNS = ['userid', ...PROFILE_FIELDS] as const;
const RAW_COLUMNS = ['user', 'time_stamp', 'adgroup_id', 'pid', 'nonclk', 'clk'] as const;
const BEHAVIOR_COLUMNS = ['user', 'time_stamp', 'btag', 'cate', 'brand'] as const;
const JOINED_COLUMNS = [
  'clk',
  'time_stamp',
  'userid',
  'adgroup_id',
  'pid',
  'cate_id',
  'campaign_id',
  'customer',
  'brand',
  'price',
  ...PROFILE_FIELDS,
  'click_sequence',
] as const;
/** Header columns that make a CSV the 'joined' layout (the rest are then required). */
const JOINED_SIGNATURE = ['clk', 'userid', 'adgroup_id', 'click_sequence'];

/** The 'sampled' layout: 5 blocks of SAMPLED_HIST columns, then uid, profile, ad, price, pid, label. */
const SAMPLED_HIST = 50;
const SAMPLED_COLS = 267;
const S_CATE = 50;
const S_BRAND = 100;
const S_MASK = 150;
const S_UID = 250;
const S_PROFILE = 251;
const S_AD = 259;
const S_PRICE = 264;
const S_PID = 265;
const S_LABEL = 266;

const DATA_NAME_RE = /\.(csv|txt)(\.gz)?$/i;
const NUMBER_RE = /^-?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?$/;
const DIGITS_RE = /^\d+$/;
const BTAGS = new Set(['pv', 'cart', 'fav', 'buy']);

const plainOrGz = (dir: string, name: string): string | null => {
  for (const n of [name, `${name}.gz`]) if (isFileAt(join(dir, n))) return join(dir, n);
  return null;
};
const isFileAt = (p: string): boolean => {
  try {
    return statSync(p).isFile();
  } catch {
    return false;
  }
};
const isDirAt = (p: string): boolean => {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
};

/** The first non-blank line of a file (reads at most 256 KB; `.gz` partially decompressed); null if none/unreadable. */
function firstLine(file: string): string | null {
  let buf: Buffer;
  try {
    const fd = openSync(file, 'r');
    try {
      const b = Buffer.alloc(1 << 18);
      buf = b.subarray(0, readSync(fd, b, 0, b.length, 0));
    } finally {
      closeSync(fd);
    }
    if (file.endsWith('.gz')) buf = gunzipSync(buf, { finishFlush: zc.Z_SYNC_FLUSH });
  } catch {
    return null;
  }
  for (const raw of buf.toString('utf8').split('\n')) {
    const l = raw.replace(/^\uFEFF/, '').replace(/\r$/, '');
    if (l.trim() !== '') return l;
  }
  return null;
}

type Sniffed = 'joined' | 'sampled' | 'userbehavior' | null;

/** What a single data file looks like from its first non-blank line. */
function sniff(file: string): Sniffed {
  const line = firstLine(file);
  if (line === null) return /^userbehavior/i.test(basename(file)) ? 'userbehavior' : null;
  const f = line.split(',').map((s) => s.trim());
  if (JOINED_SIGNATURE.every((c) => f.includes(c))) return 'joined';
  if (f.length === SAMPLED_COLS && f.every((s) => NUMBER_RE.test(s))) return 'sampled';
  const ub = f.length === 5 && BTAGS.has(f[3]) && [0, 1, 2, 4].every((k) => DIGITS_RE.test(f[k]));
  const ubHeader = f.length === 5 && /^user/i.test(f[0]) && /^item/i.test(f[1]) && /^behav/i.test(f[3]);
  if (ub || ubHeader || /^userbehavior/i.test(basename(file))) return 'userbehavior';
  return null;
}

const dataFilesIn = (dir: string): string[] => listFiles(dir, DATA_NAME_RE);

function splitPath(path: string): { abs: string; dir: string; isFile: boolean } {
  const abs = resolve(path);
  const isFile = isFileAt(abs);
  return { abs, dir: isFile ? dirname(abs) : abs, isFile };
}

/** A train/test pair (by name), or the single candidate file, or null when there is none; throws when ambiguous. */
function pickPair(dir: string, files: string[], layout: 'joined' | 'sampled'): { train: string; test: string | null } | null {
  if (files.length === 0) return null;
  const trains = files.filter((f) => /train/i.test(basename(f)));
  const tests = files.filter((f) => /test/i.test(basename(f)) && !/train/i.test(basename(f)));
  if (trains.length === 1 && tests.length === 1) return { train: trains[0], test: tests[0] };
  if (files.length === 1) return { train: files[0], test: null };
  throw new Error(
    `${dir}: several taobao ${layout} files and no unique *train*/*test* pair ` +
      `(${files.map((f) => basename(f)).join(', ')}); pass the path of one file`,
  );
}

interface Found {
  layout: TaobaoLayout;
  files: TaobaoFiles | null;
}

/** Detection without throwing for missing Tianchi files (those are reported by `findTaobaoFiles`). */
function detect(path: string): Found | null {
  const { abs, dir, isFile } = splitPath(path);
  if (!existsSync(abs)) return null;
  // --- tianchi: raw_sample.csv[.gz|.tar.gz] names the layout ---
  const tianchiNames = Object.values(TIANCHI_FILES) as string[];
  const given = isFile ? basename(abs).replace(/(\.tar)?\.gz$/i, '') : null;
  if (given === null || tianchiNames.includes(given)) {
    const hasRaw = ['', '.gz', '.tar.gz'].some((s) => isFileAt(join(dir, TIANCHI_FILES.rawSample + s)));
    if (hasRaw) {
      const files: Partial<Record<TianchiKey, string>> = {};
      for (const k of TIANCHI_KEYS) {
        const f = plainOrGz(dir, TIANCHI_FILES[k]);
        if (f !== null) files[k] = f;
      }
      const complete = TIANCHI_KEYS.every((k) => files[k] !== undefined);
      return {
        layout: 'tianchi',
        files: complete ? { layout: 'tianchi', dir, ...(files as Record<TianchiKey, string>) } : null,
      };
    }
  }
  // --- joined / sampled: by content ---
  if (isFile) {
    const s = sniff(abs);
    if (s === 'joined' || s === 'sampled') return { layout: s, files: { layout: s, dir, train: abs, test: null } };
    return null;
  }
  const byKind = (files: string[], kind: Sniffed): string[] => files.filter((f) => sniff(f) === kind);
  const here = dataFilesIn(dir);
  const found: Found[] = [];
  const seen: string[] = [];
  for (const kind of ['joined', 'sampled'] as const) {
    const files = byKind(here, kind);
    if (files.length > 0) seen.push(`${kind} (${files.map((f) => basename(f)).join(', ')})`);
    let pair = pickPair(dir, files, kind);
    if (pair === null) {
      // train/ + test/ subdirectories (e.g. PaddleRec's big_train/ + big_test/), one file each
      const subs = readdirSync(dir).filter((n) => isDirAt(join(dir, n)));
      const inSub = (n: string): string[] => byKind(dataFilesIn(join(dir, n)), kind);
      const tr = subs.filter((n) => /train/i.test(n)).map(inSub);
      const te = subs.filter((n) => /test/i.test(n) && !/train/i.test(n)).map(inSub);
      if (tr.length === 1 && te.length === 1 && tr[0].length === 1 && te[0].length === 1) {
        pair = { train: tr[0][0], test: te[0][0] };
      }
    }
    if (pair !== null) found.push({ layout: kind, files: { layout: kind, dir, ...pair } });
  }
  if (found.length > 1) {
    throw new Error(`${dir}: holds two taobao layouts, ${seen.join(' and ')}; pass the path of one file (it is then read alone)`);
  }
  return found[0] ?? null;
}

/**
 * The Taobao layout at `path` (a directory, or a file in it): 'tianchi' when raw_sample.csv[.gz] is there, else
 * 'joined' / 'sampled' from the files' contents; null when none (UserBehavior data included: see
 * `taobaoUnsupported`). Throws when a directory holds several candidate files without a train/test pair.
 */
export function taobaoLayout(path: string): TaobaoLayout | null {
  return detect(path)?.layout ?? null;
}

/**
 * Why `path` holds Taobao data this loader does not read (the UserBehavior dataset), naming the file; null otherwise
 * (also when a supported layout is there).
 */
export function taobaoUnsupported(path: string): string | null {
  const { abs, dir, isFile } = splitPath(path);
  if (!existsSync(abs)) return null;
  if (detect(path) !== null) return null;
  const files = isFile ? [abs] : dataFilesIn(dir);
  const ub = files.find((f) => sniff(f) === 'userbehavior');
  if (ub === undefined) return null;
  return (
    `${ub}: this is Taobao's UserBehavior dataset (Tianchi dataset 649: user,item,category,behavior,timestamp — ` +
    'page views, carts, favourites and purchases, without ad impressions or clicks), which is not supported. ' +
    '--format taobao reads the display-ad click data (Tianchi dataset 56): raw_sample.csv + ad_feature.csv + ' +
    'user_profile.csv + behavior_log.csv, joined samples with a click_sequence column, or the DMR-preprocessed ' +
    '267-column file'
  );
}

/**
 * The files of the Taobao data at `path` (see the file header), or null when the path is not a Taobao layout.
 * Throws when the layout is recognisable but incomplete (a missing Tianchi file, only its .tar.gz) or ambiguous.
 */
export function findTaobaoFiles(path: string): TaobaoFiles | null {
  const found = detect(path);
  if (found === null) return null;
  if (found.files !== null) return found.files;
  const { dir } = splitPath(path);
  const problems: string[] = [];
  for (const k of TIANCHI_KEYS) {
    const name = TIANCHI_FILES[k];
    if (plainOrGz(dir, name) !== null) continue;
    const tar = `${name}.tar.gz`;
    problems.push(isFileAt(join(dir, tar)) ? `${name} is only there as ${tar} (unpack it: tar xzf ${tar})` : `${name} is missing`);
  }
  const all = Object.values(TIANCHI_FILES).join(', ');
  throw new Error(`${dir}: taobao (Tianchi layout) needs ${all} (or .csv.gz); ${problems.join('; ')}`);
}

function resolveFiles(path: string): TaobaoFiles {
  const abs = resolve(path);
  if (!existsSync(abs)) throw new Error(`${abs}: no such file or directory`);
  const files = findTaobaoFiles(abs);
  if (files !== null) return files;
  const why = taobaoUnsupported(abs);
  if (why !== null) throw new Error(why);
  throw new Error(
    `${abs}: no taobao data (expected raw_sample.csv + ad_feature.csv + user_profile.csv + behavior_log.csv; or CSVs ` +
      `with header ${JOINED_COLUMNS.join(',')}; or lines of ${SAMPLED_COLS} comma-separated numbers (DMR's alimama file))`,
  );
}

/** The files a given path reads (for cache keys). */
export function taobaoSourceFiles(path: string): string[] {
  const f = resolveFiles(path);
  if (f.layout === 'tianchi') return [f.rawSample, f.adFeature, f.userProfile, f.behaviorLog];
  return f.test === null ? [f.train] : [f.train, f.test];
}

// ---------------------------------------------------------------------------------------------------------------------
// Shared parts: temporary items and samples, then one assembly into the Dataset


/** Numeric (cate, brand) keys of behaviour items stay below this. */
const NUM_KEY_MAX = 2 ** 30;
/** Canonical numeric keys below this are looked up in a direct table (64 MB at most), larger ones in a Map. */
const TABLE_MAX = 2 ** 24;

/**
 * String keys → dense ids in first-seen order (like ../vocab.ts's Vocab), with a direct Int32Array table for keys
 * that are canonical non-negative integers below TABLE_MAX (Taobao's user and adgroup ids): no Map per lookup.
 */
class KeyIndex {
  readonly keys: string[] = [];
  private table = new Int32Array(1024).fill(-1);
  private readonly map = new Map<string, number>();

  get size(): number {
    return this.keys.length;
  }

  /** The id of `key`, added if new. */
  id(key: string): number {
    const v = canonical(key);
    if (v >= 0 && v < TABLE_MAX) {
      if (v >= this.table.length) {
        let n = this.table.length;
        while (n <= v) n *= 2;
        const t = new Int32Array(Math.min(n, TABLE_MAX)).fill(-1);
        t.set(this.table);
        this.table = t;
      }
      let x = this.table[v];
      if (x < 0) {
        x = this.keys.length;
        this.keys.push(key);
        this.table[v] = x;
      }
      return x;
    }
    let x = this.map.get(key);
    if (x === undefined) {
      x = this.keys.length;
      this.keys.push(key);
      this.map.set(key, x);
    }
    return x;
  }

  /** The id of `key`, or −1. */
  get(key: string): number {
    const v = canonical(key);
    if (v >= 0 && v < TABLE_MAX) return v < this.table.length ? this.table[v] : -1;
    return this.map.get(key) ?? -1;
  }

  /** The id of the canonical integer key `v` (as parsed), or −1. */
  getNum(v: number): number {
    if (v < TABLE_MAX) return v < this.table.length ? this.table[v] : -1;
    return this.map.get(String(v)) ?? -1;
  }
}

/** Open-addressing hash table (linear probing, typed arrays) from pairs of non-negative int32 to non-negative ids. */
class PairTable {
  private a: Int32Array;
  private b: Int32Array;
  private v: Int32Array;
  private mask: number;
  size = 0;

  constructor(capacity = 1 << 16) {
    this.a = new Int32Array(capacity);
    this.b = new Int32Array(capacity);
    this.v = new Int32Array(capacity).fill(-1);
    this.mask = capacity - 1;
  }

  private static hash(a: number, b: number): number {
    let h = Math.imul(a, 0x9e3779b1) ^ Math.imul(b ^ 0x7f4a7c15, 0x85ebca77);
    h ^= h >>> 15;
    h = Math.imul(h, 0x2c1b3c6d);
    return h ^ (h >>> 12);
  }

  /** The id of (a, b), or −1. */
  get(a: number, b: number): number {
    const { mask } = this;
    for (let i = PairTable.hash(a, b) & mask; ; i = (i + 1) & mask) {
      const x = this.v[i];
      if (x < 0 || (this.a[i] === a && this.b[i] === b)) return x;
    }
  }

  /** Adds (a, b) → id (the pair must be new). */
  set(a: number, b: number, id: number): void {
    if (2 * (this.size + 1) > this.v.length) this.grow();
    const { mask } = this;
    let i = PairTable.hash(a, b) & mask;
    while (this.v[i] >= 0) i = (i + 1) & mask;
    this.a[i] = a;
    this.b[i] = b;
    this.v[i] = id;
    this.size++;
  }

  private grow(): void {
    const { a, b, v } = this;
    const cap = v.length * 2;
    this.a = new Int32Array(cap);
    this.b = new Int32Array(cap);
    this.v = new Int32Array(cap).fill(-1);
    this.mask = cap - 1;
    this.size = 0;
    for (let i = 0; i < v.length; i++) if (v[i] >= 0) this.set(a[i], b[i], v[i]);
  }
}

/** An ad's features as read (null: absent). */
interface AdFeatures {
  cate: string | null;
  brand: string | null;
  campaign: string | null;
  customer: string | null;
  /** NaN: absent. */
  price: number;
}

/** Items in reading order: ads (with goods id) and behaviour items (cate, brand without goods id). */
class TmpItems {
  /** Index into adKeys, −1 for behaviour items. */
  readonly ad = new IntColumn(1 << 12);
  readonly cate = new IntColumn(1 << 12);
  readonly brand = new IntColumn(1 << 12);
  readonly campaign = new IntColumn(1 << 12);
  readonly customer = new IntColumn(1 << 12);
  readonly price = new Float64Column();
  /** 'joined': 1 once the ad's features are known (it was a candidate). */
  readonly known = new IntColumn(1 << 12);
  readonly adKeys = new KeyIndex();
  /** adKeys index → item. */
  readonly adItem = new IntColumn(1 << 12);
  readonly cates = new Vocab();
  readonly brands = new Vocab();
  readonly campaigns = new Vocab();
  readonly customers = new Vocab();
  /** (cate, brand) → behaviour item: (cate number, brand number + 1 or 0 = no brand) in a PairTable when both are
   * canonical integers below 2^30; else by the string "cate,brand". */
  private readonly behNum = new PairTable();
  private readonly behStr = new Map<string, number>();

  get size(): number {
    return this.ad.length;
  }

  private add(ad: number, cate: number, brand: number, campaign: number, customer: number, price: number): number {
    const id = this.ad.length;
    this.ad.push(ad);
    this.cate.push(cate);
    this.brand.push(brand);
    this.campaign.push(campaign);
    this.customer.push(customer);
    this.price.push(price);
    this.known.push(1);
    return id;
  }

  /** The item of adgroup `key`, or −1. */
  adOf(key: string): number {
    const a = this.adKeys.get(key);
    return a < 0 ? -1 : this.adItem.data[a];
  }

  /** A new ad item (the key must be new); `f` null: features not known (yet): −1 / NaN. */
  addAd(key: string, f: AdFeatures | null): number {
    const a = this.adKeys.id(key);
    const item = this.add(a, -1, -1, -1, -1, NaN);
    this.adItem.push(item);
    if (f === null) this.known.data[item] = 0;
    else this.setAd(item, f);
    return item;
  }

  /** Sets the features of an ad. */
  setAd(item: number, f: AdFeatures): void {
    this.cate.data[item] = this.tmp(this.cates, f.cate);
    this.brand.data[item] = this.tmp(this.brands, f.brand);
    this.campaign.data[item] = this.tmp(this.campaigns, f.campaign);
    this.customer.data[item] = this.tmp(this.customers, f.customer);
    this.price.data[item] = f.price;
    this.known.data[item] = 1;
  }

  /** Whether an ad's stored features equal `f`. */
  sameAd(item: number, f: AdFeatures): boolean {
    const p = this.price.data[item];
    const same = (col: IntColumn, v: Vocab, key: string | null): boolean => col.data[item] === (key === null ? -1 : v.get(key));
    return (
      same(this.cate, this.cates, f.cate) &&
      same(this.brand, this.brands, f.brand) &&
      same(this.campaign, this.campaigns, f.campaign) &&
      same(this.customer, this.customers, f.customer) &&
      (p === f.price || (Number.isNaN(p) && Number.isNaN(f.price)))
    );
  }

  private tmp(v: Vocab, key: string | null): number {
    return key === null ? -1 : v.id(key);
  }

  /** The behaviour item of canonical integer ids below 2^30 (brandNum −1: no brand), or −1 if not seen yet. */
  findBehaviour(cateNum: number, brandNum: number): number {
    return this.behNum.get(cateNum, brandNum + 1);
  }

  /**
   * The behaviour item of (cate, brand), created if new. `cateNum`/`brandNum` are the parsed values when the strings
   * are canonical integers (else negative; brandNum is ignored when brand is null).
   */
  behaviour(cate: string, cateNum: number, brand: string | null, brandNum: number): number {
    if (cateNum >= 0 && cateNum < NUM_KEY_MAX && (brand === null || (brandNum >= 0 && brandNum < NUM_KEY_MAX - 1))) {
      const b = brand === null ? 0 : brandNum + 1;
      let id = this.behNum.get(cateNum, b);
      if (id < 0) {
        id = this.add(-1, this.cates.id(cate), this.tmp(this.brands, brand), -1, -1, NaN);
        this.behNum.set(cateNum, b, id);
      }
      return id;
    }
    const k = `${cate},${brand ?? ''}`;
    let id = this.behStr.get(k);
    if (id === undefined) {
      id = this.add(-1, this.cates.id(cate), this.tmp(this.brands, brand), -1, -1, NaN);
      this.behStr.set(k, id);
    }
    return id;
  }
}

/** A sample field before its vocabulary: raw keys of temporary ids, and each sample's temporary id (−1 missing). */
interface TmpSampleField {
  name: string;
  group: SampleFieldGroup;
  /** `vocab` options apply (id-like user fields). */
  idLike: boolean;
  keys: string[];
  /** Temporary id per sample, or per (temporary) user when `byUser`; −1 missing. */
  values: Int32Array;
  byUser?: boolean;
}

interface Parts {
  layout: TaobaoLayout;
  name: string;
  items: TmpItems;
  priceBuckets: 'log2' | 'quantile';
  n: number;
  user: Int32Array;
  item: Int32Array;
  label: Uint8Array;
  test: Uint8Array;
  histStart: Int32Array;
  histLen: Int32Array;
  /** Temporary item ids. */
  histValues: Int32Array;
  userKeys: string[];
  fields: TmpSampleField[];
  stats: Record<string, number>;
  buildOptions: Record<string, unknown>;
}

interface Ctx {
  errors: RowErrors;
  policy: RowErrorPolicy;
  progress: (msg: string) => void;
  maxHistory: number;
  vocab: VocabOptions;
  testCut: number;
  testDay: string;
}

/**
 * A FieldVocab from values in first-seen order with their training counts — exactly what FieldVocabBuilder builds
 * from the same occurrences (minCount, then top-K by count with ties in first-seen order, then first-seen order),
 * without one Map update per occurrence.
 */
export function vocabFromCounts(name: string, keys: string[], counts: ArrayLike<number>, opts: VocabOptions = {}): FieldVocab {
  validateVocabOptions(opts, `field "${name}"`);
  if (opts.hashBuckets) return new FieldVocab(name, null, opts.hashBuckets);
  const minCount = opts.minCount ?? 1;
  let kept: number[] = [];
  for (let i = 0; i < keys.length; i++) if (counts[i] >= minCount && counts[i] > 0) kept.push(i);
  if (opts.topK !== undefined && kept.length > opts.topK) {
    kept = kept.sort((a, b) => counts[b] - counts[a] || a - b).slice(0, opts.topK).sort((a, b) => a - b);
  }
  return new FieldVocab(name, [OOV_KEY, ...kept.map((i) => keys[i])]);
}

/** Log-scale price bucket key: "[0,1)" below 1, else "[2^k,2^(k+1))". */
export function priceOctave(p: number): string {
  if (p < 1) return '[0,1)';
  let k = Math.floor(Math.log2(p));
  if (2 ** k > p) k--;
  if (2 ** (k + 1) <= p) k++;
  return `[${2 ** k},${2 ** (k + 1)})`;
}

const PRICE_QUANTILES = 10;

function upperBound(a: ArrayLike<number>, lo: number, hi: number, x: number): number {
  while (lo < hi) {
    const m = (lo + hi) >>> 1;
    if (a[m] <= x) lo = m + 1;
    else hi = m;
  }
  return lo;
}
function lowerBound(a: ArrayLike<number>, lo: number, hi: number, x: number): number {
  while (lo < hi) {
    const m = (lo + hi) >>> 1;
    if (a[m] < x) lo = m + 1;
    else hi = m;
  }
  return lo;
}

function assemble(p: Parts, ctx: Ctx): Dataset {
  const { items } = p;
  const T = items.size;
  const N = p.n;
  // ---- usage (candidates, every stored history entry) and training occurrences ----
  // Training occurrences of an item = as candidate + at every history position a training sample covers. Histories
  // overlap (shared storage), so positions are counted with a difference array, and the first training occurrence
  // (sample order; the candidate, then the history in order — the order FieldVocabBuilder would see) with a
  // union-find sweep that visits each position once: O(samples + positions), not O(Σ history lengths).
  const used = new Uint8Array(T);
  const count = new Float64Array(T);
  const first = new Float64Array(T).fill(Infinity);
  const hv = p.histValues;
  const H = hv.length;
  for (let k = 0; k < H; k++) used[hv[k]] = 1;
  let nTest = 0;
  let maxLen = 0;
  for (let i = 0; i < N; i++) if (p.histLen[i] > maxLen) maxLen = p.histLen[i];
  const M = maxLen + 2;
  const cover = new Int32Array(H + 1);
  const next = new Int32Array(H + 1);
  for (let k = 0; k <= H; k++) next[k] = k;
  const find = (k: number): number => {
    while (next[k] !== k) {
      next[k] = next[next[k]];
      k = next[k];
    }
    return k;
  };
  for (let i = 0; i < N; i++) {
    const c = p.item[i];
    used[c] = 1;
    if (p.test[i]) {
      nTest++;
      continue;
    }
    count[c]++;
    if (i * M < first[c]) first[c] = i * M;
    const s = p.histStart[i];
    const e = s + p.histLen[i];
    cover[s]++;
    cover[e]--;
    for (let k = find(s); k < e; k = find(k + 1)) {
      const key = i * M + 1 + (k - s);
      const h = hv[k];
      if (key < first[h]) first[h] = key;
      next[k] = k + 1;
    }
  }
  let run = 0;
  for (let k = 0; k < H; k++) {
    run += cover[k];
    count[hv[k]] += run;
  }
  const nTrain = N - nTest;
  const where = p.buildOptions.testDay !== undefined && p.layout !== 'sampled' ? ` (test day ${ctx.testDay}, UTC+8)` : '';
  if (nTrain === 0) throw new Error(`${p.name}: the train split is empty${where}${ctx.errors.hint()}`);
  if (nTest === 0) throw new Error(`${p.name}: the test split is empty${where}${ctx.errors.hint()}`);

  // ---- dense items in reading order ----
  const dense = new Int32Array(T).fill(-1);
  let numItems = 0;
  for (let t = 0; t < T; t++) if (used[t]) dense[t] = numItems++;
  const tmpOf = new Int32Array(numItems);
  for (let t = 0; t < T; t++) if (dense[t] >= 0) tmpOf[dense[t]] = t;
  const ad = items.ad.data;
  const cate = items.cate.data;
  const brand = items.brand.data;

  // A field's vocabulary over the training occurrences of the items carrying each value (first-seen order).
  const itemVocab = (name: string, col: Int32Array, keys: string[], opts: VocabOptions): FieldVocab => {
    const cnt = new Float64Array(keys.length);
    const firstOf = new Float64Array(keys.length).fill(Infinity);
    for (let t = 0; t < T; t++) {
      const v = col[t];
      if (v < 0 || count[t] === 0) continue;
      cnt[v] += count[t];
      if (first[t] < firstOf[v]) firstOf[v] = first[t];
    }
    const order = Array.from({ length: keys.length }, (_, v) => v)
      .filter((v) => cnt[v] > 0)
      .sort((a, b) => firstOf[a] - firstOf[b]);
    return vocabFromCounts(name, order.map((v) => keys[v]), order.map((v) => cnt[v]), opts);
  };
  const fieldOf = (name: string, col: Int32Array, keys: string[], opts: VocabOptions): ItemField => {
    const vocab = itemVocab(name, col, keys, opts);
    const idOf = new Int32Array(keys.length).fill(-2);
    const values = new Int32Array(numItems);
    for (let d = 0; d < numItems; d++) {
      const v = col[tmpOf[d]];
      if (v >= 0 && idOf[v] === -2) idOf[v] = vocab.id(keys[v]);
      values[d] = v < 0 ? -1 : idOf[v];
    }
    return { ...vocab.field(), values };
  };

  // goods rows: adgroup vocabulary (behaviour items: −1)
  const goodsVocab = itemVocab('adgroup', ad, items.adKeys.keys, ctx.vocab);
  const goodsRows = new Int32Array(numItems);
  for (let d = 0; d < numItems; d++) {
    const a = ad[tmpOf[d]];
    goodsRows[d] = a < 0 ? -1 : goodsVocab.id(items.adKeys.keys[a]);
  }

  // price buckets → a temporary key column
  const price = items.price.data;
  const priceKeys = new Vocab();
  const priceCol = new Int32Array(T).fill(-1);
  let bucketOf: (x: number) => string;
  let boundaries: number[] = [];
  if (p.priceBuckets === 'log2') {
    bucketOf = priceOctave;
  } else {
    const prices: number[] = [];
    for (let t = 0; t < T; t++) if (ad[t] >= 0 && count[t] > 0 && !Number.isNaN(price[t])) prices.push(price[t]);
    prices.sort((a, b) => a - b);
    for (let q = 1; q < PRICE_QUANTILES; q++) {
      if (prices.length === 0) break;
      const b = prices[Math.floor((q * prices.length) / PRICE_QUANTILES)];
      if (boundaries.length === 0 || b > boundaries[boundaries.length - 1]) boundaries.push(b);
    }
    const bs = boundaries;
    bucketOf = (x) => {
      const k = upperBound(bs, 0, bs.length, x);
      if (bs.length === 0) return 'all';
      if (k === 0) return `<${bs[0]}`;
      if (k === bs.length) return `>=${bs[k - 1]}`;
      return `[${bs[k - 1]},${bs[k]})`;
    };
  }
  for (let t = 0; t < T; t++) if (used[t] && !Number.isNaN(price[t])) priceCol[t] = priceKeys.id(bucketOf(price[t]));

  const itemFields: ItemField[] = [
    fieldOf('brand', brand, items.brands.keys, ctx.vocab),
    fieldOf('campaign', items.campaign.data, items.campaigns.keys, ctx.vocab),
    fieldOf('customer', items.customer.data, items.customers.keys, ctx.vocab),
    fieldOf('price', priceCol, priceKeys.keys, {}),
  ];

  // attributes: the cate of each item (none for 'joined' ads only seen in histories)
  const attrId = new Int32Array(items.cates.size).fill(-1);
  const attrKeys: string[] = [];
  const attrOffsets = new Int32Array(numItems + 1);
  const attrList: number[] = [];
  for (let d = 0; d < numItems; d++) {
    const c = cate[tmpOf[d]];
    if (c >= 0) {
      if (attrId[c] < 0) {
        attrId[c] = attrKeys.length;
        attrKeys.push(items.cates.keys[c]);
      }
      attrList.push(attrId[c]);
    }
    attrOffsets[d + 1] = attrList.length;
  }
  const itemKeys = new Array<string>(numItems);
  let numAds = 0;
  for (let d = 0; d < numItems; d++) {
    const t = tmpOf[d];
    if (ad[t] >= 0) {
      itemKeys[d] = items.adKeys.keys[ad[t]];
      numAds++;
    } else {
      itemKeys[d] = `cate=${items.cates.keys[cate[t]]},brand=${brand[t] >= 0 ? items.brands.keys[brand[t]] : 'NULL'}`;
    }
  }
  const catalog: ItemCatalog = {
    numItems,
    numAttrs: attrKeys.length,
    attrOffsets,
    attrValues: Int32Array.from(attrList),
    goodsRows,
    numGoodsRows: goodsVocab.size,
    itemFields,
    itemKeys,
    attrKeys,
  };

  // ---- sample fields: vocabularies over the training samples ----
  const sampleFields: SampleField[] = [];
  const fieldCols: Int32Array[] = [];
  for (const f of p.fields) {
    const cnt = new Float64Array(f.keys.length);
    const order: number[] = [];
    const vals = f.values;
    const at = f.byUser ? p.user : null;
    for (let i = 0; i < N; i++) {
      if (p.test[i]) continue;
      const v = vals[at === null ? i : at[i]];
      if (v < 0) continue;
      if (cnt[v] === 0) order.push(v);
      cnt[v]++;
    }
    const vocab = vocabFromCounts(f.name, order.map((v) => f.keys[v]), order.map((v) => cnt[v]), f.idLike ? ctx.vocab : {});
    const idOf = Int32Array.from(f.keys, (k) => vocab.id(k));
    const missing = vocab.id(OOV_KEY);
    const col = new Int32Array(N);
    for (let i = 0; i < N; i++) {
      const v = vals[at === null ? i : at[i]];
      col[i] = v < 0 ? missing : idOf[v];
    }
    sampleFields.push({ ...vocab.field(), group: f.group });
    fieldCols.push(col);
  }

  // ---- splits (file order), sharing histValues ----
  const histValues = new Int32Array(hv.length);
  for (let k = 0; k < hv.length; k++) histValues[k] = dense[hv[k]];
  const make = (size: number, isTest: number): SampleSet => {
    const s = allocSampleSet(size, histValues);
    s.fieldValues = fieldCols.map(() => new Int32Array(size));
    let j = 0;
    for (let i = 0; i < N; i++) {
      if (p.test[i] !== isTest) continue;
      s.labels[j] = p.label[i];
      s.users[j] = p.user[i];
      s.items[j] = dense[p.item[i]];
      s.histStart[j] = p.histStart[i];
      s.histLen[j] = p.histLen[i];
      for (let f = 0; f < fieldCols.length; f++) s.fieldValues[f][j] = fieldCols[f][i];
      j++;
    }
    return s;
  };
  const train = make(nTrain, 0);
  const test = make(nTest, 1);
  let clicksTrain = 0;
  let clicksTest = 0;
  for (let i = 0; i < train.size; i++) clicksTrain += train.labels[i];
  for (let i = 0; i < test.size; i++) clicksTest += test.labels[i];
  let histTrain = 0;
  for (let i = 0; i < train.size; i++) histTrain += train.histLen[i];

  for (const msg of ctx.errors.firsts()) ctx.progress(`taobao: skipped ${msg}`);
  ctx.progress(
    `taobao (${p.layout}): ${p.userKeys.length} users, ${numItems} items (${numAds} ads, ${numItems - numAds} behaviour items), ` +
      `${attrKeys.length} categories; ${nTrain} train / ${nTest} test samples`,
  );
  return {
    name: p.name,
    format: 'taobao',
    catalog,
    numUsers: p.userKeys.length,
    userKeys: p.userKeys,
    train,
    test,
    sampleFields,
    skipped: ctx.errors.skipped,
    skippedExamples: ctx.errors.examples(),
    buildOptions: {
      ...p.buildOptions,
      maxHistory: ctx.maxHistory,
      vocab: { ...ctx.vocab },
      priceBuckets: p.priceBuckets === 'log2' ? 'log2-octaves' : `quantiles-${PRICE_QUANTILES}`,
      onError: ctx.policy,
    },
    stats: {
      users: p.userKeys.length,
      items: numItems,
      ads: numAds,
      behaviourItems: numItems - numAds,
      categories: attrKeys.length,
      goodsRows: goodsVocab.size,
      trainSamples: nTrain,
      testSamples: nTest,
      trainClicks: clicksTrain,
      testClicks: clicksTest,
      meanTrainHistory: nTrain > 0 ? histTrain / nTrain : 0,
      ...(boundaries.length > 0 ? { priceBuckets: boundaries.length + 1 } : {}),
      ...p.stats,
    },
  };
}

// ---------------------------------------------------------------------------------------------------------------------
// Line helpers

const short = (s: string, max = 60): string => (s.length > max ? `${s.slice(0, max - 3)}...` : s);
const isDigits = (s: string): boolean => {
  if (s.length === 0 || s.length > 18) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return true;
};
const MAX_TIME = 2 ** 31 - 1;
/** The value of a digit string without leading zeros (at most 15 digits), else −1. */
const canonical = (s: string): number =>
  s.length <= 15 && isDigits(s) && !(s.length > 1 && s.charCodeAt(0) === 48) ? Number(s) : -1;
const isNull = (s: string): boolean => s === '' || s === 'NULL' || s === 'null';

/** Column indices of `wanted` in a header line; throws naming the file and the missing columns. */
/**
 * Reads a comma-separated file with a header naming (at least) `columns`: calls `onRow(fields, col, lineNo)` for every
 * data line, where `col[k]` is the index of columns[k]. Blank lines are counted; a line with another field count than
 * the header is a row error `badFieldCountReason`. Returns the number of lines read.
 */
async function readCsvTable(file: string, columns: readonly string[], errors: RowErrors, badFieldCountReason: string,
  onRow: (fields: string[], col: number[], lineNo: number) => void): Promise<number> {
  let col: number[] = [];
  let width = 0;
  return readLines(file, (line, lineNo) => {
    if (lineNo === 1) {
      ({ index: col, width } = headerIndex(file, line, columns));
      return;
    }
    if (line.trim() === '') return errors.count('blankLines');
    const f = line.split(',');
    if (f.length !== width) {
      return errors.row(badFieldCountReason, file, lineNo, `expected ${width} comma-separated fields (${columns.join(',')}), got ${f.length}`);
    }
    onRow(f, col, lineNo);
  });
}

function headerIndex(file: string, line: string, wanted: readonly string[]): { index: number[]; width: number } {
  const names = line.split(',').map((s) => s.trim());
  const missing = wanted.filter((w) => !names.includes(w));
  if (missing.length > 0) {
    throw new Error(
      `${file}: missing column${missing.length > 1 ? 's' : ''} ${missing.join(', ')} ` +
        `(expected a header line with ${wanted.join(',')}; found "${short(line, 200)}")`,
    );
  }
  return { index: wanted.map((w) => names.indexOf(w)), width: names.length };
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

// ---------------------------------------------------------------------------------------------------------------------
// 'tianchi'

const BLOCK = 16; // (time, item) pairs per pool block
const CHUNK_SHIFT = 14; // blocks per chunk: 2^14 × 16 pairs × 8 bytes = 2 MB

/** Per-user lists of (time, item) pairs in a pool of fixed-size blocks (off the JS heap), appended in file order. */
class BehaviourLists {
  private chunks: Int32Array[] = [];
  private next = new Int32Array(1 << 12);
  private blocks = 0;
  private free = -1;
  readonly head: Int32Array;
  readonly tail: Int32Array;
  readonly count: Int32Array;

  constructor(users: number) {
    this.head = new Int32Array(users).fill(-1);
    this.tail = new Int32Array(users).fill(-1);
    this.count = new Int32Array(users);
  }

  private alloc(): number {
    let b = this.free;
    if (b >= 0) {
      this.free = this.next[b];
    } else {
      b = this.blocks++;
      if (b >> CHUNK_SHIFT >= this.chunks.length) this.chunks.push(new Int32Array((2 * BLOCK) << CHUNK_SHIFT));
      if (b >= this.next.length) {
        const n = new Int32Array(this.next.length * 2);
        n.set(this.next);
        this.next = n;
      }
    }
    this.next[b] = -1;
    return b;
  }

  push(u: number, t: number, item: number): void {
    const c = this.count[u];
    const k = c % BLOCK;
    let b: number;
    if (k === 0) {
      b = this.alloc();
      if (c === 0) this.head[u] = b;
      else this.next[this.tail[u]] = b;
      this.tail[u] = b;
    } else {
      b = this.tail[u];
    }
    const o = ((b & ((1 << CHUNK_SHIFT) - 1)) * BLOCK + k) * 2;
    const a = this.chunks[b >> CHUNK_SHIFT];
    a[o] = t;
    a[o + 1] = item;
    this.count[u] = c + 1;
  }

  /** Copies u's pairs in order into ts/items (long enough); returns their number. */
  read(u: number, ts: Int32Array, items: Int32Array): number {
    const n = this.count[u];
    let b = this.head[u];
    for (let i = 0; i < n; b = this.next[b]) {
      const a = this.chunks[b >> CHUNK_SHIFT];
      let o = (b & ((1 << CHUNK_SHIFT) - 1)) * BLOCK * 2;
      for (let k = 0; k < BLOCK && i < n; k++, i++, o += 2) {
        ts[i] = a[o];
        items[i] = a[o + 1];
      }
    }
    return n;
  }

  /** Empties u's list, returning its blocks to the pool. */
  clear(u: number): void {
    if (this.count[u] === 0) return;
    this.next[this.tail[u]] = this.free;
    this.free = this.head[u];
    this.head[u] = this.tail[u] = -1;
    this.count[u] = 0;
  }

  /** Frees the pool (the lists must not be used afterwards). */
  release(): void {
    this.chunks = [];
    this.next = new Int32Array(0);
  }

  get bytes(): number {
    return this.chunks.length * ((2 * BLOCK) << CHUNK_SHIFT) * 4 + this.next.length * 4;
  }
}

interface Impressions {
  user: IntColumn;
  time: IntColumn;
  item: IntColumn;
  pid: IntColumn;
  label: IntColumn;
}

async function loadTianchi(files: Extract<TaobaoFiles, { layout: 'tianchi' }>, ctx: Ctx, name: string): Promise<Parts> {
  const { errors, progress, maxHistory } = ctx;
  const items = new TmpItems();
  const stats: Record<string, number> = {};

  // ---- ad_feature ----
  const adLine = new IntColumn(1 << 12); // by adKeys index: its line
  {
    const file = files.adFeature;
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
          `adgroup_id ${adgroup} already described on line ${adLine.data[known]} (expected one line per adgroup)`);
      }
      items.addAd(adgroup, { cate: cateId, brand: isNull(brandRaw) ? null : brandRaw, campaign, customer, price });
      adLine.push(lineNo);
    });
    if (lines === 0) throw new Error(`${file}: empty file (expected a header line ${AD_COLUMNS.join(',')})`);
    progress(`taobao: ${items.adKeys.size} ads read from ${basename(file)}`);
  }

  // ---- raw_sample ----
  const users = new KeyIndex();
  const pids = new Vocab();
  const imp: Impressions = {
    user: new IntColumn(1 << 16),
    time: new IntColumn(1 << 16),
    item: new IntColumn(1 << 16),
    pid: new IntColumn(1 << 16),
    label: new IntColumn(1 << 16),
  };
  const adShown = new Uint8Array(items.adKeys.size);
  {
    const file = files.rawSample;
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
      imp.user.push(users.id(user));
      imp.time.push(time);
      imp.item.push(items.adItem.data[a]);
      imp.pid.push(pids.id(pid));
      imp.label.push(clk === '1' ? 1 : 0);
      if (imp.user.length % 5_000_000 === 0) progress(`taobao: ${imp.user.length} impressions read…`);
    });
    if (lines === 0) throw new Error(`${file}: empty file (expected a header line ${RAW_COLUMNS.join(',')})`);
    if (imp.user.length === 0) throw new Error(`${file}: no valid impression line${errors.hint()}`);
    let unshown = 0;
    for (let a = 0; a < adShown.length; a++) if (!adShown[a]) unshown++;
    errors.count('adsWithoutImpressions', unshown);
    progress(`taobao: ${imp.user.length} impressions of ${users.size} users read from ${basename(file)}`);
  }
  const N = imp.user.length;
  const U = users.size;
  const iUser = imp.user.data;
  const iTime = imp.time.data;

  // ---- distinct impression times per user (CSR, ascending) ----
  const impOff = new Int32Array(U + 1);
  for (let i = 0; i < N; i++) impOff[iUser[i] + 1]++;
  for (let u = 0; u < U; u++) impOff[u + 1] += impOff[u];
  const impTimes = new Int32Array(N);
  {
    const fill = impOff.slice(0, U);
    for (let i = 0; i < N; i++) impTimes[fill[iUser[i]]++] = iTime[i];
  }
  const distOff = new Int32Array(U + 1);
  {
    let w = 0;
    for (let u = 0; u < U; u++) {
      const seg = impTimes.subarray(impOff[u], impOff[u + 1]).sort();
      distOff[u] = w;
      for (let k = 0; k < seg.length; k++) if (k === 0 || seg[k] !== seg[k - 1]) impTimes[w++] = seg[k];
    }
    distOff[U] = w;
  }
  const lastTime = new Int32Array(U);
  for (let u = 0; u < U; u++) lastTime[u] = impTimes[distOff[u + 1] - 1];

  // ---- user_profile ----
  const P = PROFILE_FIELDS.length;
  const profile = PROFILE_FIELDS.map(() => new Int32Array(U).fill(-1));
  const profileLine = new Int32Array(U);
  const profileVocabs = PROFILE_FIELDS.map(() => new Vocab());
  {
    const file = files.userProfile;
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
      for (let k = 0; k < P; k++) if (v[k + 1] !== '') profile[k][u] = profileVocabs[k].id(v[k + 1]);
    });
    if (lines === 0) throw new Error(`${file}: empty file (expected a header line ${PROFILE_COLUMNS.join(',')})`);
    errors.count('userProfilesWithoutImpressions', unused);
    let without = 0;
    for (let u = 0; u < U; u++) if (profileLine[u] === 0) without++;
    stats.usersWithoutProfile = without;
  }

  // ---- behavior_log (streamed; per user only what a history can still hold) ----
  const lists = new BehaviourLists(U);
  const limit = new Int32Array(U).fill(Math.max(4 * maxHistory, 4 * BLOCK));
  let scratchT = new Int32Array(1024);
  let scratchI = new Int32Array(1024);
  let scratchO = new Int32Array(1024);
  let keptT = new Int32Array(1024);
  let keptI = new Int32Array(1024);
  let beyondCap = 0;
  /**
   * Sorts u's list by time (file order on ties) and keeps, per interval between two consecutive distinct impression
   * times, the maxHistory most recent: into keptT/keptI, ascending. Empties u's list; returns how many were kept.
   */
  const compact = (u: number): number => {
    const n = lists.count[u];
    if (n > scratchT.length) {
      const cap = Math.max(n, scratchT.length * 2);
      scratchT = new Int32Array(cap);
      scratchI = new Int32Array(cap);
      scratchO = new Int32Array(cap);
      keptT = new Int32Array(cap);
      keptI = new Int32Array(cap);
    }
    lists.read(u, scratchT, scratchI);
    const ts = scratchT;
    const order = scratchO.subarray(0, n);
    for (let k = 0; k < n; k++) order[k] = k;
    let sorted = true;
    for (let k = 1; k < n && sorted; k++) if (ts[k] < ts[k - 1]) sorted = false;
    if (!sorted) order.sort((a, b) => ts[a] - ts[b] || a - b);
    // walk from the most recent: bucket = number of impression times <= t; keep maxHistory per bucket
    const lo = distOff[u];
    const hi = distOff[u + 1];
    let bucket = -1;
    let inBucket = 0;
    let keep = 0; // kept entries are moved to the end of `order`, newest last
    for (let k = n - 1; k >= 0; k--) {
      const b = upperBound(impTimes, lo, hi, ts[order[k]]);
      if (b !== bucket) {
        bucket = b;
        inBucket = 0;
      }
      if (inBucket < maxHistory) {
        inBucket++;
        order[n - 1 - keep++] = order[k];
      }
    }
    beyondCap += n - keep;
    lists.clear(u);
    for (let k = 0; k < keep; k++) {
      const o = order[n - keep + k];
      keptT[k] = ts[o];
      keptI[k] = scratchI[o];
    }
    return keep;
  };

  let noUser = 0;
  let afterLast = 0;
  let kept = 0;
  {
    const file = files.behaviorLog;
    const t0 = performance.now();
    const diagnose = (line: string, lineNo: number): void => {
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
    };
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
        const pool = Math.round(lists.bytes / 2 ** 20);
        progress(`taobao: ${lineNo} behaviour lines read (${Math.round(lineNo / s)} lines/s), ${kept} kept, pool ${pool} MB…`);
      }
      const n = line.length;
      // user
      const uNum = scanUInt(line, 0);
      const uCanon = scanCanon;
      let e = scanEnd;
      if (uNum < 0 || e >= n) return line.trim() === '' ? errors.count('blankLines') : diagnose(line, lineNo);
      const uStart = 0;
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
      const u = uCanon ? users.getNum(uNum) : users.get(line.slice(uStart, uEnd));
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
      lists.push(u, t, item);
      kept++;
      if (lists.count[u] >= limit[u]) {
        const keep = compact(u);
        for (let k = 0; k < keep; k++) lists.push(u, keptT[k], keptI[k]);
        // next compaction when the list has grown by half (bounds the pool to ~1.5× what histories can use)
        limit[u] = keep + Math.max(keep >> 1, 2 * maxHistory, 2 * BLOCK);
      }
    });
    if (lines === 0) throw new Error(`${file}: empty file (expected a header line ${BEHAVIOR_COLUMNS.join(',')})`);
    const s = (performance.now() - t0) / 1000;
    stats.behaviourLines = Math.max(0, lines - 1);
    progress(
      `taobao: ${lines - 1} behaviour lines read from ${basename(file)} in ${s.toFixed(1)} s, ` +
        `${kept} before their user's last impression`,
    );
  }
  errors.count('behavioursOfUsersWithoutImpressions', noUser);
  errors.count('behavioursNotBeforeLastImpression', afterLast);

  // ---- flatten: each user's kept behaviours, ascending, stored once; each impression's history is the most recent
  // maxHistory of them strictly before its time ----
  const byUser = new Int32Array(N); // impressions grouped by user (impOff)
  {
    const fill = impOff.slice(0, U);
    for (let i = 0; i < N; i++) byUser[fill[iUser[i]]++] = i;
  }
  let total = 0;
  for (let u = 0; u < U; u++) total += lists.count[u];
  let histValues = new Int32Array(total);
  const histStart = new Int32Array(N);
  const histLen = new Int32Array(N);
  let w = 0;
  for (let u = 0; u < U; u++) {
    const keep = lists.count[u] > 0 ? compact(u) : 0;
    const base = w;
    for (let k = 0; k < keep; k++) histValues[w++] = keptI[k];
    for (let j = impOff[u]; j < impOff[u + 1]; j++) {
      const i = byUser[j];
      const end = base + lowerBound(keptT, 0, keep, iTime[i]);
      const len = Math.min(end - base, maxHistory);
      histStart[i] = end - len;
      histLen[i] = len;
    }
  }
  lists.release();
  if (w < total) histValues = histValues.slice(0, w);
  stats.behavioursKept = w;
  stats.behavioursBeyondHistoryCap = beyondCap;

  const test = new Uint8Array(N);
  for (let i = 0; i < N; i++) test[i] = iTime[i] >= ctx.testCut ? 1 : 0;
  const hourVocab = new Vocab();
  const hourTmp = new Int32Array(24).fill(-1);
  const hours = new Int32Array(N);
  for (let i = 0; i < N; i++) {
    const h = Math.floor((((iTime[i] + CST) % DAY) + DAY) % DAY / HOUR);
    if (hourTmp[h] < 0) hourTmp[h] = hourVocab.id(String(h));
    hours[i] = hourTmp[h];
  }
  const iPid = imp.pid.data;
  const fields: TmpSampleField[] = [
    ...PROFILE_FIELDS.map((name, k): TmpSampleField => ({
      name,
      group: 'user',
      idLike: true,
      keys: profileVocabs[k].keys,
      values: profile[k],
      byUser: true,
    })),
    { name: 'pid', group: 'context', idLike: false, keys: pids.keys, values: iPid.subarray(0, N) },
    { name: 'hour', group: 'context', idLike: false, keys: hourVocab.keys, values: hours },
  ];
  return {
    layout: 'tianchi',
    name,
    items,
    priceBuckets: 'log2',
    n: N,
    user: imp.user.data.subarray(0, N),
    item: imp.item.data.subarray(0, N),
    label: Uint8Array.from(imp.label.data.subarray(0, N)),
    test,
    histStart,
    histLen,
    histValues,
    userKeys: users.keys,
    fields,
    stats,
    buildOptions: { layout: 'tianchi', split: 'time', testDay: ctx.testDay },
  };
}

const HOUR = 3600;
const DAY = 86400;
/** The data's days and hours are Beijing time (UTC+8). */
const CST = 8 * HOUR;

/** Unix seconds of 00:00 UTC+8 of a YYYY-MM-DD day; throws on anything else. */
export function taobaoDayStart(day: string): number {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(day);
  const ms = m === null ? NaN : Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]));
  if (m === null || !Number.isFinite(ms) || new Date(ms).toISOString().slice(0, 10) !== day) {
    throw new Error(`testDay must be a date YYYY-MM-DD, got ${String(day)}`);
  }
  return ms / 1000 - CST;
}

// ---------------------------------------------------------------------------------------------------------------------
// 'joined'

const DATETIME_RE = /^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2})$/;

/** Unix seconds and hour (UTC+8) of a joined time_stamp ("YYYY-MM-DD HH:MM:SS" Beijing time, or Unix seconds). */
function joinedTime(s: string): { t: number; hour: number } | null {
  if (isDigits(s)) {
    const t = Number(s);
    if (t > MAX_TIME) return null;
    return { t, hour: Math.floor((((t + CST) % DAY) + DAY) % DAY / HOUR) };
  }
  const m = DATETIME_RE.exec(s);
  if (m === null) return null;
  const [y, mo, d, h, mi, se] = m.slice(1).map(Number);
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 60) return null;
  return { t: Date.UTC(y, mo - 1, d, h, mi, se) / 1000 - CST, hour: h };
}

async function loadJoined(files: Extract<TaobaoFiles, { layout: 'joined' | 'sampled' }>, ctx: Ctx, name: string): Promise<Parts> {
  const { errors, progress, maxHistory } = ctx;
  const items = new TmpItems();
  const users = new KeyIndex();
  const pids = new Vocab();
  const hourVocab = new Vocab();
  const profileVocabs = PROFILE_FIELDS.map(() => new Vocab());
  const P = PROFILE_FIELDS.length;
  const sUser = new IntColumn();
  const sItem = new IntColumn();
  const sLabel = new IntColumn();
  const sTest = new IntColumn();
  const sStart = new IntColumn();
  const sLen = new IntColumn();
  const sPid = new IntColumn();
  const sHour = new IntColumn();
  const sProfile = PROFILE_FIELDS.map(() => new IntColumn());
  const hist = new IntColumn(1 << 12);
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
      sStart.push(hist.length);
      for (let k = from; k < seq.length; k++) {
        let h = items.adOf(seq[k]);
        if (h < 0) h = items.addAd(seq[k], null);
        hist.push(h);
      }
      sLen.push(seq.length - from);
      sUser.push(users.id(user));
      sItem.push(item);
      sLabel.push(clk === '1' ? 1 : 0);
      sTest.push(files.test === null ? (time.t >= ctx.testCut ? 1 : 0) : part);
      sPid.push(pids.id(pid));
      sHour.push(hourVocab.id(String(time.hour)));
      for (let k = 0; k < P; k++) sProfile[k].push(v[10 + k] === '' ? -1 : profileVocabs[k].id(v[10 + k]));
    });
    if (lines === 0) throw new Error(`${file}: empty file (expected a header line ${JOINED_COLUMNS.join(',')})`);
    progress(`taobao: ${basename(file)} read (${lines} lines)`);
  }
  errors.count('adFeatureConflicts', conflicts);
  const N = sUser.length;
  if (N === 0) throw new Error(`${files.train}: no valid sample line${errors.hint()}`);
  let historyOnly = 0;
  for (let t = 0; t < items.size; t++) if (items.known.data[t] === 0) historyOnly++;
  return {
    layout: 'joined',
    name,
    items,
    priceBuckets: 'log2',
    n: N,
    user: sUser.toArray(),
    item: sItem.toArray(),
    label: Uint8Array.from(sLabel.data.subarray(0, N)),
    test: Uint8Array.from(sTest.data.subarray(0, N)),
    histStart: sStart.toArray(),
    histLen: sLen.toArray(),
    histValues: hist.toArray(),
    userKeys: users.keys,
    fields: [
      ...PROFILE_FIELDS.map((fname, k): TmpSampleField => ({
        name: fname, group: 'user', idLike: true, keys: profileVocabs[k].keys, values: sProfile[k].toArray(),
      })),
      { name: 'pid', group: 'context', idLike: false, keys: pids.keys, values: sPid.toArray() },
      { name: 'hour', group: 'context', idLike: false, keys: hourVocab.keys, values: sHour.toArray() },
    ],
    stats: { historyOnlyAds: historyOnly, historiesCapped: capped },
    buildOptions:
      files.test === null
        ? { layout: 'joined', split: 'time', testDay: ctx.testDay }
        : { layout: 'joined', split: 'files' },
  };
}

// ---------------------------------------------------------------------------------------------------------------------
// 'sampled'

async function loadSampled(
  files: Extract<TaobaoFiles, { layout: 'joined' | 'sampled' }>,
  ctx: Ctx,
  name: string,
  seed: number,
  testFraction: number,
): Promise<Parts> {
  const { errors, progress, maxHistory } = ctx;
  const items = new TmpItems();
  const users = new KeyIndex();
  const pids = new Vocab();
  const profileVocabs = PROFILE_FIELDS.map(() => new Vocab());
  const P = PROFILE_FIELDS.length;
  const sUser = new IntColumn(1 << 12);
  const sItem = new IntColumn(1 << 12);
  const sLabel = new IntColumn(1 << 12);
  const sPart = new IntColumn(1 << 12);
  const sStart = new IntColumn(1 << 12);
  const sLen = new IntColumn(1 << 12);
  const sPid = new IntColumn(1 << 12);
  const sProfile = PROFILE_FIELDS.map(() => new IntColumn(1 << 12));
  const hist = new IntColumn(1 << 16);
  const cur = new Int32Array(SAMPLED_HIST);
  let prevUser = -1;
  let prevStart = 0;
  let prevLen = -1;
  let shared = 0;
  const parts = files.test === null ? [files.train] : [files.train, files.test];
  for (let part = 0; part < parts.length; part++) {
    const file = parts[part];
    prevUser = -1;
    const lines = await readLines(file, (line, lineNo) => {
      if (line.trim() === '') return errors.count('blankLines');
      const f = line.split(',');
      if (f.length !== SAMPLED_COLS) {
        return errors.row('sampledBadFieldCount', file, lineNo,
          `expected ${SAMPLED_COLS} comma-separated numbers (DMR's alimama layout), got ${f.length} fields`);
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
      const from = Math.max(0, n - maxHistory);
      const len = n - from;
      let same = u === prevUser && len === prevLen;
      for (let k = 0; same && k < len; k++) if (hist.data[prevStart + k] !== cur[from + k]) same = false;
      if (same) {
        shared++;
      } else {
        prevStart = hist.length;
        for (let k = from; k < n; k++) hist.push(cur[k]);
      }
      prevUser = u;
      prevLen = len;
      sStart.push(prevStart);
      sLen.push(len);
      sUser.push(u);
      sItem.push(item);
      sLabel.push(f[S_LABEL] === '1' ? 1 : 0);
      sPart.push(part);
      sPid.push(pids.id(f[S_PID]));
      for (let k = 0; k < P; k++) sProfile[k].push(profileVocabs[k].id(f[S_PROFILE + k]));
    });
    if (lines === 0) throw new Error(`${file}: empty file (expected lines of ${SAMPLED_COLS} comma-separated numbers)`);
    progress(`taobao: ${basename(file)} read (${lines} lines)`);
  }
  const N = sUser.length;
  if (N === 0) throw new Error(`${files.train}: no valid sample line${errors.hint()}`);
  const test = new Uint8Array(N);
  if (files.test === null) {
    const U = users.size;
    const nTest = Math.round(testFraction * U);
    const perm = new Rng(seed).shuffle(Array.from({ length: U }, (_, i) => i));
    const isTest = new Uint8Array(U);
    for (let k = 0; k < nTest; k++) isTest[perm[k]] = 1;
    for (let i = 0; i < N; i++) test[i] = isTest[sUser.data[i]];
  } else {
    for (let i = 0; i < N; i++) test[i] = sPart.data[i];
  }
  return {
    layout: 'sampled',
    name,
    items,
    priceBuckets: 'quantile',
    n: N,
    user: sUser.toArray(),
    item: sItem.toArray(),
    label: Uint8Array.from(sLabel.data.subarray(0, N)),
    test,
    histStart: sStart.toArray(),
    histLen: sLen.toArray(),
    histValues: hist.toArray(),
    userKeys: users.keys,
    fields: [
      ...PROFILE_FIELDS.map((fname, k): TmpSampleField => ({
        name: fname, group: 'user', idLike: true, keys: profileVocabs[k].keys, values: sProfile[k].toArray(),
      })),
      { name: 'pid', group: 'context', idLike: false, keys: pids.keys, values: sPid.toArray() },
    ],
    stats: { sharedHistories: shared },
    buildOptions:
      files.test === null
        ? { layout: 'sampled', split: 'users', seed, testFraction }
        : { layout: 'sampled', split: 'files' },
  };
}

// ---------------------------------------------------------------------------------------------------------------------

/** Builds the Dataset of the Taobao data at `path` (layout auto-detected; see the file header). */
export async function loadTaobao(path: string, opts: TaobaoOptions = {}): Promise<Dataset> {
  const files = resolveFiles(path);
  const policy = rowErrorPolicy(opts.onError);
  const maxHistory = opts.maxHistory ?? TAOBAO_DEFAULT_MAX_HISTORY;
  if (!(Number.isInteger(maxHistory) && maxHistory >= 1)) {
    throw new Error(`maxHistory must be a positive integer, got ${maxHistory}`);
  }
  const vocab = { ...(opts.vocab ?? {}) };
  validateVocabOptions(vocab, 'taobao vocab');
  const testDay = opts.testDay ?? TAOBAO_DEFAULT_TEST_DAY;
  const testCut = taobaoDayStart(testDay);
  const seed = opts.seed ?? 1;
  const testFraction = opts.testFraction ?? TAOBAO_DEFAULT_TEST_FRACTION;
  if (files.layout === 'sampled' && files.test === null && !(testFraction > 0 && testFraction < 1)) {
    throw new Error(`testFraction must be in (0, 1), got ${testFraction}`);
  }
  const abs = resolve(path);
  const stem = basename(abs).replace(/\.(csv|txt)(\.gz)?$/i, '');
  const name = opts.name ?? (isFileAt(abs) && files.layout !== 'tianchi' ? stem : basename(files.dir));
  const ctx: Ctx = {
    errors: new RowErrors(policy),
    policy,
    progress: opts.onProgress ?? (() => {}),
    maxHistory,
    vocab,
    testCut,
    testDay,
  };
  let parts: Parts;
  if (files.layout === 'tianchi') parts = await loadTianchi(files, ctx, name);
  else if (files.layout === 'joined') parts = await loadJoined(files, ctx, name);
  else parts = await loadSampled(files, ctx, name, seed, testFraction);
  return assemble(parts, ctx);
}
