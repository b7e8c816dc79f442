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
 * Items, vocabularies (built from the TRAINING split only; see ../../field-vocab.ts):
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
 * Errors vs. counts (`onError`, the policy of ../row-errors.ts):
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
 * Memory: `loadTaobao` builds the whole Dataset (for 'tianchi' see ./tianchi.ts: behavior_log is streamed and only
 * what a history can hold is kept, ~57 bytes per impression plus the shared histories). `convertTaobaoToShards`
 * writes SampleSet shards with memory bounded independently of the logs (./convert.ts, ./tianchi-stream.ts).
 *
 * Files: ./layout.ts (detection), ./context.ts (options), ./text.ts (fields, times, tables), ./items.ts (items while
 * reading), ./tianchi-read.ts + ./tianchi.ts + ./tianchi-stream.ts, ./joined.ts, ./sampled.ts, ./rows.ts (the
 * layouts), ./chunk.ts + ./counter.ts + ./assemble.ts + ./vocab.ts (samples → Dataset or shards), ./convert.ts.
 */
import type { Dataset } from '../../../core/types.js';
import { assemble } from './assemble.js';
import { taobaoContext, type TaobaoOptions } from './context.js';
import { readJoined, JOINED_FIELDS } from './joined.js';
import { resolveFiles } from './layout.js';
import { TaobaoRows } from './rows.js';
import { readSampled, SAMPLED_FIELDS } from './sampled.js';
import { readTianchi } from './tianchi.js';

export type { RowErrorPolicy } from '../row-errors.js';
export { vocabFromCounts, priceOctave } from './vocab.js';
export { convertTaobaoToShards, type TaobaoConvertOptions } from './convert.js';
export { TAOBAO_DEFAULT_MAX_HISTORY, TAOBAO_DEFAULT_TEST_DAY, TAOBAO_DEFAULT_TEST_FRACTION, type TaobaoOptions } from './context.js';
export { findTaobaoFiles, taobaoLayout, taobaoSourceFiles, taobaoUnsupported, type TaobaoFiles, type TaobaoLayout } from './layout.js';
export { taobaoDayStart } from './text.js';

/** Builds the Dataset of the Taobao data at `path` (layout auto-detected; see the file header). */
export async function loadTaobao(path: string, opts: TaobaoOptions = {}): Promise<Dataset> {
  const files = resolveFiles(path);
  const ctx = taobaoContext(path, files, opts);
  if (files.layout === 'tianchi') {
    const { meta, chunk } = await readTianchi(files, ctx);
    return assemble(meta, chunk, ctx);
  }
  const rows = new TaobaoRows(files.layout === 'joined' ? JOINED_FIELDS : SAMPLED_FIELDS);
  const meta = files.layout === 'joined' ? await readJoined(files, ctx, rows) : await readSampled(files, ctx, rows);
  return assemble(meta, rows.take(), ctx);
}
