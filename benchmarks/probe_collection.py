"""Collecting the activations probes are fitted on: one forward pass per layer (before) against one pass for
every layer at once (``othello.probes.layers``, now), on the same games.

    .venv/bin/python benchmarks/probe_collection.py [--model models/small8] [--games 2000] [--repeats 3]

Prints the median seconds of each way over ``--repeats`` runs and their ratio.
"""

from __future__ import annotations

import argparse
import statistics
import time

from othello.engine.games import random_games
from othello.model import residual_hook
from othello.model.checkpoints import load_model
from othello.probes.activations import collect_activations


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None)
    parser.add_argument("--games", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    model = load_model(args.model)
    n = model.cfg.n_layers
    moves = random_games(args.games, 7)
    hooks = [residual_hook(L, n) for L in range(n + 1)]
    per_layer, one_pass = [], []
    for _ in range(args.repeats):
        t = time.perf_counter()
        for hook in hooks:
            collect_activations(model, moves, [hook])
        per_layer.append(time.perf_counter() - t)
        t = time.perf_counter()
        collect_activations(model, moves, hooks)
        one_pass.append(time.perf_counter() - t)
    a, b = statistics.median(per_layer), statistics.median(one_pass)
    print(
        f"{args.games} games, {len(hooks)} layers: a pass per layer {a:.1f} s, one pass for all {b:.1f} s "
        f"({a / b:.2f}x faster); medians of {args.repeats}"
    )


if __name__ == "__main__":
    main()
