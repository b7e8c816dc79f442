import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const created: string[] = [];
process.on('exit', () => {
  for (const d of created) rmSync(d, { recursive: true, force: true });
});

/** A fresh temp directory holding `files` (name → content); removed when the test process exits. */
export function tmpFixture(files: Record<string, string>, prefix = 'din-test-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  created.push(dir);
  for (const [name, content] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, name)), { recursive: true });
    writeFileSync(join(dir, name), content);
  }
  return dir;
}

/** Repository root (tests run from dist/test/data). */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
/** The shared, read-only data directory beside the repository. */
export const SHARED_DATA = resolve(REPO_ROOT, '..', 'shared', 'data');

export const AMAZON_FIXTURE = {
  'Mini.txt': 'u1 a b c d\nu2 b e f\nu3 a z\nu4 c a e g b\n',
  'Mini_item2attributes.json': '{"a": [1, 2], "b": [2], "c": [3], "d": [], "e": [1, 1], "z": [9]}',
};

export const MOVIELENS_FIXTURE = {
  'movies.csv':
    'movieId,title,genres\r\n' +
    '1,Toy Story (1995),Adventure|Animation\r\n' +
    '2,"American President, The (1995)",Comedy|Drama|Romance\r\n' +
    '3,"Quote ""Test"", Part 2 (2000)",(no genres listed)\r\n' +
    '4,Unrated Movie (1990),Horror\r\n',
  'ratings.csv':
    'userId,movieId,rating,timestamp\n' +
    '10,2,4.0,300\n' +
    '10,1,3.5,100\n' +
    '10,3,5.0,300\n' +
    '20,1,4.0,50\n' +
    '20,5,2.0,60\n' +
    '30,3,1.0,10\n' +
    '30,2,4.5,20\n',
};
