#!/usr/bin/env python3
"""Float64 PyTorch reference for the mechanism analyses (docs/figures.md "Mechanisms").

Reads the weights and batch of test/fixtures/oracle.json (written by model_oracle.py), runs the
same model in float64 and writes test/fixtures/analysis-oracle.json:
  * the post-softmax attention of every layer and head on the fixture batch, [L][B][H][T][T];
  * the top-3 Hessian eigenvalues of the mean MSE (exact Hessian-vector products by double
    backward; 300 power iterations with deflation, each converged to a relative change < 1e-10);
  * the Hessian trace by Hutchinson with 4,000 Rademacher probes, with its standard error.

Usage: /usr/bin/python3 tools/oracle/hessian_oracle.py [--out test/fixtures/analysis-oracle.json]
"""
import argparse
import base64
import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(__file__))
torch.set_default_dtype(torch.float64)
import model_oracle  # noqa: E402
from model_oracle import Model  # noqa: E402


def f32(b64):
    return np.frombuffer(base64.b64decode(b64), dtype='<f4').astype(np.float64)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--fixture', default='test/fixtures/oracle.json')
    parser.add_argument('--out', default='test/fixtures/analysis-oracle.json')
    args = parser.parse_args()
    fx = json.load(open(args.fixture))
    cfg = fx['config']
    model = Model(cfg)
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.copy_(torch.from_numpy(f32(fx['params'][name]['data']).reshape(p.shape)))
    B, K, D = fx['batch']['B'], cfg['K'], cfg['D']
    xs = torch.from_numpy(f32(fx['batch']['xs']).reshape(B, K, D))
    ys = torch.from_numpy(f32(fx['batch']['ys']).reshape(B, K))

    # Attention probabilities, captured by wrapping softmax inside each attention module's forward.
    captured = []
    orig_softmax = torch.softmax

    def capture(t, dim):
        out = orig_softmax(t, dim=dim)
        captured.append(out.detach().clone())
        return out

    model_oracle.torch.softmax = capture
    model(xs, ys)
    model_oracle.torch.softmax = orig_softmax
    attention = [a.numpy().tolist() for a in captured]

    params = list(model.parameters())

    def loss_fn():
        _, pred = model(xs, ys)
        return ((pred - ys) ** 2).mean()

    loss = loss_fn()
    grads = torch.autograd.grad(loss, params, create_graph=True)
    flat_grad = torch.cat([g.reshape(-1) for g in grads])

    def hvp(v):
        g_dot_v = (flat_grad * v).sum()
        hv = torch.autograd.grad(g_dot_v, params, retain_graph=True)
        return torch.cat([h.reshape(-1) for h in hv])

    n = flat_grad.numel()
    gen = torch.Generator().manual_seed(0)
    eigs, vecs = [], []
    for _ in range(3):
        v = torch.randn(n, generator=gen)
        v /= v.norm()
        lam = 0.0
        for it in range(300):
            for u in vecs:
                v = v - (u @ v) * u
            v /= v.norm()
            hv = hvp(v)
            for u, l in zip(vecs, eigs):
                hv = hv - l * (u @ v) * u
            new = float(v @ hv)
            v = hv / hv.norm()
            if it > 10 and abs(new - lam) < 1e-10 * abs(new):
                lam = new
                break
            lam = new
        eigs.append(lam)
        vecs.append(v)
    probes = 4000
    samples = []
    for _ in range(probes):
        z = torch.randint(0, 2, (n,), generator=gen).double() * 2 - 1
        samples.append(float(z @ hvp(z)))
    samples = np.array(samples)
    out = {
        'generator': f'tools/oracle/hessian_oracle.py, torch {torch.__version__}, float64',
        'loss': float(loss),
        'attention': attention,
        'topEigenvalues': eigs,
        'trace': float(samples.mean()),
        'traceStdErr': float(samples.std(ddof=1) / np.sqrt(probes)),
    }
    with open(args.out, 'w') as f:
        json.dump(out, f)
    print(json.dumps({k: v for k, v in out.items() if k != 'attention'}))


if __name__ == '__main__':
    main()
