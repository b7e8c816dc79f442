/**
 * Test harness: a real local Redis Cluster (3 masters + 3 replicas) started by scripts/redis-cluster.sh on a free
 * port range in a fresh temporary directory, stopped when the process exits (and by a watchdog if the process is
 * killed). No mocks, no skipping: without redis-server the tests fail with the command that installs it.
 *
 * Port ranges: bases 12000 + 8k (k < 1250), so the nodes use 12000..21999 and their cluster bus ports (+10000)
 * 22000..31999 (below Linux's ephemeral range). A range is claimed with an exclusive lock file (its owner's pid) in
 * the temp directory before its ports are probed, so test files starting clusters at the same time never collide.
 */
import { execFile, spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** scripts/redis-cluster.sh (from dist/test/store/ or test/store/). */
export function scriptPath(): string {
  for (const up of ['../../../scripts/redis-cluster.sh', '../../scripts/redis-cluster.sh']) {
    const p = fileURLToPath(new URL(up, import.meta.url));
    if (existsSync(p)) return p;
  }
  throw new Error('scripts/redis-cluster.sh not found next to the tests');
}

export interface TestCluster {
  /** `redis://127.0.0.1:p0,…,127.0.0.1:p5`. */
  url: string;
  dir: string;
  ports: number[];
  /** pid per port (null: not running). */
  pids(): Record<number, number | null>;
  /** kill -9 the node on `port`. */
  killNode(port: number): void;
  /** Runs `scripts/redis-cluster.sh <action> dir` (start restarts stopped nodes); returns its output. */
  script(action: 'start' | 'stop' | 'status'): Promise<string>;
  stop(): Promise<void>;
}

const INSTALL = 'redis-server not found: the Redis store tests need a local Redis (Debian/Ubuntu: apt-get install -y redis-server; macOS: brew install redis)';

/** Throws with the install command when redis-server / redis-cli are missing. */
export function requireRedis(): void {
  for (const bin of ['redis-server', 'redis-cli']) {
    const r = spawnSync(bin, ['--version'], { encoding: 'utf8' });
    if (r.error || r.status !== 0) throw new Error(`${INSTALL} (${bin}: ${r.error?.message ?? r.stderr})`);
  }
}

const LOCK_DIR = join(tmpdir(), 'din-redis-test-ports');

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Claims range k (lock file with our pid; a lock whose owner died is taken over). */
function claim(k: number): string | null {
  mkdirSync(LOCK_DIR, { recursive: true });
  const f = join(LOCK_DIR, `${k}.lock`);
  for (let i = 0; i < 2; i++) {
    try {
      const fd = openSync(f, 'wx');
      writeFileSync(fd, String(process.pid));
      closeSync(fd);
      return f;
    } catch {
      let owner = 0;
      try {
        owner = Number(readFileSync(f, 'utf8'));
      } catch { /* gone */ }
      if (owner && alive(owner)) return null;
      try {
        unlinkSync(f);
      } catch { /* raced */ }
    }
  }
  return null;
}

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

function run(file: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile(file, args, { env: { ...process.env, ...env }, timeout: 120000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, out: `${stdout}${stderr}` });
    });
  });
}

const live = new Set<{ dir: string; lock: string; stopped: boolean }>();
let exitHook = false;

function stopSync(c: { dir: string; lock: string; stopped: boolean }): void {
  if (c.stopped) return;
  c.stopped = true;
  spawnSync(scriptPath(), ['stop', c.dir], { stdio: 'ignore', timeout: 20000 });
  rmSync(c.dir, { recursive: true, force: true });
  try {
    unlinkSync(c.lock);
  } catch { /* */ }
}

/**
 * Starts a cluster of 3 masters + 3 replicas for this test process. `nodeTimeoutMs`: cluster-node-timeout (2000
 * by default: failover within a few seconds).
 */
