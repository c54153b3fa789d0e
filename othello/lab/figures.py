"""The demo's figures: every PNG of the report, drawn from the demo's summary and the model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from othello.data.seeds import EVAL_SEED
from othello.engine.board import real_mover_board
from othello.engine.games import random_games
from othello.probes.fit import ProbeConfig
from othello.probes.interventions.apply import InterventionResult, edited_move_probabilities, square_mask
from othello.probes.interventions.edits import DEFAULT_PROBES, EditSetting
from othello.probes.interventions.evaluation import synthetic_cases
from othello.probes.layers import read_board
from othello.probes.store import layer_probes
from othello.train.evaluation import legal_set_errors
from othello.views.tables import best_setting

__all__ = ["draw_figures"]


def draw_figures(
    model: torch.nn.Module, model_dir: Path, summary: dict[str, Any], probe_cfg: ProbeConfig, cfg: Any
) -> dict[str, Any]:
    """Every PNG of the report, into ``cfg.out`` (``cfg``: the demo's ``DemoConfig``); returns {name: file name}."""
    from othello.probes.targets import CLASSES
    from othello.train.loop import read_metrics
    from othello.views.plots import (
        plot_accuracy_by_layer,
        plot_intervention,
        plot_intervention_errors,
        plot_probe_readout,
        plot_square_accuracy,
        plot_training_curves,
    )

    out = Path(cfg.out)
    figures: dict[str, Any] = {}
    metrics = model_dir / "metrics.jsonl"
    if metrics.exists():
        plot_training_curves(read_metrics(model_dir), out / "curves.png", f"training of {model_dir.name}")
        figures["curves"] = "curves.png"
    rows = [r for r in summary["probes"]["rows"] if r["model"] == "trained"]
    # the untrained control's rows too: the figure draws them faded beside the trained model's
    plot_accuracy_by_layer(summary["probes"]["rows"], out / "probe_accuracy_by_layer.png")
    figures["probe_by_layer"] = "probe_accuracy_by_layer.png"
    figures["squares"] = {}
    for label in ("relative", "colour"):
        for kind in ("linear", "mlp"):
            sel = [r for r in rows if r["label"] == label and r["kind"] == kind]
            best = max(sel, key=lambda r: r["accuracy"])
            name = f"probe_squares_{label}_{kind}.png"
            plot_square_accuracy(
                best["per_square"],
                out / name,
                f"{label}, {kind}, layer {best['layer']}: {100 * best['accuracy']:.1f} %",
            )
            figures["squares"][f"{label}-{kind}"] = name
    # probe read-outs of one example game (a held-out synthetic game, after 20 moves)
    game = [int(s) for s in random_games(1, EVAL_SEED)[0][:20]]
    board = real_mover_board(game)
    figures["readouts"] = {}
    for label in ("relative", "colour"):
        best = max((r for r in rows if r["label"] == label and r["kind"] == "linear"), key=lambda r: r["accuracy"])
        probe = layer_probes(model, label, "linear", [best["layer"]], cfg.probe_games, probe_cfg, progress=False)[
            best["layer"]
        ]
        class_probs = read_board(model, game, probe, best["layer"])
        plot_probe_readout(
            class_probs,
            CLASSES[label],
            out / f"readout_{label}.png",
            board.next_mover,
            board.to_array(),
            f"linear {label} probe, layer {best['layer']}, after {len(game)} moves",
        )
        figures["readouts"][label] = f"readout_{label}.png"
    # intervention error by layer, and a gallery of the best linear and gradient settings
    irows = summary["interventions"]["rows"]
    figures["intervention_errors"] = {}
    for m in ("linear", "gradient"):
        plot_intervention_errors([r for r in irows if r["method"] == m], out / f"intervention_error_{m}.png")
        figures["intervention_errors"][m] = f"intervention_error_{m}.png"
    figures["gallery"] = []
    cases = synthetic_cases(cfg.cases)
    for method in ("linear", "gradient"):
        best = best_setting(irows, method)
        if best is None:
            continue
        labelling, kind = DEFAULT_PROBES[method]
        probes = layer_probes(model, labelling, kind, games=cfg.probe_games, config=probe_cfg, progress=False)
        setting = EditSetting(**{**best["setting"], "layers": tuple(best["setting"]["layers"])})
        subset = cases[:60]
        before, after = edited_move_probabilities(model, subset, probes, setting, labelling)
        boards = [c.boards() for c in subset]
        legal_edit = square_mask([list(e.legal_moves) for _, e in boards])
        gain = legal_set_errors(before, legal_edit) - legal_set_errors(after, legal_edit)
        # a success lowered the error, a failure did not (an edit that left 22 at 22 is no success)
        order = np.argsort(-gain, kind="stable")
        successes = [i for i in order if gain[i] > 0][:2]
        failures = [i for i in order[::-1] if gain[i] <= 0][:2]
        for tag, picks in (("success", successes), ("failure", failures)):
            for i in picks:
                b, e = boards[i]
                result = InterventionResult(
                    subset[i], setting, b, e, before[i], after[i], sorted(b.legal_moves), sorted(e.legal_moves)
                )
                name = f"panel_{method}_{tag}_{len(figures['gallery'])}.png"
                plot_intervention(result, out / name)
                figures["gallery"].append(
                    {
                        "file": name,
                        "method": method,
                        "kind": tag,
                        "case": subset[i].describe(),
                        "error": result.error,
                        "null_error": result.null_error,
                    }
                )
    return figures
