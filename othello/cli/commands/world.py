"""The world's commands: data (generate, import, export, labels, info), the game (show, perft) and the model
(train, eval, predict, convert): each one's arguments beside what it does."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from othello.cli import args as types
from othello.cli.args import command, data_flag, dump, load_cli_model, model_flags, output_flags, show_progress
from othello.errors import ConfigError


def cmd_generate(args: argparse.Namespace) -> None:
    from othello.data.datasets import generate, summary

    out = generate(
        args.out,
        args.games,
        args.seed,
        workers=args.workers,
        shard=args.shard,
        append=args.append,
        progress=show_progress(args),
    )
    s = summary(out)
    if args.json:
        dump({"out": str(out), **s})
        return
    print(
        f"wrote {out}: {s['games']} games, mean length {s['mean_length']:.3f}, "
        f"{100 * s['full_length_fraction']:.2f} % reach 60 moves, {100 * s['with_pass_fraction']:.2f} % with a pass"
    )


def cmd_import(args: argparse.Namespace) -> None:
    from othello.data.importers import import_to_file

    games = import_to_file(
        args.sources, args.out, source=args.source, skip_invalid=args.skip_invalid, progress=show_progress(args)
    )
    for message in games.skipped:
        print(f"skipped: {message}", file=sys.stderr)
    for note in games.notes:
        print(f"note: {note}", file=sys.stderr)
    if args.json:
        dump(
            {
                "out": str(args.out),
                "games": len(games.moves),
                "files": games.files,
                "skipped": len(games.skipped),
                "skipped_games": games.skipped,
                "notes": games.notes,
            }
        )
        return
    print(f"wrote {args.out}: {len(games.moves)} games from {len(games.files)} files ({len(games.skipped)} skipped)")


def cmd_export(args: argparse.Namespace) -> None:
    from othello.data.datasets import export_text

    count = export_text(args.data, args.out)
    if args.json:
        dump({"out": str(args.out), "games": count})
        return
    print(f"wrote {args.out}: {count} games")


def cmd_labels(args: argparse.Namespace) -> None:
    from othello.data.datasets import store_labels

    store_labels(args.data, args.labels, progress=show_progress(args))
    if args.json:
        dump({"data": str(args.data), "labels": list(args.labels)})
        return
    print(f"stored {', '.join(args.labels)} in {args.data}")


def cmd_info(args: argparse.Namespace) -> None:
    from othello.data.datasets import summary

    s = summary(args.data)
    if args.json:
        dump(s)
        return
    print(f"files: {', '.join(s['files'])}")
    print(
        f"games: {s['games']}  mean length {s['mean_length']:.3f}  reach 60 moves "
        f"{100 * s['full_length_fraction']:.2f} %  with a pass {100 * s['with_pass_fraction']:.2f} %"
    )
    print("length histogram: " + ", ".join(f"{k}: {v}" for k, v in s["length_histogram"].items()))
    for a in s["attrs"]:
        print("attrs: " + ", ".join(f"{k}={v}" for k, v in a.items()))


def cmd_show(args: argparse.Namespace) -> None:
    from othello.engine.board import COLOUR_NAMES, Board
    from othello.engine.notation import square_name
    from othello.views.position import show_payload

    board = Board(args.game or "")
    if args.json:
        dump(show_payload(board))
        return
    print(board)
    if board.is_game_over():
        print("game over")
    else:
        legal = ", ".join(square_name(s) for s in board.legal_moves) or "none: must pass"
        print(f"{COLOUR_NAMES[board.next_mover]} to move; legal: {legal}")


def cmd_perft(args: argparse.Namespace) -> None:
    from othello.engine.games import perft

    for depth in range(1, args.depth + 1) if args.all else [args.depth]:
        print(f"perft({depth}) = {perft(depth)}")


def cmd_train(args: argparse.Namespace) -> None:
    from othello.train.config import MAX_PLANNED_STEPS, TrainConfig
    from othello.train.loop import read_metrics, train
    from othello.views.plots import plot_training_curves

    config = types.config_from_args(
        TrainConfig,
        args,
        model_overrides=dict(args.set or []),
        data=",".join(args.data),
        # --minutes without --steps plans the schedule to fit the time; with --steps it only bounds this call
        steps=args.steps or (MAX_PLANNED_STEPS if args.minutes and not args.resume else TrainConfig().steps),
        minutes=args.minutes if args.minutes and not args.steps and not args.resume else None,
    )
    trained = train(
        config,
        args.out,
        resume=args.resume,
        minutes=args.minutes,
        device=types.check_device(args.device),
        stop_at=args.stop_at,
        threads=args.threads,
        precision=args.precision,
        progress=show_progress(args),
    )
    plot_training_curves(read_metrics(args.out), Path(args.out) / "curves.png", f"{args.out} ({args.preset})")
    result = {"step": trained.step, **trained.metrics}
    print(
        json.dumps(result)
        if args.json
        else f"step {result['step']}: top-1 legal {100 * result['top1_legal']:.2f} %, "
        f"legal-set error {result['legal_set_error']:.3f} on {result['games']} validation games"
    )


def cmd_eval(args: argparse.Namespace) -> None:
    from othello.model.checkpoints import SHIPPED_MODEL
    from othello.train.evaluation import evaluate_dataset
    from othello.views.tables import eval_lines

    result = {
        "model": str(args.model or SHIPPED_MODEL),
        **evaluate_dataset(
            load_cli_model(args), args.data, split=args.split, games=args.games, progress=show_progress(args)
        ),
    }
    if args.json:
        print(json.dumps(result))
        return
    print("\n".join(eval_lines(result)))


def cmd_convert(args: argparse.Namespace) -> None:
    from othello.model.convert import convert_checkpoint, export_hooked

    if (args.layout is None) == (args.to is None):
        raise ConfigError("convert: give --layout (a published checkpoint in) or --to hooked (this model out)")
    if args.to:
        config = export_hooked(args.src, args.out)
        result = {"out": str(args.out), "config": str(config), "layout": "hooked"}
        print(json.dumps(result) if args.json else f"wrote {args.out} (HookedTransformer state dict) and {config}")
        return
    cfg = convert_checkpoint(args.src, args.layout, args.out, n_heads=args.n_heads)
    if args.json:
        print(json.dumps({"out": str(args.out), "layout": args.layout, "model_config": cfg.to_dict()}))
        return
    print(
        f"wrote {args.out}: {cfg.n_layers} layers, d_model {cfg.d_model}, {cfg.n_heads} heads, "
        f"d_mlp {cfg.d_mlp}, normalization {cfg.normalization_type}"
    )


def cmd_predict(args: argparse.Namespace) -> None:
    from othello.engine.board import Board, real_mover_board
    from othello.engine.notation import square_name
    from othello.model.tokens import move_probabilities
    from othello.views.position import prediction_payload, prediction_text

    board = Board(args.game or "")
    legal = sorted(real_mover_board(board.moves).legal_moves)  # the real next mover's, after a forced pass
    probs = move_probabilities(load_cli_model(args), board.moves)
    if args.out:
        from othello.views.plots import plot_move_probabilities

        plot_move_probabilities(
            board.to_array(),
            probs,
            legal,
            args.out,
            f"after {len(board.moves)} moves: {' '.join(square_name(s) for s in board.moves[-6:])}",
        )
    if args.json:
        dump(prediction_payload(board, probs, legal))
        return
    print(prediction_text(board, probs, legal))


def _data_commands(sub: Any) -> None:
    """generate, import, export, labels, info"""
    p = command(sub, "generate", cmd_generate, "write uniformly random legal games to HDF5")
    p.add_argument("--games", type=types.non_negative_int, required=True, help="how many games")
    p.add_argument("--seed", type=types.seed, default=0, help="the stream of games (othello.data.seeds)")
    p.add_argument("--out", required=True, help="the HDF5 game file to write")
    p.add_argument(
        "--workers",
        type=types.positive_int,
        default=None,
        help="threads (default: every core); results never depend on it",
    )
    p.add_argument(
        "--shard",
        type=types.shard,
        default=(0, 1),
        help="I/N: write the I-th of N disjoint parts of the stream's first --games games",
    )
    p.add_argument(
        "--append", action="store_true", help="add --games more games to an existing file, continuing its stream"
    )
    output_flags(p)

    p = command(sub, "import", cmd_import, "import WTHOR .wtb, PGN or text games into HDF5")
    p.add_argument("sources", nargs="+", help="files or folders")
    p.add_argument("--out", required=True, help="the file to write")
    p.add_argument("--source", default="imported", help="the 'source' attribute (e.g. wthor)")
    p.add_argument(
        "--skip-invalid", action="store_true", help="leave out bad games (each reported) instead of stopping"
    )
    output_flags(p)

    p = command(sub, "export", cmd_export, "write games as text, one per line")
    p.add_argument("data", nargs="+", action=types.FileList, help="HDF5 game file(s)")
    p.add_argument("--out", required=True, help="the file to write")
    output_flags(p, quiet=False)

    p = command(
        sub, "labels", cmd_labels, "store replayed labels in a game file (they are derived on demand otherwise)"
    )
    p.add_argument("data")
    p.set_defaults(reads=lambda args: [])  # the file is updated in place on purpose (a copy renamed over it)
    p.add_argument(
        "--labels",
        type=types.choice_list(("boards", "next_mover", "legal", "flipped", "passed")),
        default=("boards", "next_mover", "legal"),
        help="comma-separated: boards, next_mover, legal, flipped, passed",
    )
    output_flags(p)

    p = command(sub, "info", cmd_info, "summarise a dataset")
    p.add_argument("data", nargs="+", action=types.FileList, help="HDF5 game file(s)")
    output_flags(p, quiet=False)


def _game_commands(sub: Any) -> None:
    """show, perft"""
    p = command(sub, "show", cmd_show, "the board after a move string")
    types.game_flags(p, required=False, help="the moves (default: none, the start position)")
    output_flags(p, quiet=False)

    p = command(sub, "perft", cmd_perft, "count move sequences from the start position")
    p.add_argument("depth", type=types.bounded_int(0, 20))
    p.add_argument("--all", action="store_true", help="every depth from 1")


def _model_commands(sub: Any) -> None:
    """train, eval, predict, convert"""
    from othello.train.config import TrainConfig

    d = TrainConfig()
    p = command(sub, "train", cmd_train, "train an Othello-GPT")
    p.add_argument("--out", required=True, help="the run folder")
    types.config_flags(p, TrainConfig)
    p.add_argument(
        "--set",
        type=types.model_override,
        action="append",
        metavar="FIELD=VALUE",
        help="override a model field, e.g. n_layers=6",
    )
    data_flag(p, "'synthetic', or HDF5 game file(s) or a glob", required=False, default=[d.data])
    p.add_argument(
        "--steps",
        type=types.positive_int,
        default=None,
        help=f"schedule length (default {d.steps}; with --minutes alone, planned to fit the time)",
    )
    p.add_argument(
        "--minutes",
        type=types.bounded_float(0, 525_600),
        default=None,
        help="a fresh run without --steps: plan the schedule to end in M minutes; otherwise: stop this call after "
        "M minutes (resume later)",
    )
    p.add_argument(
        "--stop-at",
        type=types.positive_int,
        default=None,
        metavar="STEP",
        help="stop this call after that step of the schedule (resume later; e.g. to compare runs at equal games)",
    )
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or mps")
    p.add_argument("--threads", type=types.positive_int, default=None, help="torch's CPU threads (default: torch's)")
    p.add_argument(
        "--precision",
        choices=["bf16", "fp32"],
        default=None,
        help="bf16 autocast (default on CUDA; about 1.9x faster on CPUs with avx512_bf16) or fp32 (default on CPU)",
    )
    output_flags(p)

    p = command(sub, "eval", cmd_eval, "legal-move rate of a model on a dataset")
    model_flags(p)
    data_flag(p, "HDF5 game file(s)")
    p.add_argument("--split", choices=["train", "val", "test"], default=None, help="one split (default: every game)")
    p.add_argument("--games", type=types.positive_int, default=None, help="only the first N games")
    output_flags(p)

    p = command(sub, "predict", cmd_predict, "the model's next-move probabilities after a move string")
    types.game_flags(p)
    model_flags(p)
    p.add_argument(
        "--out", "--png", dest="out", default=None, help="also draw the probabilities on the board into this PNG"
    )
    output_flags(p, quiet=False)

    p = command(
        sub,
        "convert",
        cmd_convert,
        "a published checkpoint into a checkpoint folder (--layout), or a model out to TransformerLens (--to hooked)",
    )
    p.add_argument(
        "src",
        help="with --layout: a .pth state dict (read with weights_only=True) or .safetensors; with --to: a model "
        "folder (e.g. models/small8)",
    )
    p.add_argument("--layout", choices=["mingpt", "hooked"], default=None, help="the layout of the checkpoint read")
    p.add_argument(
        "--to",
        choices=["hooked"],
        default=None,
        help="write SRC as a TransformerLens 3.x HookedTransformer state dict (--out FILE.pth) and its config (.json)",
    )
    p.add_argument("--out", required=True, help="the file to write")
    output_flags(p, quiet=False)
    p.add_argument(
        "--n-heads", type=types.positive_int, default=8, help="minGPT only: its shapes do not say the head count"
    )


def add_commands(sub: Any) -> None:
    """Add this family's commands to the subparsers ``sub``."""
    for group in (
        _data_commands,
        _game_commands,
        _model_commands,
    ):
        group(sub)
