"""The whole experiment in one call: evaluate a model, probe every layer, intervene, draw, write the report.

    >>> summary = run_demo(DemoConfig(out="runs/demo"))      # the shipped model; minutes on 2 CPU cores
    >>> summary["probes"]["rows"][0]["accuracy"]

Every stage is cached by its inputs in ``out/{stage}.json`` (the model's fingerprint and the stage's
settings): a rerun skips what is done, ``force`` redoes stages. ``train_minutes`` trains a fresh model into
``out/model`` first (resumable: a rerun continues it).
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import platform
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch

from othello.checkpoints import SHIPPED_MODEL, load_model, read_run_config
from othello.files import write_json
from othello.games import random_games
from othello.model import ModelConfig, build_model
from othello.training import legal_set_errors
from probes.interventions import (DEFAULT_PROBES, DESCENT_DEFAULTS, EditSetting, benchmark, cached_probe_rows, edited_move_probabilities,
                                  PROBE_GAMES_SEED, layer_probes, make_cases, model_fingerprint,
                                  edit_scope, real_mover_board, square_mask, sweep_settings,
                                  synthetic_cases, InterventionResult)
from probes.layers import read_board
from probes.probes import ProbeConfig

WTHOR_ARCHIVE = Path(__file__).resolve().parents[2] / "shared" / "data" / "wthor"
EVAL_SEED = 5  # a synthetic stream no model here trains on
STAGES = ("train", "data", "eval", "probes", "interventions", "figures", "report")


@dataclass
class DemoConfig:
    """What the demo runs on and how much of it (defaults fit in minutes on 2 CPU cores)."""

    out: str = "runs/demo"
    model: str | None = None            # checkpoint folder; None = the shipped model (or out/model with training)
    eval_games: int = 2000              # held-out games for the legal-move rates (synthetic and WTHOR each)
    probe_games: int = 2000             # synthetic games the probes are fitted (train split) and scored on
    probe_epochs: int | None = None     # None: the per-kind default (8 linear, 16 MLP)
    cases: int = 300                    # intervention cases per data set
    scales: tuple[float, ...] = (1.0, 2.0, 4.0)
    gradient_steps: int = 1000          # Li et al.'s setting
    edit_positions: tuple[int, ...] = (1, 5)  # edit the last N positions holding the square (1: the papers' recipe)
    keeps: tuple[str, ...] = ("board", "read")  # board-writing edits: other squares from the real board / as read
    wthor: str | None = None            # folder of .wtb files (None: ../shared/data/wthor); skipped when absent
    train_minutes: float | None = None  # train a fresh model for this long first
    preset: str = "small"
    train_steps: int = 20000            # schedule length of a fresh training (the minutes end it sooner)
    device: str = "cpu"
    force: tuple[str, ...] = ()         # stages to redo ("all" for every one)
    progress: bool = True


def _stage(cfg: DemoConfig, name: str, key: dict[str, Any], run: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    path = Path(cfg.out) / f"{name}.json"
    # compare as stored: JSON turns tuples into lists, and a tuple never equals a list
    key = json.loads(json.dumps(key))
    if path.exists() and name not in cfg.force and "all" not in cfg.force:
        saved = json.loads(path.read_text())
        if saved.get("key") == key:
            if cfg.progress:
                print(f"[{name}] cached ({path})")
            return saved["result"]
    if cfg.progress:
        print(f"[{name}] running")
    result = run()
    write_json(path, {"key": key, "result": result})
    return result


def _provenance(model_dir: Path, fingerprint: str) -> dict[str, Any]:
    import importlib.metadata

    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=Path(__file__).parent, capture_output=True,
                                text=True, timeout=10).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        commit = None
    return {"model": str(model_dir), "model_fingerprint": fingerprint, "date": datetime.datetime.now().isoformat(timespec="seconds"),
            "git_commit": commit, "python": platform.python_version(), "torch": torch.__version__,
            "transformer_lens": importlib.metadata.version("transformer_lens"), "machine": platform.machine(),
            "threads": torch.get_num_threads()}


def _wthor_games(cfg: DemoConfig) -> np.ndarray | None:
    """The WTHOR archive's test split, imported once into ``out/wthor.h5``; None when there is no archive."""
    from othello.datasets import load_moves, write_games
    from othello.importers import import_games

    folder = Path(cfg.wthor) if cfg.wthor else WTHOR_ARCHIVE
    if not folder.is_dir() or not any(folder.glob("*.wtb")):
        return None
    path = Path(cfg.out) / "wthor.h5"
    if not path.exists():
        games = import_games([folder])
        write_games(path, games.moves, source="wthor", metadata=games.metadata)
    return load_moves(path, split="test")


