"""Probe targets: what a probe at position t should read, from the engine's replay of the game.

Position t (0-based) of the model has read moves 1..t+1 and holds the board after move t+1, so labels are
``[games, 59, 64]`` over the model's 59 positions (``[games, 59, 1]`` for ``next_mover`` and ``after_pass``, one
target per position).
``-1`` marks a label that does not exist (a position after the game's end, or a relative label or mover where
nobody moves next).
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from othello.engine.notation import N_CTX
from othello.errors import ConfigError

Labelling = Literal["colour", "relative", "parity", "flipped", "legal", "last_move", "next_mover", "after_pass"]
CLASSES: dict[str, tuple[str, ...]] = {
    "colour": ("empty", "black", "white"),
    "relative": ("empty", "mine", "theirs"),  # mine = the real next mover's discs, passes included
    "parity": ("empty", "mine", "theirs"),  # mine by move parity, as published probes label (wrong after a pass)
    "flipped": ("kept", "flipped"),
    "legal": ("illegal", "legal"),
    "last_move": ("other", "played"),
    "next_mover": ("black", "white"),  # whose turn it is after move t: the bit colour needs and relative does not
    # how many passes so far, even or odd: odd where the real next mover is not the one the move count names, so
    # next_mover = parity XOR this, and relative = parity labels with mine and theirs swapped where it is odd
    "after_pass": ("even", "odd"),
}
# Targets per position: 64 squares, except for labellings of the whole position.
TARGETS: dict[str, int] = {name: 1 if name in ("next_mover", "after_pass") else 64 for name in CLASSES}
# What each labelling needs from the replay (which still checks every game whatever it returns).
_REPLAYED: dict[str, tuple[str, ...]] = {
    "colour": ("boards",),
    "relative": ("boards", "next_mover"),
    "parity": ("boards", "next_mover"),
    "flipped": ("flipped",),
    "legal": ("legal",),
    "last_move": (),
    "next_mover": ("next_mover",),
    "after_pass": ("next_mover", "passed"),
}


def board_labels(moves: np.ndarray, labelling: Labelling) -> np.ndarray:
    """Labels ``[games, 59, TARGETS[labelling]]`` int8 for ``moves`` ``[games, 60]`` (class indices of
    ``CLASSES[labelling]``): ``[games, 59, 64]`` for the square labellings, ``[games, 59, 1]`` for ``next_mover`` and
    ``after_pass``."""
    if labelling not in CLASSES:
        raise ConfigError(f"unknown labelling {labelling!r}; choose from {', '.join(CLASSES)}")
    moves = np.asarray(moves)[:, :N_CTX]
    from othello.engine.games import replay  # here: the CLI reads CLASSES without loading the kernels (numba)

    r = replay(moves, _REPLAYED[labelling])
    exists = (moves >= 0)[:, :, None]
    if labelling == "colour":
        out = r.boards.astype(np.int8)
    elif labelling in ("relative", "parity"):
        if labelling == "relative":
            mover = r.next_mover[:, :, None]
        else:
            # move t (0-based) is black's when t is even, so the next move is white's when t is even
            mover = np.where(np.arange(moves.shape[1]) % 2 == 0, 2, 1)[None, :, None].repeat(len(moves), 0)
            mover = np.where(r.next_mover[:, :, None] == 0, 0, mover)
        b = r.boards
        out = np.where(b == 0, 0, np.where(b == mover, 1, 2)).astype(np.int8)
        out[np.broadcast_to(mover == 0, out.shape)] = -1
    elif labelling == "flipped":
        out = r.flipped.astype(np.int8)
    elif labelling == "next_mover":
        out = r.next_mover[:, :, None].astype(np.int8) - 1  # 1 black, 2 white -> 0, 1; nobody (0) -> -1
    elif labelling == "after_pass":
        out = np.where(r.next_mover == 0, -1, r.off_parity())[:, :, None].astype(np.int8)
    elif labelling == "legal":
        out = r.legal.astype(np.int8)
    else:
        out = np.zeros(moves.shape + (64,), dtype=np.int8)
        g, t = np.nonzero(moves >= 0)
        out[g, t, moves[g, t]] = 1
    return np.where(exists, out, -1).astype(np.int8)