export async function startCluster(opts: { nodeTimeoutMs?: number } = {}): Promise<TestCluster> {
  requireRedis();
  const script = scriptPath();
  let lastErr = '';
  for (let attempt = 0; attempt < 20; attempt++) {
    const k = Math.floor(Math.random() * 1250);
    const lock = claim(k);
    if (!lock) continue;
    const base = 12000 + 8 * k;
    const ports = Array.from({ length: 6 }, (_, i) => base + i);
    const free = await Promise.all([...ports, ...ports.map((p) => p + 10000)].map(portFree));
    if (!free.every(Boolean)) {
      unlinkSync(lock);
      continue;
    }
    const dir = mkdtempSync(join(tmpdir(), 'din-redis-'));
    const state = { dir, lock, stopped: false };
    const env = { REDIS_CLUSTER_NODE_TIMEOUT: String(opts.nodeTimeoutMs ?? 2000) };
    const r = await run(script, ['start', dir, String(base)], env);
    if (r.code !== 0) {
      lastErr = r.out.trim();
      stopSync(state);
      if (/not found|apt-get install/.test(lastErr)) throw new Error(`${INSTALL}: ${lastErr}`);
      if (/busy|did not start/.test(lastErr)) continue;
      throw new Error(`scripts/redis-cluster.sh start failed: ${lastErr}`);
    }
    live.add(state);
    if (!exitHook) {
      exitHook = true;
      process.on('exit', () => {
        for (const c of live) stopSync(c);
      });
      for (const sig of ['SIGINT', 'SIGTERM'] as const) {
        process.once(sig, () => {
          for (const c of live) stopSync(c);
          process.exit(130);
        });
      }
    }
    // A watchdog stops the cluster should this process die without running its exit hook (SIGKILL, crash).
    const watchdog = spawn('sh', ['-c', `while kill -0 ${process.pid} 2>/dev/null; do sleep 1; done; "${script}" stop "${dir}" >/dev/null 2>&1; rm -rf "${dir}" "${lock}"`], {
      detached: true, stdio: 'ignore',
    });
    watchdog.unref();
    const pids = (): Record<number, number | null> => {
      const out: Record<number, number | null> = {};
      for (const p of ports) {
        try {
          const pid = Number(readFileSync(join(dir, String(p), 'redis.pid'), 'utf8'));
          out[p] = pid && alive(pid) ? pid : null;
        } catch {
          out[p] = null;
        }
      }
      return out;
    };
    return {
      url: `redis://${ports.map((p) => `127.0.0.1:${p}`).join(',')}`,
      dir,
      ports,
      pids,
      killNode(port: number) {
        const pid = pids()[port];
        if (!pid) throw new Error(`node ${port} is not running`);
        process.kill(pid, 'SIGKILL');
      },
      async script(action) {
        const res = await run(script, action === 'start' ? [action, dir, String(base)] : [action, dir], env);
        if (res.code !== 0) throw new Error(`scripts/redis-cluster.sh ${action} ${dir}: ${res.out.trim()}`);
        return res.out;
      },
      async stop() {
        live.delete(state);
        stopSync(state);
      },
    };
  }
  throw new Error(`no free port range for a test cluster after 20 tries${lastErr ? `: ${lastErr}` : ''}`);
}

/** A standalone (non-cluster) redis-server on a free port, for the "not a cluster" error. */
export async function startStandalone(): Promise<{ url: string; stop(): void }> {
  requireRedis();
  for (let attempt = 0; attempt < 20; attempt++) {
    const k = Math.floor(Math.random() * 1250);
    const lock = claim(k);
    if (!lock) continue;
    const port = 12000 + 8 * k;
    if (!(await portFree(port))) {
      unlinkSync(lock);
      continue;
    }
    const dir = mkdtempSync(join(tmpdir(), 'din-redis-solo-'));
    const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], { stdio: 'ignore' });
    const stop = () => {
      child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
      try {
        unlinkSync(lock);
      } catch { /* */ }
    };
    process.on('exit', stop);
    for (let i = 0; i < 100 && (await portFree(port)); i++) await new Promise((r) => setTimeout(r, 50));
    return { url: `redis://127.0.0.1:${port}`, stop };
  }
  throw new Error('no free port for a standalone redis-server');
}
