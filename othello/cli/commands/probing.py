"""Reading and editing the board: probe, readout, intervene-eval and intervene: each one's arguments beside what
it does."""

from __future__ import annotations

import argparse
from typing import Any

from othello.cli import args as types
from othello.cli.args import command, data_flag, dump, load_cli_model, model_flags, output_flags, show_progress
from othello.files import check_output_folder
from othello.model.hooks import SITES
from othello.probes.config import ProbeConfig
from othello.probes.targets import CLASSES


def cmd_probe(args: argparse.Namespace) -> None:
    from othello.data.datasets import load_moves
    from othello.probes.layers import probe_accuracy_by_layer
    from othello.views.tables import probe_best_lines, probe_grid, render_text

    if args.out:
        check_output_folder(args.out)  # before the fitting, not after it
    model = load_cli_model(args)
    rows = probe_accuracy_by_layer(
        model,
        load_moves(args.data, limit=args.games),
        args.labelling,
        args.kind,
        args.layers,
        args.positions,
        types.config_from_args(ProbeConfig, args, skip=("kind",)),
        show_progress(args),
        args.site,
        control=args.control,
    )
    if args.out:
        from othello.lab.outputs import save_probe_outputs

        save_probe_outputs(rows, args.out)
    if args.json:
        dump([{k: v for k, v in r.items() if k != "per_square"} for r in rows])
        return
    if args.site != "resid_post":
        print(f"layer L = blocks.{{L-1}}.hook_{args.site}")
    print(render_text(*probe_grid(rows)))
    print("\n".join(probe_best_lines(rows)))


def cmd_readout(args: argparse.Namespace) -> None:
    from othello.engine.board import COLOUR_NAMES
    from othello.probes.readout import board_readout
    from othello.views.plots import probe_readout_discs
    from othello.views.position import readout_payload, readout_text

    r = board_readout(
        load_cli_model(args),
        args.game,
        args.labelling,
        args.kind,
        args.layer,
        games=args.probe_games,
        cache=args.probes,
        progress=show_progress(args),
    )
    title = (
        f"{r.kind} {r.label} probe, layer {r.layer} ({r.hook}), after {len(r.moves)} moves, "
        f"{COLOUR_NAMES[r.board.next_mover]} to move"
    )
    if args.out:
        from othello.views.plots import plot_probe_readout

        plot_probe_readout(r.probs, r.classes, args.out, r.board.next_mover, r.board.to_array(), title)
    payload = readout_payload(r.moves, r.layer, r.hook, r.label, r.kind, r.classes, r.probs, r.true)
    if args.json:
        dump(payload)
        return
    print(readout_text(title, payload, probe_readout_discs(r.probs, r.classes, r.board.next_mover), r.board.to_array()))
    if args.out:
        print(f"wrote {args.out}")


def _intervention_probes(args: argparse.Namespace, model: Any, settings: list[Any]) -> tuple[dict, str]:
    """The method's probes at the layers ``settings`` edit (stored ones loaded; only missing ones fitted)."""
    from othello.probes.interventions.edits import DEFAULT_PROBES
    from othello.probes.store import layer_probes

    labelling, kind = DEFAULT_PROBES[args.method]
    layers = sorted({L for setting in settings for L in setting.layers})
    return layer_probes(
        model, labelling, kind, layers, games=args.probe_games, cache=args.probes, progress=show_progress(args)
    ), labelling


def _edit_options(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "lr": args.lr,
        "steps": args.steps,
        "reg": args.reg,
        "positions": args.edit_last or 1,
        "whole_board": args.whole_board,
        "keep": args.keep,
    }


