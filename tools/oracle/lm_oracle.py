#!/usr/bin/env python3
"""Independent PyTorch reference of the language model (docs/language-model.md).

An attention-only transformer with "shortformer" positions (added to the layer-normed query and
key inputs only), pre-LN, TransformerLens parameter names and layouts. Written from the method
description, not from the TypeScript. Writes test/fixtures/lm-oracle.json: a small config, weights
(random, LayerNorm perturbed so gamma/beta are visible), a token batch with T < n_ctx, logits,
attention patterns, logits with the positional embedding ablated, per-position loss, loss, the
gradient of every parameter, and the loss after each of 3 AdamW steps (weight decay on every
parameter, as torch.optim.AdamW does with all parameters in one group).

Usage:  OPENBLAS_NUM_THREADS=1 /usr/bin/python3 tools/oracle/lm_oracle.py [--out test/fixtures/lm-oracle.json]
"""
import argparse
import base64
import json
import math

import numpy as np
import torch
from torch import nn

CONFIG = dict(layers=2, dModel=16, heads=2, dHead=8, nCtx=12, vocab=23)
B, T = 3, 10
ADAMW = dict(lr=1e-2, weight_decay=0.05, steps=3)
SEED = 7


class AttnOnlyLM(nn.Module):
    def __init__(self, c):
        super().__init__()
        d, H, dh, V, L = c['dModel'], c['heads'], c['dHead'], c['vocab'], c['layers']
        self.c = c
        p = {}
        p['embed.W_E'] = torch.randn(V, d) * 0.3
        p['pos_embed.W_pos'] = torch.randn(c['nCtx'], d) * 0.3
        for l in range(L):
            b = f'blocks.{l}'
            p[f'{b}.ln1.w'] = 1 + 0.1 * torch.randn(d)
            p[f'{b}.ln1.b'] = 0.1 * torch.randn(d)
            for m in 'QKV':
                p[f'{b}.attn.W_{m}'] = torch.randn(H, d, dh) * 0.3
            p[f'{b}.attn.W_O'] = torch.randn(H, dh, d) * 0.3
            for m in 'QKV':
                p[f'{b}.attn.b_{m}'] = 0.1 * torch.randn(H, dh)
            p[f'{b}.attn.b_O'] = 0.1 * torch.randn(d)
        p['ln_final.w'] = 1 + 0.1 * torch.randn(d)
        p['ln_final.b'] = 0.1 * torch.randn(d)
        p['unembed.W_U'] = torch.randn(d, V) * 0.3
        p['unembed.b_U'] = 0.1 * torch.randn(V)
        self.names = list(p)
        self.params = nn.ParameterList([nn.Parameter(v.float()) for v in p.values()])

    def P(self, name):
        return self.params[self.names.index(name)]

    @staticmethod
    def ln(x, w, b):
        mu = x.mean(-1, keepdim=True)
        var = ((x - mu) ** 2).mean(-1, keepdim=True)
        return (x - mu) / torch.sqrt(var + 1e-5) * w + b

    def forward(self, tokens, ablate_positions=False):
        Bn, Tn = tokens.shape
        c = self.c
        x = self.P('embed.W_E')[tokens]  # [B, T, d]; no positions in the residual stream
        pos = torch.zeros_like(x) if ablate_positions else self.P('pos_embed.W_pos')[:Tn].unsqueeze(0)
        mask = torch.tril(torch.ones(Tn, Tn, dtype=torch.bool))
        patterns = []
        for l in range(c['layers']):
            b = f'blocks.{l}'
            a = self.ln(x, self.P(f'{b}.ln1.w'), self.P(f'{b}.ln1.b'))
            qk_in = a + pos
            q = torch.einsum('btd,hde->bhte', qk_in, self.P(f'{b}.attn.W_Q')) + self.P(f'{b}.attn.b_Q')[None, :, None, :]
            k = torch.einsum('btd,hde->bhte', qk_in, self.P(f'{b}.attn.W_K')) + self.P(f'{b}.attn.b_K')[None, :, None, :]
            v = torch.einsum('btd,hde->bhte', a, self.P(f'{b}.attn.W_V')) + self.P(f'{b}.attn.b_V')[None, :, None, :]
            scores = q @ k.transpose(-1, -2) / math.sqrt(c['dHead'])
            scores = scores.masked_fill(~mask, float('-inf'))
            pattern = torch.softmax(scores, dim=-1)
            patterns.append(pattern)
            z = pattern @ v  # [B, H, T, dh]
            out = torch.einsum('bhte,hed->btd', z, self.P(f'{b}.attn.W_O')) + self.P(f'{b}.attn.b_O')
            x = x + out
        y = self.ln(x, self.P('ln_final.w'), self.P('ln_final.b'))
        return y @ self.P('unembed.W_U') + self.P('unembed.b_U'), patterns


def per_position_loss(logits, tokens):
    logp = torch.log_softmax(logits[:, :-1], dim=-1)
    nll = -logp.gather(-1, tokens[:, 1:, None])[..., 0]  # [B, T-1]
    return nll.mean(0)


def b64(t):
    return base64.b64encode(t.detach().contiguous().numpy().astype('<f4').tobytes()).decode()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--out', default='test/fixtures/lm-oracle.json')
    args = ap.parse_args()
    torch.manual_seed(SEED)
    model = AttnOnlyLM(CONFIG)
    gen = np.random.default_rng(SEED)
    tokens = torch.tensor(gen.integers(0, CONFIG['vocab'], size=(B, T)), dtype=torch.long)
    weights = {n: {'shape': list(p.shape), 'data': b64(p)} for n, p in zip(model.names, model.params)}

    logits, patterns = model(tokens)
    ablated, _ = model(tokens, ablate_positions=True)
    ppl = per_position_loss(logits, tokens)
    loss = ppl.mean()
    loss.backward()
    grads = {n: b64(p.grad) for n, p in zip(model.names, model.params)}

    opt = torch.optim.AdamW(model.parameters(), lr=ADAMW['lr'], weight_decay=ADAMW['weight_decay'], betas=(0.9, 0.999), eps=1e-8)
    after = []
    for _ in range(ADAMW['steps']):
        opt.zero_grad()
        l = per_position_loss(model(tokens)[0], tokens).mean()
        l.backward()
        opt.step()
        with torch.no_grad():
            after.append(per_position_loss(model(tokens)[0], tokens).mean().item())

    out = {
        'config': CONFIG,
        'batch': {'B': B, 'T': T, 'tokens': tokens.flatten().tolist()},
        'params': weights,
        'logits': b64(logits),
        'attention': [b64(p) for p in patterns],
        'ablatedLogits': b64(ablated),
        'perPositionLoss': ppl.tolist(),
        'loss': loss.item(),
        'grads': grads,
        'adamw': {**ADAMW, 'lossAfterEachStep': after},
    }
    with open(args.out, 'w') as f:
        json.dump(out, f)
    print(f'wrote {args.out}: loss {loss.item():.6f}, AdamW losses {after}')


if __name__ == '__main__':
    main()
