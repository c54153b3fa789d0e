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
from othello.engine.notation import InvalidMoveError, parse_moves, square_name
from othello.errors import OthelloError
from othello.files import refuse_overwriting_inputs

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
    invalid: dict[int, str] = field(default_factory=dict)  # game number in its file -> why it could not be read
    notes: list[str] = field(default_factory=list)  # what a reader decided that a user should see (a header line)
    numbers: np.ndarray | None = None  # each row's game number in its file, where rows were left out before it


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
    if len(data) > expected:
        extra = len(data) - expected
        records = f"{n + extra // WTHOR_RECORD} records" if extra % WTHOR_RECORD == 0 else f"{len(data)} bytes"
        raise GameImportError(
            f"{path}: the header says {n} games ({expected} bytes) but the file holds {records}: a damaged header "
            "or a damaged file; nothing imported from it"
        )
    if len(data) < expected:
        complete = (len(data) - WTHOR_HEADER) // WTHOR_RECORD
        raise GameImportError(
            f"{path}: truncated: the header says {n} games ({expected} bytes) but the file has "
            f"{len(data)} bytes; game {complete} is incomplete"
        )
    records = np.frombuffer(data, dtype=np.uint8, count=n * WTHOR_RECORD, offset=WTHOR_HEADER).reshape(n, WTHOR_RECORD)
    ids = records[:, :6].copy().view("<u2")
    codes = records[:, 8 : 8 + MAX_PLIES]
    moves = _WTHOR_TABLE[codes]
    first_bad: dict[int, int] = {}  # game -> its first byte that is no square
    for g, ply in zip(*np.nonzero(moves == 64)):
        first_bad.setdefault(int(g), int(ply))
    invalid = {
        g: f"{path}: game {g}, ply {ply + 1}: byte {codes[g, ply]} is not a square (WTHOR writes 10 * row + column, "
        "both 1..8)"
        for g, ply in first_bad.items()
    }
    bad = sorted(first_bad)
    # a zero byte ends the game; anything after it must also be zero (the replay check names a move after the end)
    moves = moves.astype(np.int8)
    metadata = {"year": np.full(n, year, dtype=np.int32), "black_score": records[:, 6].astype(np.int8)}
    if players is not None:
        metadata["black_player"] = np.array([_lookup(players, i) for i in ids[:, 1]], dtype=object)
        metadata["white_player"] = np.array([_lookup(players, i) for i in ids[:, 2]], dtype=object)
    if tournaments is not None:
        metadata["tournament"] = np.array([_lookup(tournaments, i) for i in ids[:, 0]], dtype=object)
    keep = np.ones(n, dtype=bool)
    keep[bad] = False
    return ImportedGames(
        moves=moves[keep],
        metadata={k: v[keep] for k, v in metadata.items()},
        files=[str(path)],
        invalid=invalid,
        numbers=np.flatnonzero(keep),
    )


def _lookup(names: list[str], index: int) -> str:
    return names[index] if index < len(names) else f"#{index}"


# a written pass: "pass", "PA" (WZebra) or "--"
_PASS = re.compile(r"(?i)(?<![a-z])(pass|pa)(?![a-z])|--")
# a square name anywhere in a field: what tells a line of moves from a header line
_SQUARE_IN_TEXT = re.compile(r"(?i)[a-h][1-8]")
# header names of the column that holds the moves
_MOVE_COLUMNS = ("moves", "game", "games", "transcript", "sequence", "movelist", "move_list", "pgn")
MAX_LINE = 10_000  # characters: a game is at most 60 moves of 2 letters (plus separators and a few other fields)


def read_game_text(text: str) -> list[int]:
    """One game's moves (``"f5 d6 c3"``, ``"F5D6C3"``) -> squares, with written passes checked: a pass written
    where the player to move has a legal move is an error (``InvalidMoveError``), as is a game without moves."""
    from othello.engine.board import Board

    parts = _PASS.split(text)  # segments of moves, with the captured pass token between them
    squares: list[int] = []
    passes: list[int] = []  # the number of moves before each written pass
    for i, segment in enumerate(parts[::2]):
        if i:
            passes.append(len(squares))
        squares += parse_moves(segment)
    if not squares:
        raise InvalidMoveError("no moves")
    if len(squares) > MAX_PLIES:
        raise InvalidMoveError(f"{len(squares)} moves; a game has at most {MAX_PLIES}")
    twice = sorted({k for k in passes if passes.count(k) > 1})
    if twice:  # after one side passes the other must have a move, or the game is over and nobody passes
        raise InvalidMoveError(f"two passes in a row are written after move {twice[0]}; Othello has no double pass")
    if passes:
        board = Board()
        for k, square in enumerate(squares + [None]):
            if k in passes and not board.must_pass():
                raise InvalidMoveError(
                    f"a pass is written after move {k}, where the player to move has legal moves "
                    f"({', '.join(square_name(q) for q in sorted(board.legal_moves)) or 'none: the game is over'})"
                )
            if square is None:
                break
            try:
                board.push(square)
            except OthelloError:
                break  # the replay check names an illegal move with its ply
    return squares