def run_demo(cfg: DemoConfig) -> dict[str, Any]:
    """Run every stage (cached) and return the summary written to ``out/summary.json``."""
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    model_dir = Path(cfg.model) if cfg.model else SHIPPED_MODEL
    if cfg.train_minutes:
        from othello.train_config import TrainConfig
        from othello.training import train

        model_dir = Path(cfg.model) if cfg.model else out / "model"
        tc = TrainConfig(preset=cfg.preset, steps=cfg.train_steps, soft_targets=True, eval_every=250, checkpoint_every=250)

        def train_stage() -> dict[str, Any]:
            # a forced rerun continues the same run for another ``train_minutes``
            trained = train(tc, model_dir, resume=(model_dir / "config.json").exists(), minutes=cfg.train_minutes,
                            device=cfg.device, progress=cfg.progress)
            return {"step": trained.step, **trained.metrics}

        _stage(cfg, "train", {"config": tc.to_dict(), "minutes": cfg.train_minutes, "folder": str(model_dir)}, train_stage)
    model = load_model(model_dir, device=cfg.device)
    fp = model_fingerprint(model)
    summary: dict[str, Any] = {"provenance": _provenance(model_dir, fp), "config": dataclasses.asdict(cfg),
                               "model_config": read_run_config(model_dir)}
    n = model.cfg.n_layers
    wthor = _wthor_games(cfg)

    def evaluate_stage() -> dict[str, Any]:
        from othello.training import evaluate

        result = {"synthetic": evaluate(model, random_games(cfg.eval_games, EVAL_SEED))}
        if wthor is not None:
            result["wthor"] = evaluate(model, wthor[:cfg.eval_games])
        return result

    summary["eval"] = _stage(cfg, "eval", {"model": fp, "games": cfg.eval_games, "wthor": wthor is not None,
                                           "metrics": ["top1_legal", "legal_set_error", "after_pass"]}, evaluate_stage)

    cache = out / "probes"
    probe_cfg = ProbeConfig(epochs=cfg.probe_epochs)
    # whose turn it is (next_mover): the bit a colour probe needs on top of the relative board; one target, cheap
    combos = [("relative", "linear"), ("colour", "linear"), ("relative", "mlp"), ("colour", "mlp"), ("next_mover", "linear")]

    def probes_stage() -> dict[str, Any]:
        from probes.layers import probe_accuracy_by_layer

        rows = []
        for labelling, kind in combos:
            layer_probes(model, labelling, kind, games=cfg.probe_games, config=probe_cfg, cache=cache, progress=cfg.progress)
            rows += [{**r, "model": "trained"} for r in cached_probe_rows(cache, labelling, kind)]
        untrained = build_model(ModelConfig.from_dict(summary["model_config"]["model"]), device=cfg.device)
        control = probe_accuracy_by_layer(untrained, random_games(cfg.probe_games, PROBE_GAMES_SEED), ("relative", "colour"), ("linear",),
                                          config=probe_cfg, progress=cfg.progress)
        return {"rows": rows + [{**r, "model": "untrained"} for r in control]}

    probe_settings = {kind: dataclasses.asdict(dataclasses.replace(probe_cfg, kind=kind).resolved()) for kind in ("linear", "mlp")}
    summary["probes"] = _stage(cfg, "probes", {"model": fp, "games": cfg.probe_games, "probe": probe_settings,
                                               "labels": combos}, probes_stage)

    def interventions_stage() -> dict[str, Any]:
        sets = {"synthetic": synthetic_cases(cfg.cases)}
        if wthor is not None:
            sets["wthor"] = make_cases(wthor, cfg.cases, seed=0)
        rows = []
        for method in ("linear", "gradient"):
            labelling, kind = DEFAULT_PROBES[method]
            probes = layer_probes(model, labelling, kind, games=cfg.probe_games, config=probe_cfg, cache=cache, progress=False)
            settings = []
            for positions in cfg.edit_positions:
                if method == "linear":
                    settings += sweep_settings("linear", n, cfg.scales, positions=positions)
                for keep in cfg.keeps:
                    settings += sweep_settings(method, n, positions=positions, keep=keep, **(
                        {"whole_board": True} if method == "linear" else {"steps": cfg.gradient_steps}))
            for data, cases in sets.items():
                rows += benchmark(model, cases, probes, settings, labelling, data=data, progress=cfg.progress)
        return {"rows": rows}

    summary["interventions"] = _stage(cfg, "interventions", {"model": fp, "cases": cfg.cases, "scales": list(cfg.scales),
                                                             "steps": cfg.gradient_steps, "probe_games": cfg.probe_games,
                                                             "positions": list(cfg.edit_positions), "keeps": list(cfg.keeps),
                                                             "descent": list(DESCENT_DEFAULTS["linear"]),
                                                             "probe": probe_settings, "wthor": wthor is not None}, interventions_stage)

    def figures_stage() -> dict[str, Any]:
        return draw_figures(model, model_dir, summary, cache, probe_cfg, cfg)

    summary["figures"] = _stage(cfg, "figures", {"model": fp, "probes": cfg.probe_games, "cases": cfg.cases,
                                                 "steps": cfg.gradient_steps}, figures_stage)
    write_json(out / "summary.json", summary)
    from probes.report import write_report

    summary["report"] = str(write_report(out))
    return summary


