"""What the commands' ``--out DIR`` writes: the rows as CSV and JSON, and their figures."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from othello.files import write_csv, write_json

__all__ = ["PROBE_TABLE_FIELDS", "INTERVENTION_TABLE_FIELDS", "save_probe_outputs", "save_intervention_outputs"]

PROBE_TABLE_FIELDS = [
    "model",
    "hook",
    "site",
    "layer",
    "label",
    "kind",
    "accuracy",
    "baseline",
    "ply_baseline",
    "midgame_accuracy",
    "whole_board",
    "train_games",
    "test_games",
]
INTERVENTION_TABLE_FIELDS = [
    "data",
    "method",
    "labelling",
    "layers",
    "scale",
    "positions",
    "whole_board",
    "keep",
    "cases",
    "error",
    "null_error",
    "error_vs_original",
    "null_error_vs_original",
    "legal_changed",
    "moved_right",
]


def save_probe_outputs(rows: Sequence[dict[str, Any]], out: str | os.PathLike) -> None:
    """``probe_rows.json``, ``probe_table.csv``, ``probe_accuracy_by_layer.png`` and, for each square labelling,
    the per-square map of its best layer (``probe_squares_{label}.png``)."""
    from othello.views.plots import plot_accuracy_by_layer, plot_square_accuracy

    out = Path(out)
    write_json(out / "probe_rows.json", list(rows))
    write_csv(out / "probe_table.csv", rows, PROBE_TABLE_FIELDS)
    trained = [r for r in rows if r.get("model", "trained") == "trained"]
    plot_accuracy_by_layer(trained, out / "probe_accuracy_by_layer.png")
    for label in dict.fromkeys(r["label"] for r in trained):
        best = max((r for r in trained if r["label"] == label), key=lambda r: r["accuracy"])
        if len(best["per_square"]) == 64:  # a labelling of the whole position has no board
            plot_square_accuracy(
                best["per_square"],
                out / f"probe_squares_{label}.png",
                f"{label}, {best['kind']}, layer {best['layer']}: {100 * best['accuracy']:.1f} %",
            )


def save_intervention_outputs(rows: Sequence[dict[str, Any]], out: str | os.PathLike, method: str) -> None:
    """``intervention_rows.json``, ``intervention_table.csv`` and ``intervention_error_{method}.png``."""
    from othello.views.plots import plot_intervention_errors

    out = Path(out)
    write_json(out / "intervention_rows.json", list(rows))
    write_csv(out / "intervention_table.csv", rows, INTERVENTION_TABLE_FIELDS)
    plot_intervention_errors(list(rows), out / f"intervention_error_{method}.png")
