"""Probe speed: activation collection beside a plain forward pass, and our linear probes beside scikit-learn.

    .venv/bin/python benchmarks/probe_speed.py [--model models/small] [--games 2000] [--sk-squares 8]

1. Tokens/s of a plain forward pass and of collecting every residual-stream hook (``run_with_cache`` with a
   names filter), over the same games, median of ``--repeats``.
2. Linear probes (relative labels) for all 64 squares on every layer, fitted on the train split of
   ``--games`` synthetic games and scored on the rest: our torch probe (all squares at once) beside
   scikit-learn's ``LogisticRegression`` (lbfgs, one model per square). scikit-learn is fitted on
   ``--sk-squares`` squares spread over the board at each layer (all 64 at every layer takes an hour on 2
   cores); its time for 64 squares is that measured time x 64 / sk-squares, and accuracies are compared
   on the same squares.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

from othello.data.datasets import split_mask
from othello.engine.games import random_games
from othello.model import residual_hook
from othello.model.checkpoints import load_model
from othello.model.tokens import move_logits
from othello.probes.activations import collect_activations
from othello.probes.fit import ProbeConfig, fit_probe, predict
from othello.probes.targets import board_labels


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None)
    parser.add_argument("--games", type=int, default=2000)
    parser.add_argument("--sk-squares", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.manual_seed(0)
    model = load_model(args.model)
    n = model.cfg.n_layers
    moves = random_games(args.games, 7)
    tokens = int((moves[:, :59] >= 0).sum())
    hooks = [residual_hook(L, n) for L in range(n + 1)]

    plain, cached = [], []
    for _ in range(args.repeats):
        t = time.perf_counter()
        move_logits(model, moves, batch_size=256)
        plain.append(time.perf_counter() - t)
        t = time.perf_counter()
        acts = collect_activations(model, moves, hooks, batch_size=256)
        cached.append(time.perf_counter() - t)
    print(
        f"forward pass: {tokens / statistics.median(plain):,.0f} tokens/s; collecting {len(hooks)} resid hooks: "
        f"{tokens / statistics.median(cached):,.0f} tokens/s "
        f"({statistics.median(plain) / statistics.median(cached):.2f}x)"
    )

    y = board_labels(moves, "relative")
    train = split_mask(moves, "train")
    squares = np.linspace(0, 63, args.sk_squares).round().astype(int)
    ours_time = sk_time = 0.0
    print(f"layer  ours: all 64 squares (s, acc %)  ours on the {len(squares)} squares  sklearn on them (s, acc %)")
    diffs = []
    for L, hook in enumerate(hooks):
        a = acts[hook]
        d = a.shape[-1]
        xtr, ytr = a[train].reshape(-1, d), y[train].reshape(-1, 64)
        xte, yte = a[~train].reshape(-1, d), y[~train].reshape(-1, 64)
        t = time.perf_counter()
        probe, m = fit_probe(xtr, ytr, ProbeConfig(kind="linear"), xte, yte)
        ours = time.perf_counter() - t
        pred = predict(probe, xte)
        ours_sub = np.mean([(pred[:, s] == yte[:, s])[yte[:, s] >= 0].mean() for s in squares])
        from sklearn.linear_model import LogisticRegression

        t = time.perf_counter()
        sk_acc = []
        for s in squares:
            keep, keep_te = ytr[:, s] >= 0, yte[:, s] >= 0
            clf = LogisticRegression(max_iter=200).fit(xtr[keep], ytr[keep, s])
            sk_acc.append(clf.score(xte[keep_te], yte[keep_te, s]))
        sk = time.perf_counter() - t
        ours_time += ours
        sk_time += sk * 64 / len(squares)
        diffs.append(100 * (ours_sub - np.mean(sk_acc)))
        print(
            f"{L:>5}  {ours:8.1f} s {100 * m['accuracy']:6.2f}            {100 * ours_sub:6.2f}"
            f"                     {sk:7.1f} s {100 * np.mean(sk_acc):6.2f}"
        )
    print(
        f"all layers, 64 squares: ours {ours_time:.1f} s, scikit-learn {sk_time:.1f} s (extrapolated from "
        f"{len(squares)} squares): {sk_time / ours_time:.1f}x faster; accuracy ours - sklearn on the same squares: "
        f"{np.mean(diffs):+.2f} points (layers: {', '.join(f'{x:+.2f}' for x in diffs)})"
    )


if __name__ == "__main__":
    main()
