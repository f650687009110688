#!/usr/bin/env python3
"""PyTorch reference timing for bench/lm.ts: the language model's training step (forward, backward,
AdamW) on one thread, in the fastest idiomatic PyTorch 1.13 form we found (module FastLM below).

FastLM is lm_oracle.py's maths (shortformer positions added to the query/key input only, pre-LN,
attention only) written as one would for speed: nn.LayerNorm, one nn.Linear for the fused Q and K
projections (both read the same input) and one each for V and O, heads by view/transpose, a boolean
causal-mask buffer, nn.Linear unembedding, F.cross_entropy, zero_grad(set_to_none=True) and
torch.optim.AdamW(foreach=True). Measured against the oracle's module (einsum projections,
log_softmax + gather, per-tensor AdamW) in one process, alternated, at d = 64, T = 128, B = 16:
5–10% faster at V = 1,024 and 2,048 (2026-11-30). Before timing, FastLM is loaded with the oracle
module's weights and must give the same loss (to 1e-5), so both time the same function.

Usage: OPENBLAS_NUM_THREADS=1 /usr/bin/python3 tools/oracle/bench_lm_torch.py SECONDS L d H dh T V B
Prints JSON: {"torch": version, "tokensPerSecWall": …, "tokensPerSecCpu": …, "steps": n}.
"""
import json
import math
import os
import sys
import time

os.environ.setdefault('OPENBLAS_NUM_THREADS', '1')
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

sys.path.insert(0, os.path.dirname(__file__))
from lm_oracle import AttnOnlyLM, per_position_loss  # noqa: E402


class FastLM(nn.Module):
    def __init__(self, L, d, H, dh, T, V):
        super().__init__()
        self.H, self.dh, self.V = H, dh, V
        HD = H * dh
        self.W_E = nn.Parameter(torch.empty(V, d))
        self.W_pos = nn.Parameter(torch.empty(T, d))
        self.ln1 = nn.ModuleList([nn.LayerNorm(d) for _ in range(L)])
        self.qk = nn.ModuleList([nn.Linear(d, 2 * HD) for _ in range(L)])
        self.v = nn.ModuleList([nn.Linear(d, HD) for _ in range(L)])
        self.o = nn.ModuleList([nn.Linear(HD, d) for _ in range(L)])
        self.ln_final = nn.LayerNorm(d)
        self.unembed = nn.Linear(d, V)
        self.register_buffer('mask', torch.triu(torch.ones(T, T, dtype=torch.bool), 1))

    @torch.no_grad()
    def load_from_oracle(self, m):
        """Copies AttnOnlyLM's TransformerLens-layout parameters (W_Q [H, d, dh], …) into the Linear layers."""
        P = m.P
        self.W_E.copy_(P('embed.W_E'))
        self.W_pos.copy_(P('pos_embed.W_pos'))
        for l in range(len(self.ln1)):
            b = f'blocks.{l}'
            self.ln1[l].weight.copy_(P(f'{b}.ln1.w')), self.ln1[l].bias.copy_(P(f'{b}.ln1.b'))
            hde = lambda name: P(name).permute(0, 2, 1).reshape(-1, P(name).shape[1])  # noqa: E731  [H·dh, d]
            self.qk[l].weight.copy_(torch.cat([hde(f'{b}.attn.W_Q'), hde(f'{b}.attn.W_K')]))
            self.qk[l].bias.copy_(torch.cat([P(f'{b}.attn.b_Q').flatten(), P(f'{b}.attn.b_K').flatten()]))
            self.v[l].weight.copy_(hde(f'{b}.attn.W_V')), self.v[l].bias.copy_(P(f'{b}.attn.b_V').flatten())
            self.o[l].weight.copy_(P(f'{b}.attn.W_O').reshape(-1, P(f'{b}.attn.W_O').shape[2]).t())
            self.o[l].bias.copy_(P(f'{b}.attn.b_O'))
        self.ln_final.weight.copy_(P('ln_final.w')), self.ln_final.bias.copy_(P('ln_final.b'))
        self.unembed.weight.copy_(P('unembed.W_U').t()), self.unembed.bias.copy_(P('unembed.b_U'))

    def forward(self, tokens):
        B, T = tokens.shape
        H, dh = self.H, self.dh
        x = self.W_E[tokens]
        for l in range(len(self.ln1)):
            a = self.ln1[l](x)
            q, k = self.qk[l](a + self.W_pos[:T]).view(B, T, 2, H, dh).permute(2, 0, 3, 1, 4)
            v = self.v[l](a).view(B, T, H, dh).transpose(1, 2)
            scores = (q @ k.transpose(-1, -2)) * (1 / math.sqrt(dh))
            pattern = torch.softmax(scores.masked_fill(self.mask[:T, :T], float('-inf')), -1)
            x = x + self.o[l]((pattern @ v).transpose(1, 2).reshape(B, T, H * dh))
        return self.unembed(self.ln_final(x))

    def loss(self, tokens):
        """Mean next-token cross-entropy over the batch and positions 0 … T−2 (= the oracle's mean of per-position means)."""
        return F.cross_entropy(self(tokens)[:, :-1].reshape(-1, self.V), tokens[:, 1:].reshape(-1))


def main():
    torch.set_num_threads(1)
    seconds = float(sys.argv[1])
    L, d, H, dh, T, V, B = (int(x) for x in sys.argv[2:9])
    torch.manual_seed(0)
    oracle = AttnOnlyLM(dict(layers=L, dModel=d, heads=H, dHead=dh, nCtx=T, vocab=V))
    model = FastLM(L, d, H, dh, T, V)
    model.load_from_oracle(oracle)
    tokens = torch.randint(0, V, (B, T))
    with torch.no_grad():
        want, got = per_position_loss(oracle(tokens)[0], tokens).mean().item(), model.loss(tokens).item()
    if abs(want - got) > 1e-5 * abs(want):
        sys.exit(f'bench_lm_torch.py: FastLM loss {got} differs from the oracle module\'s {want}')
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.05, foreach=True)

    def step():
        opt.zero_grad(set_to_none=True)
        model.loss(tokens).backward()
        opt.step()

    step()
    step()
    n, w0, c0 = 0, time.perf_counter(), time.process_time()
    while time.perf_counter() - w0 < seconds:
        step()
        n += 1
    wall, cpu = time.perf_counter() - w0, time.process_time() - c0
    print(json.dumps({'torch': torch.__version__, 'steps': n, 'tokensPerSecWall': n * B * T / wall, 'tokensPerSecCpu': n * B * T / cpu}))


if __name__ == '__main__':
    main()
