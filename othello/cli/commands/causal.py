"""The causal-variable benchmark: ``othello-gpt causal-bench``, its arguments beside what it does (the library:
``othello.causal``)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from othello.cli import args as types
from othello.cli.args import command, dump, load_cli_model, model_flags, output_flags, show_progress
from othello.files import check_output_folder, write_csv, write_json

ROW_FIELDS = [
    "method",
    "layer",
    "hook",
    "squares",
    "pairs",
    "iia",
    "iia_low",
    "iia_high",
    "legal_set_error",
    "moved_right",
    "size",
    "fit_seconds",
    "run_seconds",
]


def cmd_causal_bench(args: argparse.Namespace) -> None:
    from othello.causal.bench import causal_bench
    from othello.causal.config import BenchConfig
    from othello.views.causal import causal_table_lines, plot_causal_bench

    if args.out:
        check_output_folder(args.out)
    config = BenchConfig(
        layers=args.layers,
        methods=args.methods,
        pairs=args.pairs,
        games=args.games,
        positions=args.positions,
        das_dims=args.das_dims,
        das_squares=args.das_squares,
        das_steps=args.das_steps,
        das_batch=args.das_batch,
        sae=args.sae,
        transcoders=args.transcoders,
        seed=args.seed,
    )
    result = causal_bench(load_cli_model(args), config, progress=show_progress(args))
    if args.out:
        out = Path(args.out)
        write_json(out / "causal_bench.json", result)
        write_csv(out / "causal_bench.csv", result["rows"], ROW_FIELDS)
        plot_causal_bench(result, out / "causal_bench.png")
    if args.json:
        dump(result)
        return
    print("\n".join(causal_table_lines(result)))
    if args.out:
        print(f"wrote {args.out}")


def add_commands(sub: Any) -> None:
    from othello.causal.config import DAS_SQUARES, METHODS, BenchConfig

    defaults = BenchConfig()
    p = command(
        sub,
        "causal-bench",
        cmd_causal_bench,
        "rank the methods that name a square's state by interchange interventions",
    )
    model_flags(p)
    p.add_argument(
        "--layers", type=types.int_range, default=defaults.layers, help="residual layers (L = after block L-1)"
    )
    p.add_argument("--methods", type=types.choice_list(METHODS), default=defaults.methods, help="the methods compared")
    p.add_argument("--pairs", type=types.positive_int, default=defaults.pairs, help="scoring pairs")
    p.add_argument("--games", type=types.bounded_int(2), default=defaults.games, help="games the pairs come from")
    p.add_argument(
        "--positions", default=defaults.positions, help="where the swap happens: last, last:K or all positions"
    )
    p.add_argument("--das-dims", type=types.int_range, default=defaults.das_dims, help="DAS subspace dimensions")
    p.add_argument(
        "--das-squares",
        type=lambda text: tuple(text.replace(",", " ").split()),
        default=DAS_SQUARES,
        help="the squares DAS is fitted on",
    )
    p.add_argument("--das-steps", type=types.positive_int, default=defaults.das_steps, help="DAS Adam steps per fit")
    p.add_argument("--das-batch", type=types.positive_int, default=defaults.das_batch, help="DAS pairs per step")
    p.add_argument("--sae", default=None, help="an evaluated SAE run folder, for the sae method")
    p.add_argument(
        "--transcoders", default=None, help="an evaluated transcoder set (transcoders eval), for the transcoders method"
    )
    p.add_argument("--seed", type=types.non_negative_int, default=0, help="the pairs' and subspaces' seed")
    p.add_argument("--out", default=None, help="folder for causal_bench.json, causal_bench.csv and causal_bench.png")
    p.set_defaults(
        reads=lambda a: types.model_files(a.model) + [Path(folder) for folder in (a.sae, a.transcoders) if folder]
    )
    output_flags(p)