def best_setting(rows: Sequence[dict[str, Any]], method: str, data: str = "synthetic",
                 scope: str | None = None) -> dict[str, Any] | None:
    """The row with the lowest error for ``method`` on ``data`` (and, given, what the edit writes: ``edit_scope``)."""
    sel = [r for r in rows if r["method"] == method and r["data"] == data and scope in (None, edit_scope(r))]
    return min(sel, key=lambda r: r["error"]) if sel else None


def draw_figures(model: torch.nn.Module, model_dir: Path, summary: dict[str, Any], cache: Path, probe_cfg: ProbeConfig,
                 cfg: DemoConfig) -> dict[str, Any]:
    """Every PNG of the report, into ``out``; returns {name: file name} for the report."""
    from othello.training import read_metrics
    from probes.plots import (plot_accuracy_by_layer, plot_intervention, plot_intervention_errors, plot_probe_readout,
                              plot_square_accuracy, plot_training_curves)
    from probes.targets import CLASSES

    out = Path(cfg.out)
    figures: dict[str, Any] = {}
    metrics = model_dir / "metrics.jsonl"
    if metrics.exists():
        figures["curves"] = plot_training_curves(read_metrics(model_dir), out / "curves.png", f"training of {model_dir.name}").name
    rows = [r for r in summary["probes"]["rows"] if r["model"] == "trained"]
    figures["probe_by_layer"] = plot_accuracy_by_layer(rows, out / "probe_accuracy_by_layer.png").name
    figures["squares"] = {}
    for label in ("relative", "colour"):
        for kind in ("linear", "mlp"):
            sel = [r for r in rows if r["label"] == label and r["kind"] == kind]
            best = max(sel, key=lambda r: r["accuracy"])
            figures["squares"][f"{label}-{kind}"] = plot_square_accuracy(
                best["per_square"], out / f"probe_squares_{label}_{kind}.png",
                f"{label}, {kind}, layer {best['layer']}: {100 * best['accuracy']:.1f} %").name
    # probe read-outs of one example game (a held-out synthetic game, after 20 moves)
    game = [int(s) for s in random_games(1, EVAL_SEED)[0][:20]]
    board = real_mover_board(game)
    figures["readouts"] = {}
    for label in ("relative", "colour"):
        best = max((r for r in rows if r["label"] == label and r["kind"] == "linear"), key=lambda r: r["accuracy"])
        probe = layer_probes(model, label, "linear", [best["layer"]], cfg.probe_games, probe_cfg, cache, False)[best["layer"]]
        class_probs = read_board(model, game, probe, best["layer"])
        figures["readouts"][label] = plot_probe_readout(
            class_probs, CLASSES[label], out / f"readout_{label}.png", board.next_mover, board.to_array(),
            f"linear {label} probe, layer {best['layer']}, after {len(game)} moves").name
    # intervention error by layer, and a gallery of the best linear and gradient settings
    irows = summary["interventions"]["rows"]
    figures["intervention_errors"] = {m: plot_intervention_errors([r for r in irows if r["method"] == m],
                                                                  out / f"intervention_error_{m}.png").name
                                      for m in ("linear", "gradient")}
    figures["gallery"] = []
    cases = synthetic_cases(cfg.cases)
    for method in ("linear", "gradient"):
        best = best_setting(irows, method)
        if best is None:
            continue
        labelling, kind = DEFAULT_PROBES[method]
        probes = layer_probes(model, labelling, kind, games=cfg.probe_games, config=probe_cfg, cache=cache, progress=False)
        setting = EditSetting(**{**best["setting"], "layers": tuple(best["setting"]["layers"])})
        subset = cases[:60]
        before, after = edited_move_probabilities(model, subset, probes, setting, labelling)
        boards = [c.boards() for c in subset]
        legal_edit = square_mask([list(e.legal_moves) for _, e in boards])
        gain = legal_set_errors(before, legal_edit) - legal_set_errors(after, legal_edit)
        order = np.argsort(-gain, kind="stable")
        for tag, picks in (("success", order[:2]), ("failure", order[::-1][:2])):
            for i in picks:
                b, e = boards[i]
                result = InterventionResult(subset[i], setting, b, e, before[i], after[i], sorted(b.legal_moves),
                                            sorted(e.legal_moves))
                name = f"panel_{method}_{tag}_{len(figures['gallery'])}.png"
                plot_intervention(result, out / name)
                figures["gallery"].append({"file": name, "method": method, "kind": tag, "case": subset[i].describe(),
                                           "error": result.error, "null_error": result.null_error})
    return figures


