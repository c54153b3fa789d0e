"""The rules of Othello on a bitboard, and a ``Board`` that reads like the game.

    >>> from othello.engine import Board, square_name
    >>> board = Board()
    >>> board.push("f5")
    >>> [square_name(s) for s in board.legal_moves]   # white's replies, in the order the move generator finds them
    ['f4', 'd6', 'f6']

Bit ``i`` of a bitboard is square ``i`` (``row * 8 + col``, a1 = 0). This module is plain Python: it is
the readable statement of the rules. ``othello.kernels`` runs the same rules compiled, on many games at
once, and the test suite checks the two against each other and against an independent slow engine.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from othello.engine.notation import IllegalMoveError, Square, diagram, parse_moves, parse_square, square_name
from othello.errors import OthelloError

BLACK, WHITE = 1, 2
COLOUR_NAMES = {BLACK: "black", WHITE: "white"}


def square_colours(cells: Sequence[int]) -> dict[str, str]:
    """The 64 cells of a board (0 empty, 1 black, 2 white) as square name -> "empty" / "black" / "white"."""
    return {square_name(s): COLOUR_NAMES.get(int(c), "empty") for s, c in enumerate(cells)}


FULL = (1 << 64) - 1
NOT_A = 0xFEFEFEFEFEFEFEFE  # every square but column a: what a shift towards h may land on
NOT_H = 0x7F7F7F7F7F7F7F7F

START_BLACK = (1 << 35) | (1 << 28)  # d5, e4
START_WHITE = (1 << 27) | (1 << 36)  # d4, e5


def _shift(bits: int, direction: int) -> int:
    """Move every disc one step in ``direction`` (one of the 8 in ``DIRECTIONS``), dropping any that leave."""
    if direction == 1:
        return (bits << 1) & NOT_A & FULL
    if direction == -1:
        return (bits >> 1) & NOT_H
    if direction == 8:
        return (bits << 8) & FULL
    if direction == -8:
        return bits >> 8
    if direction == 9:
        return (bits << 9) & NOT_A & FULL
    if direction == 7:
        return (bits << 7) & NOT_H & FULL
    if direction == -7:
        return (bits >> 7) & NOT_A
    if direction == -9:
        return (bits >> 9) & NOT_H
    raise ValueError(direction)


DIRECTIONS = (1, -1, 8, -8, 9, 7, -7, -9)


def legal_moves_mask(player: int, opponent: int) -> int:
    """Bitboard of the squares where ``player`` may play."""
    empty = ~(player | opponent) & FULL
    moves = 0
    for d in DIRECTIONS:
        run = _shift(player, d) & opponent
        for _ in range(5):  # at most 6 opponent discs lie between a move and a friendly disc
            run |= _shift(run, d) & opponent
        moves |= _shift(run, d) & empty
    return moves


def flips_mask(player: int, opponent: int, square: Square) -> int:
    """Bitboard of the opponent discs that a move by ``player`` on ``square`` turns over (0 if illegal)."""
    move = 1 << square
    if (player | opponent) & move:
        return 0
    flipped = 0
    for d in DIRECTIONS:
        run = 0
        cursor = _shift(move, d)
        while cursor & opponent:
            run |= cursor
            cursor = _shift(cursor, d)
        if cursor & player:
            flipped |= run
    return flipped


def squares_of(bits: int) -> list[Square]:
    """The set squares of a bitboard, in increasing order."""
    out = []
    while bits:
        low = bits & -bits
        out.append(low.bit_length() - 1)
        bits ^= low
    return out


class LegalMoves:
    """A lazy view of the side to move's legal squares: supports ``in``, ``len``, iteration and ``bool``."""

    def __init__(self, board: Board) -> None:
        self._board = board

    def mask(self) -> int:
        return legal_moves_mask(*self._board._mover_bits())

    def __contains__(self, square: object) -> bool:
        try:
            s = parse_square(square)  # type: ignore[arg-type]
        except ValueError:
            return False
        return bool(self.mask() >> s & 1)

    def __iter__(self) -> Iterator[Square]:
        return iter(squares_of(self.mask()))

    def __len__(self) -> int:
        return self.mask().bit_count()

    def __bool__(self) -> bool:
        return self.mask() != 0

    def __repr__(self) -> str:
        return f"<LegalMoves: {', '.join(square_name(s) for s in self)}>"


@dataclass(frozen=True)
class Move:
    """One ply as played: the square (``None`` for a pass), the mover and the discs it flipped."""

    square: Square | None
    colour: int
    flipped: int