def cmd_intervene_eval(args: argparse.Namespace) -> None:
    from othello.probes.interventions.evaluation import benchmark_sets, sweep_settings
    from othello.views.tables import best_intervention_line, intervention_grid, render_text

    if args.out:
        check_output_folder(args.out)
    model = load_cli_model(args)
    settings = sweep_settings(args.method, model.cfg.n_layers, args.scales, args.starts, **_edit_options(args))
    probes, labelling = _intervention_probes(args, model, settings)
    rows = benchmark_sets(
        model,
        args.data,
        args.cases,
        probes,
        settings,
        labelling,
        seed=args.seed,
        edit=args.edit,
        progress=show_progress(args),
    )
    if args.out:
        from othello.lab.outputs import save_intervention_outputs

        save_intervention_outputs(rows, args.out, args.method)
    if args.json:
        dump(rows)
        return
    print(render_text(*intervention_grid(rows)))
    print(best_intervention_line(rows))


def cmd_intervene(args: argparse.Namespace) -> None:
    from othello.probes.interventions.apply import intervene
    from othello.probes.interventions.edits import EditSetting
    from othello.probes.interventions.evaluation import recommended_setting
    from othello.views.position import intervention_payload

    model = load_cli_model(args)
    keep = args.keep if args.whole_board or args.method == "gradient" else "board"
    start = recommended_setting(model.cfg.n_layers, args.method, args.whole_board, keep)  # what a flag leaves out
    options = {**_edit_options(args), "positions": args.edit_last or start.positions}
    setting = EditSetting(args.method, args.layers or start.layers, args.scale or start.scale, **options)
    probes, labelling = _intervention_probes(args, model, [setting])
    result = intervene(
        model,
        args.game,
        args.flip or args.erase,
        probes,
        setting,
        edit="flip" if args.flip else "erase",
        labelling=labelling,
    )
    if args.out:
        from othello.views.plots import plot_intervention

        plot_intervention(result, args.out)
    if args.json:
        dump(intervention_payload(result))
        return
    print(result.summary())
    if args.out:
        print(f"wrote {args.out}")


