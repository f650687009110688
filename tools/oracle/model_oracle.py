#!/usr/bin/env python3
"""Independent PyTorch reference of the paper's regression transformer (spec: model.md).

Written from the spec, not from the TypeScript. Writes test/fixtures/oracle.json: weights, a batch,
the raw outputs, predictions, per-position loss, loss, the gradient of every parameter, and the
losses after each of 3 Adam steps, for the paper configuration (L2H4, D=4, K=8, d=mlp=64, LN,
output projection: 51,717 parameters). Float32 arrays are stored as base64 little-endian bytes.

Usage (Debian: apt-get install -y python3-torch libopenblas0-pthread):
    python3 tools/oracle/model_oracle.py [--out test/fixtures/oracle.json]
"""
import argparse
import base64
import json
import math

import numpy as np
import torch
from torch import nn

CONFIG = dict(D=4, K=8, layers=2, heads=4, dModel=64, dMlp=64, layerNorm=True, includeOutput=True)
BATCH = 8
NOISE_VARIANCE = 0.125
ADAM_LR = 1e-3
ADAM_STEPS = 3
SEED = 1234


class Attention(nn.Module):
    def __init__(self, d, heads, include_output):
        super().__init__()
        self.heads = heads
        self.attention = nn.Linear(d, 3 * d, bias=False)  # fused QKV, head-major rows
        self.output = nn.Linear(d, d, bias=False) if include_output else None

    def forward(self, u):
        B, T, d = u.shape
        H = self.heads
        c = d // H
        z = self.attention(u).view(B, T, H, 3 * c)
        q, k, v = z[..., :c], z[..., c:2 * c], z[..., 2 * c:]
        q, k, v = (t.transpose(1, 2) for t in (q, k, v))  # (B, H, T, c)
        mask = torch.log(torch.tril(torch.ones(T, T)))  # 0 on/below the diagonal, -inf above
        scores = q @ k.transpose(-1, -2) / math.sqrt(c) + mask
        o = torch.softmax(scores, dim=-1) @ v  # (B, H, T, c)
        o = o.transpose(1, 2).reshape(B, T, d)
        return self.output(o) if self.output is not None else o


class Block(nn.Module):
    def __init__(self, d, mlp, heads, include_output):
        super().__init__()
        self.attention = Attention(d, heads, include_output)
        self.compute = nn.Sequential(nn.Linear(d, mlp), nn.ReLU(), nn.Linear(mlp, d))
        self.layer_norms = nn.ModuleList([nn.LayerNorm(d), nn.LayerNorm(d)])

    def forward(self, x):
        a = self.attention(self.layer_norms[0](x))
        h = x + a
        return h + self.compute(self.layer_norms[1](h))


class TokenSequenceTransformer(nn.Module):
    def __init__(self, D, K, layers, heads, dModel, dMlp, **_):
        super().__init__()
        V, T = D + 1, 2 * K
        self.token_embedding = nn.Linear(V, dModel, bias=False)
        self.postn_embedding = nn.Linear(T, dModel, bias=False)  # column t = position vector p_t
        self.blocks = nn.ModuleList([Block(dModel, dMlp, heads, True) for _ in range(layers)])
        self.unembedding = nn.Sequential(nn.LayerNorm(dModel), nn.Linear(dModel, V))

    def forward(self, tokens):
        B, T, V = tokens.shape
        x = self.token_embedding(tokens) + self.postn_embedding.weight[:, :T].T
        for block in self.blocks:
            x = x + block(x)  # the caller's residual on top of the block's own: the double residual
        return self.unembedding(x)


class Model(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.token_sequence_transformer = TokenSequenceTransformer(**cfg)

    def forward(self, xs, ys):
        B, K, D = xs.shape
        tokens = torch.cat([torch.zeros(B, K, 1), xs, ys.unsqueeze(-1), torch.zeros(B, K, D)], dim=-1)
        out = self.token_sequence_transformer(tokens.view(B, 2 * K, D + 1))
        return out, out[:, 0::2, 0]


def b64(t):
    return base64.b64encode(np.ascontiguousarray(t.detach().numpy().astype('<f4')).tobytes()).decode()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--out', default='test/fixtures/oracle.json')
    args = parser.parse_args()

    torch.manual_seed(SEED)
    model = Model(CONFIG)
    # Move LayerNorm γ/β off 1/0 so the test can tell them apart.
    with torch.no_grad():
        for name, p in model.named_parameters():
            if 'layer_norms' in name or 'unembedding.0' in name:
                p.add_(0.1 * torch.randn_like(p))

    rng = np.random.default_rng(SEED)
    D, K = CONFIG['D'], CONFIG['K']
    ws = rng.standard_normal((BATCH, D)).astype(np.float32)
    xs = rng.standard_normal((BATCH, K, D)).astype(np.float32)
    ys = (np.einsum('bkd,bd->bk', xs, ws) + math.sqrt(NOISE_VARIANCE) * rng.standard_normal((BATCH, K))).astype(np.float32)
    xs_t, ys_t = torch.from_numpy(xs), torch.from_numpy(ys)

    params = {name: {'shape': list(p.shape), 'data': b64(p)} for name, p in model.state_dict().items()}
    out, pred = model(xs_t, ys_t)
    per_position = ((pred - ys_t) ** 2).mean(0)
    loss = per_position.mean()
    loss.backward()
    grads = {name: b64(p.grad) for name, p in model.named_parameters()}

    opt = torch.optim.Adam(model.parameters(), lr=ADAM_LR, betas=(0.9, 0.999), eps=1e-8)
    adam_losses = []
    for _ in range(ADAM_STEPS):
        opt.zero_grad()
        _, p_ = model(xs_t, ys_t)
        ((p_ - ys_t) ** 2).mean().backward()
        opt.step()
        with torch.no_grad():
            _, p_ = model(xs_t, ys_t)
            adam_losses.append(((p_ - ys_t) ** 2).mean().item())

    fixture = {
        'generator': f'tools/oracle/model_oracle.py, torch {torch.__version__}, seed {SEED}',
        'config': CONFIG,
        'paramCount': sum(p.numel() for p in model.parameters()),
        'batch': {'B': BATCH, 'xs': b64(xs_t), 'ys': b64(ys_t)},
        'params': params,
        'outputs': b64(out),
        'predictions': b64(pred),
        'perPositionLoss': per_position.tolist(),
        'loss': loss.item(),
        'grads': grads,
        'adam': {'lr': ADAM_LR, 'steps': ADAM_STEPS, 'lossAfterEachStep': adam_losses},
    }
    with open(args.out, 'w') as f:
        json.dump(fixture, f)
    print(f'wrote {args.out}: {fixture["paramCount"]} parameters, loss {fixture["loss"]:.6f}, adam {adam_losses}')


if __name__ == '__main__':
    main()
