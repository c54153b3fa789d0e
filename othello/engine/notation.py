"""Square names, move strings and model tokens: the one place every convention lives.

Squares are indexed 0..63 as ``row * 8 + col``; a name is the column letter a..h followed by the row
digit 1..8, so ``a1 == 0`` and ``h8 == 63`` (drawn with a1 top-left, as WTHOR and most Othello diagrams).

Tokens: 0 is padding, 1..60 are the 60 squares other than the four centre squares, in increasing index
order (the mapping of the published Othello-GPT checkpoints).

    >>> parse_square("f5"), square_name(37)
    (37, 'f5')
    >>> parse_moves("f5 d6 c3"), squares_to_tokens([37, 43, 18]).tolist()
    ([37, 43, 18], [34, 40, 19])
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Literal

import numpy as np

from othello.errors import OthelloError

Square = int

SQUARE_NAMES: tuple[str, ...] = tuple(f"{'abcdefgh'[s % 8]}{s // 8 + 1}" for s in range(64))
CENTRE_SQUARES: tuple[Square, ...] = (27, 28, 35, 36)  # d4, e4, d5, e5
PAD_TOKEN = 0
D_VOCAB = 61
N_CTX = 59

SQUARE_KINDS: tuple[str, ...] = ("corner", "X", "C", "edge", "ring", "centre")


def _square_kind(square: Square) -> str:
    row, col = divmod(square, 8)
    edge_rows = {min(row, 7 - row), min(col, 7 - col)}
    if edge_rows == {0}:
        return "corner"
    if edge_rows == {1}:
        return "X"  # diagonally next to a corner
    if edge_rows == {0, 1} and min(row, 7 - row) + min(col, 7 - col) == 1:
        return "C"  # on an edge, next to a corner
    if 0 in edge_rows:
        return "edge"
    return "ring" if 1 in edge_rows else "centre"  # ring: b2..g7's border (X squares aside); centre: c3..f6


# each square's kind as Othello players name them: corner (4), X (4), C (8), edge (16), ring (16), centre (16)
SQUARE_KIND: tuple[str, ...] = tuple(_square_kind(s) for s in range(64))

# token -> square and square -> token (-1 for the centre squares, which are never played)
TOKEN_TO_SQUARE: np.ndarray = np.array([-1] + [s for s in range(64) if s not in CENTRE_SQUARES], dtype=np.int8)
SQUARE_TO_TOKEN: np.ndarray = np.full(64, -1, dtype=np.int8)
SQUARE_TO_TOKEN[TOKEN_TO_SQUARE[1:]] = np.arange(1, 61, dtype=np.int8)


class InvalidMoveError(OthelloError):
    """A move or square that cannot be parsed (bad syntax, off the board)."""


class IllegalMoveError(OthelloError):
    """A well-formed move that the rules forbid in the position where it was played."""


def parse_square(name: str | int) -> Square:
    """``"f5"`` (any case) or an index 0..63 -> the square index."""
    if isinstance(name, (int, np.integer)):
        if not 0 <= int(name) < 64:
            raise InvalidMoveError(f"square index {int(name)} is out of range 0..63")
        return int(name)
    text = name.strip().lower()
    if len(text) != 2 or text[0] not in "abcdefgh" or text[1] not in "12345678":
        raise InvalidMoveError(f"invalid square name {name!r}: expected a column a..h and a row 1..8, like 'f5'")
    return (int(text[1]) - 1) * 8 + "abcdefgh".index(text[0])


def square_name(square: Square) -> str:
    """Square index 0..63 -> its name, like ``"f5"``."""
    if not 0 <= int(square) < 64:
        raise InvalidMoveError(f"square index {int(square)} is out of range 0..63")
    return SQUARE_NAMES[int(square)]


_MOVE_TEXT = re.compile(r"[a-hA-H][1-8]")


def parse_moves(text: str) -> list[Square]:
    """A move string -> square indices. Accepts ``"f5 d6 c3"``, ``"F5D6C3"``, ``"f5d6c3"``, commas.

    Passes are implied by the rules and never written; a ``"pass"`` or ``"--"`` token is ignored.
    """
    cleaned = re.sub(r"(?i)\bpass\b|--|[\s,;.]+", " ", text).strip()
    squares: list[Square] = []
    for chunk in cleaned.split():
        pos = 0
        while pos < len(chunk):
            match = _MOVE_TEXT.match(chunk, pos)
            if match is None:
                raise InvalidMoveError(f"cannot read a move at {chunk[pos : pos + 4]!r} in {text!r}")
            squares.append(parse_square(match.group()))
            pos = match.end()
    return squares


def moves_to_string(squares: Iterable[int]) -> str:
    """Square indices (stopping at the first -1) -> ``"f5 d6 c3"``."""
    names = []
    for s in squares:
        if s < 0:
            break
        names.append(square_name(s))
    return " ".join(names)


def squares_to_tokens(moves: np.ndarray) -> np.ndarray:
    """Square indices ``[..., ply]`` (-1 = no move) -> tokens ``[..., ply]`` (0 = padding), int64."""
    moves = np.asarray(moves)
    tokens = np.where(moves >= 0, SQUARE_TO_TOKEN[np.clip(moves, 0, 63)], PAD_TOKEN).astype(np.int64)
    if np.any(tokens < 0):
        raise InvalidMoveError("a centre square (d4, e4, d5, e5) cannot be a move")
    return tokens


def tokens_to_squares(tokens: np.ndarray) -> np.ndarray:
    """Tokens ``[..., ply]`` -> square indices ``[..., ply]`` (-1 for padding)."""
    tokens = np.asarray(tokens)
    if np.any((tokens < 0) | (tokens >= D_VOCAB)):
        raise InvalidMoveError(f"tokens must lie in 0..{D_VOCAB - 1}")
    return TOKEN_TO_SQUARE[tokens].astype(np.int64)


Convention = Literal["ours", "li", "nanda"]


def convert_square_name(name: str, source: Convention, target: Convention = "ours") -> str:
    """Translate square names between codebases (the square index ``row * 8 + col`` is shared by all).

    - ``ours``: column letter + row digit from 1 (``"f5"`` = row 4, col 5).
    - ``li``: Li et al.'s ``othello_world``: row letter + column digit from 1 (the same square is ``"e6"``).
    - ``nanda``: Nanda's TransformerLens notebook: row letter upper case + column digit from 0 (``"E5"``).
    """
    return _name_in(_index_of(name, source), target)


def _index_of(name: str, convention: Convention) -> Square:
    text = name.strip()
    if convention == "ours":
        return parse_square(text)
    if len(text) != 2 or text[0].lower() not in "abcdefgh" or not text[1].isdigit():
        raise InvalidMoveError(f"invalid {convention} square name {name!r}")
    row = "abcdefgh".index(text[0].lower())
    col = int(text[1]) - (1 if convention == "li" else 0)
    if not 0 <= col < 8:
        raise InvalidMoveError(f"invalid {convention} square name {name!r}")
    return row * 8 + col


def _name_in(square: Square, convention: Convention) -> str:
    row, col = divmod(square, 8)
    if convention == "ours":
        return square_name(square)
    if convention == "li":
        return f"{'abcdefgh'[row]}{col + 1}"
    if convention == "nanda":
        return f"{'ABCDEFGH'[row]}{col}"
    raise ValueError(f"unknown square convention {convention!r}; expected ours, li or nanda")


def diagram(cells: Sequence[str]) -> str:
    """64 cell texts (square order) -> the 8x8 text diagram: columns a..h across, rows 1..8 down (a1 top-left).

    Every text board of the project (the ``Board``, probabilities, probe read-outs) is drawn by this one function."""
    if len(cells) != 64:
        raise ValueError(f"a diagram needs 64 cells, got {len(cells)}")
    width = max(len(c) for c in cells)
    header = " " * 2 + " ".join(c.center(width) for c in "abcdefgh").rstrip()
    rows = [f"{r + 1} " + " ".join(cells[r * 8 + c].rjust(width) for c in range(8)) for r in range(8)]
    return "\n".join([header] + rows)


def square_list(names: Sequence[str | int]) -> list[Square]:
    """Several squares given by name or index -> indices."""
    return [parse_square(n) for n in names]
