#!/usr/bin/env python3
"""PyTorch timings of the bench/ml.ts workloads (one thread: OPENBLAS_NUM_THREADS=1, torch.set_num_threads(1)).

Prints one JSON object: {"torch": version, "results": [{"name", "stepsPerSec"}]}.
Usage: OPENBLAS_NUM_THREADS=1 python3 tools/oracle/bench_torch.py [seconds_per_workload]
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
SECONDS = float(sys.argv[1]) if len(sys.argv) > 1 else 3.0


def timed(step):
    step()
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < SECONDS:
        step()
        n += 1
    return n / (time.perf_counter() - start)


def workload(K, B, adam):
    cfg = dict(D=4, K=K, layers=2, heads=4, dModel=64, dMlp=64, layerNorm=True, includeOutput=True)
    model = Model(cfg)
    xs, ys = torch.randn(B, K, 4), torch.randn(B, K)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3) if adam else None

    def step():
        model.zero_grad()
        _, pred = model(xs, ys)
        ((pred - ys) ** 2).mean().backward()
        if opt:
            opt.step()
    return timed(step)


results = [
    {'name': 'train B=64 K=8', 'stepsPerSec': workload(8, 64, True)},
    {'name': 'train B=256 K=8', 'stepsPerSec': workload(8, 256, True)},
    {'name': 'sgld-fwd+bwd m=1024 K=8', 'stepsPerSec': workload(8, 1024, False)},
    {'name': 'sgld-fwd+bwd m=1024 K=16', 'stepsPerSec': workload(16, 1024, False)},
]
print(json.dumps({'torch': torch.__version__, 'results': results}))
