"""An independent, deliberately plain Othello engine for parity tests: a list of 64 cells, walked square
by square with explicit bounds checks. It shares no code with ``othello``."""

from __future__ import annotations

EMPTY, BLACK, WHITE = 0, 1, 2
STEPS = [(-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1)]


def start() -> list[int]:
    cells = [EMPTY] * 64
    cells[3 * 8 + 3] = WHITE  # d4
    cells[4 * 8 + 4] = WHITE  # e5
    cells[4 * 8 + 3] = BLACK  # d5
    cells[3 * 8 + 4] = BLACK  # e4
    return cells


def flips(cells: list[int], who: int, square: int) -> list[int]:
    if cells[square] != EMPTY:
        return []
    other = 3 - who
    row, col = divmod(square, 8)
    out = []
    for dr, dc in STEPS:
        r, c = row + dr, col + dc
        line = []
        while 0 <= r < 8 and 0 <= c < 8 and cells[r * 8 + c] == other:
            line.append(r * 8 + c)
            r, c = r + dr, c + dc
        if line and 0 <= r < 8 and 0 <= c < 8 and cells[r * 8 + c] == who:
            out.extend(line)
    return sorted(out)


def legal(cells: list[int], who: int) -> list[int]:
    return [s for s in range(64) if flips(cells, who, s)]


def play(cells: list[int], who: int, square: int) -> list[int]:
    turned = flips(cells, who, square)
    if not turned:
        raise ValueError(f"illegal move {square} for {who}")
    new = list(cells)
    new[square] = who
    for s in turned:
        new[s] = who
    return new


def replay(moves: list[int]) -> list[tuple[list[int], int, list[int], list[int], bool]]:
    """For each move: (board after it, next mover or 0, next mover's legal squares, flipped, pass)."""
    cells, who = start(), BLACK
    out = []
    for square in moves:
        if not legal(cells, who):
            who = 3 - who
        turned = flips(cells, who, square)
        cells = play(cells, who, square)
        nxt = 3 - who
        passed = False
        if not legal(cells, nxt):
            if legal(cells, who):
                nxt, passed = who, True
            else:
                nxt = 0
        out.append((cells, nxt, legal(cells, nxt) if nxt else [], turned, passed))
        who = nxt if nxt else who
    return out
