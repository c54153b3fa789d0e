"""``othello-gpt``: the command line, a thin layer over the library (each command calls one function)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Sequence

from othello.board import COLOUR_NAMES, Board
from othello.notation import IllegalMoveError, InvalidMoveError, moves_to_string, square_name


def _dump(data: Any) -> None:
    print(json.dumps(data, indent=2))


def cmd_generate(args: argparse.Namespace) -> None:
    from othello.datasets import generate, parse_shard, summary

    out = generate(args.out, args.games, args.seed, workers=args.workers, shard=parse_shard(args.shard),
                   append=args.append, progress=not args.quiet)
    s = summary(out)
    print(f"wrote {out}: {s['games']} games, mean length {s['mean_length']:.3f}, "
          f"{100 * s['full_length_fraction']:.2f} % reach 60 moves, {100 * s['with_pass_fraction']:.2f} % with a pass")


def cmd_import(args: argparse.Namespace) -> None:
    from othello.datasets import write_games
    from othello.importers import import_games

    games = import_games(args.sources, skip_invalid=args.skip_invalid)
    for message in games.skipped:
        print(f"skipped: {message}", file=sys.stderr)
    write_games(args.out, games.moves, source=args.source, metadata=games.metadata,
                attrs={"files": json.dumps([Path(f).name for f in games.files]), "skipped": len(games.skipped)})
    print(f"wrote {args.out}: {len(games.moves)} games from {len(games.files)} files ({len(games.skipped)} skipped)")


def cmd_export(args: argparse.Namespace) -> None:
    from othello.datasets import GameFiles
    from othello.files import atomic_path

    with GameFiles(args.data) as games, atomic_path(args.out) as tmp, open(tmp, "w") as f:
        for batch in games.iter_batches(100_000):
            for row in batch:
                f.write(moves_to_string(row) + "\n")
        n = len(games)
    print(f"wrote {args.out}: {n} games")


def cmd_labels(args: argparse.Namespace) -> None:
    from othello.datasets import store_labels

    labels = [x for x in args.labels.split(",") if x]
    store_labels(args.data, labels, progress=not args.quiet)
    print(f"stored {', '.join(labels)} in {args.data}")


def cmd_info(args: argparse.Namespace) -> None:
    from othello.datasets import summary

    s = summary(args.data)
    if args.json:
        _dump(s)
        return
    print(f"files: {', '.join(s['files'])}")
    print(f"games: {s['games']}  mean length {s['mean_length']:.3f}  reach 60 moves "
          f"{100 * s['full_length_fraction']:.2f} %  with a pass {100 * s['with_pass_fraction']:.2f} %")
    print("length histogram: " + ", ".join(f"{k}: {v}" for k, v in s["length_histogram"].items()))
    for a in s["attrs"]:
        print("attrs: " + ", ".join(f"{k}={v}" for k, v in a.items()))


def cmd_show(args: argparse.Namespace) -> None:
    board = Board(args.moves)
    if args.json:
        _dump({"moves": [square_name(s) for s in board.moves], "board": board.to_array(),
               "next_mover": None if board.is_game_over() else COLOUR_NAMES[board.next_mover],
               "legal_moves": [square_name(s) for s in board.legal_moves], "score": list(board.score())})
        return
    print(board)
    if board.is_game_over():
        print("game over")
    else:
        legal = ", ".join(square_name(s) for s in board.legal_moves) or "none: must pass"
        print(f"{COLOUR_NAMES[board.next_mover]} to move; legal: {legal}")


def cmd_perft(args: argparse.Namespace) -> None:
    from othello.games import perft

    for depth in range(1, args.depth + 1) if args.all else [args.depth]:
        print(f"perft({depth}) = {perft(depth)}")


def _train_config(args: argparse.Namespace) -> "Any":
    from othello.train_config import TrainConfig

    overrides = {}
    for item in args.set or []:
        key, _, value = item.partition("=")
        overrides[key] = value if key == "act_fn" or key == "normalization_type" else int(value)
    return TrainConfig(preset=args.preset, model_overrides=overrides, data=args.data, data_seed=args.data_seed,
                       steps=args.steps, batch_size=args.batch_size, lr=args.lr, warmup_steps=args.warmup_steps,
                       weight_decay=args.weight_decay, soft_targets=args.soft_targets,
                       pass_weight=args.pass_weight, eval_every=args.eval_every,
                       eval_games=args.eval_games, checkpoint_every=args.checkpoint_every, seed=args.seed,
                       min_lr_ratio=args.min_lr_ratio, init_from=args.init_from)


def cmd_train(args: argparse.Namespace) -> None:
    from othello.training import train

    trained = train(_train_config(args), args.out, resume=args.resume, minutes=args.minutes, device=args.device,
                    stop_at=args.stop_at, threads=args.threads, precision=args.precision)
    result = {"step": trained.step, **trained.metrics}
    from othello.training import read_metrics
    from probes.plots import plot_training_curves

    plot_training_curves(read_metrics(args.out), Path(args.out) / "curves.png", f"{args.out} ({args.preset})")
    print(json.dumps(result) if args.json else
          f"step {result['step']}: top-1 legal {100 * result['top1_legal']:.2f} %, "
          f"legal-set error {result['legal_set_error']:.3f} on {result['games']} validation games")


def cmd_eval(args: argparse.Namespace) -> None:
    from othello.checkpoints import load_model
    from othello.datasets import load_moves
    from othello.training import evaluate

    model = load_model(args.model, device=args.device)
    moves = load_moves(args.data, split=args.split, limit=args.games)
    result = evaluate(model, moves)
    result = {"model": str(args.model or _shipped()), "data": args.data, **result}
    if args.json:
        print(json.dumps(result))
        return
    print(f"{result['games']} games, {result['positions']} positions: top-1 legal {100 * result['top1_legal']:.3f} %, "
          f"legal-set error {result['legal_set_error']:.4f}")
    for group, which in (("after_pass_", "after a pass (the mover is not the one the move count names)"),
                         ("pass_earlier_", "after an earlier pass (the board does not show who moves)")):
        if result[f"{group}positions"]:
            print(f"  of which {result[f'{group}positions']} {which}: top-1 legal {100 * result[f'{group}top1_legal']:.3f} %, "
                  f"legal-set error {result[f'{group}legal_set_error']:.4f}")


def cmd_convert(args: argparse.Namespace) -> None:
    from othello.convert import convert_checkpoint

    cfg = convert_checkpoint(args.src, args.layout, args.out, n_heads=args.n_heads)
    print(f"wrote {args.out}: {cfg.n_layers} layers, d_model {cfg.d_model}, {cfg.n_heads} heads, "
          f"d_mlp {cfg.d_mlp}, normalization {cfg.normalization_type}")


def cmd_predict(args: argparse.Namespace) -> None:
    import torch

    from othello.checkpoints import load_model
    from othello.predict import move_probabilities

    model = load_model(args.model, device=args.device)
    board = Board(args.moves)
    if not board.moves:
        raise ValueError("predict needs at least one move: the model reads moves and predicts the next")
    probs = move_probabilities(model, board.moves)
    legal = set((_after_pass(board) if board.must_pass() else board).legal_moves)  # the real next mover's
    if args.png:
        from probes.plots import plot_move_probabilities

        plot_move_probabilities(board.to_array(), probs, sorted(legal), args.png,
                                f"after {len(board.moves)} moves: {' '.join(square_name(s) for s in board.moves[-6:])}")
    if args.json:
        _dump({"moves": [square_name(s) for s in board.moves], "probabilities": {square_name(s): round(float(p), 6)
               for s, p in enumerate(probs) if p > 0}, "legal_moves": sorted(square_name(s) for s in legal)})
        return
    print(board)
    print("model's next-move probabilities in % ([ ] = legal move):")
    print("      " + "    ".join("abcdefgh"))
    for r in range(8):
        cells = []
        for c in range(8):
            s = r * 8 + c
            text = f"{100 * probs[s]:3.0f}" if board.colour_at(s) == 0 else "  -"
            cells.append(f"[{text}]" if s in legal else f" {text} ")
        print(f"{r + 1}  " + "".join(cells))
    top = torch.tensor(probs).argsort(descending=True)[:3].tolist()
    print("top moves: " + ", ".join(f"{square_name(s)} {100 * probs[s]:.1f} %" + ("" if s in legal else " (illegal)")
                                    for s in top))


def cmd_probe(args: argparse.Namespace) -> None:
    from othello.checkpoints import load_model, read_run_config
    from othello.datasets import load_moves
    from othello.files import write_csv, write_json
    from othello.model import ModelConfig, build_model
    from probes.layers import probe_accuracy_by_layer
    from probes.plots import plot_accuracy_by_layer, plot_square_accuracy
    from probes.probes import ProbeConfig
    from probes.targets import TARGETS

    model = load_model(args.model, device=args.device)
    moves = load_moves(args.data, limit=args.games)
    layers = None if args.layers == "all" else [int(x) for x in args.layers.split(",")]
    positions = slice(*(int(x) for x in args.positions.split(":"))) if args.positions else None
    config = ProbeConfig(epochs=args.epochs, lr=args.lr, hidden=args.hidden)
    labels, kinds = args.labels.split(","), args.kind.split(",")
    rows = probe_accuracy_by_layer(model, moves, labels, kinds, layers, positions, config, not args.json, args.site)
    for r in rows:
        r["model"] = "trained"
    if args.control:
        untrained = build_model(ModelConfig.from_dict(read_run_config(args.model or _shipped())["model"]))
        control = probe_accuracy_by_layer(untrained, moves, labels, kinds, layers, positions, config, not args.json, args.site)
        rows += [{**r, "model": "untrained"} for r in control]
    if args.out:
        out = Path(args.out)
        write_json(out / "probe_rows.json", rows)
        write_csv(out / "probe_table.csv", rows, ["model", "hook", "site", "layer", "label", "kind", "accuracy", "baseline",
                                                  "ply_baseline", "midgame_accuracy", "whole_board", "train_games", "test_games"])
        trained = [r for r in rows if r["model"] == "trained"]
        plot_accuracy_by_layer(trained, out / "probe_accuracy_by_layer.png")
        for label in (lab for lab in labels if TARGETS[lab] == 64):   # a labelling of the whole position has no board
            best = max((r for r in trained if r["label"] == label), key=lambda r: r["accuracy"])
            plot_square_accuracy(best["per_square"], out / f"probe_squares_{label}.png",
                                 f"{label}, {best['kind']}, layer {best['layer']}: {100 * best['accuracy']:.1f} %")
    if args.json:
        _dump([{k: v for k, v in r.items() if k != "per_square"} for r in rows])
        return
    columns = [(m, lab, k) for m in ("trained", "untrained") for lab in labels for k in kinds
               if any(r["model"] == m for r in rows)]
    if args.site != "resid_post":
        print(f"layer L = blocks.{{L-1}}.hook_{args.site}")
    print("layer  " + "  ".join(f"{lab}/{k}{'' if m == 'trained' else ' (untrained)'}" for m, lab, k in columns)
          + "  | baseline, majority / by ply: " + " ".join(labels))
    for L in sorted({r["layer"] for r in rows}):
        cells = []
        for m, lab, k in columns:
            r = next(r for r in rows if r["layer"] == L and r["label"] == lab and r["kind"] == k and r["model"] == m)
            cells.append(f"{100 * r['accuracy']:.1f}".rjust(len(f"{lab}/{k}") + (0 if m == "trained" else 12)))
        base = [next(r for r in rows if r["layer"] == L and r["label"] == lab) for lab in labels]
        print(f"{L:>5}  " + "  ".join(cells) + "  | "
              + " ".join(f"{100 * b['baseline']:.1f}/{100 * b['ply_baseline']:.1f}" for b in base))
    for m, lab, k in columns:
        best = max((r for r in rows if (r["model"], r["label"], r["kind"]) == (m, lab, k)), key=lambda r: r["accuracy"])
        if best.get("midgame_accuracy") is not None:
            after = best.get("after_pass_accuracy")
            print(f"{lab}/{k}{'' if m == 'trained' else ' (untrained)'}: best layer {best['layer']}, "
                  f"{100 * best['accuracy']:.1f} % ({100 * best['midgame_accuracy']:.1f} % at positions 5..53, as Nanda et al. score"
                  + (f"; {100 * after:.1f} % after a pass" if after is not None else "") + ")")


def _intervention_probes(args: argparse.Namespace, model: "Any", method: str) -> tuple[dict, str]:
    from probes.interventions import DEFAULT_PROBES, layer_probes

    labelling, kind = DEFAULT_PROBES[method]
    cache = args.probes or Path(args.model or _shipped()) / "probes"
    return layer_probes(model, labelling, kind, games=args.probe_games, cache=cache, progress=not args.json), labelling


def _edit_options(args: argparse.Namespace) -> dict[str, Any]:
    return {"lr": args.lr, "steps": args.steps, "reg": args.reg, "positions": args.positions,
            "whole_board": args.whole_board, "keep": args.keep}


def cmd_intervene_eval(args: argparse.Namespace) -> None:
    from othello.checkpoints import load_model
    from othello.datasets import load_moves
    from probes.interventions import benchmark, edit_scope, make_cases, save_rows, sweep_settings, synthetic_cases
    from probes.plots import plot_intervention_errors

    model = load_model(args.model, device=args.device)
    n = model.cfg.n_layers
    starts = None if args.starts == "all" else [int(x) for x in args.starts.split(",")]
    settings = sweep_settings(args.method, n, [float(x) for x in args.scales.split(",")], starts, **_edit_options(args))
    probes, labelling = _intervention_probes(args, model, args.method)
    rows = []
    for data in args.data:
        if data == "synthetic":
            cases = synthetic_cases(args.cases, args.seed, args.edit)
        else:
            cases = make_cases(load_moves(data, split="test"), args.cases, args.seed, args.edit)
        if len(cases) < args.cases:
            print(f"{data}: only {len(cases)} cases could be made", file=sys.stderr)
        rows += benchmark(model, cases, probes, settings, labelling, data=Path(data).stem, progress=not args.json)
    if args.out:
        save_rows(rows, args.out)
        plot_intervention_errors(rows, Path(args.out) / f"intervention_error_{args.method}.png")
    if args.json:
        _dump(rows)
        return
    print(f"{'data':<12}{'method':<10}{'writes':<15}{'layers':<8}{'scale':>6}{'cases':>7}{'error':>8}{'null':>8}"
          f"{'err vs orig':>12}{'null vs orig':>13}{'moved right':>12}")
    for r in rows:
        scale = "" if r["scale"] is None else f"{r['scale']:g}"
        print(f"{r['data'][:11]:<12}{r['method']:<10}{edit_scope(r):<15}{r['layers']:<8}{scale:>6}{r['cases']:>7}{r['error']:>8.3f}"
              f"{r['null_error']:>8.3f}{r['error_vs_original']:>12.3f}{r['null_error_vs_original']:>13.3f}"
              f"{100 * r['moved_right']:>11.1f}%")
    best = min(rows, key=lambda r: r["error"])
    print(f"best: {best['method']} ({edit_scope(best)}) layers {best['layers']}" + (f" scale {best['scale']:g}" if best["scale"] else "")
          + f": error {best['error']:.3f} against {best['null_error']:.3f} without an edit ({best['cases']} cases)")


def cmd_intervene(args: argparse.Namespace) -> None:
    from othello.checkpoints import load_model
    from probes.interventions import EditSetting, intervene, parse_layers

    if (args.flip is None) == (args.erase is None):
        raise ValueError("give exactly one of --flip SQUARE or --erase SQUARE")
    model = load_model(args.model, device=args.device)
    n = model.cfg.n_layers
    layers = parse_layers(args.layers, n) if args.layers else tuple(range(2 if n > 2 else 1, n + 1))
    setting = EditSetting(args.method, layers, args.scale, **_edit_options(args))
    probes, labelling = _intervention_probes(args, model, args.method)
    result = intervene(model, args.game, args.flip or args.erase, probes, setting,
                       edit="flip" if args.flip else "erase", labelling=labelling)
    if args.out:
        from probes.plots import plot_intervention

        plot_intervention(result, args.out)
    if args.json:
        _dump({"moves": [square_name(s) for s in result.case.moves], "square": square_name(result.case.square),
               "edit": result.case.edit, "method": args.method, "layers": list(layers), "scale": args.scale,
               "whole_board": setting.whole_board, "keep": setting.keep,
               "legal_before": [square_name(s) for s in result.legal_before],
               "legal_after": [square_name(s) for s in result.legal_after],
               "probs_before": {square_name(s): round(float(p), 6) for s, p in enumerate(result.probs_before) if p > 0},
               "probs_after": {square_name(s): round(float(p), 6) for s, p in enumerate(result.probs_after) if p > 0},
               "error": result.error, "null_error": result.null_error})
        return
    print(result.summary())
    if args.out:
        print(f"wrote {args.out}")


def cmd_readout(args: argparse.Namespace) -> None:
    from othello.checkpoints import load_model
    from othello.games import pad_games
    from othello.model import residual_hook
    from othello.notation import parse_moves
    from probes.interventions import layer_probes, real_mover_board
    from probes.layers import read_board
    from probes.plots import probe_readout_discs
    from probes.targets import CLASSES, board_labels

    model = load_model(args.model, device=args.device)
    moves = parse_moves(args.game)
    board = real_mover_board(moves)
    n = model.cfg.n_layers
    layer = n if args.layer is None else args.layer
    hook = residual_hook(layer, n)  # a layer out of range fails here, before any probe is fitted
    cache = args.probes or Path(args.model or _shipped()) / "probes"
    probe = layer_probes(model, args.label, args.kind, [layer], games=args.probe_games, cache=cache,
                         progress=not args.json)[layer]
    probs = read_board(model, moves, probe, layer)                     # [64, classes]
    classes = CLASSES[args.label]
    read = probs.argmax(-1)
    true = board_labels(pad_games([moves]), args.label)[0, len(moves) - 1]        # [64]
    misread = [s for s in range(64) if read[s] != true[s]]
    title = (f"{args.kind} {args.label} probe, layer {layer} ({hook}), after {len(moves)} moves, "
             f"{COLOUR_NAMES[board.next_mover]} to move")
    if args.out:
        from probes.plots import plot_probe_readout

        plot_probe_readout(probs, classes, args.out, board.next_mover, board.to_array(), title)
    if args.json:
        _dump({"moves": [square_name(s) for s in moves], "layer": layer, "hook": hook,
               "label": args.label, "kind": args.kind, "classes": list(classes),
               "read": {square_name(s): classes[read[s]] for s in range(64)},
               "confidence": {square_name(s): round(float(probs[s].max()), 4) for s in range(64)},
               "true": {square_name(s): classes[true[s]] for s in range(64)},
               "misread": [square_name(s) for s in misread], "accuracy": 1 - len(misread) / 64})
        return
    discs = probe_readout_discs(probs, classes, board.next_mover)
    symbol = {0: ".", 1: "X", 2: "O"}
    print(title)
    print("  probe read-out      true board")
    print("  a b c d e f g h     a b c d e f g h")
    truth = board.to_array()
    for r in range(8):
        left = " ".join(symbol[discs[r * 8 + c]] for c in range(8))
        right = " ".join(symbol[int(truth[r * 8 + c])] for c in range(8))
        print(f"{r + 1} {left}   {r + 1} {right}")
    print(f"reads {64 - len(misread)} of 64 squares right"
          + (": misread " + ", ".join(f"{square_name(s)} ({classes[true[s]]} read as {classes[read[s]]}, "
                                      f"p {probs[s].max():.2f})" for s in misread) if misread else ""))
    if args.out:
        print(f"wrote {args.out}")


def cmd_demo(args: argparse.Namespace) -> None:
    from probes.demo import DemoConfig, run_demo, summary_table

    counts = {k: v for k, v in (("eval_games", args.eval_games), ("probe_games", args.probe_games), ("cases", args.cases),
                                ("gradient_steps", args.steps)) if v is not None}  # None: DemoConfig's default
    cfg = DemoConfig(out=args.out, model=args.model, **counts, wthor=args.wthor,
                     train_minutes=args.minutes if args.train else None, preset=args.preset, device=args.device,
                     force=tuple(x for x in (args.force or "").split(",") if x), progress=not args.json)
    summary = run_demo(cfg)
    if args.json:
        _dump({k: summary[k] for k in ("provenance", "eval", "report")})
        return
    print(summary_table(summary))
    print(f"report: {summary['report']}")


def cmd_report(args: argparse.Namespace) -> None:
    from probes.report import write_report

    print(f"wrote {write_report(args.run)}")


def _shipped() -> Path:
    from othello.checkpoints import SHIPPED_MODEL

    return SHIPPED_MODEL


def _after_pass(board: Board) -> Board:
    b = board.copy()
    b.push_pass()
    return b


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="othello-gpt", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("generate", help="write uniformly random legal games to HDF5")
    p.add_argument("--games", type=int, required=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True)
    p.add_argument("--workers", type=int, default=None, help="threads (default: every core); results never depend on it")
    p.add_argument("--shard", default="0/1", help="I/N: write the I-th of N disjoint parts of the stream's first --games games")
    p.add_argument("--append", action="store_true", help="add --games more games to an existing file, continuing its stream")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_generate)

    p = sub.add_parser("import", help="import WTHOR .wtb, PGN or text games into HDF5")
    p.add_argument("sources", nargs="+", help="files or folders")
    p.add_argument("--out", required=True)
    p.add_argument("--source", default="imported", help="the 'source' attribute (e.g. wthor)")
    p.add_argument("--skip-invalid", action="store_true", help="leave out bad games (each reported) instead of stopping")
    p.set_defaults(func=cmd_import)

    p = sub.add_parser("export", help="write games as text, one per line")
    p.add_argument("data", nargs="+")
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("labels", help="store replayed labels in a game file (they are derived on demand otherwise)")
    p.add_argument("data")
    p.add_argument("--labels", default="boards,next_mover,legal", help="comma-separated: boards, next_mover, legal, flipped, passed")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_labels)

    p = sub.add_parser("info", help="summarise a dataset")
    p.add_argument("data", nargs="+")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("show", help="the board after a move string")
    p.add_argument("moves", nargs="?", default="")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_show)

    p = sub.add_parser("perft", help="count move sequences from the start position")
    p.add_argument("depth", type=int)
    p.add_argument("--all", action="store_true", help="every depth from 1")
    p.set_defaults(func=cmd_perft)

    from othello.train_config import TrainConfig

    d = TrainConfig()
    p = sub.add_parser("train", help="train an Othello-GPT")
    p.add_argument("--preset", default=d.preset)
    p.add_argument("--set", action="append", metavar="FIELD=VALUE", help="override a model field, e.g. n_layers=6")
    p.add_argument("--data", default=d.data, help="'synthetic' or HDF5 file(s), comma-separated or a glob")
    p.add_argument("--data-seed", type=int, default=d.data_seed)
    p.add_argument("--out", required=True)
    p.add_argument("--steps", type=int, default=d.steps, help="schedule length")
    p.add_argument("--minutes", type=float, default=None, help="stop this call after M minutes (resume later)")
    p.add_argument("--stop-at", type=int, default=None, metavar="STEP",
                   help="stop this call after that step of the schedule (resume later; e.g. to compare runs at "
                        "equal games)")
    p.add_argument("--batch-size", type=int, default=d.batch_size)
    p.add_argument("--lr", type=float, default=d.lr)
    p.add_argument("--warmup-steps", type=int, default=d.warmup_steps)
    p.add_argument("--min-lr-ratio", type=float, default=d.min_lr_ratio, help="the cosine ends at lr x this")
    p.add_argument("--init-from", default=None, metavar="MODEL",
                   help="start from this checkpoint's weights (same shape, or fewer blocks to grow from; "
                        "fresh optimizer and schedule)")
    p.add_argument("--weight-decay", type=float, default=d.weight_decay)
    p.add_argument("--soft-targets", action="store_true", help="train on the exact next-move distribution")
    p.add_argument("--pass-weight", type=float, default=d.pass_weight,
                   help="loss weight of the positions after an odd number of passes (default 1: a plain mean)")
    p.add_argument("--eval-every", type=int, default=d.eval_every)
    p.add_argument("--eval-games", type=int, default=d.eval_games)
    p.add_argument("--checkpoint-every", type=int, default=d.checkpoint_every)
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--resume", action="store_true")
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--precision", choices=["bf16", "fp32"], default=None,
                   help="bf16 autocast (default on CUDA; about 1.9x faster on CPUs with avx512_bf16) or fp32 (default on CPU)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("eval", help="legal-move rate of a model on a dataset")
    p.add_argument("--model", default=None, help="checkpoint folder (default: the shipped model)")
    p.add_argument("--data", required=True, nargs="+")
    p.add_argument("--split", default=None, help="train, val or test (default: every game)")
    p.add_argument("--games", type=int, default=None, help="only the first N games")
    p.add_argument("--device", default="cpu")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("predict", help="the model's next-move probabilities after a move string")
    p.add_argument("moves")
    p.add_argument("--model", default=None, help="checkpoint folder (default: the shipped model)")
    p.add_argument("--png", default=None, help="also draw the probabilities on the board into this PNG")
    p.add_argument("--device", default="cpu")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser("probe", help="fit board probes on every layer and print accuracy by layer")
    p.add_argument("--model", default=None, help="checkpoint folder (default: the shipped model)")
    p.add_argument("--data", required=True, nargs="+")
    p.add_argument("--games", type=int, default=2000, help="games to probe (train split fits, the rest scores)")
    p.add_argument("--labels", default="relative,colour",
                   help="comma-separated: relative, colour, parity, flipped, legal, last_move, "
                        "next_mover (whose turn it is) and after_pass (an odd number of passes so far: "
                        "the real mover is not parity's); these two are one target per position")
    p.add_argument("--kind", default="linear", help="comma-separated: linear, mlp")
    p.add_argument("--layers", default="all", help="'all' or comma-separated layer numbers (0 = embeddings)")
    p.add_argument("--site", default="resid_post", choices=["resid_post", "resid_mid", "resid_pre", "attn_out", "mlp_out"],
                   help="which hook of block L-1 is layer L (default: resid_post, the residual stream after it)")
    p.add_argument("--positions", default=None, help="START:STOP of the 59 positions (default: all)")
    p.add_argument("--epochs", type=int, default=None, help="passes over the data (default: 8 linear, 16 MLP)")
    p.add_argument("--lr", type=float, default=None, help="probe learning rate (default: 1e-2 linear, 3e-3 MLP, cosine-decayed)")
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--control", action="store_true", help="also probe an untrained model of the same shape")
    p.add_argument("--out", default=None, help="folder for probe_table.csv, probe_rows.json and the plots")
    p.add_argument("--device", default="cpu")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_probe)

    def edit_options(p: argparse.ArgumentParser) -> None:
        p.add_argument("--model", default=None, help="checkpoint folder (default: the shipped model)")
        p.add_argument("--method", choices=["linear", "gradient"], default="linear",
                       help="linear: move along the linear relative probe's directions; gradient: optimise against the MLP colour probe")
        p.add_argument("--whole-board", action="store_true",
                       help="linear: write the whole edited board by gradient descent on the probe (default: reflect one square)")
        p.add_argument("--keep", choices=["board", "read"], default="board",
                       help="gradient / whole board: pull the other squares to the real board, or to what the probe read before")
        p.add_argument("--steps", type=int, default=None,
                       help="gradient / whole board: optimiser steps per layer (default: 1000 Adam steps; 50 descent steps)")
        p.add_argument("--lr", type=float, default=None, help="gradient / whole board: step size (default: 1e-3 Adam; 0.3 descent)")
        p.add_argument("--reg", type=float, default=0.2, help="gradient / whole board: weight of every other square")
        p.add_argument("--positions", type=int, default=1, help="edit the last N positions (1: the last only)")
        p.add_argument("--probes", default=None, help="probe cache folder (default: MODEL/probes)")
        p.add_argument("--probe-games", type=int, default=2000, help="synthetic games the probes are fitted on")
        p.add_argument("--device", default="cpu")
        p.add_argument("--json", action="store_true")

    p = sub.add_parser("intervene-eval", help="score board edits on benchmark cases, swept over layers and scales")
    edit_options(p)
    p.add_argument("--data", nargs="+", default=["synthetic"], help="'synthetic' and/or game files (their test split)")
    p.add_argument("--cases", type=int, default=1000)
    p.add_argument("--edit", choices=["flip", "erase"], default="flip")
    p.add_argument("--seed", type=int, default=0, help="case seed")
    p.add_argument("--starts", default="all", help="first edited layers to sweep ('all' or e.g. 1,2,3)")
    p.add_argument("--scales", default="1,2,4", help="linear: scales to sweep")
    p.add_argument("--out", default=None, help="folder for intervention_table.csv, intervention_rows.json and the plot")
    p.set_defaults(func=cmd_intervene_eval)

    p = sub.add_parser("intervene", help="edit one square of the model's board and draw what its moves do")
    edit_options(p)
    p.add_argument("--game", required=True, help="the move prefix, e.g. 'f5 d6 c3 d3 c4'")
    p.add_argument("--flip", default=None, help="square whose disc changes colour")
    p.add_argument("--erase", default=None, help="square whose disc is removed")
    p.add_argument("--layers", default=None, help="layers to edit, e.g. 2-4 (default: 2 to the last)")
    p.add_argument("--scale", type=float, default=2.0, help="linear: margin multiplier past the probe's boundary")
    p.add_argument("--out", default=None, help="PNG for the before/after panel")
    p.set_defaults(func=cmd_intervene)

    p = sub.add_parser("readout", help="what a probe reads of the board after a game prefix, at one layer")
    p.add_argument("--model", default=None, help="checkpoint folder (default: the shipped model)")
    p.add_argument("--game", required=True, help="the move prefix, e.g. 'f5 d6 c3 d3 c4'")
    p.add_argument("--layer", type=int, default=None, help="layer L = the residual stream after block L-1 (default: the last)")
    p.add_argument("--label", choices=["relative", "colour"], default="relative")
    p.add_argument("--kind", choices=["linear", "mlp"], default="linear")
    p.add_argument("--probes", default=None, help="probe cache folder (default: MODEL/probes)")
    p.add_argument("--probe-games", type=int, default=2000, help="synthetic games the probe is fitted on")
    p.add_argument("--out", default=None, help="PNG of the read-out beside the true board")
    p.add_argument("--device", default="cpu")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_readout)

    p = sub.add_parser("demo", help="the whole experiment: evaluate, probe, intervene, draw, report")
    p.add_argument("--out", default="runs/demo")
    p.add_argument("--model", default=None, help="checkpoint folder (default: the shipped model; with --train: OUT/model)")
    p.add_argument("--train", action="store_true", help="train a fresh model first (resumed when rerun)")
    p.add_argument("--minutes", type=float, default=10.0, help="with --train: training time")
    p.add_argument("--preset", default="small", help="with --train: the model preset")
    p.add_argument("--eval-games", type=int, default=None, help="held-out games for the legal-move rates (default 2000)")
    p.add_argument("--probe-games", type=int, default=None, help="synthetic games the probes are fitted and scored on (default 2000)")
    p.add_argument("--cases", type=int, default=None, help="intervention cases per data set (default 300)")
    p.add_argument("--steps", type=int, default=None, help="gradient edits: Adam steps per layer (default 1000)")
    p.add_argument("--wthor", default=None, help="folder of WTHOR .wtb files (default: ../shared/data/wthor when present)")
    p.add_argument("--force", default=None, help="comma-separated stages to redo (eval, probes, interventions, figures) or 'all'")
    p.add_argument("--device", default="cpu")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("report", help="write RUN/report.html, one self-contained page")
    p.add_argument("run", help="a demo folder (summary.json) or a training folder (config.json)")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("convert", help="convert a published checkpoint into a checkpoint folder")
    p.add_argument("src", help=".pth state dict (read with weights_only=True) or .safetensors")
    p.add_argument("--layout", choices=["mingpt", "hooked"], required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--n-heads", type=int, default=8, help="minGPT only: its shapes do not say the head count")
    p.set_defaults(func=cmd_convert)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except (IllegalMoveError, InvalidMoveError, ValueError, FileNotFoundError, FileExistsError, OSError) as error:
        print(f"othello-gpt {args.command}: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
