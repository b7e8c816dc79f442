#!/usr/bin/env python3
"""
PyTorch peer of din's BaseModel and DIN (src/models/base.ts, din.ts): the same functions, parameters, initialization,
loss and optimizer, in float32 (float64 on request), to measure our training speed against and to serve as a
numerical reference. Stdlib + torch + numpy only.

  /usr/bin/python3 din_torch.py check --model-dir DIR --batch batch.json [--dtype float64] [--emb rows|sparse]
                                      [--steps 3 --lr 0.01 --clip 5]
      loads OUR checkpoint (model.json: config + item catalog; weights.safetensors: parameters and Dice buffers, F32
      or F64, parsed here with the stdlib), runs one batch and prints JSON: eval-mode logits, train-mode logits, mean
      log loss, every parameter gradient (embedding tables: the rows present), then the parameters and Dice buffers
      after --steps full training steps (clip + Adam). `check-many --jobs jobs.json` runs a list of such jobs in one
      process (bench/peer-check.ts uses it). Speed: bench_torch.py.

The model (names and shapes are those of our safetensors, so checkpoints load either way):
  e(i)   = [goods_emb[i] (goodsDim), mean of attr_emb over i's attributes (attrDim, zeros if none)]; id -1 → zeros
  q      = e(candidate) [B, D];  K = e(history) [B, T, D], positions t >= lengths[b] are padding (zeros, no grad)
  base:  u = Σ_t K_bt over valid positions (or the average with pooling 'avg')
  din:   s_bt = MLP_att([q, k, q−k, q⊙k]) (4D → 80 → 40 → 1, PReLU by default) over valid positions only,
         w = s (attentionNorm 'none', the paper) or masked softmax(s/√D) ('softmax'); u = Σ_t w_bt K_bt
  logit  = MLP([u, q] or [u, q, u⊙q]) (→ 200 → 80 → 1, PReLU or Dice) + item_bias[candidate]
  loss   = mean sigmoid log loss; gradient-norm clipping at 5 over every live gradient; Adam (β 0.9/0.999, ε 1e-8,
           ε added to sqrt(v̂)), lazy on embedding rows: only the rows in the batch update their moments and weights.
Linear weights are stored [in, out] (y = x·W + b) as ours are.

Two equivalent embedding paths (--emb):
  rows   (default, the faster) per step, the unique ids of the batch per table (unique_inverse); the rows are
         gathered into a leaf tensor, autograd gives a dense [rows in batch, dim] gradient (exactly our compact
         sparse gradient) and the lazy Adam updates those rows with index_select / index_copy_ / index_add_.
  sparse nn.functional.embedding / embedding_bag with sparse=True (COO gradients, coalesced before clipping), the
         same lazy Adam on the coalesced rows. Tables carry one extra all-zero padding row.
torch.optim.SparseAdam is not used: it adds ε to sqrt(v) before bias correction (ε·sqrt(1−β2^t) relative to ours),
a small but needless difference; the hand-written lazy update is ours exactly and not slower.
Other speed choices, all the same function (bench/peer-check.ts checks each against ours): the attention's first
layer factorized as ours is ('concat' is ~30% slower), PReLU as F.prelu or _PReLUFn by size, and bench_torch.py
tunes glibc malloc (see there).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import struct
import sys

import numpy as np
import torch
import torch.nn.functional as F

DEFAULT_CONFIG = {
    'model': 'din',
    'goodsDim': 32,
    'attrDim': 32,
    'hidden': [200, 80],
    'activation': 'prelu',
    'attentionHidden': [80, 40],
    'attentionActivation': 'prelu',
    'attentionNorm': 'none',
    'pooling': 'sum',
    'itemBias': True,
    'mlpInput': 'concat',
}

# The shape of the performance issue: goods + category embeddings 18 + 18, attention 144 → 80 → 40 → 1,
# MLP 108 → 200 → 80 → 1 with Dice (108 = 3·36: [u, q, u ⊙ q]). The attention unit keeps PReLU (our `din-dice`).
ISSUE_CONFIG = {**DEFAULT_CONFIG, 'goodsDim': 18, 'attrDim': 18, 'activation': 'dice', 'mlpInput': 'concat-product'}

CONFIGS = {'default': DEFAULT_CONFIG, 'issue': ISSUE_CONFIG}


# ----------------------------------------------------------------------------------------------------------- layers

class Linear:
    """y = x·W + b, W [in, out]. Glorot uniform, limit sqrt(6/(in+out)) (ours, tf.layers.dense's default); b = 0."""

    def __init__(self, name, d_in, d_out, gen, dtype):
        limit = math.sqrt(6.0 / (d_in + d_out))
        w = (torch.rand(d_in, d_out, generator=gen, dtype=torch.float64) * 2 - 1) * limit
        self.weight = w.to(dtype).requires_grad_()
        self.bias = torch.zeros(d_out, dtype=dtype, requires_grad=True)
        self.names = [f'{name}.weight', f'{name}.bias']

    def __call__(self, x):
        return torch.addmm(self.bias, x, self.weight)

    def params(self):
        return list(zip(self.names, [self.weight, self.bias]))

    def buffers(self):
        return []


class _PReLUFn(torch.autograd.Function):
    """
    PReLU with a cheaper backward on large inputs: torch 1.13's CPU prelu_backward (per-channel α, [N, C] input) is a
    scalar loop. Same values as F.prelu: s = p + (1 − p)·α with p = [x > 0] is exactly 1 or α, y = x·s,
    dx = dy·s, dα = Σ_rows dy·min(x, 0).
    """

    @staticmethod
    def forward(ctx, x, alpha):
        p = (x > 0).to(x.dtype)
        q = 1 - p
        s = p + q * alpha
        ctx.save_for_backward(s, x * q)
        return x * s

    @staticmethod
    def backward(ctx, dy):
        s, neg = ctx.saved_tensors
        return dy * s, (dy * neg).sum(0)


# 'auto' (default): F.prelu below 2^20 elements, _PReLUFn from there (measured crossover on the bench shapes: F.prelu
# is ~4% faster on [5120, 80], _PReLUFn ~7% faster on [25600, 80]); 'fn' / 'native' force one. Same function and
# gradients either way; bench_torch.py --prelu picks.
PRELU_IMPL = 'auto'
PRELU_FN_MIN = 1 << 20


class PRelu:
    """y = x (x > 0), α_c·x otherwise; α starts at 0.25."""

    def __init__(self, name, width, dtype):
        self.alpha = torch.full((width,), 0.25, dtype=dtype, requires_grad=True)
        self.name = f'{name}.prelu.alpha'

    def __call__(self, x, train):
        if not train or PRELU_IMPL == 'native' or (PRELU_IMPL == 'auto' and x.numel() < PRELU_FN_MIN):
            return F.prelu(x, self.alpha)
        return _PReLUFn.apply(x, self.alpha)

    def params(self):
        return [(self.name, self.alpha)]

    def buffers(self):
        return []


class Dice:
    """
    y = x·(α + (1−α)·p), p = sigmoid((x − E[x]) / sqrt(Var[x] + 1e-8)) per channel: batch mean and biased variance
    in training (gradients flow through them; moving averages with momentum 0.99 are updated), the moving averages
    in eval. α starts at 0, mean at 0, var at 1.
    """

    def __init__(self, name, width, dtype):
        self.alpha = torch.zeros(width, dtype=dtype, requires_grad=True)
        self.mean = torch.zeros(width, dtype=dtype)
        self.var = torch.ones(width, dtype=dtype)
        self.name = f'{name}.dice'
        self.momentum = 0.99
        self.eps = 1e-8

    def __call__(self, x, train):
        if train:
            var, mean = torch.var_mean(x, 0, unbiased=False)
            with torch.no_grad():
                m = self.momentum
                self.mean.mul_(m).add_(mean, alpha=1 - m)
                self.var.mul_(m).add_(var, alpha=1 - m)
            inv = torch.rsqrt(var + self.eps)
        else:
            mean = self.mean
            inv = torch.rsqrt(self.var + self.eps)
        p = torch.sigmoid((x - mean) * inv)
        a = self.alpha
        return x * (a + (1 - a) * p)

    def params(self):
        return [(f'{self.name}.alpha', self.alpha)]

    def buffers(self):
        return [(f'{self.name}.mean', self.mean), (f'{self.name}.var', self.var)]


class SigmoidAct:
    def __init__(self, name, width, dtype):
        pass

    def __call__(self, x, train):
        return torch.sigmoid(x)

    def params(self):
        return []

    def buffers(self):
        return []


def make_activation(kind, prefix, width, dtype):
    if kind == 'prelu':
        return PRelu(prefix, width, dtype)
    if kind == 'dice':
        return Dice(prefix, width, dtype)
    if kind == 'sigmoid':
        return SigmoidAct(prefix, width, dtype)
    raise ValueError(f'unknown activation {kind!r}')


class Mlp:
    """in → hidden[0] → act → … → 1; names <name>.<i>.weight|bias, <name>.<i>.<act>.alpha (ours: src/nn/mlp.ts)."""

    def __init__(self, name, d_in, hidden, act, gen, dtype, first_index=0):
        self.linears, self.acts = [], []
        d = d_in
        for i, h in enumerate(hidden):
            self.linears.append(Linear(f'{name}.{first_index + i}', d, h, gen, dtype))
            self.acts.append(make_activation(act, f'{name}.{first_index + i}', h, dtype))
            d = h
        self.linears.append(Linear(f'{name}.{first_index + len(hidden)}', d, 1, gen, dtype))

    def __call__(self, x, train):
        for lin, act in zip(self.linears, self.acts):
            x = act(lin(x), train)
        return self.linears[-1](x)

    def params(self):
        out = []
        for i, lin in enumerate(self.linears):
            out += lin.params()
            if i < len(self.acts):
                out += self.acts[i].params()
        return out

    def buffers(self):
        return [b for a in self.acts for b in a.buffers()]


class Attention:
    """
    DIN's local activation unit (ours: src/nn/attention.ts), scoring valid positions only. att.0.weight [4D, H] holds
    the row blocks W1..W4 for q, k, q−k, q⊙k; with impl 'factorized' (default, what ours computes) the first layer is
    q·(W1 + W3) + [k, q⊙k]·[W2 − W3; W4] — the same function and parameters with about half the multiply-adds;
    'concat' builds the 4D input.
    """

    def __init__(self, D, hidden, act, norm, gen, dtype, impl='factorized'):
        self.D = D
        self.H = hidden[0] if hidden else 1
        self.first = Linear('att.0', 4 * D, self.H, gen, dtype)
        self.act0 = make_activation(act, 'att.0', self.H, dtype) if hidden else None
        self.rest = Mlp('att', self.H, hidden[1:], act, gen, dtype, first_index=1) if hidden else None
        self.norm = norm
        self.impl = impl
        self.scale = 1.0 / math.sqrt(D)

    def __call__(self, q, K, mask, full, train):
        B, T, D = K.shape
        W, b = self.first.weight, self.first.bias
        if full:
            N = B * T
            Kc = K.reshape(N, D)
            if self.impl == 'factorized':
                Wq = W[:D] + W[2 * D:3 * D]
                Wkp = torch.cat([W[D:2 * D] - W[2 * D:3 * D], W[3 * D:]], 0)
                P = torch.addmm(b, q, Wq)  # [B, H], once per example
                x2 = torch.cat([K, q.unsqueeze(1) * K], 2).reshape(N, 2 * D)
                y = (torch.mm(x2, Wkp).view(B, T, self.H) + P.unsqueeze(1)).reshape(N, self.H)
            else:
                qe = q.unsqueeze(1).expand(B, T, D)
                x = torch.cat([qe, K, qe - K, qe * K], 2).reshape(N, 4 * D)
                y = torch.addmm(b, x, W)
        else:
            idx = mask.reshape(-1).nonzero().squeeze(1)
            rowb = torch.div(idx, T, rounding_mode='floor')
            Kc = K.reshape(B * T, D).index_select(0, idx)
            qc = q.index_select(0, rowb)
            if self.impl == 'factorized':
                Wq = W[:D] + W[2 * D:3 * D]
                Wkp = torch.cat([W[D:2 * D] - W[2 * D:3 * D], W[3 * D:]], 0)
                P = torch.addmm(b, q, Wq)
                y = torch.addmm(P.index_select(0, rowb), torch.cat([Kc, qc * Kc], 1), Wkp)
            else:
                y = torch.addmm(b, torch.cat([qc, Kc, qc - Kc, qc * Kc], 1), W)
        s = self.rest(self.act0(y, train), train) if self.act0 is not None else y
        s = s.squeeze(1)
        if full:
            s = s.view(B, T)
        else:
            s = torch.zeros(B * T, dtype=s.dtype).index_put((idx,), s).view(B, T)
        if self.norm == 'softmax':
            # Masked softmax per row; a large negative (not −inf) keeps empty rows finite (their weights are 0).
            z = s * self.scale
            if not full:
                z = z.masked_fill(~mask, -1e30)
            w = torch.softmax(z, 1)
            if not full:
                w = w * mask
        else:
            w = s
        self.last_weights = w
        return torch.bmm(w.unsqueeze(1), K).squeeze(1)

    def params(self):
        out = self.first.params()
        if self.act0 is not None:
            out += self.act0.params() + self.rest.params()
        return out

    def buffers(self):
        if self.act0 is None:
            return []
        return self.act0.buffers() + self.rest.buffers()


# ----------------------------------------------------------------------------------------------------- embeddings

# 'auto' (default) | 'sort' | 'presence' | 'torch': how unique_inverse works (the check runs each).
UNIQUE_IMPL = 'auto'


def unique_inverse(ids, n):
    """
    torch.unique(ids, sorted=True, return_inverse=True) for ids in [−1, n), faster on CPU (torch 1.13's unique is a
    hash set, 2–10× slower here): a presence map over the table when the batch is dense in it, a sort otherwise.
    """
    if UNIQUE_IMPL == 'torch':
        return torch.unique(ids, sorted=True, return_inverse=True)
    if UNIQUE_IMPL == 'sort' or (UNIQUE_IMPL == 'auto' and ids.numel() * 8 < n):
        s, order = torch.sort(ids)
        uniq, inv_sorted = torch.unique_consecutive(s, return_inverse=True)
        return uniq, torch.empty_like(inv_sorted).scatter_(0, order, inv_sorted)
    present = torch.zeros(n + 1, dtype=torch.bool)
    shifted = ids + 1
    present[shifted] = True
    pos = torch.cumsum(present, 0) - 1
    return present.nonzero().squeeze(1) - 1, pos[shifted]


class Table:
    """An embedding table [rows, dim] (plus one zero padding row in 'sparse' mode) and its lazy-Adam moments."""

    def __init__(self, name, rows, dim, std, gen, dtype, mode):
        self.name, self.rows, self.dim, self.mode = name, rows, dim, mode
        w = torch.randn(rows, dim, generator=gen, dtype=torch.float64) * std if std > 0 \
            else torch.zeros(rows, dim, dtype=torch.float64)
        if mode == 'sparse':
            w = torch.cat([w, torch.zeros(1, dim, dtype=torch.float64)])
        self.weight = w.to(dtype)
        if mode == 'sparse':
            self.weight.requires_grad_()
        self.m = torch.zeros_like(self.weight, requires_grad=False)
        self.v = torch.zeros_like(self.weight, requires_grad=False)
        self.live = None  # rows mode: (row ids, leaf [n, dim]) of the last training forward

    def value(self):
        """The table's rows (without the padding row)."""
        return self.weight.detach()[:self.rows]

    def set_value(self, t):
        with torch.no_grad():
            self.weight[:self.rows].copy_(t)

    def live_grad(self):
        """(row ids, gradient rows) of the last backward: the compact sparse gradient, rows unique."""
        if self.mode == 'rows':
            if self.live is None or self.live[1].grad is None:
                return None
            return self.live[0], self.live[1].grad
        g = self.weight.grad
        if g is None:
            return None
        g = g.coalesce()
        ids, vals = g.indices()[0], g.values()
        keep = ids != self.rows  # the padding row never gets a gradient; be sure
        if not bool(keep.all()):
            ids, vals = ids[keep], vals[keep]
        self.weight.grad = None
        self.live = (ids, vals)
        return ids, vals

    def zero_grad(self):
        self.live = None
        if self.mode == 'sparse':
            self.weight.grad = None

    def leaf(self, ids):
        """rows mode, training: gathers the batch's unique rows into a leaf; returns (leaf or padded leaf, inverse
        index into it). ids: int64, −1 = padding (maps to an all-zero row that has no gradient)."""
        uniq, inv = unique_inverse(ids, self.rows)
        pad = uniq.numel() > 0 and int(uniq[0]) < 0
        if pad:
            uniq = uniq[1:]
        rows = self.weight.index_select(0, uniq).requires_grad_()
        self.live = (uniq, rows)
        if pad:
            return torch.cat([rows.new_zeros(1, self.dim), rows]), inv
        return rows, inv


class ItemEncoder:
    """
    e(i) = [goods_emb[i], mean of attr_emb over attrs(i)], plus item_bias[i] (ours: src/nn/item-encoder.ts). The
    catalog's CSR attribute lists become a padded [items + 1, maxA] matrix of attribute ids (−1 = none; the last
    row is the padding item) and weights 1/#attrs (0 on padding), so the attribute part of n positions is a weighted
    sum over maxA gathered rows (an embedding_bag in 'sparse' mode and in eval).
    """

    def __init__(self, catalog, cfg, gen, dtype, mode):
        if catalog.get('goodsRows') is not None:
            raise ValueError('the peer does not implement the goods filter (goodsRows)')
        n_items, n_attrs = catalog['numItems'], catalog['numAttrs']
        off = np.asarray(catalog['attrOffsets'], dtype=np.int64)
        val = np.asarray(catalog['attrValues'], dtype=np.int64)
        counts = off[1:] - off[:-1]
        self.mode, self.dtype = mode, dtype
        self.n_items, self.n_attrs = n_items, n_attrs
        self.gd, self.ad = cfg['goodsDim'], cfg['attrDim']
        self.D = self.gd + self.ad
        self.goods = Table('goods_emb', n_items, self.gd, 0.01, gen, dtype, mode)
        self.attrs = Table('attr_emb', n_attrs, self.ad, 0.01, gen, dtype, mode) if self.ad > 0 and n_attrs > 0 else None
        self.bias = Table('item_bias', n_items, 1, 0.0, gen, dtype, mode) if cfg['itemBias'] else None
        max_a = max(1, int(counts.max()) if len(counts) else 1)
        pad_ids = np.full((n_items + 1, max_a), -1, dtype=np.int64)
        pad_w = np.zeros((n_items + 1, max_a), dtype=np.float64)
        for i in range(n_items):
            c = counts[i]
            if c > 0:
                pad_ids[i, :c] = val[off[i]:off[i + 1]]
                pad_w[i, :c] = 1.0 / c
        self.attr_ids = torch.from_numpy(pad_ids)
        self.attr_w = torch.from_numpy(pad_w).to(dtype)
        # sparse mode: attribute padding points at the table's extra zero row.
        self.attr_ids_sparse = torch.where(self.attr_ids < 0, torch.full_like(self.attr_ids, n_attrs), self.attr_ids)
        self._bias_inv = None

    def tables(self):
        return [t for t in (self.goods, self.attrs, self.bias) if t is not None]

    def encode(self, ids, train):
        """ids: int64 [n] (−1 = padding) → [n, D]."""
        item_rows = torch.where(ids < 0, torch.full_like(ids, self.n_items), ids)
        parts = []
        sparse = self.mode == 'sparse'
        # rows mode gathers with plain indexing: its backward (index_put_ with accumulate) is the fastest scatter-add
        # of torch 1.13 on CPU, ahead of F.embedding's and embedding_bag's (measured on the bench shapes).
        if train and not sparse:
            rows, inv = self.goods.leaf(ids)
            parts.append(rows[inv])
        elif sparse:
            parts.append(F.embedding(item_rows, self.goods.weight, padding_idx=self.n_items, sparse=train))
        else:
            g = F.embedding(ids.clamp(min=0), self.goods.weight)
            parts.append(g * (ids >= 0).unsqueeze(1).to(g.dtype))
        if self.ad > 0:
            if self.attrs is None:
                parts.append(torch.zeros(ids.numel(), self.ad, dtype=self.dtype))
            else:
                w = self.attr_w.index_select(0, item_rows)
                if train and not sparse:
                    a_ids = self.attr_ids.index_select(0, item_rows)
                    rows, inv = self.attrs.leaf(a_ids.reshape(-1))
                    parts.append((rows[inv.view(a_ids.shape)] * w.unsqueeze(2)).sum(1))
                elif sparse:
                    a_ids = self.attr_ids_sparse.index_select(0, item_rows)
                    parts.append(F.embedding_bag(a_ids, self.attrs.weight, per_sample_weights=w, mode='sum',
                                                 sparse=train, padding_idx=self.n_attrs))
                else:
                    a_ids = self.attr_ids.index_select(0, item_rows).clamp(min=0)
                    parts.append(F.embedding_bag(a_ids, self.attrs.weight, per_sample_weights=w, mode='sum'))
        return torch.cat(parts, 1) if len(parts) > 1 else parts[0]

    def item_bias(self, items, train):
        """[B] bias of the candidate items (their rows only are live in the bias table)."""
        t = self.bias
        if train and self.mode == 'rows':
            rows, inv = t.leaf(items)
            return rows[inv].squeeze(1)
        rows_ = torch.where(items < 0, torch.full_like(items, self.n_items), items)
        if self.mode == 'sparse':
            return F.embedding(rows_, t.weight, padding_idx=self.n_items, sparse=train).squeeze(1)
        b = F.embedding(items.clamp(min=0), t.weight).squeeze(1)
        return b * (items >= 0).to(b.dtype)


# ------------------------------------------------------------------------------------------------------------ model

class InterestModel:
    """BaseModel (pooling) or DIN (attention), ours: src/models/interest-model.ts."""

    def __init__(self, cfg, catalog, seed=1, dtype=torch.float32, emb='rows', att_impl='factorized'):
        cfg = {**DEFAULT_CONFIG, **cfg}
        if cfg['model'] not in ('base', 'din'):
            raise ValueError(f"the peer implements base and din, not {cfg['model']!r}")
        self.cfg, self.dtype = cfg, dtype
        gen = torch.Generator().manual_seed(seed)
        self.encoder = ItemEncoder(catalog, cfg, gen, dtype, emb)
        D = self.encoder.D
        self.D = D
        self.product = cfg.get('mlpInput', 'concat') == 'concat-product'
        self.att = Attention(D, cfg['attentionHidden'], cfg['attentionActivation'], cfg['attentionNorm'], gen, dtype,
                             att_impl) if cfg['model'] == 'din' else None
        width = (3 if self.product else 2) * D
        self.mlp = Mlp('mlp', width, cfg['hidden'], cfg['activation'], gen, dtype)

    # Same order as ours: encoder tables, attention unit, MLP.
    def dense_params(self):
        return (self.att.params() if self.att else []) + self.mlp.params()

    def buffers(self):
        return (self.att.buffers() if self.att else []) + self.mlp.buffers()

    def forward(self, batch, train):
        """batch: dict of tensors items [B] int64, hist [B, T] int64 (−1 past lengths), lengths [B], mask [B, T]
        bool, full (bool: every history full). Returns logits [B]."""
        items, hist, mask = batch['items'], batch['hist'], batch['mask']
        B, T = hist.shape
        ids = torch.cat([items, hist.reshape(-1)])
        e = self.encoder.encode(ids, train)
        q = e[:B]
        K = e[B:].view(B, T, self.D)
        if self.att is not None:
            u = self.att(q, K, mask, batch['full'], train)
        else:
            u = K.sum(1)  # padded positions are zero rows
            if self.cfg['pooling'] == 'avg':
                u = u / batch['lengths'].clamp(min=1).to(u.dtype).unsqueeze(1)
        x = torch.cat([u, q, u * q] if self.product else [u, q], 1)
        logits = self.mlp(x, train).squeeze(1)
        if self.encoder.bias is not None:
            logits = logits + self.encoder.item_bias(items, train)
        return logits

    # ----- checkpoints
    def load_tensors(self, tensors):
        """Sets every parameter and buffer from a {name: ndarray} of our safetensors (shapes must match)."""
        def get(name, shape):
            if name not in tensors:
                raise KeyError(f'weights: missing tensor {name!r}')
            a = tensors[name]
            if list(a.shape) != list(shape):
                raise ValueError(f'weights: tensor {name!r} has shape {list(a.shape)}, the peer expects {list(shape)}')
            return torch.from_numpy(np.ascontiguousarray(a)).to(self.dtype)

        for t in self.encoder.tables():
            t.set_value(get(t.name, [t.rows, t.dim]))
        with torch.no_grad():
            for name, p in self.dense_params():
                p.copy_(get(name, list(p.shape)))
            for name, b in self.buffers():
                b.copy_(get(f'buffer.{name}', list(b.shape)))


class Trainer:
    """One optimization step as ours (src/train/trainer.ts trainStep): forward, mean log loss, backward, global
    gradient-norm clipping (max 5), Adam — torch.optim.Adam on dense params, the lazy row update on tables."""

    def __init__(self, model, lr=1e-3, clip=5.0, betas=(0.9, 0.999), eps=1e-8):
        self.model, self.lr, self.clip = model, lr, clip
        self.b1, self.b2 = betas
        self.eps = eps
        self.dense = [p for _, p in model.dense_params()]
        try:
            self.opt = torch.optim.Adam(self.dense, lr=lr, betas=betas, eps=eps, foreach=True)
        except TypeError:  # torch without the foreach option
            self.opt = torch.optim.Adam(self.dense, lr=lr, betas=betas, eps=eps)
        self.t = 0

    def backward(self, batch):
        """Forward + loss + backward (gradients unclipped); returns (loss tensor, logits)."""
        m = self.model
        for p in self.dense:
            p.grad = None
        for t in m.encoder.tables():
            t.zero_grad()
        logits = m.forward(batch, True)
        loss = F.binary_cross_entropy_with_logits(logits, batch['labels'])
        loss.backward()
        return loss, logits

    def step(self, batch):
        loss, _ = self.backward(batch)
        live = [(t, t.live_grad()) for t in self.model.encoder.tables()]
        live = [(t, g) for t, g in live if g is not None]
        grads = [p.grad for p in self.dense if p.grad is not None] + [g for _, (_, g) in live]
        if self.clip > 0:
            norm = float(torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads])))
            if norm > self.clip and math.isfinite(norm):
                s = self.clip / norm
                for g in grads:
                    g.mul_(s)
        self.opt.step()
        self.t += 1
        c1 = 1 - self.b1 ** self.t
        c2 = 1 - self.b2 ** self.t
        with torch.no_grad():
            for t, (ids, g) in live:
                m = t.m.index_select(0, ids).mul_(self.b1).add_(g, alpha=1 - self.b1)
                v = t.v.index_select(0, ids).mul_(self.b2).addcmul_(g, g, value=1 - self.b2)
                t.m.index_copy_(0, ids, m)
                t.v.index_copy_(0, ids, v)
                upd = (m / c1).div_((v / c2).sqrt_().add_(self.eps))
                t.weight.index_add_(0, ids, upd, alpha=-self.lr)
        return loss