def _probe_commands(sub: Any) -> None:
    """probe, intervene-eval, intervene, readout"""
    p = command(sub, "probe", cmd_probe, "fit board probes on every layer and print accuracy by layer")
    model_flags(p)
    data_flag(p, "HDF5 game file(s) to probe")
    p.add_argument(
        "--games", type=types.positive_int, default=2000, help="games to probe (train split fits, the rest scores)"
    )
    p.add_argument(
        "--labelling",
        "--labels",
        dest="labelling",
        type=types.choice_list(tuple(CLASSES)),
        default=("relative", "colour"),
        help="comma-separated: relative, colour, parity, flipped, legal, last_move, "
        "next_mover (whose turn it is) and after_pass (an odd number of passes so far: "
        "the real mover is not parity's); these two are one target per position",
    )
    p.add_argument(
        "--kind", type=types.choice_list(("linear", "mlp")), default=("linear",), help="comma-separated: linear, mlp"
    )
    p.add_argument(
        "--layers",
        type=types.layers_or_all,
        default=None,
        help="'all' (default), a range 4-8 or a list 3,5,7 (0 = embeddings)",
    )
    p.add_argument(
        "--site",
        default="resid_post",
        choices=SITES,
        help="which hook of block L-1 is layer L (resid_post: the residual stream after it)",
    )
    p.add_argument(
        "--positions",
        type=types.window,
        default=None,
        help="a window of the 59 positions, FIRST-LAST with both ends included, like 5-53 (default: all)",
    )
    types.config_flags(p, ProbeConfig, skip=("kind",))
    p.add_argument("--control", action="store_true", help="also probe an untrained model of the same shape")
    p.add_argument("--out", default=None, help="folder for probe_table.csv, probe_rows.json and the plots")
    output_flags(p)

    def edit_options(p: argparse.ArgumentParser) -> None:
        model_flags(p)
        p.add_argument(
            "--method",
            choices=["linear", "gradient"],
            default="linear",
            help="linear: move along the linear relative probe's directions; "
            "gradient: optimise against the MLP colour probe",
        )
        p.add_argument(
            "--whole-board",
            action="store_true",
            help="linear: write the whole edited board by gradient descent on the probe (default: reflect one square)",
        )
        p.add_argument(
            "--keep",
            choices=["board", "read"],
            default="board",
            help="gradient / whole board: pull the other squares to the real board, or to what the probe read before",
        )
        p.add_argument(
            "--steps",
            type=types.positive_int,
            default=None,
            help="gradient / whole board: optimiser steps per layer (default: 1000 Adam steps; 50 descent steps)",
        )
        p.add_argument(
            "--lr",
            type=types.positive_float,
            default=None,
            help="gradient / whole board: step size (default: 1e-3 Adam; 0.3 descent)",
        )
        p.add_argument(
            "--reg",
            type=types.non_negative_float,
            default=0.2,
            help="gradient / whole board: weight of every other square",
        )
        p.add_argument(
            "--edit-last",
            "--positions",  # its name before the flags were made one vocabulary (--positions is a window in probe)
            dest="edit_last",
            type=types.bounded_int(1, 59),
            default=None,
            metavar="N",
            help="edit the last N positions where the square holds a disc (default: 1 in intervene-eval; "
            "the recommended setting's, 5, in intervene)",
        )
        p.add_argument(
            "--probes",
            default=None,
            help="probe folder (default: the shipped model's probes, then the cache $OTHELLO_GPT_CACHE)",
        )
        p.add_argument(
            "--probe-games", type=types.positive_int, default=2000, help="synthetic games the probes are fitted on"
        )
        output_flags(p)

    p = command(
        sub,
        "intervene-eval",
        cmd_intervene_eval,
        "score board edits on benchmark cases, swept over layers and scales",
    )
    edit_options(p)
    data_flag(p, "'synthetic' and/or game files (their test split)", required=False, default=["synthetic"])
    p.add_argument("--cases", type=types.positive_int, default=1000, help="edit cases scored")
    p.add_argument("--edit", choices=["flip", "erase"], default="flip", help="what each edit does to its square")
    p.add_argument("--seed", type=types.seed, default=0, help="case seed")
    p.add_argument(
        "--starts",
        type=types.layers_or_all,
        default=None,
        help="first edited layers to sweep: 'all' (default), 1-3 or 1,2,3",
    )
    p.add_argument("--scales", type=types.number_list, default=(1.0, 2.0, 4.0), help="linear: scales to sweep")
    p.add_argument("--out", default=None, help="folder for intervention_table.csv, intervention_rows.json and the plot")

    p = command(sub, "intervene", cmd_intervene, "edit one square of the model's board and draw what its moves do")
    edit_options(p)
    types.game_flags(p)
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--flip", default=None, help="square whose disc changes colour")
    which.add_argument("--erase", default=None, help="square whose disc is removed")
    p.add_argument(
        "--layers",
        type=types.int_range,
        default=None,
        help="layers to edit, e.g. 6-8 (default: the recommended setting's for the method and what it writes)",
    )
    p.add_argument(
        "--scale",
        type=types.positive_float,
        default=None,
        help="linear: margin multiplier past the probe's boundary (default: the recommended setting's, 2)",
    )
    p.add_argument("--out", default=None, help="PNG for the before/after panel")

    p = command(sub, "readout", cmd_readout, "what a probe reads of the board after a game prefix, at one layer")
    model_flags(p)
    types.game_flags(p)
    p.add_argument(
        "--layer",
        type=types.non_negative_int,
        default=None,
        help="layer L = the residual stream after block L-1 (default: the last)",
    )
    p.add_argument(
        "--labelling",
        "--label",
        dest="labelling",
        choices=["relative", "colour"],
        default="relative",
        help="the probes' labelling",
    )
    p.add_argument("--kind", choices=["linear", "mlp"], default="linear", help="the probes' kind")
    p.add_argument(
        "--probes",
        default=None,
        help="probe folder (default: the shipped model's probes, then the cache $OTHELLO_GPT_CACHE)",
    )
    p.add_argument(
        "--probe-games", type=types.positive_int, default=2000, help="synthetic games the probe is fitted on"
    )
    p.add_argument("--out", default=None, help="PNG of the read-out beside the true board")
    output_flags(p)


def add_commands(sub: Any) -> None:
    """Add this family's commands to the subparsers ``sub``."""
    for group in (_probe_commands,):
        group(sub)
