"""Many games at once: seeded random generation and replay into per-ply labels, on the compiled kernels.

Move arrays are ``[games, 60]`` int8 square indices in play order, ``-1`` after a game's last move.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numba
import numpy as np

from othello.engine import kernels
from othello.engine.notation import IllegalMoveError, square_name
from othello.memory import check_memory

MAX_PLIES = 60


def set_workers(workers: int | None) -> None:
    """Use ``workers`` threads in the kernels (all cores when ``None``). Results never depend on it."""
    numba.set_num_threads(
        numba.config.NUMBA_NUM_THREADS if workers is None else max(1, min(workers, numba.config.NUMBA_NUM_THREADS))
    )


# what a game costs where it is made and first used: its 60 moves, and the replay's labels of them (legal moves and
# boards, [60, 64] each) that every consumer of synthetic games derives next
GAME_BYTES = 60 + 2 * 60 * 64


def random_games(count: int, seed: int, first_index: int = 0) -> np.ndarray:
    """Uniformly random legal games ``first_index .. first_index + count - 1`` of the stream ``seed``.

    Returns moves ``[count, 60]`` int8. Game ``i`` depends only on ``(seed, i)``: any split of the stream
    into batches, files, workers or shards gives the same games.
    """
    if count < 0 or first_index < 0 or seed < 0:
        raise ValueError("count, seed and first_index must be non-negative")
    check_memory(count * GAME_BYTES, f"{count:,} games")
    return kernels.random_games(np.uint64(seed), np.int64(first_index), np.int64(count))


@dataclass
class Replay:
    """Per-ply labels of ``G`` games of ``T`` plies: entry ``t`` describes the position after move ``t``.

    - ``boards`` [G, T, 64] int8: 0 empty, 1 black, 2 white.
    - ``next_mover`` [G, T] int8: who makes move t+1 (1 black, 2 white; passes included), 0 when the game is over.
    - ``legal`` [G, T, 64] bool: the next mover's legal squares (none once the game is over).
    - ``flipped`` [G, T, 64] bool: the discs move t turned over.
    - ``passed`` [G, T] bool: the player after the mover of move t had to pass.
    - ``lengths`` [G] int: moves in each game; plies past it repeat the final board with no next mover.
    Fields not asked for are ``None``.
    """

    moves: np.ndarray
    lengths: np.ndarray
    boards: np.ndarray | None = None
    next_mover: np.ndarray | None = None
    legal: np.ndarray | None = None
    flipped: np.ndarray | None = None
    passed: np.ndarray | None = None

    def off_parity(self) -> np.ndarray:
        """``[G, T]`` bool: an odd number of passes by move t, so the player to move is not the one the move
        count's parity names (where published probes' labels, and this project's models, go wrong)."""
        if self.passed is None:
            raise ValueError("replay with 'passed' among the labels")
        return np.cumsum(self.passed, 1) % 2 == 1


LABELS = ("boards", "next_mover", "legal", "flipped", "passed")


def replay(moves: np.ndarray, labels: tuple[str, ...] = LABELS, source: str = "games", first_game: int = 0) -> Replay:
    """Replay ``moves`` [G, T] and return the labels asked for; every move is checked against the rules.

    Raises ``IllegalMoveError`` naming ``source``, the game (``first_game`` + row) and the ply (from 1) of
    the first illegal move found.
    """
    result, error_ply, error_code = _replay(moves, labels)
    bad = np.flatnonzero(error_ply >= 0)
    if bad.size:
        g = int(bad[0])
        raise IllegalMoveError(describe_error(moves[g], int(error_ply[g]), int(error_code[g]), source, first_game + g))
    return result


def check_games(moves: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Validate games without raising: returns (error_ply [G], error_code [G]), -1 / 0 where legal."""
    _, error_ply, error_code = _replay(moves, ())
    return error_ply, error_code


def describe_error(game_moves: np.ndarray, ply: int, code: int, source: str, game: int) -> str:
    """A readable message for an illegal move found by the replay kernel (``ply`` counted from 0)."""
    sq = int(game_moves[ply])
    name = square_name(sq) if 0 <= sq < 64 else str(sq)
    return f"{source}: game {game}, ply {ply + 1} ({name}): {kernels.REPLAY_ERRORS[code]}"


def _replay(moves: np.ndarray, labels: tuple[str, ...]) -> tuple[Replay, np.ndarray, np.ndarray]:
    unknown = set(labels) - set(LABELS)
    if unknown:
        raise ValueError(f"unknown labels {sorted(unknown)}; choose from {LABELS}")
    moves = np.ascontiguousarray(moves, dtype=np.int8)
    if moves.ndim != 2:
        raise ValueError(f"moves must be [games, plies], got shape {moves.shape}")
    G, T = moves.shape

    def out(name: str, shape: tuple[int, ...], dtype: type) -> np.ndarray:
        return np.empty(shape if name in labels else (0,) + shape[1:], dtype=dtype)

    arrays = {
        "boards": out("boards", (G, T, 64), np.int8),
        "next_mover": out("next_mover", (G, T), np.int8),
        "legal": out("legal", (G, T, 64), np.bool_),
        "flipped": out("flipped", (G, T, 64), np.bool_),
        "passed": out("passed", (G, T), np.bool_),
    }
    error_ply = np.empty(G, dtype=np.int32)
    error_code = np.empty(G, dtype=np.int8)
    kernels.replay(
        moves,
        arrays["boards"],
        arrays["next_mover"],
        arrays["legal"],
        arrays["flipped"],
        arrays["passed"],
        error_ply,
        error_code,
    )
    lengths = game_lengths(moves)
    result = Replay(moves=moves, lengths=lengths, **{k: (v if k in labels else None) for k, v in arrays.items()})
    return result, error_ply, error_code


def pad_games(games: Sequence[Sequence[int]]) -> np.ndarray:
    """Move lists (squares, up to 60 each) -> a move array ``[G, 60]`` int8, ``-1`` after each game's end."""
    out = np.full((len(games), MAX_PLIES), -1, dtype=np.int8)
    for i, g in enumerate(games):
        out[i, : len(g)] = g
    return out


def game_lengths(moves: np.ndarray) -> np.ndarray:
    """Number of moves of each game ``[G]`` (moves before the first -1)."""
    moves = np.asarray(moves)
    ended = moves < 0
    return np.where(ended.any(axis=1), ended.argmax(axis=1), moves.shape[1]).astype(np.int64)


def perft(depth: int) -> int:
    """Move sequences of length ``depth`` from the start position, a forced pass counted as a move.

    The count runs in a worker thread (the compiled kernel releases the GIL) while this thread waits in short
    steps, so Ctrl-C or SIGTERM stops a deep count (depth 14 takes hours) within a tenth of a second instead of
    being held until the kernel returns."""
    import threading

    if depth < 0:
        raise ValueError("depth must be non-negative")
    result: list[int] = []
    worker = threading.Thread(target=lambda: result.append(int(kernels.perft(depth))), daemon=True)
    worker.start()
    while worker.is_alive():
        worker.join(0.1)
    if not result:
        raise RuntimeError(f"perft({depth}) ended without a count")
    return result[0]


def pass_counts(moves: np.ndarray) -> np.ndarray:
    """Number of passes in each game ``[G]``."""
    return replay(moves, ("passed",)).passed.sum(axis=1)
