"""Scoring one method of the causal-variable benchmark on the shipped model: the interchange run through the whole
model against the last position's suffix (``othello.causal.suffix``: one base run read once, then each method runs
only the last position from its layer on), measured in the same run on the same pairs.

    .venv/bin/python benchmarks/causal_scoring.py [--layer 6] [--pairs 2000] [--repeats 3]

The method is the probe's plane (a 2-dimensional subspace swap); the source runs are read once and shared, as the
benchmark shares them. The suffix's set-up (the base runs' keys and values) is timed apart: the benchmark pays it
once for every method and layer. Both ways must give the same logits (checked here before timing).
"""

from __future__ import annotations

import argparse

import torch
from timing import median_time  # benchmarks/timing.py: scripts here run with this folder on the path

from othello.causal.bench import bench_pairs
from othello.causal.config import BenchConfig
from othello.causal.interchange import interchange_logits, source_activations
from othello.causal.methods import probe_subspace
from othello.causal.suffix import Suffix
from othello.model import load_model
from othello.probes.store import layer_probes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--layer", type=int, default=6)
    parser.add_argument("--pairs", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    model = load_model()
    n = model.cfg.n_layers
    pairs = bench_pairs(BenchConfig(pairs=args.pairs))
    probe = probe_subspace(
        layer_probes(model, "relative", "linear", [args.layer], progress=False)[args.layer], args.layer, n
    )
    sources = source_activations(model, pairs, [probe.hook])
    suffix = Suffix.of(model, pairs, args.layer)
    slow = interchange_logits(model, pairs, probe, sources=sources)
    fast = interchange_logits(model, pairs, probe, sources=sources, suffix=suffix)
    torch.testing.assert_close(fast, slow, atol=1e-3, rtol=0)
    whole = median_time(lambda: interchange_logits(model, pairs, probe, sources=sources), args.repeats)
    setup = median_time(lambda: Suffix.of(model, pairs, args.layer), args.repeats)
    last = median_time(lambda: interchange_logits(model, pairs, probe, sources=sources, suffix=suffix), args.repeats)
    print(
        f"{len(pairs)} pairs, the probe's plane at layer {args.layer} ({probe.hook}), {torch.get_num_threads()} threads"
    )
    print(f"whole model: {whole:.2f} s a method")
    print(f"last-position suffix: {last:.3f} s a method ({whole / last:.0f}x faster), set-up once {setup:.1f} s")


if __name__ == "__main__":
    main()
