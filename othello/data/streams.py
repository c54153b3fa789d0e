"""Training streams: the games of each step, synthetic or from files, a function of the step alone.

Both streams give ``batch(step)`` (games ``[B, 60]`` of the train split) and ``eval_games(count)`` (games of the
validation split, which training never reads), so a run stopped and resumed sees the same games.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence

import numpy as np

from othello.data.datasets import DatasetError, GameFiles, split_mask
from othello.engine.games import random_games

__all__ = ["SyntheticStream", "FileStream", "make_stream"]


def _train_games(games: np.ndarray) -> np.ndarray:
    return games[split_mask(games, "train")]


def _validation_games(
    read: Callable[[int, int], np.ndarray], count: int, total: int | None = None, chunk: int = 50_000
) -> np.ndarray:
    """The first ``count`` validation-split games of a source read in chunks by ``read(start, n)``
    (stopping at ``total`` games when the source is finite)."""
    out, found, start = [], 0, 0
    while found < count and (total is None or start < total):
        games = read(start, chunk)
        out.append(games[split_mask(games, "val")])
        found += len(out[-1])
        start += chunk
    if not found:
        raise DatasetError("the data holds no validation-split game to evaluate on")
    return np.concatenate(out)[:count]


class SyntheticStream:
    """Fresh random games for every step, from the training split of one seeded stream.

    Step ``s`` of process ``rank`` reads stream games ``[(s * world + rank) * 2B, +2B)`` and keeps the
    first ``B`` of the train split, so the data depends on the step alone (exact resume) and never holds
    a validation or test game.
    """

    def __init__(self, seed: int, batch_size: int, rank: int = 0, world: int = 1) -> None:
        self.seed, self.batch_size, self.rank, self.world = seed, batch_size, rank, world

    def batch(self, step: int) -> np.ndarray:
        block = 2 * self.batch_size
        games = random_games(block, self.seed, (step * self.world + self.rank) * block)
        return _train_games(games)[: self.batch_size]

    def eval_games(self, count: int) -> np.ndarray:
        """``count`` games of the validation split of the same stream (the trainer never sees them)."""
        return _validation_games(lambda start, n: random_games(n, self.seed, start), count)


class FileStream:
    """Training-split games of HDF5 files, streamed block by block in a seeded shuffled order.

    The dataset is read in blocks of ``block_games``; each epoch visits the blocks in a permuted order
    and shuffles the games within a block, both seeded by (seed, epoch), so the batch of a step is a
    function of the step alone. Memory holds one block. Opening the stream reads the files once, to count
    each block's training games.
    """

    def __init__(
        self,
        spec: str | Sequence[str | os.PathLike],
        batch_size: int,
        seed: int,
        rank: int = 0,
        world: int = 1,
        block_games: int = 65_536,
    ) -> None:
        self.files = GameFiles(spec.split(",") if isinstance(spec, str) and "," in spec else spec)
        self.batch_size, self.seed, self.rank, self.world = batch_size, seed, rank, world
        self.block_games = block_games
        n_blocks = math.ceil(len(self.files) / block_games)
        per_step = batch_size * world
        self.batches = np.array(
            [
                int(split_mask(self.files.moves(b * block_games, (b + 1) * block_games), "train").sum()) // per_step
                for b in range(n_blocks)
            ],
            dtype=np.int64,
        )
        if self.batches.sum() == 0:
            raise DatasetError(f"{spec}: fewer than {per_step} training games in every block; nothing to train on")
        self._cache: tuple[tuple[int, int], np.ndarray] | None = None

    def _block(self, epoch: int, b: int) -> np.ndarray:
        if self._cache is None or self._cache[0] != (epoch, b):
            games = _train_games(self.files.moves(b * self.block_games, (b + 1) * self.block_games))
            games = games[np.random.default_rng([self.seed, epoch, b]).permutation(len(games))]
            self._cache = ((epoch, b), games)
        return self._cache[1]

    def batch(self, step: int) -> np.ndarray:
        epoch, rest = divmod(step, int(self.batches.sum()))
        order = np.random.default_rng([self.seed, epoch]).permutation(len(self.batches))
        ends = np.cumsum(self.batches[order])
        i = int(np.searchsorted(ends, rest, side="right"))
        within = rest - (int(ends[i - 1]) if i else 0)
        games = self._block(epoch, int(order[i]))
        start = (within * self.world + self.rank) * self.batch_size
        return games[start : start + self.batch_size]

    def eval_games(self, count: int) -> np.ndarray:
        """Up to ``count`` games of the files' validation split (the trainer never sees them)."""
        return _validation_games(lambda start, n: self.files.moves(start, start + n), count, len(self.files))


def make_stream(
    data: str | Sequence[str | os.PathLike], seed: int, batch_size: int, rank: int = 0, world: int = 1
) -> SyntheticStream | FileStream:
    """``"synthetic"`` -> a ``SyntheticStream`` of stream ``seed``; file paths or a glob -> a ``FileStream``."""
    if data == "synthetic":
        return SyntheticStream(seed, batch_size, rank, world)
    return FileStream(data, batch_size, seed, rank, world)