def _csv_columns(first: list[str]) -> tuple[bool, int | None]:
    """Whether the first CSV row is a header, and the moves column its names give (None: found from the data)."""
    names = [f.strip().lower() for f in first]
    for i, name in enumerate(names):
        if name in _MOVE_COLUMNS:
            return True, i
    # a header names its columns; a game line has a square name in its moves (also when mistyped: f5d6x3) or a
    # number (its id)
    return not any(_SQUARE_IN_TEXT.search(f) or f.strip().isdigit() for f in first), None


def _move_count(field_: str) -> int | None:
    """How many moves a field holds (None: it holds something else)."""
    try:
        return len(parse_moves(_PASS.sub(" ", field_)))
    except InvalidMoveError:
        return None


def _moves_column(fields: list[str]) -> int:
    """The column of a CSV row that holds the most moves (the game; other columns may hold one square, e.g. an
    opening's last move)."""
    best, column = -1, len(fields) - 1
    for i, field_ in enumerate(fields):
        n = _move_count(field_)
        if n is not None and n > best:
            best, column = n, i
    return column


def read_text(path: str | os.PathLike) -> ImportedGames:
    """One game per line (``f5 d6 c3 ...``, ``F5D6C3...``, passes written as ``pass`` checked), or a CSV: its first
    row is a header when it names the moves column (``moves``, ``game``, ``transcript``...) or holds no square name;
    the moves column is the named one, else the one holding the most moves in the first game. Blank lines and lines
    starting with ``#`` are ignored; a UTF-8 byte-order mark is dropped. A line that cannot be read is a bad game
    (``invalid``: an error, or left out with ``--skip-invalid``), never taken for a header."""
    path = Path(path)
    games: list[list[int]] = []
    numbers: list[int] = []  # each game's number among the file's games (bad ones included)
    invalid: dict[int, str] = {}
    notes: list[str] = []
    csv_mode: bool | None = None
    column: int | None = None
    with open(path, encoding="utf-8-sig", errors="replace") as f:
        number = 0
        while True:
            line = f.readline(MAX_LINE + 1)
            if not line:
                break
            number += 1
            if len(line) > MAX_LINE and not line.endswith("\n"):
                raise GameImportError(
                    f"{path}: line {number} is longer than {MAX_LINE} characters: not a game per line "
                    "(a game is at most 60 moves)"
                )
            text = line.strip()
            if not text or text.startswith("#"):
                continue
            if csv_mode is None:
                # commas between single moves (f5,d6,c3) separate moves, not columns
                csv_mode = "," in text and not all(_move_count(f) == 1 for f in text.split(","))
                if csv_mode:
                    header, column = _csv_columns(text.split(","))
                    if header:
                        notes.append(f"{path}: line {number} read as the CSV header: {text[:80]!r}")
                        continue
            try:
                if csv_mode:
                    fields = text.split(",")
                    if column is None:
                        column = _moves_column(fields)
                    if column >= len(fields):
                        raise InvalidMoveError(f"no column {column + 1} (the moves) in a row of {len(fields)}")
                    squares = read_game_text(fields[column])
                else:
                    squares = read_game_text(text)
            except InvalidMoveError as error:
                g = len(games) + len(invalid)
                invalid[g] = f"{path}: game {g} (line {number}): {error}"
                continue
            numbers.append(len(games) + len(invalid))
            games.append(squares)
    return ImportedGames(
        moves=pad_games(games), files=[str(path)], invalid=invalid, notes=notes, numbers=np.array(numbers, np.int64)
    )


