"""The whole experiment, its page and the live explorer: demo, report, explore: each one's arguments beside what
it does."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from othello.cli import args as types
from othello.cli.args import command, dump, load_cli_model, model_flags, output_flags


def cmd_demo(args: argparse.Namespace) -> None:
    from othello.lab.demo import DemoConfig, run_demo, summary_table

    counts = {
        k: v
        for k, v in (
            ("eval_games", args.eval_games),
            ("probe_games", args.probe_games),
            ("cases", args.cases),
            ("gradient_steps", args.steps),
            ("circuit_games", args.circuit_games),
        )
        if v is not None
    }  # None: DemoConfig's default
    cfg = DemoConfig(
        out=args.out,
        model=args.model,
        **counts,
        wthor=args.wthor,
        full=args.full,
        train_minutes=args.minutes if args.train else None,
        preset=args.preset,
        device=types.check_device(args.device),
        force=args.force or (),
        progress=not (args.json or args.quiet),
    )
    summary = run_demo(cfg)
    if args.json:
        dump({k: summary[k] for k in ("provenance", "eval", "report")})
        return
    print(summary_table(summary))
    print(f"report: {summary['report']}")


def cmd_report(args: argparse.Namespace) -> None:
    from othello.lab.report import write_report

    path = write_report(args.run)
    if args.json:
        dump({"report": str(path)})
        return
    print(f"wrote {path}")


def cmd_explore(args: argparse.Namespace) -> None:
    import torch

    from othello.explorer.server import create_app, serve
    from othello.explorer.service import ExplorerBackend, default_name

    # the explorer's work is many small operations, where one thread beats a team of them (BENCHMARKS.md)
    torch.set_num_threads(args.threads)
    print("loading the model and its probes ...", flush=True)
    backend = ExplorerBackend(
        load_cli_model(args),
        name=default_name(args.model),
        data=args.data,
        sae_run=args.sae,
        transcoders=args.transcoders,
    )
    serve(create_app(backend), host=args.host, port=args.port)
    print("explorer stopped")


def _app_commands(sub: Any) -> None:
    """demo, explore, report"""
    p = command(sub, "demo", cmd_demo, "the whole experiment: evaluate, probe, intervene, draw, report")
    p.add_argument("--out", default="runs/demo", help="the run folder (its stages are cached there)")
    p.add_argument(
        "--model", default=None, help="checkpoint folder (default: the shipped model; with --train: OUT/model)"
    )
    p.add_argument("--train", action="store_true", help="train a fresh model first (resumed when rerun)")
    p.add_argument("--minutes", type=types.positive_float, default=10.0, help="with --train: training time")
    p.add_argument("--preset", default="small", help="with --train: the model preset")
    p.add_argument(
        "--eval-games",
        type=types.positive_int,
        default=None,
        help="held-out games for the legal-move rates (default 2000)",
    )
    p.add_argument(
        "--probe-games",
        type=types.positive_int,
        default=None,
        help="synthetic games the probes are fitted and scored on (default 2000)",
    )
    p.add_argument(
        "--cases", type=types.positive_int, default=None, help="intervention cases per data set (default 300)"
    )
    p.add_argument(
        "--circuit-games",
        type=types.bounded_int(2),
        default=None,
        help="held-out games for the neuron rules and head classes (default 1000)",
    )
    p.add_argument(
        "--steps", type=types.positive_int, default=None, help="gradient edits: Adam steps per layer (default 1000)"
    )
    p.add_argument(
        "--wthor", default=None, help="folder of WTHOR .wtb files (default: none; the demo then skips WTHOR)"
    )
    p.add_argument(
        "--full",
        action="store_true",
        help="sweep the interventions over every first layer, scale, position count and keep "
        "(default: only the recommended settings; minutes more)",
    )
    p.add_argument(
        "--force",
        type=types.choice_list(("train", "eval", "probes", "interventions", "figures", "all")),
        default=None,
        help="comma-separated stages to redo (train, eval, probes, interventions, figures) or 'all'",
    )
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or mps")
    output_flags(p)

    p = command(sub, "explore", cmd_explore, "a live page: play, see the board the model believes, edit it")
    model_flags(p)
    p.add_argument("--port", type=types.bounded_int(1, 65535), default=8000, help="the port to serve on")
    p.add_argument(
        "--host", default="127.0.0.1", help="the address to listen on (another than 127.0.0.1 opens it to others)"
    )
    p.add_argument("--data", default=None, help="an HDF5 game file whose games the page can load by number")
    p.add_argument("--threads", type=types.positive_int, default=1, help="torch threads per request")
    p.add_argument("--sae", default=None, help="an SAE run folder (othello-gpt sae train): its feature views")
    p.add_argument(
        "--transcoders", default=None, help="a transcoder set (othello-gpt transcoders train): the Graph panel"
    )

    p = command(sub, "report", cmd_report, "write RUN/report.html, one self-contained page")
    p.add_argument("run", help="a demo folder (summary.json) or a training folder (config.json)")
    p.set_defaults(reads=lambda args: [Path(args.run) / f for f in ("summary.json", "config.json", "metrics.jsonl")])
    output_flags(p, quiet=False)


def add_commands(sub: Any) -> None:
    """Add this family's commands to the subparsers ``sub``."""
    for group in (_app_commands,):
        group(sub)
