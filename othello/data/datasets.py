"""Game datasets in HDF5: writing, reading many files as one, seeded generation, splits, summaries.

File layout (format version 1):

- ``moves``: int8 ``[games, 60]``, square indices 0..63 in play order, -1 after the game's end;
  chunked and gzip-compressed.
- optional per-game metadata datasets of length ``games`` (imports): ``black_player``, ``white_player``,
  ``tournament`` (strings), ``year`` (int16), ``black_score`` (int8, the score recorded in the source).
- ``attrs``: ``format_version``, ``source``, ``count`` and what made the file (``seed``, ``first_game``,
  ``generator`` for synthetic data; ``files`` for imports; ``created``, ``created_by``).

Labels (boards, legal moves, ...) are not stored: ``othello.engine.games.replay`` derives them from ``moves``.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import h5py
import numpy as np
from tqdm.auto import tqdm

from othello import __version__
from othello.engine.games import MAX_PLIES, check_games, describe_error, game_lengths, random_games, set_workers
from othello.errors import OthelloError
from othello.files import atomic_path, check_free_space, refuse_overwriting_inputs, writer_lock

FORMAT_VERSION = 1
GENERATOR = "splitmix64-uniform-v1"  # bump when the random stream changes: files of two generators never mix
CHUNK_GAMES = 8192
METADATA_FIELDS = ("black_player", "white_player", "tournament", "year", "black_score")
SPLITS = {"train": 0.9, "val": 0.05, "test": 0.05}


# what each dataset holds, written beside it as its "encoding" attribute, so that a reader without this package
# (h5py, pandas, another language) can use the file
ENCODINGS: dict[str, str] = {
    "moves": "int8 [games, 60]: the game's moves in order, each a square index row * 8 + col (a1 = 0, h1 = 7, "
    "a8 = 56, h8 = 63; row = the digit - 1, col = the letter a..h), -1 after the game's last move; passes are not "
    "written (a player with no legal move is skipped)",
    "boards": "int8 [games, 60, 64]: the board after move t (entry t follows moves[:, t]); per square "
    "(row * 8 + col) 0 empty, 1 black, 2 white; after the last move the final board repeats",
    "next_mover": "int8 [games, 60]: who plays move t + 1 (1 black, 2 white, passes taken into account), 0 once the "
    "game is over",
    "legal": "bool [games, 60, 64]: the squares (row * 8 + col) where the next mover may play after move t",
    "flipped": "bool [games, 60, 64]: the discs move t turned over",
    "passed": "bool [games, 60]: the player after the mover of move t had no legal move and passed",
    "black_player": "string [games]: the black player's name (empty where the source gives none)",
    "white_player": "string [games]: the white player's name (empty where the source gives none)",
    "tournament": "string [games]: the tournament's name (empty where the source gives none)",
    "year": "int32 [games]: the year of the game's tournament (WTHOR header; 0 where the source gives none)",
    "black_score": "int8 [games]: black's disc count at the end, as the WTHOR record gives it (0 where the source "
    "gives none)",
}


def describe(dataset: h5py.Dataset, name: str | None = None) -> None:
    """Write ``ENCODINGS[name]`` (by default the dataset's own name) as the dataset's ``encoding`` attribute."""
    dataset.attrs["encoding"] = ENCODINGS[name or dataset.name.rsplit("/", 1)[-1]]


class DatasetError(OthelloError):
    """A dataset file that cannot be read or used as asked (corrupt, wrong format, overlapping files)."""


def _dataset_kwargs(n_games: int) -> dict[str, Any]:
    return dict(
        chunks=(min(CHUNK_GAMES, max(1, n_games)), MAX_PLIES),
        compression="gzip",
        compression_opts=1,
        shuffle=True,
        maxshape=(None, MAX_PLIES),
    )


def _base_attrs(source: str) -> dict[str, Any]:
    return {
        "format_version": FORMAT_VERSION,
        "source": source,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "created_by": f"othello-gpt {__version__}",
    }


def write_games(
    path: str | os.PathLike,
    moves: np.ndarray,
    source: str,
    attrs: dict[str, Any] | None = None,
    metadata: dict[str, np.ndarray] | None = None,
) -> Path:
    """Validate ``moves`` [games, 60] by replay and write them (with optional per-game metadata) atomically."""
    moves = np.ascontiguousarray(moves, dtype=np.int8)
    if moves.ndim != 2 or moves.shape[1] != MAX_PLIES:
        raise DatasetError(f"moves must be [games, {MAX_PLIES}], got {moves.shape}")
    error_ply, error_code = check_games(moves)
    bad = np.flatnonzero(error_ply >= 0)
    if bad.size:
        g = int(bad[0])
        raise DatasetError(describe_error(moves[g], int(error_ply[g]), int(error_code[g]), f"writing {path}", g))
    check_free_space(path, moves.nbytes)
    with atomic_path(path) as tmp, open_for_writing(tmp, "w") as f:
        describe(f.create_dataset("moves", data=moves, **_dataset_kwargs(len(moves))))
        for name, values in (metadata or {}).items():
            if name not in METADATA_FIELDS:
                raise DatasetError(f"unknown metadata field {name!r}; expected one of {METADATA_FIELDS}")
            values = np.asarray(values)
            if len(values) != len(moves):
                raise DatasetError(f"metadata {name!r} has {len(values)} rows for {len(moves)} games")
            if values.dtype.kind in "USO":
                describe(f.create_dataset(name, data=values.astype(object), dtype=h5py.string_dtype()))
            else:
                describe(f.create_dataset(name, data=values))
        f.attrs.update({**_base_attrs(source), **(attrs or {}), "count": len(moves)})
    return Path(path)


def resolve_paths(spec: str | os.PathLike | Sequence[str | os.PathLike]) -> list[Path]:
    """A path, a glob (``"data/shard-*.h5"``) or a list of either -> the files, in a stable order."""
    items = [spec] if isinstance(spec, (str, os.PathLike)) else list(spec)
    paths: list[Path] = []
    for item in items:
        text = str(item)
        if any(c in text for c in "*?["):
            found = sorted(glob.glob(text))
            if not found:
                raise FileNotFoundError(f"no file matches {text!r}")
            paths.extend(Path(p) for p in found)
        else:
            if not Path(text).exists():
                raise FileNotFoundError(f"no such dataset file: {text}")
            paths.append(Path(text))
    return paths


# HDF5 handles of a write that failed (a full disk), kept for the life of the process: see open_for_writing
_ABANDONED: list[Any] = []


@contextlib.contextmanager
def open_for_writing(path: str | os.PathLike, mode: str) -> Iterator[h5py.File]:
    """``h5py.File`` opened for writing, whose handles are abandoned if the block fails.

    After a write fails for want of space, HDF5 still holds unwritten chunks and metadata; freeing any handle of
    that file (the file, or a dataset the caller's frame still holds) flushes them, fails again, and HDF5 ends the
    process with a segmentation fault, after the clean error was printed. So on failure every open handle of the
    file gets one more reference, held here, and nothing is flushed or freed: the caller's objects can go, the
    temporary file is removed by ``atomic_path``, the old file is intact. The command line then ends with
    ``os._exit`` (``othello.cli.entry.run``), before the interpreter's teardown would free them."""
    f = h5py.File(path, mode)
    try:
        yield f
        f.flush()  # what the block left in HDF5's caches, written here, where a failure can still be caught
    except BaseException:
        _ABANDONED.append([f, *h5py.h5f.get_obj_ids(f.id)])
        raise
    f.close()


def _open(path: Path) -> h5py.File:
    try:
        f = h5py.File(path, "r")
    except OSError as error:
        raise DatasetError(f"{path}: not a readable HDF5 file ({error})") from None
    expected = f"a game file holds 'moves', int8 [games, {MAX_PLIES}] (squares row * 8 + col, -1 after the end)"
    if "moves" not in f:
        f.close()
        raise DatasetError(f"{path}: no 'moves' dataset; {expected}")
    link = f.get("moves", getlink=True)
    if not isinstance(link, h5py.HardLink):  # a soft or external link: it may loop, dangle or leave the file
        f.close()
        raise DatasetError(f"{path}: 'moves' is a {type(link).__name__}, not the dataset itself; {expected}")
    moves = f["moves"]
    if not isinstance(moves, h5py.Dataset):
        f.close()
        raise DatasetError(f"{path}: 'moves' is a group, not a dataset; {expected}")
    if moves.ndim != 2 or moves.shape[1] != MAX_PLIES or moves.dtype != np.int8:
        found = f"{moves.dtype} {list(moves.shape)}"  # read before the file closes
        f.close()
        raise DatasetError(f"{path}: 'moves' is {found}; {expected}")
    try:
        version = int_attr(f.attrs, "format_version", path, default=-1)
    except DatasetError:
        f.close()
        raise
    if version > FORMAT_VERSION:
        f.close()
        raise DatasetError(f"{path}: format version {version} is newer than this othello-gpt reads ({FORMAT_VERSION})")
    return f


_REQUIRED = object()


def int_attr(attrs: Any, name: str, path: str | os.PathLike, default: Any = _REQUIRED) -> int:
    """The whole-number attribute ``name`` of a game file (``format_version``, ``seed``, ``first_game``, ``count``):
    missing -> ``default`` (or a ``DatasetError`` when there is none), of another type or not whole -> a
    ``DatasetError`` naming the file, the attribute and the value."""
    if name not in attrs:
        if default is _REQUIRED:
            raise DatasetError(f"{path}: the attribute {name!r} is missing")
        return default
    value = attrs[name]
    if isinstance(value, np.ndarray) and value.shape == ():
        value = value.item()
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer, float, np.floating)):
        raise DatasetError(f"{path}: the attribute {name!r} is {value!r}, not a whole number")
    if not np.isfinite(value) or float(value) != int(value):
        raise DatasetError(f"{path}: the attribute {name!r} is {value!r}, not a whole number")
    return int(value)