def summary_table(summary: dict[str, Any]) -> str:
    """The demo's final figures as a few lines of text."""
    lines = []
    for data, e in summary["eval"].items():
        after = (f"; after a pass ({e['after_pass_positions']} positions) {100 * e['after_pass_top1_legal']:.2f} %"
                 if e.get("after_pass_positions") else "")
        lines.append(f"legal moves ({data}, {e['games']} games): top-1 legal {100 * e['top1_legal']:.2f} %, "
                     f"legal-set error {e['legal_set_error']:.3f}{after}")
    rows = summary["probes"]["rows"]
    for label in ("relative", "colour"):
        for kind in ("linear", "mlp"):
            sel = [r for r in rows if r["label"] == label and r["kind"] == kind and r["model"] == "trained"]
            if sel:
                best = max(sel, key=lambda r: r["accuracy"])
                control = [r for r in rows if r["label"] == label and r["kind"] == kind and r["model"] == "untrained"
                           and r["layer"] == best["layer"]]
                mid = best.get("midgame_accuracy")
                lines.append(f"probe {label:8} {kind:6}: best layer {best['layer']} {100 * best['accuracy']:.1f} % "
                             + (f"({100 * mid:.1f} % at positions 5..53) " if mid is not None else "")
                             + f"(majority baseline {100 * best['baseline']:.1f} %, "
                             f"by-ply baseline {100 * best.get('ply_baseline', float('nan')):.1f} %"
                             + (f", untrained model {100 * control[0]['accuracy']:.1f} %)" if control else ")"))
    turn = sorted((r for r in rows if r["label"] == "next_mover" and r["model"] == "trained"), key=lambda r: r["layer"])
    if turn:
        lines.append("probe whose turn (next_mover) linear, by layer: "
                     + ", ".join(f"{100 * r['accuracy']:.1f}" for r in turn)
                     + f" % (by-ply baseline {100 * turn[0]['ply_baseline']:.1f} %)")
    irows = summary["interventions"]["rows"]
    for method in ("linear", "gradient"):
        for data in sorted({r["data"] for r in irows}):
            for scope in ("square", "board", "board as read"):
                best = best_setting(irows, method, data, scope)
                if best:
                    lines.append(f"intervention {method:8} ({data}): writes {scope}, layers {best['layers']}"
                                 + (f", scale {best['scale']:g}" if best["scale"] is not None else "")
                                 + (f", last {best['positions']} positions" if best.get("positions", 1) > 1 else "")
                                 + f": error {best['error']:.2f} vs {best['null_error']:.2f} without an edit "
                                 f"({best['cases']} cases; {100 * best['moved_right']:.0f} % of changed squares moved the right way)")
    return "\n".join(lines)
