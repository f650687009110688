#!/usr/bin/env python3
"""PyTorch timings of the bench/ml.ts workloads (one thread: OPENBLAS_NUM_THREADS=1, torch.set_num_threads(1)).

Usage: OPENBLAS_NUM_THREADS=1 python3 tools/oracle/bench_torch.py SECONDS [WORKLOAD ...] [--barrier]
  WORKLOAD: train:B:K (forward+backward+Adam), sgld:m:K (forward+backward+SGLD update), fwdbwd:m:K
  (forward+backward only), matmul:N (an N×N×N float32 product: the dense-BLAS ceiling).
  Without workloads: the original four, under their original names (bench/sgld.ts reads them).
  --barrier: after warming up, print "ready" and wait for a line on stdin before timing, so two
  processes started together time the same seconds (bench/ml.ts's both-cores runs).
Prints one JSON object: {"torch": version, "results": [{"name", "stepsPerSec", "flopPerSec"?}]}.
"""
import json
import os
import sys
import time

os.environ.setdefault('OPENBLAS_NUM_THREADS', '1')
import torch  # noqa: E402

sys.path.insert(0, os.path.dirname(__file__))
from model_oracle import Model  # noqa: E402

torch.set_num_threads(1)
args = [a for a in sys.argv[1:] if a != '--barrier']
BARRIER = '--barrier' in sys.argv
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
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < SECONDS:
        step()
        n += 1
    return n / (time.perf_counter() - start)


def model_workload(kind, B, K):
    cfg = dict(D=4, K=K, layers=2, heads=4, dModel=64, dMlp=64, layerNorm=True, includeOutput=True)
    model = Model(cfg)
    xs, ys = torch.randn(B, K, 4), torch.randn(B, K)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3) if kind == 'train' else None
    anchor = [p.detach().clone() for p in model.parameters()]
    eps, nbeta, gamma = 3e-4, 200 / 3, 20 / 3

    def step():
        model.zero_grad()
        _, pred = model(xs, ys)
        ((pred - ys) ** 2).mean().backward()
        if kind == 'train':
            opt.step()
        elif kind == 'sgld':
            with torch.no_grad():  # w ← w − (ε/2)(nβ∇L + γ(w − w*)) + √ε ξ
                for p, p0 in zip(model.parameters(), anchor):
                    p.add_(-(eps / 2) * (nbeta * p.grad + gamma * (p - p0)) + eps ** 0.5 * torch.randn_like(p))
    return timed(step)


def matmul_workload(N):
    a, b = torch.randn(N, N), torch.randn(N, N)
    rate = timed(lambda: torch.mm(a, b))
    return rate, rate * 2 * N ** 3


results = []
for w in WORKLOADS:
    kind, *nums = w.split(':')
    if kind == 'matmul':
        rate, flops = matmul_workload(int(nums[0]))
        results.append({'name': w, 'stepsPerSec': rate, 'flopPerSec': flops})
    else:
        name = LEGACY[w] if not args[1:] else w
        results.append({'name': name, 'stepsPerSec': model_workload(kind, int(nums[0]), int(nums[1]))})
print(json.dumps({'torch': torch.__version__, 'results': results}))