def _check_moves(moves: np.ndarray, path: Path, first_game: int) -> None:
    """Replay games read from ``path`` (cheap) so that a damaged or hand-made file is never trained or scored on:
    the first bad game is named by file, game (its row in the file) and ply."""
    below = np.argwhere(moves < -1)
    if below.size:
        g, ply = (int(x) for x in below[0])
        raise DatasetError(
            f"{path}: game {first_game + g}, ply {ply + 1}: value {moves[g, ply]} is neither a square (0..63) nor the "
            "end marker -1"
        )
    error_ply, error_code = check_games(moves)
    bad = np.flatnonzero(error_ply >= 0)
    if bad.size:
        g = int(bad[0])
        raise DatasetError(describe_error(moves[g], int(error_ply[g]), int(error_code[g]), str(path), first_game + g))


class GameFiles:
    """Several game files read as one dataset, streamed: only the rows asked for are read.

    ```python
    games = GameFiles("data/synthetic-*.h5")
    len(games), games.moves(0, 10).shape
    ```
    """

    def __init__(self, spec: str | os.PathLike | Sequence[str | os.PathLike]) -> None:
        self.paths = resolve_paths(spec)
        self._files = [_open(p) for p in self.paths]
        self.counts = np.array([f["moves"].shape[0] for f in self._files], dtype=np.int64)
        self.offsets = np.concatenate([[0], np.cumsum(self.counts)])
        self._check_no_overlap()

    def _check_no_overlap(self) -> None:
        seen: dict[tuple[str, int], list[tuple[int, int, Path]]] = {}
        for f, path, n in zip(self._files, self.paths, self.counts):
            if f.attrs.get("source") == "synthetic" and "seed" in f.attrs:
                key = (str(f.attrs.get("generator")), int_attr(f.attrs, "seed", path))
                start = int_attr(f.attrs, "first_game", path, default=0)
                for a, b, other in seen.get(key, []):
                    if start < b and a < start + n:
                        raise DatasetError(
                            f"{path} and {other} hold the same games of seed {key[1]} "
                            f"(games {max(a, start)}..{min(b, start + n) - 1}): shards must be disjoint"
                        )
                seen.setdefault(key, []).append((start, start + int(n), path))

    def __len__(self) -> int:
        return int(self.offsets[-1])

    @property
    def attrs(self) -> list[dict[str, Any]]:
        return [dict(f.attrs) for f in self._files]

    def _read(self, name: str, start: int, stop: int) -> np.ndarray:
        parts = []
        for i, f in enumerate(self._files):
            a, b = max(start, self.offsets[i]), min(stop, self.offsets[i + 1])
            if a < b:
                if name not in f:
                    raise DatasetError(f"{self.paths[i]}: no {name!r} dataset")
                try:
                    part = f[name][a - self.offsets[i] : b - self.offsets[i]]
                except OSError as error:
                    raise DatasetError(
                        f"{self.paths[i]}: cannot read {name!r} rows {a - self.offsets[i]}.."
                        f"{b - self.offsets[i] - 1} ({error})"
                    ) from None
                if name == "moves":
                    _check_moves(part, self.paths[i], int(a - self.offsets[i]))
                parts.append(part)
        if not parts:
            return np.empty((0, MAX_PLIES), dtype=np.int8) if name == "moves" else np.empty(0)
        return np.concatenate(parts)

    def moves(self, start: int = 0, stop: int | None = None) -> np.ndarray:
        """Moves ``[stop - start, 60]`` int8 of games ``start .. stop - 1`` (all by default)."""
        stop = len(self) if stop is None else min(stop, len(self))
        return self._read("moves", start, stop)

    def metadata(self, name: str, start: int = 0, stop: int | None = None) -> np.ndarray:
        """One per-game metadata field (see ``METADATA_FIELDS``) for games ``start .. stop - 1``."""
        stop = len(self) if stop is None else min(stop, len(self))
        values = self._read(name, start, stop)
        return values.astype(str) if values.dtype == object else values

    def iter_batches(self, batch_size: int, start: int = 0, stop: int | None = None) -> Iterator[np.ndarray]:
        """Consecutive move batches ``[<= batch_size, 60]``; memory stays at one batch."""
        stop = len(self) if stop is None else min(stop, len(self))
        for a in range(start, stop, batch_size):
            yield self.moves(a, min(a + batch_size, stop))

    def close(self) -> None:
        for f in self._files:
            f.close()

    def __enter__(self) -> GameFiles:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def load_moves(
    spec: str | os.PathLike | Sequence[str | os.PathLike], split: str | None = None, limit: int | None = None
) -> np.ndarray:
    """All moves of a dataset (optionally one split of it, optionally only the first ``limit`` games). With a
    ``limit`` only as many games are read as it takes: a file whose header declares a billion games costs what is
    asked, not what it declares."""
    with GameFiles(spec) as games:
        if limit is None:
            moves = games.moves()
            return moves if split is None else moves[split_mask(moves, split)]
        kept: list[np.ndarray] = []
        found = 0
        for batch in games.iter_batches(max(limit, 4096)):
            if split is not None:
                batch = batch[split_mask(batch, split)]
            kept.append(batch[: limit - found])
            found += len(kept[-1])
            if found >= limit:
                break
    return np.concatenate(kept) if kept else np.empty((0, MAX_PLIES), np.int8)


