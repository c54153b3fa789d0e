"""Import real games: WTHOR ``.wtb`` archives, liveothello-style PGN, and text/CSV with one game per line.

Every game is checked by replay. A bad game raises ``ImportError_`` naming the file, the game (from 0 in
that file) and the ply (from 1), or, with ``skip_invalid``, is left out and reported in the result.
"""

from __future__ import annotations

import json
import os
import re
import struct
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from othello.engine.games import MAX_PLIES, check_games, describe_error, pad_games
from othello.engine.notation import InvalidMoveError, parse_moves
from othello.errors import OthelloError

WTHOR_HEADER = 16
WTHOR_RECORD = 68
JOU_RECORD = 20
TRN_RECORD = 26


class GameImportError(OthelloError):
    """A source file or game that cannot be imported; the message names the file, game and ply."""


@dataclass
class ImportedGames:
    """Games read from one or more sources: moves [games, 60] int8 plus per-game metadata."""

    moves: np.ndarray
    metadata: dict[str, np.ndarray] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)  # one message per game left out
    files: list[str] = field(default_factory=list)


def _names(path: Path, record: int) -> list[str]:
    data = path.read_bytes()
    if len(data) < WTHOR_HEADER:
        raise GameImportError(f"{path}: truncated header ({len(data)} bytes, need {WTHOR_HEADER})")
    n = struct.unpack_from("<H", data, 8)[0]
    if len(data) < WTHOR_HEADER + n * record:
        raise GameImportError(f"{path}: header says {n} names of {record} bytes but the file holds {len(data)} bytes")
    return [
        data[WTHOR_HEADER + i * record : WTHOR_HEADER + (i + 1) * record].split(b"\0")[0].decode("latin-1").strip()
        for i in range(n)
    ]


def _wthor_square(code: int) -> int:
    row, col = divmod(code, 10)
    if not (1 <= row <= 8 and 1 <= col <= 8):
        return 64  # off the board: the replay check reports it
    return (row - 1) * 8 + col - 1


_WTHOR_TABLE = np.array([_wthor_square(c) if c else -1 for c in range(256)], dtype=np.int16)


def read_wthor(
    path: str | os.PathLike, players: list[str] | None = None, tournaments: list[str] | None = None
) -> ImportedGames:
    """One ``.wtb`` file: 16-byte header (game count at bytes 4..7, year at 10..11), then 68-byte records:
    tournament, black and white player ids (uint16), black's score and theoretical score, 60 move bytes
    coded ``10 * row + column`` (both from 1; 0 = no move)."""
    path = Path(path)
    data = path.read_bytes()
    if len(data) < WTHOR_HEADER:
        raise GameImportError(f"{path}: truncated WTHOR header ({len(data)} bytes, need {WTHOR_HEADER})")
    n = struct.unpack_from("<I", data, 4)[0]
    year = struct.unpack_from("<H", data, 10)[0]
    size = data[12]
    if size not in (0, 8):
        raise GameImportError(f"{path}: board size {size} in the header; only 8x8 games are supported")
    expected = WTHOR_HEADER + n * WTHOR_RECORD
    if len(data) < expected:
        complete = (len(data) - WTHOR_HEADER) // WTHOR_RECORD
        raise GameImportError(
            f"{path}: truncated: the header says {n} games ({expected} bytes) but the file has "
            f"{len(data)} bytes; game {complete} is incomplete"
        )
    records = np.frombuffer(data, dtype=np.uint8, count=n * WTHOR_RECORD, offset=WTHOR_HEADER).reshape(n, WTHOR_RECORD)
    ids = records[:, :6].copy().view("<u2")
    moves = _WTHOR_TABLE[records[:, 8 : 8 + MAX_PLIES]]
    # a zero byte ends the game; anything after it must also be zero
    moves = moves.astype(np.int8)
    metadata = {"year": np.full(n, year, dtype=np.int16), "black_score": records[:, 6].astype(np.int8)}
    if players is not None:
        metadata["black_player"] = np.array([_lookup(players, i) for i in ids[:, 1]], dtype=object)
        metadata["white_player"] = np.array([_lookup(players, i) for i in ids[:, 2]], dtype=object)
    if tournaments is not None:
        metadata["tournament"] = np.array([_lookup(tournaments, i) for i in ids[:, 0]], dtype=object)
    return ImportedGames(moves=moves, metadata=metadata, files=[str(path)])


def _lookup(names: list[str], index: int) -> str:
    return names[index] if index < len(names) else f"#{index}"


def read_text(path: str | os.PathLike) -> ImportedGames:
    """One game per line (``f5 d6 c3 ...``, ``F5D6C3...``, or a CSV whose last field holds the moves).
    Blank lines and lines starting with ``#`` are ignored; a CSV header line without moves is skipped."""
    path = Path(path)
    games: list[list[int]] = []
    for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        try:
            squares = _parse_line(text)
        except InvalidMoveError as error:
            if not games and number == 1:
                continue  # a header line
            raise GameImportError(f"{path}: game {len(games)} (line {number}): {error}") from None
        if len(squares) > MAX_PLIES:
            raise GameImportError(
                f"{path}: game {len(games)} (line {number}): {len(squares)} moves, at most {MAX_PLIES}"
            )
        games.append(squares)
    return ImportedGames(moves=pad_games(games), files=[str(path)])


def _parse_line(text: str) -> list[int]:
    """A text line, or a CSV row whose last field holds the moves."""
    if "," in text:
        try:
            return parse_moves(text.rsplit(",", 1)[1])
        except InvalidMoveError:
            pass
    return parse_moves(text)


