#!/usr/bin/env python3
"""PyTorch reference timing for bench/lm.ts: the language model's training step (forward, backward,
AdamW) on one thread, with the module of lm_oracle.py (einsum projections, the same shortformer maths).

Usage: OPENBLAS_NUM_THREADS=1 /usr/bin/python3 tools/oracle/bench_lm_torch.py SECONDS L d H dh T V B
Prints JSON: {"torch": version, "tokensPerSecWall": …, "tokensPerSecCpu": …, "steps": n}.
"""
import json
import os
import sys
import time

os.environ.setdefault('OPENBLAS_NUM_THREADS', '1')
import torch  # noqa: E402

sys.path.insert(0, os.path.dirname(__file__))
from lm_oracle import AttnOnlyLM, per_position_loss  # noqa: E402

torch.set_num_threads(1)
seconds = float(sys.argv[1])
L, d, H, dh, T, V, B = (int(x) for x in sys.argv[2:9])
torch.manual_seed(0)
model = AttnOnlyLM(dict(layers=L, dModel=d, heads=H, dHead=dh, nCtx=T, vocab=V))
opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.05)
tokens = torch.randint(0, V, (B, T))


def step():
    opt.zero_grad()
    per_position_loss(model(tokens)[0], tokens).mean().backward()
    opt.step()


step()
step()
n, w0, c0 = 0, time.perf_counter(), time.process_time()
while time.perf_counter() - w0 < seconds:
    step()
    n += 1
wall, cpu = time.perf_counter() - w0, time.process_time() - c0
print(json.dumps({'torch': torch.__version__, 'steps': n, 'tokensPerSecWall': n * B * T / wall, 'tokensPerSecCpu': n * B * T / cpu}))
