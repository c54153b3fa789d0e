"""The intervention benchmark (Li et al.'s): cases, settings swept over layers and scales, one row per setting.

```python
cases = synthetic_cases(300)
rows = benchmark(model, cases, probes, sweep_settings("linear", n_layers=8), "relative")
rows[0]["error"], rows[0]["null_error"]
```
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from othello.data.seeds import edit_cases_seed
from othello.engine.board import real_mover_board
from othello.engine.games import random_games
from othello.errors import ConfigError
from othello.probes.interventions.apply import edited_move_probabilities, square_mask
from othello.probes.interventions.edits import Edit, EditCase, EditError, EditSetting, Keep, Method, edit_board
from othello.train.evaluation import legal_set_errors, moved_right

__all__ = [
    "make_cases",
    "synthetic_cases",
    "moved_right",
    "benchmark",
    "benchmark_sets",
    "sweep_settings",
    "recommended_setting",
    "recommended_settings",
]


def make_cases(
    games: np.ndarray, count: int, seed: int = 0, edit: Edit = "flip", min_moves: int = 5, max_moves: int = 30
) -> list[EditCase]:
    """Up to ``count`` benchmark cases, at most one per game of ``games`` [G, 60], reproducible from ``seed``.

    Like Li et al.'s: a prefix of ``min_moves``..``max_moves`` moves after which the game goes on, and a
    square holding a disc other than the one just played, chosen so that the edit changes the set of legal
    next moves and leaves the same side to move with at least one legal move.
    """
    rng = np.random.default_rng(seed)
    cases: list[EditCase] = []
    for row in games:
        if len(cases) == count:
            break
        length = int((row >= 0).sum())
        n = int(rng.integers(min_moves, max_moves + 1))
        if n >= length:
            continue
        prefix = [int(s) for s in row[:n]]
        board = real_mover_board(prefix)
        legal = set(board.legal_moves)
        discs = [s for s in range(64) if board.colour_at(s) and s != prefix[-1]]
        for s in rng.permutation(discs):
            edited = edit_board(board, int(s), edit)
            new = set(edited.legal_moves)
            if new and new != legal:
                cases.append(EditCase(prefix, int(s), edit))
                break
    return cases


def synthetic_cases(count: int, seed: int = 0, edit: Edit = "flip") -> list[EditCase]:
    """``count`` cases from the synthetic stream ``edit_cases_seed(seed)`` (1000 + seed: no model here trains on it)."""
    return make_cases(random_games(2 * count + 100, edit_cases_seed(seed)), count, seed, edit)


def benchmark(
    model: torch.nn.Module,
    cases: Sequence[EditCase],
    probes: dict[int, torch.nn.Module],
    settings: Sequence[EditSetting],
    labelling: str,
    data: str = "",
    progress: bool = True,
) -> list[dict[str, Any]]:
    """One row per setting: mean error of the edited predictions against the edited board's legal moves
    (``error``), the same without an edit (``null_error``), both against the original board's moves, and
    ``moved_right`` (see ``moved_right``); ``error_ci`` and ``null_error_ci`` are the half-widths of their 95 %
    intervals (normal approximation over the cases)."""
    if not cases:
        raise EditError("no intervention cases")
    boards = [c.boards() for c in cases]
    legal_edit = square_mask([list(e.legal_moves) for _, e in boards])
    legal_orig = square_mask([list(b.legal_moves) for b, _ in boards])
    rows = []
    for setting in tqdm(settings, desc="settings", unit="setting", disable=not progress):
        before, after = edited_move_probabilities(model, cases, probes, setting, labelling)
        errors, null_errors = legal_set_errors(after, legal_edit), legal_set_errors(before, legal_edit)
        rows.append(
            {
                "method": setting.method,
                "layers": f"{setting.layers[0]}-{setting.layers[-1]}",
                "scale": None if setting.writes_board else setting.scale,
                "positions": setting.positions,
                "whole_board": setting.whole_board,
                "keep": setting.keep if setting.writes_board else None,
                "cases": len(cases),
                "data": data,
                "labelling": labelling,
                "error": float(errors.mean()),
                "null_error": float(null_errors.mean()),
                "error_ci": _ci95(errors),
                "null_error_ci": _ci95(null_errors),
                "error_vs_original": float(legal_set_errors(after, legal_orig).mean()),
                "null_error_vs_original": float(legal_set_errors(before, legal_orig).mean()),
                "legal_changed": float((legal_edit ^ legal_orig).sum(1).mean()),
                "moved_right": moved_right(before, after, legal_orig, legal_edit),
                # "keep" says what a board-writing edit does with the other squares; a one-square edit has none
                "setting": {**asdict(setting), "keep": setting.keep if setting.writes_board else None},
            }
        )
    return rows


def _ci95(values: np.ndarray) -> float:
    values = np.asarray(values, dtype=np.float64)
    return float(1.96 * values.std(ddof=1) / np.sqrt(len(values))) if len(values) > 1 else float("nan")


def recommended_settings(n_layers: int, method: Method) -> list[EditSetting]:
    """The best setting of each scope (what the edit writes) for ``method``, from the shipped model's sweeps over
    2 x 300 cases (README "Results"), counted from the last layer so that they carry to other depths: linear one
    square: the last 3 layers, scale 2; linear whole board: the last 6; linear board as read: the last 5; gradient
    board: the last 6; gradient board as read: the last 4; always the last 5 positions. ``othello-gpt demo``
    runs these; ``--full`` sweeps every first layer and scale instead."""

    def last(k: int) -> tuple[int, ...]:
        return tuple(range(max(1, n_layers - k + 1), n_layers + 1))

    if method == "linear":
        return [
            EditSetting("linear", last(3), scale=2.0, positions=5),
            EditSetting("linear", last(6), positions=5, whole_board=True, keep="board"),
            EditSetting("linear", last(5), positions=5, whole_board=True, keep="read"),
        ]
    return [
        EditSetting("gradient", last(6), positions=5, keep="board"),
        EditSetting("gradient", last(4), positions=5, keep="read"),
    ]


def recommended_setting(n_layers: int, method: Method, whole_board: bool = False, keep: Keep = "board") -> EditSetting:
    """The one of ``recommended_settings`` whose edit writes what is asked: one square (linear), the whole board
    kept to the real one (``keep="board"``) or to the probe's reading (``"read"``). ``othello-gpt intervene`` and the
    explorer start from it."""
    for setting in recommended_settings(n_layers, method):
        if setting.writes_board == (whole_board or method == "gradient") and (
            not setting.writes_board or setting.keep == keep
        ):
            return setting
    raise ConfigError(f"no recommended {method} setting writes {'the whole board' if whole_board else 'one square'}")


def sweep_settings(
    method: Method,
    n_layers: int,
    scales: Sequence[float] = (1.0, 2.0, 4.0, 8.0),
    starts: Sequence[int] | None = None,
    **options: Any,
) -> list[EditSetting]:
    """Settings editing every layer from a start layer to the last, for each start (1..n_layers by default)
    and, for the linear one-square reflection, each scale (the board-writing edits have none)."""
    starts = list(range(1, n_layers + 1)) if starts is None else list(starts)
    one_square = method == "linear" and not options.get("whole_board")
    return [
        EditSetting(method=method, layers=tuple(range(s, n_layers + 1)), scale=float(scale), **options)
        for s in starts
        for scale in (scales if one_square else list(scales[:1]) or [2.0])
    ]


def benchmark_sets(
    model: torch.nn.Module,
    data: Sequence[str],
    count: int,
    probes: dict[int, torch.nn.Module],
    settings: Sequence[EditSetting],
    labelling: str,
    seed: int = 0,
    edit: Edit = "flip",
    progress: bool = True,
) -> list[dict[str, Any]]:
    """``benchmark`` on ``count`` cases of each data set of ``data``: ``"synthetic"`` (``synthetic_cases``) or an
    HDF5 game file (cases from its test split); rows carry the data set's name. Warns on stderr when a data set
    yields fewer cases than asked."""
    import sys
    from pathlib import Path

    from othello.data.datasets import load_moves

    rows = []
    for name in data:
        cases = (
            synthetic_cases(count, seed, edit)
            if name == "synthetic"
            else make_cases(load_moves(name, split="test"), count, seed, edit)
        )
        if len(cases) < count:
            print(f"{name}: only {len(cases)} cases could be made", file=sys.stderr)
        rows += benchmark(model, cases, probes, settings, labelling, data=Path(name).stem, progress=progress)
    return rows
