/**
 * Throughput of the Redis store and group on this machine (not a test: run `node dist/test/store/redis-bench.js`).
 * Starts its own local cluster (3 masters + 3 replicas), then measures:
 *   - rows/s of write and read calls of 64-float rows (and 64 + 128 Adam state) for several rows per call;
 *   - allToAll of 300 KB between 2 processes (child processes of test/store/group-child.ts);
 * and prints one line per measurement.
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { openRedisStore } from '../../src/store/redis-store.js';
import type { StoreTable } from '../../src/store/types.js';
import { startCluster } from './cluster.js';

async function main(): Promise<void> {
  const cluster = await startCluster();
  try {
    const tables: StoreTable[] = [
      { name: 'emb64', rows: 10_000_000, dim: 64, stateDim: 0, init: { state: 1, std: 0.01, zeroRows: [] } },
      { name: 'emb64adam', rows: 10_000_000, dim: 64, stateDim: 128, init: { state: 2, std: 0.01, zeroRows: [] } },
    ];
    const store = await openRedisStore(cluster.url, 'bench', tables);
    for (const t of [0, 1]) {
      const width = tables[t].dim + tables[t].stateDim;
      for (const perCall of [256, 2048, 16384]) {
        const calls = Math.max(4, Math.round(200_000 / perCall));
        const ids = Array.from({ length: perCall }, (_, i) => i * 13 + 7);
        const buf = new Float32Array(perCall * width).map((_, i) => i % 97);
        await store.write(t, ids, perCall, buf, 0); // warm up
        const s0 = store.stats();
        let t0 = performance.now();
        for (let c = 0; c < calls; c++) {
          for (let i = 0; i < perCall; i++) ids[i] = ((c * perCall + i) * 7919) % tables[t].rows;
          await store.write(t, ids, perCall, buf, c);
        }
        const wMs = performance.now() - t0;
        const s1 = store.stats();
        t0 = performance.now();
        for (let c = 0; c < calls; c++) {
          for (let i = 0; i < perCall; i++) ids[i] = ((c * perCall + i) * 7919) % tables[t].rows;
          await store.read(t, ids, perCall, buf);
        }
        const rMs = performance.now() - t0;
        const s2 = store.stats();
        const rows = calls * perCall;
        console.log(`${tables[t].name} (${width} floats, ${16 + 4 * width + 4} B/row), ${perCall} rows/call: ` +
          `write ${Math.round(rows / (wMs / 1000)).toLocaleString('en-US')} rows/s (${(wMs / calls).toFixed(1)} ms/call, ${((s1.commands - s0.commands) / (wMs / 1000)).toFixed(0)} cmds/s, ${((s1.bytesSent - s0.bytesSent) / wMs / 1000).toFixed(0)} MB/s); ` +
          `read ${Math.round(rows / (rMs / 1000)).toLocaleString('en-US')} rows/s (${(rMs / calls).toFixed(1)} ms/call, ${((s2.bytesReceived - s1.bytesReceived) / rMs / 1000).toFixed(0)} MB/s)`);
      }
    }
    await store.deleteNamespace();
    await store.close();

    // allToAll of 300 KB between 2 processes.
    const file = fileURLToPath(new URL('./group-child.js', import.meta.url));
    const results = await Promise.all([0, 1].map((rank) => new Promise<number[]>((resolve, reject) => {
      const p = spawn(process.execPath, [file], {
        env: { ...process.env, DIN_GROUP_CHILD: JSON.stringify({ url: cluster.url, name: 'bench', rank, size: 2, rounds: 200, bytes: 300 * 1024, mode: 'exchange' }) },
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      createInterface({ input: p.stdout! }).on('line', (l) => {
        const v = JSON.parse(l);
        if (v.event === 'done') resolve(v.ms);
        else reject(new Error(l));
      });
      p.on('exit', (code) => code !== 0 && reject(new Error(`child exited ${code}`)));
    })));
    const ms = results[0].slice(10).sort((a, b) => a - b);
    console.log(`allToAll 300 KB, 2 processes: median ${ms[Math.floor(ms.length / 2)].toFixed(1)} ms, p10 ${ms[Math.floor(ms.length * 0.1)].toFixed(1)} ms, p90 ${ms[Math.floor(ms.length * 0.9)].toFixed(1)} ms (${ms.length} exchanges)`);
  } finally {
    await cluster.stop();
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
