import { join, resolve } from 'node:path';
import { Command } from 'commander';
import { DATASETS, defaultDataRoot, fetchDataset } from '../data/fetch.js';
import { convertToShards } from '../data/convert.js';
import { resolveDataPath } from '../data/load.js';
import type { ShardManifest } from '../data/shards.js';
import { rowErrorPolicy } from '../data/sources/row-errors.js';
import { DEFAULT_SORT_MB } from '../data/stream/job.js';
import { addDataOptions, intArg } from './options.js';
import { log, skippedLine } from './common.js';

/** Default rows per shard of `din data convert`. */
export const DEFAULT_SHARD_ROWS = 1_000_000;

const ROOT_HELP = 'data root: the dataset goes to <path>/<name> (default: $DIN_DATA_DIR, else ./data)';

/** `din data fetch NAME` and `din data list`. */
export function dataCommand(): Command {
  const data = new Command('data').description('download public datasets (fetch), show which ones din knows (list), convert data into shards for logs larger than memory (convert)');

  data
    .command('fetch')
    .description(
      'download a dataset from its official URL (resumable, checksum-checked; zips are extracted, .gz files kept as they are)',
    )
    .argument('<name>', 'dataset name, see `din data list`')
    .option('--dir <path>', ROOT_HELP)
    .option('--url <url>', 'download from this URL instead (a mirror); for a several-file dataset a base URL ending in "/"')
    .option('--sha256 <hex>', 'require this SHA-256 of the download (a mismatch deletes it and fails)')
    .option('--force', 'download again even if the dataset is already there')
    .option('-q, --quiet', 'no progress bar and no messages; only the result line')
    .action(async (name: string, o: { dir?: string; url?: string; sha256?: string; force?: boolean; quiet?: boolean }) => {
      const r = await fetchDataset(name, { root: o.dir, url: o.url, sha256: o.sha256, force: o.force, quiet: o.quiet });
      console.log(`${r.name}: ${r.dir} (${r.files.join(', ')})`);
    });

  data
    .command('list')
    .description('list the datasets `din data fetch` knows: source, size, licence, and where each goes')
    .option('--dir <path>', ROOT_HELP)
    .option('--json', 'print the registry as JSON')
    .action((o: { dir?: string; json?: boolean }) => {
      const root = resolve(o.dir ?? defaultDataRoot());
      if (o.json) {
        console.log(JSON.stringify(DATASETS.map((d) => ({ ...d, target: join(root, d.dir) })), null, 2));
        return;
      }
      const lines: string[] = [];
      for (const d of DATASETS) {
        lines.push(`${d.name} — ${d.title}`);
        if (d.files.length === 0) {
          lines.push(`  source   manual download (needs a login): ${d.homepage}`);
        } else {
          d.files.forEach((f, i) => {
            const checks = [
              f.size !== null ? `${f.size} bytes` : null,
              f.sha256 ? 'sha256 pinned' : f.md5 ? 'md5 pinned' : 'no hash pinned',
            ].filter(Boolean);
            lines.push(`  ${i === 0 ? 'source ' : '       '}  ${f.url} (${checks.join(', ')})`);
          });
        }
        if (d.approxSize) lines.push(`  size     ${d.approxSize}`);
        const how = d.files.some((f) => f.archive === 'zip')
          ? 'extracted from the zip'
          : d.files.some((f) => f.archive === 'gzip')
            ? 'kept gzipped'
            : 'put there by hand';
        lines.push(`  into     ${join(root, d.dir)}: ${d.produces.join(', ')} (${how})`);
        if (d.note) lines.push(`  note     ${d.note}`);
        lines.push(`  licence  ${d.licence}`);
        lines.push(`  homepage ${d.homepage}`);
        lines.push('');
      }
      lines.push('fetch one with `din data fetch NAME` (--dir to choose the root, --url for a mirror)');
      console.log(lines.join('\n'));
    });

  const convert = data
    .command('convert')
    .description(
      'convert a dataset into binary SampleSet shards that din train / din eval read one at a time (--data DIR). Every format ' +
        'streams: memory is bounded by --shard-rows and --memory-mb (the external sorts\' runs, spilled to a temporary directory ' +
        'inside --out), not by the size of the logs; only per-id state (vocabularies, catalog keys, users) grows with the data',
    );
  addDataOptions(convert);
  convert
    .requiredOption('--out <dir>', 'shard directory to write (created; an earlier shard set there is replaced)')
    .option('--shard-rows <n>', 'samples per shard (and samples held in memory while converting)', intArg('--shard-rows'), DEFAULT_SHARD_ROWS)
    .option('--memory-mb <n>', 'memory budget of each external sort\'s runs in MiB (amazon-raw, movielens, taobao tianchi)', intArg('--memory-mb'), DEFAULT_SORT_MB)
    .action(async (o) => {
      const spec = resolveDataPath({ path: o.data, dataset: o.dataset });
      const src = spec.startsWith('synthetic') ? spec : resolve(spec);
      const progress = o.quiet ? undefined : (m: string) => log(m);
      const vocab = { minCount: o.minCount, topK: o.topK, hashBuckets: o.hashBuckets };
      const t0 = performance.now();
      const m: ShardManifest = await convertToShards(src, o.out, {
        format: o.format, seed: o.dataSeed, onError: rowErrorPolicy(o.onError), vocab,
        shardRows: o.shardRows, memoryMB: o.memoryMb, onProgress: progress,
      });
      const c = m.conversion as { skipped?: Record<string, number>; skippedExamples?: string[] } | undefined;
      const skipped = skippedLine({ skipped: c?.skipped ?? {}, skippedExamples: c?.skippedExamples });
      if (skipped !== null && !o.quiet) log(skipped);
      const seconds = (performance.now() - t0) / 1000;
      console.log(
        `${m.name}: ${m.train} train / ${m.test} test samples in ${m.shards.length} shard(s) at ${resolve(o.out)} ` +
          `(${seconds.toFixed(1)} s, ${Math.round((m.train + m.test) / Math.max(seconds, 1e-9))} samples/s, peak RSS ${Math.round(process.resourceUsage().maxRSS / 1024)} MB)`,
      );
    });

  return data;
}
