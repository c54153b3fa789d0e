"""Transcoders: ``othello-gpt transcoders train | eval``, each one's arguments beside what it does (the library:
``othello.sae.transcoders``)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from othello.cli import args as types
from othello.cli.args import dump, load_cli_model, model_flags, output_flags, show_progress
from othello.files import check_output_folder, write_json

# the set's recipe where it differs from one SAE's: eight dictionaries share the time one SAE has
DEFAULTS = {"latents": 2048, "k": 32, "tokens": 1_000_000}


def cmd_train(args: argparse.Namespace) -> None:
    from othello.sae.config import SAETrainConfig
    from othello.sae.transcoders import export_circuit_tracer, train_transcoders

    base = types.config_from_args(
        SAETrainConfig, args, skip=("hook", "data"), tokens=args.tokens, skip_connection=args.skip
    )
    model = load_cli_model(args)
    blocks = args.blocks or tuple(range(model.cfg.n_layers))
    states = train_transcoders(
        model,
        blocks,
        base,
        args.out,
        resume=args.resume,
        stop_at=args.stop_at,
        device=types.check_device(args.device),
        progress=show_progress(args),
    )
    done = all(s["step"] >= base.steps for s in states.values())
    yaml = export_circuit_tracer(args.out) if done else None
    result = {
        "out": args.out,
        "blocks": {b: {"step": s["step"], "tokens": s["tokens"], "mse": s["mse"]} for b, s in states.items()},
        "steps": base.steps,
        "circuit_tracer": None if yaml is None else str(yaml),
    }
    if args.json:
        dump(result)
        return
    for block, s in sorted(states.items()):
        print(f"block {block}: step {s['step']} of {base.steps}, last mse (normalised units) {s['mse']:.4f}")
    print(f"circuit-tracer layout: {yaml}" if yaml else "stopped before the end: --resume goes on")


def cmd_eval(args: argparse.Namespace) -> None:
    from othello.data.seeds import SAE_SEED
    from othello.engine.games import random_games
    from othello.sae.transcoders import evaluate_transcoders, load_transcoders, save_evaluation
    from othello.views.tables import transcoder_table_lines

    if args.out:
        check_output_folder(args.out)
    model = load_cli_model(args)
    transcoders = load_transcoders(args.run)
    # the held-out games of the SAE stream: its first EVAL_GAMES are never trained on
    table = save_evaluation(args.run, evaluate_transcoders(model, transcoders, random_games(args.games, SAE_SEED)))
    if args.out:
        write_json(Path(args.out) / "transcoders_eval.json", table)
    if args.json:
        dump(table)
        return
    print("\n".join(transcoder_table_lines(table)))


def add_commands(sub: Any) -> None:
    """Add ``transcoders`` and its subcommands to the subparsers ``sub``."""
    parent = sub.add_parser("transcoders", help="per-block transcoders: train, eval", description=__doc__)
    inner = parent.add_subparsers(dest="transcoders_command", required=True)

    def command(name: str, func: Any, help: str) -> argparse.ArgumentParser:
        p = inner.add_parser(name, help=help, description=help, formatter_class=types.DefaultsHelp)
        p.set_defaults(func=func)
        return p

    from othello.cli.commands.sae import _count
    from othello.sae.config import SAETrainConfig

    p = command("train", cmd_train, "train each block's transcoder (MLP input -> MLP output; streamed; resumable)")
    model_flags(p)
    p.add_argument("--blocks", type=types.int_range, default=None, help="blocks, e.g. 0-7 (default: all)")
    types.config_flags(p, SAETrainConfig, skip=("hook", "data"), defaults=DEFAULTS)
    p.add_argument("--skip", action="store_true", help="add a linear skip connection (a skip transcoder)")
    p.add_argument("--tokens", type=_count, default=DEFAULTS["tokens"], help="training tokens per block: 1M, 500k")
    p.add_argument("--stop-at", type=types.positive_int, default=None, help="stop each block after this step")
    p.add_argument("--out", required=True, help="the set's folder (block_L/ inside)")
    p.add_argument("--resume", action="store_true", help="continue the set in --out")
    output_flags(p)

    p = command("eval", cmd_eval, "per block FVU, L0, dead and board coverage; all spliced: legal rate, loss")
    model_flags(p)
    p.add_argument("run", help="the set's folder")
    p.set_defaults(reads=lambda args: types.model_files(args.model))
    p.add_argument("--games", type=types.bounded_int(2), default=500, help="held-out games")
    p.add_argument("--out", default=None, help="folder for transcoders_eval.json (also written as RUN/eval.json)")
    output_flags(p)
    _graph_command(sub)


def cmd_graph(args: argparse.Namespace) -> None:
    from othello.files import write_json
    from othello.model.tokens import check_game
    from othello.sae.graph import build_graph, graph_json, graph_summary, prune_graph
    from othello.sae.graph_checks import top_move
    from othello.sae.transcoders import default_folder, latent_labels, load_transcoders
    from othello.views.tables import graph_lines

    if args.out:
        check_output_folder(args.out)
    model = load_cli_model(args)
    folder = args.transcoders or default_folder(args.model)
    transcoders = load_transcoders(folder)
    labels = latent_labels(folder, transcoders)
    move = args.move if args.move is not None else top_move(model, check_game(args.game))
    graph = build_graph(model, transcoders, args.game, move)
    keep, edges = prune_graph(graph, args.node_threshold, args.edge_threshold)
    summary = graph_summary(graph, keep, edges, labels, args.top)
    if args.out:
        write_json(
            Path(args.out) / "graph.json", graph_json(graph, keep, edges, labels, node_threshold=args.node_threshold)
        )
    if args.json:
        dump(summary)
        return
    print("\n".join(graph_lines(summary)))


def _graph_command(sub: Any) -> None:
    p = types.command(sub, "graph", cmd_graph, "the attribution graph of one move's logit over the transcoders")
    model_flags(p)
    types.game_flags(p)
    p.add_argument("--move", default=None, help="the move whose logit is explained, e.g. f3 (default: the top move)")
    p.add_argument(
        "--transcoders", default=None, help="the transcoder set's folder (default: the model folder's transcoders/)"
    )
    p.set_defaults(reads=lambda args: types.model_files(args.model))
    p.add_argument(
        "--node-threshold", type=types.bounded_float(0.0, 1.0), default=0.8, help="share of influence the nodes keep"
    )
    p.add_argument(
        "--edge-threshold", type=types.bounded_float(0.0, 1.0), default=0.98, help="share of influence the edges keep"
    )
    p.add_argument("--top", type=types.positive_int, default=15, help="nodes listed")
    p.add_argument("--out", default=None, help="folder for graph.json (circuit-tracer's graph schema)")
    output_flags(p, quiet=False)
