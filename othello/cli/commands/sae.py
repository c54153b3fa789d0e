"""Sparse autoencoders: ``othello-gpt sae train | eval | features``, each one's arguments beside what it does (the
library: ``sae``)."""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Any

from othello.cli import args as types
from othello.cli.args import dump, load_cli_model, model_flags, output_flags, show_progress
from othello.files import check_output_folder, write_csv, write_json

FEATURE_FIELDS = ["latent", "property", "f1", "fires"]


def cmd_train(args: argparse.Namespace) -> None:
    from othello.sae.config import SAETrainConfig
    from othello.sae.train import train_sae

    cfg = types.config_from_args(SAETrainConfig, args, tokens=args.tokens)
    model = load_cli_model(args) if args.data is None else None
    _, state = train_sae(
        model,
        cfg,
        args.out,
        resume=args.resume,
        stop_at=args.stop_at,
        device=types.check_device(args.device),
        progress=show_progress(args),
    )
    result = {
        "out": args.out,
        "step": state["step"],
        "steps": cfg.steps,
        "tokens": state["tokens"],
        "mse": state["mse"],
    }
    if args.json:
        dump(result)
        return
    done = (
        "done" if state["step"] >= cfg.steps else f"stopped at step {state['step']} of {cfg.steps} (--resume goes on)"
    )
    print(f"{args.out}: {done}; {state['tokens']:,} tokens, last mse (normalised units) {state['mse']:.4f}")


def cmd_eval(args: argparse.Namespace) -> None:
    from othello.sae.runs import evaluate_run
    from othello.views.tables import sae_table_lines

    if args.out:
        check_output_folder(args.out)
    result = evaluate_run(
        load_cli_model(args), args.run, args.games, args.baselines, show_progress(args), args.probe_games
    )
    if args.out:
        write_json(Path(args.out) / "sae_eval.json", result)
    if args.json:
        dump(result)
        return
    print("\n".join(sae_table_lines(result)))


def cmd_features(args: argparse.Namespace) -> None:
    from othello.sae.runs import feature_rows

    rows = feature_rows(args.run, args.top, args.group)
    if args.out:
        check_output_folder(args.out)
        write_json(Path(args.out) / "features.json", rows)
        write_csv(Path(args.out) / "features.csv", rows, FEATURE_FIELDS)
    if args.json:
        dump(rows)
        return
    for r in rows:
        print(f"latent {r['latent']:5d}  F1 {r['f1']:.3f}  {r['property']:<12}  on at {r['fires']} positions")


def add_commands(sub: Any) -> None:
    """Add ``sae`` and its subcommands to the subparsers ``sub``."""
    parent = sub.add_parser("sae", help="sparse autoencoders: train, eval, features", description=__doc__)
    inner = parent.add_subparsers(dest="sae_command", required=True)

    def command(name: str, func: Any, help: str) -> argparse.ArgumentParser:
        p = inner.add_parser(name, help=help, description=help, formatter_class=types.DefaultsHelp)
        p.set_defaults(func=func)
        return p

    from othello.sae.config import SAETrainConfig

    d = SAETrainConfig()
    p = command("train", cmd_train, "train an SAE on one hook's activations (streamed; resumable)")
    model_flags(p)
    types.config_flags(p, SAETrainConfig)
    p.add_argument("--tokens", type=_count, default=d.tokens, help="training tokens: 3000000, 3M or 500k")
    p.add_argument("--stop-at", type=types.positive_int, default=None, help="stop after this step (resume later)")
    p.add_argument("--out", required=True, help="the run folder")
    p.add_argument("--resume", action="store_true", help="continue the run in --out")
    output_flags(p)

    p = command("eval", cmd_eval, "the SAE's table: reconstruction, downstream, coverage, board reconstruction")
    model_flags(p)
    p.add_argument("run", help="the run folder")
    p.set_defaults(reads=lambda args: types.model_files(args.model) + types.dictionary_files(args.run))
    p.add_argument("--games", type=types.positive_int, default=1000, help="held-out games")
    p.add_argument("--baselines", action="store_true", help="also the random-model SAE, MLP neurons and the probe")
    p.add_argument("--probe-games", type=types.positive_int, default=2000, help="games a missing probe is fitted on")
    p.add_argument("--out", default=None, help="folder for sae_eval.json")
    output_flags(p)

    p = command("features", cmd_features, "latents by their best board-property F1 (after sae eval)")
    p.add_argument("run", help="the run folder")
    p.set_defaults(
        reads=lambda args: (
            types.dictionary_files(args.run) + [Path(args.run) / f for f in ("eval.json", "features.safetensors")]
        )
    )
    p.add_argument("--top", type=types.positive_int, default=50, help="latents listed")
    p.add_argument("--group", choices=["board", "legal", "flipped"], default=None, help="only these properties")
    p.add_argument("--out", default=None, help="folder for features.json and features.csv")
    output_flags(p, quiet=False)


MAX_TOKENS = 10**12


def _count(text: str) -> int:
    """``5000000``, ``5M``, ``500k``, ``2.5M`` -> a positive count."""
    scale = {"k": 1_000, "m": 1_000_000}.get(text[-1:].lower(), 1)
    try:
        value = float(text[:-1] if scale > 1 else text) * scale
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a count (write 5000000, 5M or 500k)") from None
    if not math.isfinite(value) or value < 1 or value != int(value):
        raise argparse.ArgumentTypeError(f"{text!r}: a count must be a positive whole number")
    if value > MAX_TOKENS:
        raise argparse.ArgumentTypeError(f"{text!r}: at most {MAX_TOKENS:.0e} tokens (a year of training here)")
    return int(value)
