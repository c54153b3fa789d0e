"""What a probe reads of the board after one game prefix, at one layer, beside the truth.

```python
r = board_readout(model, "f5 d6 c3 d3 c4", layer=6)
r.read, r.true, r.misread          # [64] class indices, [64], squares
```
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from othello.engine.board import Board, real_mover_board
from othello.engine.games import pad_games
from othello.engine.notation import parse_moves
from othello.model.hooks import residual_hook
from othello.probes.layers import read_board
from othello.probes.store import PROBE_GAMES, layer_probes
from othello.probes.targets import CLASSES, board_labels

__all__ = ["Readout", "board_readout"]


@dataclass
class Readout:
    """A probe's read-out of the board after ``moves``: class probabilities ``probs`` [64, classes], the truth
    ``true`` [64] (class indices), and ``board``, the real board with the real next mover."""

    moves: list[int]
    layer: int
    hook: str
    label: str
    kind: str
    probs: np.ndarray
    true: np.ndarray
    board: Board

    @property
    def classes(self) -> tuple[str, ...]:
        return CLASSES[self.label]

    @property
    def read(self) -> np.ndarray:
        """The probe's class per square ``[64]``."""
        return self.probs.argmax(-1)

    @property
    def misread(self) -> list[int]:
        return [s for s in range(64) if self.read[s] != self.true[s]]


def board_readout(
    model: torch.nn.Module,
    moves: str | Sequence[int],
    labelling: str = "relative",
    kind: str = "linear",
    layer: int | None = None,
    probe: torch.nn.Module | None = None,
    games: int = PROBE_GAMES,
    cache: str | os.PathLike | None = None,
    progress: bool = True,
) -> Readout:
    """The read-out of the ``labelling`` / ``kind`` probe at "layer L" (default: the last) after ``moves``; the probe is
    the stored one (``layer_probes``, looked for in ``cache`` when given: fitted once when none is stored) unless one
    is given."""
    squares = parse_moves(moves) if isinstance(moves, str) else [int(s) for s in moves]
    board = real_mover_board(squares)
    n = model.cfg.n_layers
    layer = n if layer is None else layer
    hook = residual_hook(layer, n)  # a layer out of range fails here, before any probe is fitted
    if probe is None:
        probe = layer_probes(model, labelling, kind, [layer], games=games, cache=cache, progress=progress)[layer]
    probs = read_board(model, squares, probe, layer)
    true = board_labels(pad_games([squares]), labelling)[0, len(squares) - 1]
    return Readout(squares, layer, hook, labelling, kind, probs, true, board)