_PGN_TAG = re.compile(r'\[\s*(\w+)\s+"((?:[^"\\]|\\.)*)"\s*\]')
_PGN_RESULT = re.compile(r"^(1-0|0-1|1/2-1/2|\*|\d{1,2}-\d{1,2})$")
_PGN_MOVE_NUMBER = re.compile(r"^\d+\.+$")


def _pgn_tokens(text: str) -> list[str]:
    """PGN text -> tags and move-text tokens: comments (``{...}``, ``; ...`` to the line's end), variations
    (``(...)``, nested), NAGs (``$1``) and move numbers removed, annotations (``!``, ``?``) stripped from moves."""
    text = re.sub(r"\{[^}]*\}", " ", text)
    text = re.sub(r";[^\n]*", " ", text)
    text = re.sub(r"(?m)^%[^\n]*", " ", text)  # escape lines
    text = _without_variations(text)
    tokens: list[str] = []
    pos = 0
    for match in _PGN_TAG.finditer(text):
        tokens += _move_tokens(text[pos : match.start()])
        tokens.append(match.group(0))
        pos = match.end()
    return tokens + _move_tokens(text[pos:])


def _without_variations(text: str) -> str:
    """``text`` with every ``(...)`` variation removed, nested ones with their parent, in one pass (removing the
    innermost first took quadratic time on deep nesting). An unclosed ``(`` is kept, so the game it spoils is
    reported, not silently shortened; a stray ``)`` is kept too."""
    parts, depth, start, opened = [], 0, 0, 0
    for match in re.finditer(r"[()]", text):
        if match.group() == "(":
            if depth == 0:
                parts.append(text[start : match.start()])
                opened = match.start()
            depth += 1
        elif depth:
            depth -= 1
            if depth == 0:
                parts.append(" ")
                start = match.end()
    parts.append(text[opened if depth else start :])
    return "".join(parts)


def _move_tokens(text: str) -> list[str]:
    out = []
    for token in re.sub(r"(\d+\.+)", r" \1 ", text).split():
        if _PGN_MOVE_NUMBER.match(token) or token.startswith("$"):
            continue
        token = token.rstrip("!?")
        if token:
            out.append(token)
    return out


def read_pgn(path: str | os.PathLike) -> ImportedGames:
    """PGN (liveothello-style): ``[Tag "value"]`` headers, then numbered moves (``1. f5 d6 2. c3 ...``), ended by
    a result (``*``, ``1-0``, ``33-31``) or the next game's tags. Comments (``{}``, ``;``), variations, NAGs
    (``$1``) and ``!``/``?`` annotations are read past. An entry without moves (``1. *``) is no game (``skipped``);
    a game that cannot be read is a bad game (``invalid``), the others are kept."""
    path = Path(path)
    games: list[list[int]] = []
    black, white = [], []
    invalid: dict[int, str] = {}
    empty: list[str] = []
    numbers: list[int] = []
    tags: dict[str, str] = {}
    body: list[str] = []
    entries = 0

    def finish() -> None:
        nonlocal entries
        if not body and not tags:
            return
        entries += 1
        text = " ".join(body).strip()
        try:
            if not text:
                empty.append(f"{path}: game {entries - 1} ({_pgn_name(tags)}): no moves, not a game")
            else:
                squares = read_game_text(text)
        except InvalidMoveError as error:
            invalid[entries - 1] = f"{path}: game {entries - 1} ({_pgn_name(tags)}): {error}"
        else:
            if text:
                numbers.append(entries - 1)
                games.append(squares)
                black.append(tags.get("Black", ""))
                white.append(tags.get("White", ""))
        tags.clear()
        body.clear()

    try:
        text = path.read_text(encoding="utf-8-sig", errors="replace")
    except OSError as error:
        raise GameImportError(f"{path}: cannot be read ({error.strerror})") from None
    for token in _pgn_tokens(text):
        tag = _PGN_TAG.fullmatch(token)
        if tag:
            if body or tag.group(1) in tags:  # a tag seen again starts the next entry (this one had no moves)
                finish()
            tags[tag.group(1)] = tag.group(2)
        elif _PGN_RESULT.match(token):
            if body and not body[-1]:
                body.pop()
            body.append("")  # a result ends the game's moves
            finish()
        else:
            body.append(token)
    finish()
    return ImportedGames(
        moves=pad_games(games),
        files=[str(path)],
        metadata={"black_player": np.array(black, dtype=object), "white_player": np.array(white, dtype=object)},
        skipped=empty,
        invalid=invalid,
        numbers=np.array(numbers, np.int64),
    )


