"""Peak memory of probing as the games grow: a linear probe of one layer of a one-block width-256 model (the shape
issue 35 measured), fitted on 2,000 and on 20,000 games, each in a fresh process; the default (streamed above
``othello.probes.layers.STREAM_ABOVE``, held below it) against always held in memory (the way before).

    .venv/bin/python benchmarks/probe_memory.py [--games 2000 20000] [--ways default in-memory]

Prints, per run, the games, the way, the peak resident memory of its process and the wall time.
"""

from __future__ import annotations

import argparse
import subprocess
import sys

CHILD = """
import resource, sys, time
import othello.probes.layers as layers
from othello.engine.games import random_games
from othello.model import build_model, preset
from othello.probes.layers import probe_accuracy_by_layer

games, way = int(sys.argv[1]), sys.argv[2]
if way == "in-memory":
    layers.STREAM_ABOVE = 1 << 40
model = build_model(preset("small", n_layers=1))
moves = random_games(games, 7)
t = time.perf_counter()
row = probe_accuracy_by_layer(model, moves, ("relative",), ("linear",), layers=[1], progress=False)[0]
seconds = time.perf_counter() - t
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(f"{games:>6} games  {way:9s}  peak {peak:7.0f} MB  {seconds:6.1f} s  accuracy {100 * row['accuracy']:.2f} %")
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--games", type=int, nargs="+", default=[2000, 20000])
    parser.add_argument("--ways", nargs="+", default=["default", "in-memory"], choices=["default", "in-memory"])
    args = parser.parse_args()
    for games in args.games:
        for way in args.ways:
            out = subprocess.run([sys.executable, "-c", CHILD, str(games), way], capture_output=True, text=True)
            print(out.stdout.strip() or out.stderr.strip().splitlines()[-1], flush=True)


if __name__ == "__main__":
    main()
