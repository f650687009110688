#!/usr/bin/env python3
"""PyTorch timings of the bench/ml.ts workloads (one thread: OPENBLAS_NUM_THREADS=1, torch.set_num_threads(1)).

Usage: OPENBLAS_NUM_THREADS=1 python3 tools/oracle/bench_torch.py SECONDS [WORKLOAD ...] [--barrier] [--model oracle|idiomatic]
  WORKLOAD: train:B:K (forward+backward+Adam), sgld:m:K (forward+backward+SGLD update), fwdbwd:m:K
  (forward+backward only), matmul:N (an N×N×N float32 product: the dense-BLAS ceiling).
  Without workloads: the original four, under their original names (bench/sgld.ts reads them).
  --barrier: after warming up, print "ready" and wait for a line on stdin before timing, so two
  processes started together time the same seconds (bench/ml.ts's both-cores runs).
  --model: `idiomatic` (default) times the model as one would write it for speed in plain PyTorch:
  one fused QKV Linear per layer, heads by view/transpose (no per-head loops), the causal mask a
  boolean buffer built once, tokens interleaved by stack/view, zero_grad(set_to_none=True);
  `oracle` times tools/oracle/model_oracle.py's Model (written for clarity: the mask is rebuilt
  every forward, tokens are concatenated) — it ran 5–35% slower, so it is not the reference.
Timing runs until SECONDS of this process's CPU time have passed (on a shared machine, wall time
also counts the time other processes held the core); both rates are reported.
Prints one JSON object: {"torch", "model", "results": [{"name", "stepsPerSec" (wall), "stepsPerCpuSec",
"flopPerSec"? (per CPU second)}]}.
"""
import json
import os
import sys
import time

os.environ.setdefault('OPENBLAS_NUM_THREADS', '1')
import math  # noqa: E402

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

sys.path.insert(0, os.path.dirname(__file__))
from model_oracle import Model  # noqa: E402

torch.set_num_threads(1)
argv = sys.argv[1:]
MODEL = 'idiomatic'
if '--model' in argv:
    i = argv.index('--model')
    MODEL = argv[i + 1]
    del argv[i:i + 2]
args = [a for a in argv if a != '--barrier']
BARRIER = '--barrier' in argv
SECONDS = float(args[0]) if args else 3.0
LEGACY = {'train:64:8': 'train B=64 K=8', 'train:256:8': 'train B=256 K=8',
          'fwdbwd:1024:8': 'sgld-fwd+bwd m=1024 K=8', 'fwdbwd:1024:16': 'sgld-fwd+bwd m=1024 K=16'}
WORKLOADS = args[1:] or list(LEGACY)


def timed(step):
    step()
    step()
    if BARRIER:
        print('ready', flush=True)
        sys.stdin.readline()
    n, start, cpu_start = 0, time.perf_counter(), time.process_time()
    while time.process_time() - cpu_start < SECONDS:
        step()
        n += 1
    return n / (time.perf_counter() - start), n / (time.process_time() - cpu_start)


class FastAttention(nn.Module):
    def __init__(self, d, heads, T):
        super().__init__()
        self.heads, self.c = heads, d // heads
        self.attention = nn.Linear(d, 3 * d, bias=False)  # fused QKV, head-major rows
        self.output = nn.Linear(d, d, bias=False)
        self.register_buffer('mask', torch.ones(T, T, dtype=torch.bool).tril())

    def forward(self, u):
        B, T, d = u.shape
        q, k, v = self.attention(u).view(B, T, self.heads, 3 * self.c).transpose(1, 2).split(self.c, dim=-1)
        scores = (q @ k.transpose(-1, -2)) * (1.0 / math.sqrt(self.c))
        att = torch.softmax(scores.masked_fill(~self.mask[:T, :T], float('-inf')), dim=-1)
        return self.output((att @ v).transpose(1, 2).reshape(B, T, d))


class FastBlock(nn.Module):
    def __init__(self, d, mlp, heads, T):
        super().__init__()
        self.ln0, self.ln1 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.attention = FastAttention(d, heads, T)
        self.compute = nn.Sequential(nn.Linear(d, mlp), nn.ReLU(), nn.Linear(mlp, d))

    def forward(self, x):
        h = x + self.attention(self.ln0(x))
        return x + h + self.compute(self.ln1(h))  # the double residual


class FastModel(nn.Module):
    """The L2H4 regression transformer written for speed in idiomatic PyTorch (same maths as Model)."""

    def __init__(self, D, K, layers, heads, dModel, dMlp, **_):
        super().__init__()
        V, T = D + 1, 2 * K
        self.token_embedding = nn.Linear(V, dModel, bias=False)
        self.postn_embedding = nn.Parameter(torch.randn(T, dModel) * 0.1)
        self.blocks = nn.ModuleList([FastBlock(dModel, dMlp, heads, T) for _ in range(layers)])
        self.unembedding = nn.Sequential(nn.LayerNorm(dModel), nn.Linear(dModel, V))

    def forward(self, xs, ys):
        B, K, D = xs.shape
        tokens = torch.stack([F.pad(xs, (1, 0)), F.pad(ys.unsqueeze(-1), (0, D))], dim=2).view(B, 2 * K, D + 1)
        x = self.token_embedding(tokens) + self.postn_embedding
        for block in self.blocks:
            x = block(x)
        out = self.unembedding(x)
        return out, out[:, 0::2, 0]


def model_workload(kind, B, K):
    cfg = dict(D=4, K=K, layers=2, heads=4, dModel=64, dMlp=64, layerNorm=True, includeOutput=True)
    model = FastModel(**cfg) if MODEL == 'idiomatic' else Model(cfg)
    xs, ys = torch.randn(B, K, 4), torch.randn(B, K)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3) if kind == 'train' else None
    anchor = [p.detach().clone() for p in model.parameters()]
    eps, nbeta, gamma = 3e-4, 200 / 3, 20 / 3

    def step():
        model.zero_grad(set_to_none=True)
        _, pred = model(xs, ys)
        ((pred - ys) ** 2).mean().backward()
        if kind == 'train':
            opt.step()
        elif kind == 'sgld':
            with torch.no_grad():  # w ← w − (ε/2)(nβ∇L + γ(w − w*)) + √ε ξ
                for p, p0 in zip(model.parameters(), anchor):  # one fused expression per tensor
                    p.add_(-(eps / 2) * (nbeta * p.grad + gamma * (p - p0)) + eps ** 0.5 * torch.randn_like(p))
    return timed(step)


def matmul_workload(N):
    a, b = torch.randn(N, N), torch.randn(N, N)
    rate, cpu_rate = timed(lambda: torch.mm(a, b))
    return rate, cpu_rate, cpu_rate * 2 * N ** 3


results = []
for w in WORKLOADS:
    kind, *nums = w.split(':')
    if kind == 'matmul':
        rate, cpu_rate, flops = matmul_workload(int(nums[0]))
        results.append({'name': w, 'stepsPerSec': rate, 'stepsPerCpuSec': cpu_rate, 'flopPerSec': flops})
    else:
        name = LEGACY[w] if not args[1:] else w
        rate, cpu_rate = model_workload(kind, int(nums[0]), int(nums[1]))
        results.append({'name': name, 'stepsPerSec': rate, 'stepsPerCpuSec': cpu_rate})
print(json.dumps({'torch': torch.__version__, 'model': MODEL, 'results': results}))