# ---------------------------------------------------------------------------------------------------------- batches

def make_batch(items, hist, lengths, labels, dtype=torch.float32):
    """Tensors of a batch from array-likes; hist [B, T] (any id past lengths[b] is treated as padding)."""
    items = torch.as_tensor(np.asarray(items, dtype=np.int64))
    hist = torch.as_tensor(np.asarray(hist, dtype=np.int64))
    lengths = torch.as_tensor(np.asarray(lengths, dtype=np.int64))
    B, T = hist.shape
    mask = torch.arange(T).unsqueeze(0) < lengths.unsqueeze(1)
    hist = torch.where(mask, hist, torch.full_like(hist, -1))
    return {
        'items': items, 'hist': hist, 'lengths': lengths, 'mask': mask, 'full': bool(mask.all()),
        'labels': torch.as_tensor(np.asarray(labels, dtype=np.float64)).to(dtype),
    }


# ------------------------------------------------------------------------------------------------------ safetensors

_ST_DTYPES = {'F32': np.dtype('<f4'), 'F64': np.dtype('<f8')}


def read_safetensors(path):
    """{name: ndarray} and metadata of a plain safetensors file (u64 LE header length, JSON header, LE data)."""
    with open(path, 'rb') as f:
        buf = f.read()
    if len(buf) < 8:
        raise ValueError(f'{path}: file too short')
    (n,) = struct.unpack('<Q', buf[:8])
    if 8 + n > len(buf):
        raise ValueError(f'{path}: header length {n} exceeds the file size {len(buf)}')
    header = json.loads(buf[8:8 + n].decode('utf-8'))
    base = 8 + n
    out = {}
    for name, info in header.items():
        if name == '__metadata__':
            continue
        dt = _ST_DTYPES.get(info['dtype'])
        if dt is None:
            raise ValueError(f"{path}: tensor {name!r} has dtype {info['dtype']} (F32/F64 only)")
        b, e = info['data_offsets']
        shape = info['shape']
        count = int(np.prod(shape)) if shape else 1
        if e - b != count * dt.itemsize or base + e > len(buf):
            raise ValueError(f'{path}: tensor {name!r} offsets do not match its shape or the file size')
        out[name] = np.frombuffer(buf, dtype=dt, count=count, offset=base + b).reshape(shape).copy()
    return out, header.get('__metadata__', {})


