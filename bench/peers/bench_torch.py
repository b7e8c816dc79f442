#!/usr/bin/env python3
"""
Training speed and serving latency of the PyTorch peer (din_torch.py) on the synthetic shapes of
bench/train-speed.ts: 20,000 items, 1,000 attributes, 1–3 attributes per item, every history full, 8 fixed batches
cycled, Adam (lr 1e-3, clip 5). For each (model, config, B, T, threads): 10 warm-up steps, then --runs timed runs
of max(20, round(20000·20 / (T·B))) steps (≈ 20,000 samples at T = 20, as ours), median samples/s. Serving: eval mode
under torch.no_grad, 1 user × 200 candidates (the user's history repeated on every row), median of --serve-times
forwards after 20 warm-up ones.

  /usr/bin/python3 bench/peers/bench_torch.py                      (JSON to stdout; progress on stderr)
  /usr/bin/python3 bench/peers/bench_torch.py --models din --batches 256 --histories 100 --threads 1,2 --runs 3
  /usr/bin/python3 bench/peers/bench_torch.py --worker             (for bench/compare-peer.ts: JSON lines)

Configs: default = ours (32 + 32, attention 256 → 80 → 40 → 1 PReLU, MLP 128 → 200 → 80 → 1 PReLU);
issue = 18 + 18, attention 144 → 80 → 40 → 1 PReLU, MLP [u, q, u⊙q] 108 → 200 → 80 → 1 Dice.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import time

# glibc malloc returns every large free block to the OS (mmap / trim), so each big temporary tensor of a step costs
# fresh page faults — more than the arithmetic on it. Keep freed memory instead: re-exec with the thresholds raised
# (they are read at process start). DIN_PEER_MALLOC=default keeps glibc's defaults.
_MALLOC = {'MALLOC_MMAP_THRESHOLD_': '33554432', 'MALLOC_TRIM_THRESHOLD_': '4294967296'}
if __name__ == '__main__' and os.environ.get('DIN_PEER_MALLOC') != 'default' \
        and any(os.environ.get(k) != v for k, v in _MALLOC.items()):
    os.environ.update(_MALLOC)
    os.execv(sys.executable, [sys.executable] + sys.argv)

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import din_torch  # noqa: E402
from din_torch import CONFIGS, InterestModel, Trainer, make_batch  # noqa: E402


def steps_per_run(B, T):
    """The same rule as stepsPerRunAt in bench/common.ts."""
    return max(20, round(20000 * 20 / (T * B)))


def make_catalog(num_items, num_attrs, seed=7):
    rng = np.random.default_rng(seed)
    counts = 1 + rng.integers(0, 3, num_items)
    offsets = np.zeros(num_items + 1, dtype=np.int64)
    offsets[1:] = np.cumsum(counts)
    values = rng.integers(0, num_attrs, int(offsets[-1]))
    return {'numItems': num_items, 'numAttrs': num_attrs, 'attrOffsets': offsets, 'attrValues': values}


def synthetic_batch(rng, num_items, B, T):
    return make_batch(rng.integers(0, num_items, B), rng.integers(0, num_items, (B, T)), np.full(B, T),
                      rng.integers(0, 2, B).astype(np.float64))


def serving_batch(rng, num_items, candidates, T):
    hist = np.repeat(rng.integers(0, num_items, (1, T)), candidates, 0)
    return make_batch(rng.integers(0, num_items, candidates), hist, np.full(candidates, T), np.zeros(candidates))


class Bench:
    """Keeps the model, optimizer and batches of the current cell, so repeated commands continue training it."""

    def __init__(self, num_items=20000, num_attrs=1000, emb='rows', att='factorized'):
        self.num_items, self.num_attrs = num_items, num_attrs
        self.emb, self.att = emb, att
        self.catalog = make_catalog(num_items, num_attrs)
        self.rng = np.random.default_rng(8)
        self.key = None
        self.state = None

    def _config(self, model, config):
        if config not in CONFIGS:
            raise ValueError(f'unknown config {config!r} (expected one of {", ".join(CONFIGS)})')
        return {**CONFIGS[config], 'model': model}

    def _cell(self, kind, model, config, B, T):
        key = (kind, model, config, B, T)
        if key != self.key:
            self.state = None  # free the previous cell first
            m = InterestModel(self._config(model, config), self.catalog, seed=1, emb=self.emb, att_impl=self.att)
            if kind == 'train':
                self.state = {'model': m, 'trainer': Trainer(m),
                              'batches': [synthetic_batch(self.rng, self.num_items, B, T) for _ in range(8)],
                              'warm': False}
            else:
                self.state = {'model': m, 'batch': serving_batch(self.rng, self.num_items, B, T), 'warm': False}
            self.key = key
        return self.state

    def train(self, model, config, batch, history, threads, runs=1, steps=None, warmup=10, rewarm=3):
        """samples/s of `runs` timed runs; the first use of a cell warms up `warmup` steps, later ones `rewarm`."""
        torch.set_num_threads(threads)
        st = self._cell('train', model, config, batch, history)
        tr, batches = st['trainer'], st['batches']
        steps = steps or steps_per_run(batch, history)
        for i in range(rewarm if st['warm'] else warmup):
            tr.step(batches[i % len(batches)])
        st['warm'] = True
        rates = []
        for _ in range(runs):
            t0 = time.perf_counter()
            for i in range(steps):
                tr.step(batches[i % len(batches)])
            rates.append(steps * batch / (time.perf_counter() - t0))
        return rates

    def serve(self, model, config, candidates, history, threads, times=20, warmup=20):
        """Milliseconds of `times` eval-mode forwards of 1 user × `candidates` (no_grad)."""
        torch.set_num_threads(threads)
        st = self._cell('serve', model, config, candidates, history)
        m, b = st['model'], st['batch']
        out = []
        with torch.no_grad():
            for _ in range(warmup if not st['warm'] else 3):
                m.forward(b, False)
            st['warm'] = True
            for _ in range(times):
                t0 = time.perf_counter()
                m.forward(b, False)
                out.append((time.perf_counter() - t0) * 1000)
        return out


def info():
    libs = sorted({ln.split()[-1] for ln in open('/proc/self/maps') if 'blas' in ln.lower()}) \
        if os.path.exists('/proc/self/maps') else []
    return {'torch': torch.__version__, 'numpy': np.__version__, 'blas': ' '.join(libs) or 'unknown',
            'python': sys.executable, 'cores': os.cpu_count(),
            'malloc': {k: os.environ.get(k) for k in _MALLOC},
            # Peak resident set of this process so far (Linux: KiB), for the peak-RSS line of bench/compare-peer.ts.
            'maxRssKiB': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}


def worker(bench):
    """JSON lines: {"cmd": "train", …} / {"cmd": "serve", …} / {"cmd": "info"} → one JSON line each."""
    torch.zeros(2, 2) @ torch.zeros(2, 2)
    print(json.dumps({'ready': True, **info()}), flush=True)
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        try:
            req = json.loads(line)
            cmd = req.pop('cmd')
            if cmd == 'train':
                res = {'samplesPerSec': bench.train(**req)}
            elif cmd == 'serve':
                res = {'ms': bench.serve(**req)}
            elif cmd == 'info':
                res = info()
            elif cmd == 'quit':
                break
            else:
                raise ValueError(f'unknown command {cmd!r}')
        except Exception as e:  # reported to the caller, which fails with it
            res = {'error': f'{type(e).__name__}: {e}'}
        print(json.dumps(res), flush=True)


def ints(s):
    return [int(x) for x in s.split(',') if x.strip()]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--models', default='base,din')
    ap.add_argument('--configs', default='default,issue')
    ap.add_argument('--batches', default='32,256')
    ap.add_argument('--histories', default='20,100')
    ap.add_argument('--threads', default='1,2')
    ap.add_argument('--runs', type=int, default=5)
    ap.add_argument('--items', type=int, default=20000)
    ap.add_argument('--attrs', type=int, default=1000)
    ap.add_argument('--candidates', type=int, default=200)
    ap.add_argument('--serve-times', type=int, default=50)
    ap.add_argument('--emb', choices=['rows', 'sparse'], default='rows')
    ap.add_argument('--att', choices=['factorized', 'concat'], default='factorized')
    ap.add_argument('--prelu', choices=['auto', 'fn', 'native'], default='auto',
                    help="PReLU in training: 'fn' = din_torch._PReLUFn, 'native' = F.prelu, 'auto' = by size")
    ap.add_argument('--no-serve', action='store_true')
    ap.add_argument('--worker', action='store_true')
    a = ap.parse_args()
    din_torch.PRELU_IMPL = a.prelu
    bench = Bench(a.items, a.attrs, a.emb, a.att)
    if a.worker:
        worker(bench)
        return
    out = {**info(), 'emb': a.emb, 'att': a.att, 'runs': a.runs, 'train': [], 'serve': []}
    for config in a.configs.split(','):
        for model in a.models.split(','):
            for B in ints(a.batches):
                for T in ints(a.histories):
                    for th in ints(a.threads):
                        rates = bench.train(model, config, B, T, th, runs=a.runs)
                        row = {'model': model, 'config': config, 'batch': B, 'history': T, 'threads': th,
                               'steps': steps_per_run(B, T), 'samplesPerSec': statistics.median(rates), 'runs': rates}
                        print(f"{model} {config} B={B} T={T} threads={th}: {row['samplesPerSec']:.0f} samples/s",
                              file=sys.stderr, flush=True)
                        out['train'].append(row)
                        bench.key = None  # a fresh model per thread count
            if a.no_serve:
                continue
            for T in ints(a.histories):
                for th in ints(a.threads):
                    ms = bench.serve(model, config, a.candidates, T, th, times=a.serve_times)
                    row = {'model': model, 'config': config, 'candidates': a.candidates, 'history': T, 'threads': th,
                           'medianMs': statistics.median(ms)}
                    print(f"{model} {config} serve 1x{a.candidates} T={T} threads={th}: {row['medianMs']:.3f} ms",
                          file=sys.stderr, flush=True)
                    out['serve'].append(row)
    json.dump(out, sys.stdout, indent=1)
    sys.stdout.write('\n')


if __name__ == '__main__':
    main()