class Board:
    """An Othello position with its history.

    ``push`` plays a move for the side to move and passes first, implicitly, when that side has no legal
    move but the other side has (move lists never write passes). ``push_pass`` passes explicitly, and
    ``pop`` undoes the last ply, a pass included.
    """

    def __init__(self, moves: str | list[int] | None = None) -> None:
        self.black = START_BLACK
        self.white = START_WHITE
        self.next_mover = BLACK
        self.history: list[Move] = []
        if moves is not None:
            for ply, square in enumerate(parse_moves(moves) if isinstance(moves, str) else moves):
                try:
                    self.push(square)
                except IllegalMoveError as error:
                    raise IllegalMoveError(f"ply {ply + 1}: {error}") from None

    @classmethod
    def from_squares(cls, black: list[str | int], white: list[str | int], next_mover: int = BLACK) -> Board:
        """A position with the given discs and side to move, and no history (``pop`` cannot go back)."""
        board = cls()
        board.black = sum(1 << parse_square(s) for s in black)
        board.white = sum(1 << parse_square(s) for s in white)
        if board.black & board.white:
            raise OthelloError(
                "a square cannot hold both colours: "
                + ", ".join(square_name(s) for s in squares_of(board.black & board.white))
            )
        if next_mover not in (BLACK, WHITE):
            raise OthelloError(f"next_mover must be BLACK (1) or WHITE (2), got {next_mover}")
        board.next_mover = next_mover
        return board

    def _mover_bits(self) -> tuple[int, int]:
        return (self.black, self.white) if self.next_mover == BLACK else (self.white, self.black)

    @property
    def legal_moves(self) -> LegalMoves:
        return LegalMoves(self)

    def must_pass(self) -> bool:
        """The side to move has no legal move but the game is not over."""
        return not self.legal_moves and not self.is_game_over()

    def is_game_over(self) -> bool:
        player, opponent = self._mover_bits()
        return legal_moves_mask(player, opponent) == 0 and legal_moves_mask(opponent, player) == 0

    def is_legal(self, square: str | int) -> bool:
        return parse_square(square) in self.legal_moves

    def push(self, square: str | int) -> None:
        """Play ``square`` for the side to move, passing first if that side cannot move."""
        s = parse_square(square)
        if self.must_pass():
            self.push_pass()
        player, opponent = self._mover_bits()
        flipped = flips_mask(player, opponent, s)
        if not flipped:
            raise IllegalMoveError(self._illegal_reason(s))
        move = 1 << s
        player |= move | flipped
        opponent &= ~flipped
        self._set_mover_bits(player, opponent)
        self.history.append(Move(s, self.next_mover, flipped))
        self.next_mover = 3 - self.next_mover

    def _illegal_reason(self, s: Square) -> str:
        who = COLOUR_NAMES[self.next_mover]
        if (self.black | self.white) >> s & 1:
            return f"{square_name(s)} is occupied ({who} to move)"
        if self.is_game_over():
            return f"{square_name(s)} played after the game ended"
        return (
            f"{square_name(s)} flips no disc for {who} (legal: {', '.join(square_name(m) for m in self.legal_moves)})"
        )

    def push_pass(self) -> None:
        """Pass explicitly; only allowed when the side to move has no legal move and the game goes on."""
        if not self.must_pass():
            raise IllegalMoveError(
                f"{COLOUR_NAMES[self.next_mover]} cannot pass: "
                + ("the game is over" if self.is_game_over() else "a legal move exists")
            )
        self.history.append(Move(None, self.next_mover, 0))
        self.next_mover = 3 - self.next_mover

    def pop(self) -> Move:
        """Undo the last ply (a move or a pass) and return it."""
        if not self.history:
            raise IndexError("pop from a board with no moves")
        move = self.history.pop()
        self.next_mover = move.colour
        if move.square is not None:
            player, opponent = self._mover_bits()
            player &= ~(move.flipped | 1 << move.square)
            opponent |= move.flipped
            self._set_mover_bits(player, opponent)
        return move

    def peek(self) -> Move:
        return self.history[-1]

    def _set_mover_bits(self, player: int, opponent: int) -> None:
        if self.next_mover == BLACK:
            self.black, self.white = player, opponent
        else:
            self.white, self.black = player, opponent

    @property
    def moves(self) -> list[Square]:
        """The squares played so far, passes left out."""
        return [m.square for m in self.history if m.square is not None]

    def copy(self) -> Board:
        other = Board.__new__(Board)
        other.black, other.white, other.next_mover = self.black, self.white, self.next_mover
        other.history = list(self.history)
        return other

    def colour_at(self, square: str | int) -> int:
        """0 empty, 1 black, 2 white."""
        s = parse_square(square)
        return BLACK if self.black >> s & 1 else WHITE if self.white >> s & 1 else 0

    def to_array(self) -> list[int]:
        """The 64 squares as 0 empty / 1 black / 2 white."""
        return [self.colour_at(s) for s in range(64)]

    def score(self) -> tuple[int, int]:
        """(black discs, white discs)."""
        return self.black.bit_count(), self.white.bit_count()

    def winner(self) -> int | None:
        """BLACK, WHITE or 0 for a draw once the game is over; ``None`` while it goes on."""
        if not self.is_game_over():
            return None
        b, w = self.score()
        return BLACK if b > w else WHITE if w > b else 0

    def __str__(self) -> str:
        legal = self.legal_moves.mask()
        cells = [
            "X" if self.black >> s & 1 else "O" if self.white >> s & 1 else "*" if legal >> s & 1 else "."
            for s in range(64)
        ]
        b, w = self.score()
        status = "game over" if self.is_game_over() else f"{COLOUR_NAMES[self.next_mover]} to move"
        return diagram(cells) + f"\nX black {b}  O white {w}  ({status}; * = legal)"

    def __repr__(self) -> str:
        return f"Board({' '.join(square_name(s) for s in self.moves)!r})"


class GameOverError(OthelloError):
    """A position with no next move: neither side can play."""


def real_mover_board(moves: str | Sequence[int]) -> Board:
    """The board after ``moves`` with the pass made when the side to move has none, so that
    ``board.next_mover`` is who really moves next (the "mine" of relative labels); raises ``GameOverError``
    when neither side can move."""
    board = Board(moves if isinstance(moves, str) else list(moves))
    if board.is_game_over():
        raise GameOverError(f"the game is over after {len(board.moves)} moves: there is no next move")
    if board.must_pass():
        board.push_pass()
    return board