# ------------------------------------------------------------------------------------------------------------ check

def _flat(t):
    return [float(x) for x in t.detach().reshape(-1).double().tolist()]


def _param_state(model):
    out = {}
    for t in model.encoder.tables():
        out[t.name] = _flat(t.value())
    for name, p in model.dense_params():
        out[name] = _flat(p)
    for name, b in model.buffers():
        out[f'buffer.{name}'] = _flat(b)
    return out


def run_check(job):
    """One check job: {modelDir, batch (path), dtype, emb, att, steps, lr, clip} → the result dict."""
    with open(os.path.join(job['modelDir'], 'model.json')) as f:
        info = json.load(f)
    with open(job['batch']) as f:
        bj = json.load(f)
    dt = job.get('dtype', 'float32')
    emb, att = job.get('emb', 'rows'), job.get('att', 'factorized')
    steps = int(job.get('steps', 0))
    global PRELU_IMPL, UNIQUE_IMPL
    PRELU_IMPL = job.get('prelu', 'fn')  # the check's tensors are small: 'auto' would always take F.prelu
    UNIQUE_IMPL = job.get('unique', 'auto')
    dtype = torch.float64 if dt == 'float64' else torch.float32
    model = InterestModel(info['config'], info['catalog'], seed=0, dtype=dtype, emb=emb, att_impl=att)
    tensors, _ = read_safetensors(os.path.join(job['modelDir'], 'weights.safetensors'))
    model.load_tensors(tensors)
    B, T = bj['size'], bj['T']
    batch = make_batch(bj['items'], np.asarray(bj['hist']).reshape(B, T), bj['lengths'], bj['labels'], dtype)
    with torch.no_grad():
        eval_logits = model.forward(batch, False)
    trainer = Trainer(model, lr=float(job.get('lr', 1e-3)), clip=float(job.get('clip', 5.0)))
    loss, logits = trainer.backward(batch)
    grads = {}
    for t in model.encoder.tables():
        g = t.live_grad()
        if g is not None:
            ids, vals = g
            order = torch.argsort(ids)
            grads[t.name] = {'ids': [int(i) for i in ids[order].tolist()], 'data': _flat(vals[order])}
    for name, p in model.dense_params():
        grads[name] = {'data': _flat(p.grad) if p.grad is not None else [0.0] * p.numel()}
    losses = [float(trainer.step(batch)) for _ in range(steps)]
    return {
        'torch': torch.__version__, 'dtype': dt, 'emb': emb, 'att': att, 'prelu': PRELU_IMPL, 'unique': UNIQUE_IMPL,
        'evalLogits': _flat(eval_logits), 'logits': _flat(logits), 'loss': float(loss), 'grads': grads,
        'steps': steps, 'stepLosses': losses, 'after': _param_state(model) if steps > 0 else None,
    }


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    sub = ap.add_subparsers(dest='cmd', required=True)
    c = sub.add_parser('check', help='numerical reference on one of our checkpoints and a batch (JSON to stdout)')
    c.add_argument('--model-dir', required=True, help='a din model directory (model.json + weights.safetensors)')
    c.add_argument('--batch', required=True, help='JSON {size, T, items, hist (size·T, row-major), lengths, labels}')
    c.add_argument('--dtype', choices=['float32', 'float64'], default='float32')
    c.add_argument('--emb', choices=['rows', 'sparse'], default='rows')
    c.add_argument('--att', choices=['factorized', 'concat'], default='factorized')
    c.add_argument('--steps', type=int, default=0, help='training steps after the gradient (clip + Adam)')
    c.add_argument('--lr', type=float, default=1e-3)
    c.add_argument('--clip', type=float, default=5.0)
    m = sub.add_parser('check-many', help='several check jobs in one process: a JSON list of {modelDir, batch, '
                                          'dtype, emb, att, steps, lr, clip}; prints a JSON list of results')
    m.add_argument('--jobs', required=True)
    for p in (c, m):
        p.add_argument('--threads', type=int, default=1)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.cmd == 'check':
        job = {'modelDir': args.model_dir, 'batch': args.batch, 'dtype': args.dtype, 'emb': args.emb,
               'att': args.att, 'steps': args.steps, 'lr': args.lr, 'clip': args.clip}
        out = run_check(job)
    else:
        with open(args.jobs) as f:
            out = [run_check(job) for job in json.load(f)]
    json.dump(out, sys.stdout)
    sys.stdout.write('\n')


if __name__ == '__main__':
    main()
