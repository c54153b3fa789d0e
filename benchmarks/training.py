"""Training and evaluation speed of each preset: the TransformerLens bridge beside a minimal plain-PyTorch
GPT of the same shape (nanoGPT-style, explicit attention), timed in the same run.

    .venv/bin/python benchmarks/training.py [--presets tiny,narrow,small] [--batch 128] [--steps 8] [--bf16]

Figures are tokens/s, medians over the timed steps (the first two steps are warm-up and not counted).
"""

from __future__ import annotations

import argparse
import math
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

from othello.model import ModelConfig, build_model, preset


class PlainBlock(nn.Module):
    def __init__(self, c: ModelConfig) -> None:
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(c.d_model), nn.LayerNorm(c.d_model)
        self.qkv = nn.Linear(c.d_model, 3 * c.d_model)
        self.proj = nn.Linear(c.d_model, c.d_model)
        self.fc_in, self.fc_out = nn.Linear(c.d_model, c.d_mlp), nn.Linear(c.d_mlp, c.d_model)
        self.n_heads = c.n_heads
        self.register_buffer("mask", torch.triu(torch.ones(c.n_ctx, c.n_ctx, dtype=torch.bool), 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, D = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(D, dim=-1)
        q, k, v = (t.view(B, T, self.n_heads, D // self.n_heads).transpose(1, 2) for t in (q, k, v))
        scores = (q @ k.transpose(-1, -2)) / math.sqrt(D // self.n_heads)
        y = scores.masked_fill(self.mask[:T, :T], float("-inf")).softmax(-1) @ v  # (B, H, T, dh)
        x = x + self.proj(y.transpose(1, 2).reshape(B, T, D))
        return x + self.fc_out(F.gelu(self.fc_in(self.ln2(x))))


class PlainGPT(nn.Module):
    def __init__(self, c: ModelConfig) -> None:
        super().__init__()
        self.embed, self.pos = nn.Embedding(c.d_vocab, c.d_model), nn.Parameter(torch.zeros(c.n_ctx, c.d_model))
        self.blocks = nn.ModuleList(PlainBlock(c) for _ in range(c.n_layers))
        self.ln_f, self.head = nn.LayerNorm(c.d_model), nn.Linear(c.d_model, c.d_vocab)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        x = self.embed(tokens) + self.pos[: tokens.shape[1]]
        for block in self.blocks:
            x = block(x)
        return self.head(self.ln_f(x))


def tokens_per_second(model: nn.Module, batch: int, steps: int, train: bool, bf16: bool = False) -> float:
    tokens = torch.randint(1, 61, (batch, 59))
    targets = torch.randint(1, 61, (batch, 59))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    model.train(train)
    times = []
    for _ in range(steps + 2):
        t = time.perf_counter()
        if train:
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                logits = model(tokens)
            loss = F.cross_entropy(logits.float().reshape(-1, 61), targets.reshape(-1))
            opt.zero_grad()
            loss.backward()
            opt.step()
        else:
            with torch.no_grad():
                model(tokens)
        times.append(time.perf_counter() - t)
    return batch * 59 / statistics.median(times[2:])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--presets", default="tiny,narrow,small")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--bf16", action="store_true", help="also time the bridge's training under CPU bf16 autocast")
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch {args.batch} games x 59 tokens")
    print(
        "preset | train tok/s bridge | train tok/s plain | bridge/plain | eval tok/s bridge | eval tok/s plain"
        + (" | train tok/s bridge bf16 | bf16/fp32" if args.bf16 else "")
    )
    for name in args.presets.split(","):
        cfg = preset(name)
        bridge, plain = build_model(cfg), PlainGPT(cfg)
        rates = {}
        # interleave the two models so drifting machine load hits both alike
        half = []
        for mode in (True, False):
            a, b = [], []
            for _ in range(3):
                a.append(tokens_per_second(bridge, args.batch, args.steps, mode))
                b.append(tokens_per_second(plain, args.batch, args.steps, mode))
                if mode and args.bf16:
                    half.append(tokens_per_second(bridge, args.batch, args.steps, True, bf16=True))
            rates[mode] = (statistics.median(a), statistics.median(b))
        (tb, tp), (eb, ep) = rates[True], rates[False]
        extra = f" | {statistics.median(half):,.0f} | {statistics.median(half) / tb:.2f}" if half else ""
        print(f"{name} | {tb:,.0f} | {tp:,.0f} | {tb / tp:.3f} | {eb:,.0f} | {ep:,.0f}{extra}", flush=True)


if __name__ == "__main__":
    main()
