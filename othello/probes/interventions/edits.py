"""Edits of the board the model holds: what an edit is (``EditCase``, ``EditSetting``, ``edit_board``), and the
two methods; ``apply`` writes them into the residual stream (``intervene``).

    ```python
    setting = EditSetting("linear", layers=(4, 5, 6, 7, 8), whole_board=True, keep="read", positions=5)
    EditCase(parse_moves("f5 d6 c3 d3 c4"), parse_square("d5")).boards()      # the real and the edited board
    ```

Two published methods, both applied through TransformerLens hooks at ``residual_hook(L)`` ("layer L" = the
residual stream after block L-1) for each chosen layer, at the last position of the prefix (the one that predicts
the next move) or the last few, so they compose with any other hook:

- ``linear`` (Nanda et al.), on the linear probe of each edited layer: reflect the activation across the decision
  boundary between the square's current class and its edited class, ``x -= (1 + scale) * m / |w|^2 * w`` with
  ``w = W[:, square, current] - W[:, square, edited]`` and ``m`` the probe's logit margin: afterwards the probe
  reads the edited class with ``scale`` times the margin it read the current class with. With ``whole_board``
  the edit writes the whole edited board instead: plain gradient descent on the probe's cross-entropy of it (the
  edited square with weight 1, every other square with ``reg``); each step adds a combination of the probe's
  weight vectors, so the edit still moves the activation only along the probe's directions.
- ``gradient`` (Li et al.): Adam on the activation so that the (MLP) probe of that layer reads the edited board,
  with the same regularised cross-entropy, re-applied at each layer from the first chosen one to the last.

What "every other square" is pulled to is ``keep``: ``"board"``, its class on the real board (so the edit also
corrects squares the probe misread), or ``"read"``, what the probe read there before the edit (Li et al.'s code:
the edit changes one square and nothing the model did not already hold). The probe's labelling decides what
"the edited class" is (relative: empty / mine / theirs for the real next mover; colour: empty / black / white);
an edit never changes who moves next.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from othello.engine.board import Board, real_mover_board
from othello.engine.notation import square_name
from othello.errors import ConfigError, OthelloError

__all__ = [
    "Edit",
    "Method",
    "Keep",
    "EditError",
    "edit_board",
    "EditCase",
    "EditSetting",
    "DEFAULT_PROBES",
    "DESCENT_DEFAULTS",
]

Edit = Literal["flip", "erase"]
Method = Literal["linear", "gradient"]


class EditError(OthelloError):
    """An edit that cannot be made: an empty square, an unknown edit or method, a layer without a probe."""


DEFAULT_PROBES: dict[str, tuple[str, str]] = {"linear": ("relative", "linear"), "gradient": ("colour", "mlp")}


def edit_board(board: Board, square: int, edit: Edit) -> Board:
    """``board`` with ``square`` flipped to the other colour or erased to empty; the same side to move."""
    colours = board.to_array()
    if colours[square] == 0:
        raise EditError(f"{square_name(square)} is empty: only a square holding a disc can be flipped or erased")
    if edit == "flip":
        colours[square] = 3 - colours[square]
    elif edit == "erase":
        colours[square] = 0
    else:
        raise EditError(f"unknown edit {edit!r}; expected flip or erase")
    return Board.from_squares(
        [s for s in range(64) if colours[s] == 1],
        [s for s in range(64) if colours[s] == 2],
        next_mover=board.next_mover,
    )


# ------------------------------------------------------------------------------------------- edits


@dataclass
class EditCase:
    """One intervention: a game prefix (squares), the square to edit, and the edit; or several squares at once,
    ``square`` and ``edit`` then tuples of the same length (one edit per square)."""

    moves: list[int]
    square: int | tuple[int, ...]
    edit: Edit | tuple[Edit, ...] = "flip"

    @property
    def edits(self) -> list[tuple[int, Edit]]:
        """``[(square, edit), ...]``: one pair per edited square."""
        squares = (self.square,) if isinstance(self.square, (int, np.integer)) else tuple(self.square)
        ops = (self.edit,) * len(squares) if isinstance(self.edit, str) else tuple(self.edit)
        if len(ops) != len(squares) or not squares:
            raise EditError(f"give one edit per square: {len(squares)} squares, {len(ops)} edits")
        if len(set(squares)) != len(squares):
            raise EditError("each square can be edited once")
        return [(int(sq), op) for sq, op in zip(squares, ops)]

    @property
    def squares(self) -> list[int]:
        return [sq for sq, _ in self.edits]

    def boards(self) -> tuple[Board, Board]:
        """The real board after the prefix and the edited board (same side to move)."""
        board = real_mover_board(self.moves)
        edited = board
        for sq, op in self.edits:
            edited = edit_board(edited, sq, op)
        return board, edited

    def describe(self) -> str:
        edits = ", ".join(f"{op} {square_name(sq)}" for sq, op in self.edits)
        return f"{edits} after {' '.join(square_name(s) for s in self.moves)}"


Keep = Literal["board", "read"]
# (learning rate, steps) of the board-writing optimisation when a setting gives none: Li et al.'s Adam for the
# gradient method; for the linear whole-board edit, plain gradient descent sized on cases of another seed
DESCENT_DEFAULTS: dict[str, tuple[float, int]] = {"gradient": (1e-3, 1000), "linear": (0.3, 50)}


@dataclass
class EditSetting:
    """How to intervene: the method, the layers edited, the linear scale, the board-writing optimiser."""

    method: Method = "linear"
    layers: tuple[int, ...] = (1, 2, 3, 4)
    scale: float = 2.0  # linear, one square: margin multiplier on the far side of the probe's boundary
    lr: float | None = None  # gradient / whole board: step size (None: DESCENT_DEFAULTS)
    steps: int | None = None  # gradient / whole board: optimiser steps per layer (None: DESCENT_DEFAULTS)
    reg: float = 0.2  # gradient / whole board: weight of every other square (Li et al.)
    positions: int = 1  # edit the last N positions of the prefix (where the square holds a disc there)
    whole_board: bool = False  # linear: write the whole edited board (descent) instead of reflecting one square
    keep: Keep | None = "board"  # gradient / whole board: others pulled to the real board or to the probe's reading

    def __post_init__(self) -> None:
        if self.keep is None:  # as rows write it for a one-square edit, which keeps nothing
            self.keep = "board"
        if self.method not in DESCENT_DEFAULTS:
            raise ConfigError(f"unknown method {self.method!r}; expected linear or gradient")
        if self.keep not in ("board", "read"):
            raise ConfigError(f"unknown keep {self.keep!r}; expected board or read")
        if self.keep == "read" and not self.writes_board:
            raise ConfigError(
                "keep='read' is for edits that write the whole board (gradient, or linear with whole_board): "
                "a one-square reflection moves no other square"
            )
        self.layers = tuple(self.layers)
        lr, steps = DESCENT_DEFAULTS[self.method]
        self.lr = lr if self.lr is None else self.lr
        self.steps = steps if self.steps is None else self.steps

    @property
    def writes_board(self) -> bool:
        """Whether the edit writes the whole board (gradient, or linear whole board) rather than one square."""
        return self.method == "gradient" or self.whole_board

    def describe(self) -> str:
        layers = f"{self.layers[0]}-{self.layers[-1]}" if len(self.layers) > 1 else str(self.layers[0])
        if not self.writes_board:
            how = f"scale {self.scale:g}"
        else:
            how = ("whole board, " if self.method == "linear" else "") + (
                f"{self.steps} {'Adam' if self.method == 'gradient' else 'descent'} steps of {self.lr:g}, "
                f"reg {self.reg:g}" + (", others kept as read" if self.keep == "read" else "")
            )
        return f"{self.method}, layers {layers}, {how}" + (
            f", last {self.positions} positions" if self.positions > 1 else ""
        )