def split_of(moves: np.ndarray, fractions: dict[str, float] = SPLITS) -> np.ndarray:
    """Split index ``[games]`` (0 = train, 1 = val, 2 = test, in ``fractions`` order) from a hash of each game.

    A game's split depends only on its moves, so splits never overlap, stay the same when a dataset grows
    or is reordered, and a game that appears twice always lands in the same split.
    """
    moves = np.asarray(moves)
    h = np.full(len(moves), 0xCBF29CE484222325, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for t in range(moves.shape[1]):
            h = (h ^ (moves[:, t].astype(np.int64) + 2).astype(np.uint64)) * np.uint64(0x100000001B3)
        h ^= h >> np.uint64(29)
        h *= np.uint64(0xBF58476D1CE4E5B9)
        h ^= h >> np.uint64(32)
    u = (h >> np.uint64(11)).astype(np.float64) / float(1 << 53)
    edges = np.cumsum(list(fractions.values()))
    if not np.isclose(edges[-1], 1.0):
        raise DatasetError(f"split fractions must add up to 1, got {dict(fractions)}")
    return np.searchsorted(edges[:-1], u, side="right").astype(np.int8)


def split_mask(moves: np.ndarray, split: str, fractions: dict[str, float] = SPLITS) -> np.ndarray:
    """Boolean mask ``[games]`` of the games in ``split`` (``"train"``, ``"val"``, ``"test"``)."""
    names = list(fractions)
    if split not in names:
        raise DatasetError(f"unknown split {split!r}; expected one of {names}")
    return split_of(moves, fractions) == names.index(split)


def parse_shard(text: str) -> tuple[int, int]:
    """``"I/N"`` -> (I, N), with 0 <= I < N."""
    try:
        i, n = (int(x) for x in text.split("/"))
    except ValueError:
        raise DatasetError(f"invalid shard {text!r}: expected I/N, like 0/4") from None
    if not 0 <= i < n:
        raise DatasetError(f"invalid shard {text!r}: need 0 <= I < N")
    return i, n


def generate(
    out: str | os.PathLike,
    games: int,
    seed: int,
    workers: int | None = None,
    shard: tuple[int, int] = (0, 1),
    append: bool = False,
    batch: int = 100_000,
    progress: bool = True,
) -> Path:
    """Write uniformly random legal games of the stream ``seed`` to ``out``.

    ``shard=(I, N)`` writes the I-th of N disjoint contiguous parts of the stream's first ``games`` games.
    ``append=True`` adds ``games`` more games to an existing synthetic file, continuing its stream where it
    stopped. The file is written under a temporary name and renamed when complete.
    """
    out = Path(out)
    i, n = shard
    first, count = i * games // n, (i + 1) * games // n - i * games // n
    # an append holds the file's lock from reading where its stream stopped to the rename, so that two appends
    # cannot both continue from the same game (the second is refused)
    with writer_lock(out) if append else contextlib.nullcontext():
        if append:
            if shard != (0, 1):
                raise DatasetError("append and shard cannot be combined")
            if not out.exists():
                raise FileNotFoundError(f"cannot append to {out}: no such file")
            with GameFiles(out) as existing:
                attrs, rows = existing.attrs[0], int(existing.counts[0])
            declared = int_attr(attrs, "count", out, default=rows)
            if declared != rows:
                raise DatasetError(
                    f"cannot append to {out}: its count attribute says {declared} games but it holds {rows} rows; "
                    "the file was changed by hand or torn, so where its stream stopped is unknown"
                )
            if (
                attrs.get("source") != "synthetic"
                or attrs.get("generator") != GENERATOR
                or int_attr(attrs, "seed", out) != seed
            ):
                raise DatasetError(
                    f"cannot append seed {seed} games to {out}: it holds "
                    f"{attrs.get('source')} games (seed {attrs.get('seed')}, generator {attrs.get('generator')})"
                )
            first, count = int_attr(attrs, "first_game", out) + declared, games
        set_workers(workers)
        # about 46 bytes a game once compressed (measured); the raw 60 bytes as the bound, plus an append's copy
        check_free_space(out, 60 * count + (out.stat().st_size if append else 0))
        with atomic_path(out) as tmp:
            if append:
                shutil.copyfile(out, tmp)
            with open_for_writing(tmp, "a" if append else "w") as f:
                if append:
                    dset = f["moves"]
                    written = dset.shape[0]
                    # stored labels cover the old games only: drop them rather than leave them beside a count they
                    # do not cover (othello-gpt labels stores them again)
                    for name in str(f.attrs.get("labels", "")).split(","):
                        if name and name in f:
                            del f[name]
                    if "labels" in f.attrs:
                        del f.attrs["labels"]
                else:
                    dset = f.create_dataset("moves", shape=(0, MAX_PLIES), dtype=np.int8, **_dataset_kwargs(count))
                    describe(dset)
                    f.attrs.update(
                        {**_base_attrs("synthetic"), "seed": seed, "generator": GENERATOR, "first_game": first}
                    )
                    written = 0
                with tqdm(total=count, unit="game", desc=f"generate {out.name}", disable=not progress) as bar:
                    for a in range(0, count, batch):
                        moves = random_games(min(batch, count - a), seed, first + a)
                        dset.resize(written + len(moves), axis=0)
                        dset[written:] = moves
                        written += len(moves)
                        bar.update(len(moves))
                f.attrs["count"] = written
    return out


def store_labels(
    path: str | os.PathLike,
    labels: Sequence[str] = ("boards", "next_mover", "legal"),
    batch: int = 50_000,
    progress: bool = True,
) -> Path:
    """Add replayed label datasets (``boards`` [games, 60, 64] int8, ``next_mover``, ``legal``, ``flipped``,
    ``passed``; see ``othello.engine.games.Replay``) to a game file, for readers outside this package. The file is
    rewritten under a temporary name and renamed when complete; labels already present are replaced."""
    from othello.engine.games import LABELS, replay

    path = Path(path)
    unknown = set(labels) - set(LABELS)
    if unknown:
        raise DatasetError(f"unknown labels {sorted(unknown)}; choose from {LABELS}")
    with GameFiles(path) as games:
        n = len(games)
    with atomic_path(path) as tmp, writer_lock(path):
        shutil.copyfile(path, tmp)
        with open_for_writing(tmp, "a") as f:
            moves = f["moves"]
            for name in labels:
                if name in f:
                    del f[name]
            out = {}
            for name in labels:
                shape = (n, MAX_PLIES, 64) if name in ("boards", "legal", "flipped") else (n, MAX_PLIES)
                dtype = np.int8 if name in ("boards", "next_mover") else np.bool_
                out[name] = f.create_dataset(
                    name,
                    shape=shape,
                    dtype=dtype,
                    compression="gzip",
                    compression_opts=1,
                    chunks=(min(1024, max(1, n)),) + shape[1:],
                )
                describe(out[name])
            with tqdm(total=n, unit="game", desc=f"labels {path.name}", disable=not progress) as bar:
                for a in range(0, n, batch):
                    r = replay(moves[a : a + batch], tuple(labels), source=str(path), first_game=a)
                    for name in labels:
                        out[name][a : a + batch] = getattr(r, name)
                    bar.update(min(batch, n - a))
            f.attrs["labels"] = ",".join(labels)
    return path


def summary(spec: str | os.PathLike | Sequence[str | os.PathLike]) -> dict[str, Any]:
    """Counts, length histogram, passes and the files' provenance, as a JSON-ready dict."""
    from othello.engine.games import pass_counts

    with GameFiles(spec) as games:
        lengths = np.zeros(MAX_PLIES + 1, dtype=np.int64)
        with_pass = 0
        for moves in games.iter_batches(200_000):
            lengths += np.bincount(game_lengths(moves), minlength=MAX_PLIES + 1)
            with_pass += int((pass_counts(moves) > 0).sum())
        total = len(games)
        mean = float((np.arange(MAX_PLIES + 1) * lengths).sum() / max(total, 1))
        return {
            "files": [str(p) for p in games.paths],
            "games": total,
            "mean_length": mean,
            "full_length_fraction": float(lengths[MAX_PLIES] / max(total, 1)),
            "with_pass_fraction": with_pass / max(total, 1),
            "length_histogram": {str(k): int(v) for k, v in enumerate(lengths) if v},
            "attrs": [
                {
                    k: (v.item() if hasattr(v, "item") else str(v) if not isinstance(v, (int, float, str)) else v)
                    for k, v in a.items()
                }
                for a in games.attrs
            ],
        }


def export_text(spec: str | os.PathLike | Sequence[str | os.PathLike], out: str | os.PathLike) -> int:
    """Write the games of ``spec`` to the text file ``out``, one per line (``"f5 d6 c3 ..."``), atomically;
    returns the number of games."""
    from othello.engine.notation import moves_to_string

    refuse_overwriting_inputs(out, resolve_paths(spec))
    with GameFiles(spec) as games, atomic_path(out) as tmp, open(tmp, "w") as f:
        for batch in games.iter_batches(100_000):
            for row in batch:
                f.write(moves_to_string(row) + "\n")
        return len(games)
