/**
 * The Taobao layouts on disk (see ./index.ts): the files of each, their columns, and detection — 'tianchi' when
 * raw_sample.csv[.gz] is there, else 'joined' / 'sampled' from what the files' first lines look like; Taobao's
 * UserBehavior data is recognised and refused.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { listFiles } from '../../../util/fs.js';
import { readHead } from '../../parse/files.js';
import { BTAGS, DIGITS_RE, NUMBER_RE } from './text.js';

/**
 * Which Taobao file layout a directory holds (see ./index.ts): `tianchi` (the four raw files), `joined` (one CSV
 * per split with a click_sequence column) or `sampled` (DMR's 267-column preprocessed file).
 */
export type TaobaoLayout = 'tianchi' | 'joined' | 'sampled';

/** The files of a Taobao dataset, by layout. */
export type TaobaoFiles =
  | { layout: 'tianchi'; dir: string; rawSample: string; adFeature: string; userProfile: string; behaviorLog: string }
  | { layout: 'joined' | 'sampled'; dir: string; train: string; test: string | null };

export const TIANCHI_FILES = {
  rawSample: 'raw_sample.csv',
  adFeature: 'ad_feature.csv',
  userProfile: 'user_profile.csv',
  behaviorLog: 'behavior_log.csv',
} as const;
export type TianchiKey = keyof typeof TIANCHI_FILES;
export const TIANCHI_KEYS = Object.keys(TIANCHI_FILES) as TianchiKey[];

export const PROFILE_FIELDS = [
  'cms_segid',
  'cms_group_id',
  'final_gender_code',
  'age_level',
  'pvalue_level',
  'shopping_level',
  'occupation',
  'new_user_class_level',
] as const;
export const AD_COLUMNS = ['adgroup_id', 'cate_id', 'campaign_id', 'customer', 'brand', 'price'] as const;
export const PROFILE_COLUMNS = ['userid', ...PROFILE_FIELDS] as const;
export const RAW_COLUMNS = ['user', 'time_stamp', 'adgroup_id', 'pid', 'nonclk', 'clk'] as const;
export const BEHAVIOR_COLUMNS = ['user', 'time_stamp', 'btag', 'cate', 'brand'] as const;
export const JOINED_COLUMNS = [
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
export const SAMPLED_HIST = 50;
export const SAMPLED_COLS = 267;
export const S_CATE = 50;
export const S_BRAND = 100;
export const S_MASK = 150;
export const S_UID = 250;
export const S_PROFILE = 251;
export const S_AD = 259;
export const S_PRICE = 264;
export const S_PID = 265;
export const S_LABEL = 266;

const DATA_NAME_RE = /\.(csv|txt)(\.gz)?$/i;

const plainOrGz = (dir: string, name: string): string | null => {
  for (const n of [name, `${name}.gz`]) if (isFileAt(join(dir, n))) return join(dir, n);
  return null;
};
export const isFileAt = (p: string): boolean => {
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
    buf = readHead(file, 1 << 18);
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

export function resolveFiles(path: string): TaobaoFiles {
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