def _pgn_name(tags: dict[str, str]) -> str:
    return " - ".join(t for t in (tags.get("Black", ""), tags.get("White", "")) if t) or "no players named"


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
    """Read and validate every game of ``sources`` (files, or folders of ``.wtb``, ``.pgn``, ``.txt``, ``.csv``
    files); bad games raise, or are left out with ``skip_invalid`` (each named in ``skipped``). Entries without a
    move (a PGN ``1. *``) are no games: left out and counted in ``skipped``. Per-game metadata that only some
    sources have is kept, empty (or 0) for the games of the others; files a folder holds that are not game files
    are named in ``notes``."""
    paths: list[Path] = []
    notes: list[str] = []
    for s in sources:
        p = Path(s)
        if p.is_dir():
            for q in sorted(p.iterdir()):
                if q.suffix.lower() in (".wtb", ".pgn", ".txt", ".csv"):
                    paths.append(q)
                elif q.is_dir():
                    notes.append(f"{q}: a subfolder, not read (name it to import its files)")
                elif q.suffix.upper() not in (".JOU", ".TRN"):
                    notes.append(f"{q}: not a game file (.wtb, .pgn, .txt, .csv), not read")
        else:
            paths.append(p)
    if not paths:
        raise GameImportError(f"no game files in {', '.join(map(str, sources))}")
    parts = [read_source(p) for p in tqdm(paths, desc="import", unit="file", disable=not progress)]
    keep_all, moves_all, skipped = [], [], []
    for part, path in zip(parts, paths):
        notes.extend(part.notes)
        skipped.extend(part.skipped)
        error_ply, error_code = check_games(part.moves)
        bad = np.flatnonzero(error_ply >= 0)
        number = part.numbers if part.numbers is not None else np.arange(len(part.moves))
        messages = {
            int(g): describe_error(part.moves[g], int(error_ply[g]), int(error_code[g]), str(path), int(number[g]))
            for g in bad
        }
        # the games the reader could not read and those the replay refused, in the file's order
        bad_games = {**part.invalid, **{int(number[g]): m for g, m in messages.items()}}
        if bad_games and not skip_invalid:
            raise GameImportError(_first_of([bad_games[g] for g in sorted(bad_games)]))
        keep = np.ones(len(part.moves), dtype=bool)
        keep[list(messages)] = False
        skipped.extend(bad_games[g] for g in sorted(bad_games))
        keep_all.append(keep)
        moves_all.append(part.moves[keep])
    fields = sorted(set().union(*(set(p.metadata) for p in parts)))
    metadata = {
        f: np.concatenate([_field(p, f)[k] for p, k in zip(parts, keep_all)]) if parts else np.empty(0) for f in fields
    }
    return ImportedGames(
        moves=np.concatenate(moves_all) if moves_all else np.empty((0, MAX_PLIES), np.int8),
        metadata=metadata,
        skipped=skipped,
        files=[str(p) for p in paths],
        notes=notes,
    )


def _first_of(messages: list[str]) -> str:
    """The first bad game's message, with how many more there are and how to keep the rest."""
    more = len(messages) - 1
    return messages[0] + (
        f" (and {more} more bad games; --skip-invalid keeps the rest)"
        if more
        else " (--skip-invalid keeps the other games)"
    )


def _field(part: ImportedGames, name: str) -> np.ndarray:
    """One metadata field of ``part``, or its 'unknown' (empty string, 0) for each game when the source has none."""
    if name in part.metadata:
        return part.metadata[name]
    n = len(part.moves)
    strings = name in ("black_player", "white_player", "tournament")
    return np.full(n, "", dtype=object) if strings else np.zeros(n, np.int32)


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

    refuse_overwriting_inputs(out, [Path(x) for x in sources])
    games = import_games(sources, skip_invalid=skip_invalid, progress=progress)
    if not len(games.moves):
        raise GameImportError(
            f"no games to write from {', '.join(map(str, sources))} ({len(games.skipped)} skipped); {out} not written"
        )
    write_games(
        out,
        games.moves,
        source=source,
        metadata=games.metadata,
        attrs={"files": json.dumps([Path(f).name for f in games.files]), "skipped": len(games.skipped)},
    )
    return games
