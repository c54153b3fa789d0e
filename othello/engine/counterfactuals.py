"""Counterfactual pairs for interchange interventions: the rules say what the model should do after a swap.

A pair is a base position and a source position (another game, the same ply) that differ in one causal variable,
the state of one square relative to the player to move (0 empty, 1 mine, 2 theirs: the model's own frame, as the
relative probes read it). The counterfactual board is the base board with that square set to the source's state,
and its legal moves are the engine's for the base's player to move. Only pairs whose counterfactual legal set
differs from the base's are kept: a swap that changes nothing the model outputs cannot be scored.

    pairs = square_pairs(random_games(400, seed=13), count=1000, seed=0)
    pairs.base_legal[0], pairs.counterfactual_legal[0]              # [64] bool each

Positions are taken at plies ``plies`` (move t played, the model reading moves 0..t at position t), never after
an odd number of passes (there the move count names the wrong player to move) and never at the game's end.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from othello.engine.board import legal_moves_mask, squares_of
from othello.engine.games import replay
from othello.errors import ConfigError

__all__ = ["SquarePairs", "square_pairs", "relative_boards", "legal_squares", "STATES"]

STATES = ("empty", "mine", "theirs")


@dataclass
class SquarePairs:
    """``N`` counterfactual pairs on one square each (see the module).

    - ``base_moves``, ``source_moves`` [N, 60] int8: the two games (-1 after the end);
    - ``ply`` [N]: the position of both (after move ``ply``, 0-based: the model's position ``ply``);
    - ``square`` [N]: the variable's square; ``base_state``, ``source_state`` [N]: its relative state in each;
    - ``base_board``, ``counterfactual_board`` [N, 64] int8: relative boards (0 empty, 1 mine, 2 theirs) of the
      base position before and after the swap;
    - ``base_legal``, ``source_legal``, ``counterfactual_legal`` [N, 64] bool: the player to move's legal squares.
    """

    base_moves: np.ndarray
    source_moves: np.ndarray
    ply: np.ndarray
    square: np.ndarray
    base_state: np.ndarray
    source_state: np.ndarray
    base_board: np.ndarray
    counterfactual_board: np.ndarray
    base_legal: np.ndarray
    source_legal: np.ndarray
    counterfactual_legal: np.ndarray

    def __len__(self) -> int:
        return len(self.ply)

    def subset(self, rows: np.ndarray | slice) -> SquarePairs:
        """The pairs at ``rows``."""
        return SquarePairs(**{name: getattr(self, name)[rows] for name in self.__dataclass_fields__})


def relative_boards(boards: np.ndarray, next_mover: np.ndarray) -> np.ndarray:
    """Absolute boards ``[..., 64]`` (0 empty, 1 black, 2 white) and who moves next ``[...]`` (1, 2) -> relative
    boards (0 empty, 1 mine, 2 theirs)."""
    mover = next_mover[..., None]
    return np.where(boards == 0, 0, np.where(boards == mover, 1, 2)).astype(np.int8)


def legal_squares(relative: np.ndarray) -> np.ndarray:
    """The legal squares ``[64]`` bool of the player to move on a relative board ``[64]``."""
    mine = int(sum(1 << int(s) for s in np.flatnonzero(relative == 1)))
    theirs = int(sum(1 << int(s) for s in np.flatnonzero(relative == 2)))
    out = np.zeros(64, dtype=bool)
    out[squares_of(legal_moves_mask(mine, theirs))] = True
    return out


def square_pairs(
    games: np.ndarray,
    count: int,
    seed: int,
    plies: tuple[int, int] = (8, 50),
    squares: np.ndarray | None = None,
    max_tries: int = 50,
) -> SquarePairs:
    """``count`` pairs drawn from ``games`` ``[G, 60]``, seeded: base and source from different games at the same
    ply in ``plies`` (inclusive), the square uniform over ``squares`` (default: all 64; a centre disc changes
    too). Raises ``ConfigError`` when the games cannot give ``count`` pairs within ``max_tries`` draws per pair."""
    if len(games) < 2:
        raise ConfigError("counterfactual pairs need at least 2 games")
    lo, hi = plies
    if not 0 <= lo <= hi <= 58:
        raise ConfigError(f"plies {lo}..{hi}: expected 0 <= first <= last <= 58")
    r = replay(games, ("boards", "next_mover", "legal", "passed"))
    usable = (r.next_mover > 0) & ~r.off_parity()  # [G, T]
    usable[:, :lo] = False
    usable[:, hi + 1 :] = False
    relative = relative_boards(r.boards, np.maximum(r.next_mover, 1))
    allowed = np.arange(64) if squares is None else np.asarray(squares)
    rng = np.random.default_rng(seed)
    rows: dict[str, list] = {name: [] for name in SquarePairs.__dataclass_fields__}
    bases = np.argwhere(usable)
    for _ in range(count * max_tries):
        if len(rows["ply"]) == count:
            break
        g, t = bases[rng.integers(len(bases))]
        sources = np.flatnonzero(usable[:, t])
        sources = sources[sources != g]
        if not len(sources):
            continue
        h = int(sources[rng.integers(len(sources))])
        s = int(allowed[rng.integers(len(allowed))])
        base, source = relative[g, t], relative[h, t]
        if base[s] == source[s]:
            continue
        counterfactual = base.copy()
        counterfactual[s] = source[s]
        legal = legal_squares(counterfactual)
        if np.array_equal(legal, r.legal[g, t]):
            continue
        for name, value in (
            ("base_moves", games[g]),
            ("source_moves", games[h]),
            ("ply", t),
            ("square", s),
            ("base_state", base[s]),
            ("source_state", source[s]),
            ("base_board", base),
            ("counterfactual_board", counterfactual),
            ("base_legal", r.legal[g, t]),
            ("source_legal", r.legal[h, t]),
            ("counterfactual_legal", legal),
        ):
            rows[name].append(value)
    if len(rows["ply"]) < count:
        raise ConfigError(f"only {len(rows['ply'])} of {count} counterfactual pairs found in {len(games)} games")
    return SquarePairs(**{name: np.array(values) for name, values in rows.items()})
