"""One position as text and JSON: the board, the model's next-move probabilities, a probe's read-out, an edit.

What ``othello-gpt show``, ``predict``, ``readout`` and ``intervene`` print, built from boards and arrays.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from othello.engine.board import COLOUR_NAMES, Board
from othello.engine.notation import diagram, square_name

__all__ = [
    "show_payload",
    "prediction_text",
    "prediction_payload",
    "readout_text",
    "readout_payload",
    "intervention_payload",
]


def _squares(squares: Sequence[int]) -> list[str]:
    return [square_name(s) for s in squares]


def _probabilities(probs: np.ndarray) -> dict[str, float]:
    return {square_name(s): round(float(p), 6) for s, p in enumerate(probs) if p > 0}


def show_payload(board: Board) -> dict[str, Any]:
    return {
        "moves": _squares(board.moves),
        "board": board.to_array(),
        "next_mover": None if board.is_game_over() else COLOUR_NAMES[board.next_mover],
        "legal_moves": _squares(board.legal_moves),
        "score": list(board.score()),
    }


def prediction_text(board: Board, probs: np.ndarray, legal: Sequence[int]) -> str:
    """The board, then the model's next-move probabilities (%) on the squares, legal moves bracketed."""
    cells = [
        ("  -  " if board.colour_at(s) else (f"[{100 * probs[s]:3.0f}]" if s in legal else f" {100 * probs[s]:3.0f} "))
        for s in range(64)
    ]
    top = np.argsort(-probs, kind="stable")[:3]
    return "\n".join(
        [
            str(board),
            "model's next-move probabilities in % ([ ] = legal move):",
            diagram(cells),
            "top moves: "
            + ", ".join(f"{square_name(s)} {100 * probs[s]:.1f} %" + ("" if s in legal else " (illegal)") for s in top),
        ]
    )


def prediction_payload(board: Board, probs: np.ndarray, legal: Sequence[int]) -> dict[str, Any]:
    return {
        "moves": _squares(board.moves),
        "probabilities": _probabilities(probs),
        "legal_moves": sorted(_squares(legal)),
    }


def readout_text(title: str, payload: dict[str, Any], read_discs: Sequence[int], true_discs: Sequence[int]) -> str:
    """A probe's read-out (``readout_payload``) beside the true board (X black, O white), and what it misread."""
    symbol = {0: ".", 1: "X", 2: "O"}
    left = diagram([symbol[int(d)] for d in read_discs]).splitlines()
    right = diagram([symbol[int(d)] for d in true_discs]).splitlines()
    misread = payload["misread"]
    lines = [title, "  probe read-out      true board"] + [f"{a}   {b}" for a, b in zip(left, right)]
    lines.append(
        f"reads {64 - len(misread)} of 64 squares right"
        + (
            ": misread "
            + ", ".join(
                f"{s} ({payload['true'][s]} read as {payload['read'][s]}, p {payload['confidence'][s]:.2f})"
                for s in misread
            )
            if misread
            else ""
        )
    )
    return "\n".join(lines)


def readout_payload(
    moves: Sequence[int],
    layer: int,
    hook: str,
    label: str,
    kind: str,
    classes: Sequence[str],
    probs: np.ndarray,
    true: np.ndarray,
) -> dict[str, Any]:
    """``probs`` [64, classes], ``true`` [64] class indices."""
    read = probs.argmax(-1)
    misread = [square_name(s) for s in range(64) if read[s] != true[s]]
    return {
        "moves": _squares(moves),
        "layer": layer,
        "hook": hook,
        "label": label,
        "kind": kind,
        "classes": list(classes),
        "read": {square_name(s): classes[read[s]] for s in range(64)},
        "confidence": {square_name(s): round(float(probs[s].max()), 4) for s in range(64)},
        "true": {square_name(s): classes[true[s]] for s in range(64)},
        "misread": misread,
        "accuracy": 1 - len(misread) / 64,
    }


def intervention_payload(result: Any) -> dict[str, Any]:
    """An ``InterventionResult`` as JSON."""
    s = result.setting
    return {
        "moves": _squares(result.case.moves),
        "square": ", ".join(square_name(sq) for sq in result.case.squares),
        "edit": result.case.edit,
        "method": s.method,
        "layers": list(s.layers),
        "scale": s.scale,
        "whole_board": s.whole_board,
        "keep": s.keep,
        "legal_before": _squares(result.legal_before),
        "legal_after": _squares(result.legal_after),
        "probs_before": _probabilities(result.probs_before),
        "probs_after": _probabilities(result.probs_after),
        "error": result.error,
        "null_error": result.null_error,
    }
