"""DAS fitting on the shipped model: seconds per Adam step through the whole model against the last position's
suffix alone (``othello.causal.suffix``), measured in the same run on the same pairs.

    .venv/bin/python benchmarks/das_fit.py [--layer 6] [--k 2] [--steps 10] [--batch 128] [--repeats 3]

The pairs are the benchmark's fitting pairs (12 DAS squares x 64). Each mode's set-up (``das_step``: the source
runs, and for the suffix the base runs' keys and values) is timed on its own, then ``fit_das`` of ``--steps``
steps on the prepared step (as the benchmark shares one over every k); medians over ``--repeats``.
"""

from __future__ import annotations

import argparse

import numpy as np
from timing import median_time  # benchmarks/timing.py: scripts here run with this folder on the path

from othello.causal.bench import das_fit_pairs
from othello.causal.config import DAS_SQUARES, BenchConfig
from othello.causal.das import das_step, fit_das
from othello.engine.notation import parse_square
from othello.model import load_model
from othello.model.hooks import residual_hook


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--layer", type=int, default=6)
    parser.add_argument("--k", type=int, default=2)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    model = load_model()
    squares = np.array([parse_square(s) for s in DAS_SQUARES])
    pairs = das_fit_pairs(BenchConfig(), squares)
    hook = residual_hook(args.layer, model.cfg.n_layers)
    per_step = {}
    for name, suffix in (("whole model", False), ("last-position suffix", True)):
        setup = median_time(lambda s=suffix: das_step(model, pairs, hook, suffix=s), args.repeats)
        step = das_step(model, pairs, hook, suffix=suffix)  # prepared once, as the benchmark shares it over k
        total = median_time(
            lambda s=suffix, st=step: fit_das(model, pairs, hook, args.k, args.steps, args.batch, suffix=s, step=st),
            args.repeats,
        )
        per_step[name] = total / args.steps
        print(f"{name}: set-up {setup:.2f} s, a step of {args.batch} pairs {per_step[name]:.3f} s", flush=True)
    ratio = per_step["whole model"] / per_step["last-position suffix"]
    print(f"layer {args.layer}, k {args.k}: a suffix step is {ratio:.1f}x faster ({len(pairs)} fitting pairs)")


if __name__ == "__main__":
    main()
