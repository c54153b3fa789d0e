"""Attribution graphs on the shipped model: how long one takes, what its scores are over many positions, the
causal check of its top latents and the steering check of its supernodes.

    .venv/bin/python benchmarks/graph.py [--transcoders models/small8/transcoders] [--repeats 5]
        [--positions 200] [--scale -1] [--panel 5] [--json OUT.json]

Speed: the median seconds of ``build_graph`` + ``prune_graph`` over ``--repeats`` held-out positions cut at ply
30 (a mid-game prefix), and over as many full 59-move prefixes (the largest graph). Then, over ``--positions``
held-out positions, one graph each (``othello.sae.graph_checks.check_graphs``): the replacement and completeness
quartiles; the mean logit drop when the graph's top k latents are ablated against k random active latents (k = 5,
10, 20); and the share of square-state supernodes whose steering (latents x ``--scale``) moves the legal moves the
way their label says (labels from ``transcoders eval``). ``--panel``: the explorer's ``POST /api/graph`` through
the app, one torch thread as ``othello-gpt explore`` runs, over as many positions at ply 30 (median seconds).
Each part prints as it ends; 0 skips a part.
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
from othello.sae.graph_checks import check_graphs, held_out_positions, top_move
from othello.sae.transcoders import default_folder, latent_labels, load_transcoders


def speed(model, transcoders, repeats: int) -> dict[str, float]:
    games = random_games(2 * repeats, EVAL_SEED, first_index=2 * 10**6)
    out = {}
    for name, cut in (("ply 30", 30), ("59 moves", 59)):
        prefixes = [[int(s) for s in g if s >= 0][:cut] for g in games if (g >= 0).sum() >= cut][:repeats]
        times = []
        for prefix in prefixes:
            move = top_move(model, prefix)
            times.append(median_time(lambda p=prefix, m=move: prune_graph(build_graph(model, transcoders, p, m)), 1))
        out[name] = float(np.median(times))
        print(f"graph (build + prune), {name}: median {out[name]:.2f} s over {len(times)} positions", flush=True)
    return out


def panel(model, folder, repeats: int) -> float:
    """The explorer's Graph panel: seconds per ``POST /api/graph`` at ply 30, one torch thread."""
    import torch
    from fastapi.testclient import TestClient

    from othello.engine.notation import square_name
    from othello.explorer.server import create_app
    from othello.explorer.service import ExplorerBackend

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # what othello-gpt explore sets by default (--threads 1); restored below
    client = TestClient(create_app(ExplorerBackend(model, transcoders=folder, progress=False)))
    games = random_games(2 * repeats, EVAL_SEED, first_index=2 * 10**6)
    prefixes = [[int(s) for s in g if s >= 0][:30] for g in games if (g >= 0).sum() >= 30][:repeats]
    moves = [" ".join(square_name(s) for s in p) for p in prefixes]
    times = [median_time(lambda m=m: client.post("/api/graph", json={"moves": m}).raise_for_status(), 1) for m in moves]
    torch.set_num_threads(threads)
    print(f"explorer Graph panel, ply 30: median {np.median(times):.2f} s over {len(times)} positions", flush=True)
    return float(np.median(times))


def checks(model, transcoders, labels, count: int, scale: float) -> dict:
    result = check_graphs(model, transcoders, held_out_positions(count, seed=0), labels=labels, scale=scale)
    for key, s in result["scores"].items():
        print(
            f"{key} score over {count} positions: median {s['median']:.3f} "
            f"(quartiles {s['p25']:.3f} .. {s['p75']:.3f}, 10-90 % {s['p10']:.3f} .. {s['p90']:.3f})",
            flush=True,
        )
    for k, row in result["ablation"].items():
        ratio = "n/a" if row["ratio"] is None else f"{row['ratio']:.1f}x"
        print(
            f"ablate {k} latents over {row['positions']} positions: top by influence -{row['top_drop']:.3f}, "
            f"random active -{row['random_drop']:.3f} (logit units); ratio {ratio}",
            flush=True,
        )
    steering = result.get("steering")
    if steering:
        print(
            f"steering (latents x {steering['scale']}): {steering['cases']} square-state supernodes, "
            f"success {steering['success']} (mean moved_right {steering['mean_moved_right']}); by state "
            + ", ".join(f"{s} {v['cases']} cases {v['success']}" for s, v in steering["by_state"].items())
            + f"; left out {steering['skipped']}",
            flush=True,
        )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--transcoders", default=None, help="the set (default: the shipped model's transcoders/)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--positions", type=int, default=200)
    parser.add_argument("--scale", type=float, default=-1.0, help="steering: what a supernode's latents are scaled by")
    parser.add_argument("--panel", type=int, default=5, help="positions the explorer's Graph panel is timed on")
    parser.add_argument("--json", default=None, help="also write the figures here")
    args = parser.parse_args()
    model = load_model()
    folder = args.transcoders or default_folder(None)
    transcoders = load_transcoders(folder)
    result: dict = {"date": time.strftime("%Y-%m-%d")}
    if args.repeats:
        result["seconds"] = speed(model, transcoders, args.repeats)
    if args.panel:
        result["panel_seconds"] = panel(model, folder, args.panel)
    if args.positions:
        result["checks"] = checks(model, transcoders, latent_labels(folder, transcoders), args.positions, args.scale)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