_PGN_TAG = re.compile(r'^\[(\w+)\s+"(.*)"\]\s*$')


def read_pgn(path: str | os.PathLike) -> ImportedGames:
    """liveothello-style PGN: ``[Tag "value"]`` headers, then numbered moves (``1. f5 d6 2. c3 ...``)."""
    path = Path(path)
    games: list[list[int]] = []
    black, white = [], []
    tags: dict[str, str] = {}
    body: list[str] = []
    empty: list[str] = []  # entries without a move (liveothello's "1. *"): not games, counted as skipped
    entries = 0

    def finish() -> None:
        nonlocal entries
        if not body and not tags:
            return
        entries += 1
        text = " ".join(body)
        text = re.sub(r"\{[^}]*\}|\([^)]*\)", " ", text)  # comments and variations
        text = re.sub(r"\b\d+\.(\.\.)?", " ", text)  # move numbers
        text = re.sub(r"(1-0|0-1|1/2-1/2|\*|\d+-\d+)\s*$", " ", text.strip())  # result
        try:
            squares = parse_moves(text)
        except InvalidMoveError as error:
            raise GameImportError(f"{path}: game {len(games)}: {error}") from None
        if squares:
            games.append(squares)
            black.append(tags.get("Black", ""))
            white.append(tags.get("White", ""))
        else:
            empty.append(f"{path}: entry {entries - 1} (game {len(games)} would be next): no moves, not a game")
        tags.clear()
        body.clear()

    for line in path.read_text(errors="replace").splitlines():
        match = _PGN_TAG.match(line.strip())
        if match:
            if body:
                finish()
            tags[match.group(1)] = match.group(2)
        elif line.strip():
            body.append(line.strip())
    finish()
    return ImportedGames(
        moves=pad_games(games),
        files=[str(path)],
        metadata={"black_player": np.array(black, dtype=object), "white_player": np.array(white, dtype=object)},
        skipped=empty,
    )


def read_source(path: str | os.PathLike) -> ImportedGames:
    """Read one file by its extension: ``.wtb``, ``.pgn``, or text (anything else). WTHOR.JOU and
    WTHOR.TRN beside a ``.wtb`` file supply player and tournament names."""
    path = Path(path)
    if not path.exists():
        raise GameImportError(f"{path}: no such file")
    suffix = path.suffix.lower()
    if suffix == ".wtb":
        jou = _sibling(path, "WTHOR.JOU")
        trn = _sibling(path, "WTHOR.TRN")
        return read_wthor(path, _names(jou, JOU_RECORD) if jou else None, _names(trn, TRN_RECORD) if trn else None)
    if suffix == ".pgn":
        return read_pgn(path)
    return read_text(path)


def _sibling(path: Path, name: str) -> Path | None:
    for candidate in path.parent.iterdir():
        if candidate.name.upper() == name:
            return candidate
    return None


def import_games(
    sources: Sequence[str | os.PathLike], skip_invalid: bool = False, progress: bool = False
) -> ImportedGames:
    """Read and validate every game of ``sources``; bad games raise, or are left out with ``skip_invalid``.
    Entries without a move (a PGN ``1. *``) are no games: they are left out and counted in ``skipped``."""
    paths: list[Path] = []
    for s in sources:
        p = Path(s)
        if p.is_dir():
            paths.extend(sorted(q for q in p.iterdir() if q.suffix.lower() in (".wtb", ".pgn", ".txt", ".csv")))
        else:
            paths.append(p)
    if not paths:
        raise GameImportError(f"no game files in {', '.join(map(str, sources))}")
    parts = [read_source(p) for p in tqdm(paths, desc="import", unit="file", disable=not progress)]
    keep_all, moves_all, skipped = [], [], []
    for part, path in zip(parts, paths):
        skipped.extend(part.skipped)
        error_ply, error_code = check_games(part.moves)
        bad = np.flatnonzero(error_ply >= 0)
        messages = {
            int(g): describe_error(part.moves[g], int(error_ply[g]), int(error_code[g]), str(path), int(g)) for g in bad
        }
        if messages and not skip_invalid:
            first = min(messages)
            raise GameImportError(
                messages[first]
                + (
                    f" (and {len(messages) - 1} more bad games; --skip-invalid keeps the rest)"
                    if len(messages) > 1
                    else " (--skip-invalid keeps the other games)"
                )
            )
        keep = np.ones(len(part.moves), dtype=bool)
        keep[list(messages)] = False
        skipped.extend(messages[g] for g in sorted(messages))
        keep_all.append(keep)
        moves_all.append(part.moves[keep])
    fields = set.intersection(*(set(p.metadata) for p in parts)) if parts else set()
    metadata = {f: np.concatenate([p.metadata[f][k] for p, k in zip(parts, keep_all)]) for f in fields}
    return ImportedGames(
        moves=np.concatenate(moves_all) if moves_all else np.empty((0, MAX_PLIES), np.int8),
        metadata=metadata,
        skipped=skipped,
        files=[str(p) for p in paths],
    )


def import_to_file(
    sources: Sequence[str | os.PathLike],
    out: str | os.PathLike,
    source: str = "imported",
    skip_invalid: bool = False,
    progress: bool = False,
) -> ImportedGames:
    """``import_games`` and write the games (with their metadata, the files read and the count skipped) to the
    HDF5 game file ``out``; returns what was imported."""
    from othello.data.datasets import write_games

    games = import_games(sources, skip_invalid=skip_invalid, progress=progress)
    write_games(
        out,
        games.moves,
        source=source,
        metadata=games.metadata,
        attrs={"files": json.dumps([Path(f).name for f in games.files]), "skipped": len(games.skipped)},
    )
    return games
