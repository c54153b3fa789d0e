"""Attribution graphs on the shipped model: how long one takes, what its scores are over many positions, and the
causal check of its top latents.

    .venv/bin/python benchmarks/graph.py [--transcoders models/small8/transcoders] [--repeats 5]
        [--positions 200] [--ablations 200] [--json OUT.json]

Speed: the median seconds of ``build_graph`` + ``prune_graph`` over ``--repeats`` held-out positions cut at ply
30 (a mid-game prefix), and over as many full 59-move prefixes (the largest graph). Scores: the replacement and
completeness quartiles over ``--positions`` held-out positions (``othello.sae.graph_checks``). Causal check: the mean
logit drop when the graph's top k latents are ablated, against k random active latents, k = 5, 10, 20, over
``--ablations`` positions. Each part prints as it ends; 0 skips a part.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from timing import median_time  # benchmarks/timing.py: scripts here run with this folder on the path

from othello.data.seeds import EVAL_SEED
from othello.engine.games import random_games
from othello.model import load_model
from othello.sae.graph import build_graph, prune_graph
from othello.sae.graph_checks import _top_move, ablation_check, held_out_positions, score_distribution
from othello.sae.transcoders import default_folder, load_transcoders


def speed(model, transcoders, repeats: int) -> dict[str, float]:
    games = random_games(2 * repeats, EVAL_SEED, first_index=2 * 10**6)
    out = {}
    for name, cut in (("ply 30", 30), ("59 moves", 59)):
        prefixes = [[int(s) for s in g if s >= 0][:cut] for g in games if (g >= 0).sum() >= cut][:repeats]
        times = []
        for prefix in prefixes:
            move = _top_move(model, prefix)
            times.append(median_time(lambda p=prefix, m=move: prune_graph(build_graph(model, transcoders, p, m)), 1))
        out[name] = float(np.median(times))
        print(f"graph (build + prune), {name}: median {out[name]:.2f} s over {len(times)} positions", flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--transcoders", default=None, help="the set (default: the shipped model's transcoders/)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--positions", type=int, default=200)
    parser.add_argument("--ablations", type=int, default=200)
    parser.add_argument("--json", default=None, help="also write the figures here")
    args = parser.parse_args()
    model = load_model()
    transcoders = load_transcoders(args.transcoders or default_folder(None))
    result: dict = {"date": time.strftime("%Y-%m-%d")}
    if args.repeats:
        result["seconds"] = speed(model, transcoders, args.repeats)
    if args.positions:
        stats = score_distribution(model, transcoders, held_out_positions(args.positions, seed=0), progress=False)
        result["scores"] = {
            k: {q: v for q, v in s.items() if q != "values"} for k, s in stats.items() if k != "positions"
        }
        for key, s in result["scores"].items():
            print(
                f"{key} score over {args.positions} positions: median {s['median']:.3f} "
                f"(quartiles {s['p25']:.3f} .. {s['p75']:.3f}, 10-90 % {s['p10']:.3f} .. {s['p90']:.3f})",
                flush=True,
            )
    if args.ablations:
        result["ablation"] = ablation_check(
            model, transcoders, held_out_positions(args.ablations, seed=1), progress=False
        )
        for k, row in result["ablation"].items():
            ratio = "n/a" if row["ratio"] is None else f"{row['ratio']:.1f}x"
            print(
                f"ablate {k} latents over {row['positions']} positions: top by influence -{row['top_drop']:.3f}, "
                f"random active -{row['random_drop']:.3f} (logit units); ratio {ratio}",
                flush=True,
            )
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
