"""Compiled (numba) kernels for the hot paths: random games, replay into labels, perft.

The rules are those of ``othello.engine.board``, restated on ``uint64`` bitboards. Every random game draws from
its own generator, seeded by (seed, global game index), so game ``i`` of a seeded stream is the same
whichever worker, shard or batch makes it.
"""

from __future__ import annotations

import numba as nb
import numpy as np

U = np.uint64
_NOT_A = U(0xFEFEFEFEFEFEFEFE)
_NOT_H = U(0x7F7F7F7F7F7F7F7F)
_START_BLACK = U((1 << 35) | (1 << 28))
_START_WHITE = U((1 << 27) | (1 << 36))

# error codes of ``replay`` (see ``REPLAY_ERRORS``)
OK, OFF_BOARD, OCCUPIED, NO_FLIP, AFTER_END, GAP = 0, 1, 2, 3, 4, 5
REPLAY_ERRORS = {
    OFF_BOARD: "square out of range 0..63",
    OCCUPIED: "square already occupied",
    NO_FLIP: "move flips no disc for the side to move",
    AFTER_END: "move played after the game ended",
    GAP: "a move follows the end-of-game marker -1",
}

_jit = nb.njit(cache=True, nogil=True)


@_jit
def _shift(b, d):
    if d == 0:
        return (b << U(1)) & _NOT_A
    if d == 1:
        return (b >> U(1)) & _NOT_H
    if d == 2:
        return b << U(8)
    if d == 3:
        return b >> U(8)
    if d == 4:
        return (b << U(9)) & _NOT_A
    if d == 5:
        return (b << U(7)) & _NOT_H
    if d == 6:
        return (b >> U(7)) & _NOT_A
    return (b >> U(9)) & _NOT_H


@_jit
def legal_mask(p, o):
    """Bitboard of the legal squares for the player with discs ``p`` against ``o``."""
    empty = ~(p | o)
    moves = U(0)
    for d in range(8):
        t = _shift(p, d) & o
        t |= _shift(t, d) & o
        t |= _shift(t, d) & o
        t |= _shift(t, d) & o
        t |= _shift(t, d) & o
        t |= _shift(t, d) & o
        moves |= _shift(t, d) & empty
    return moves


@_jit
def flip_mask(p, o, sq):
    """Bitboard of the discs a move on ``sq`` flips (0 when it flips none)."""
    m = U(1) << U(sq)
    flips = U(0)
    for d in range(8):
        run = U(0)
        x = _shift(m, d)
        while x & o:
            run |= x
            x = _shift(x, d)
        if x & p:
            flips |= run
    return flips


@_jit
def popcount(x):
    x = x - ((x >> U(1)) & U(0x5555555555555555))
    x = (x & U(0x3333333333333333)) + ((x >> U(2)) & U(0x3333333333333333))
    x = (x + (x >> U(4))) & U(0x0F0F0F0F0F0F0F0F)
    return int((x * U(0x0101010101010101)) >> U(56))


@_jit
def _lowest_square(x):
    return popcount((x & (~x + U(1))) - U(1))


@_jit
def _splitmix(state):
    state = state + U(0x9E3779B97F4A7C15)
    z = state
    z = (z ^ (z >> U(30))) * U(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> U(27))) * U(0x94D049BB133111EB)
    return state, z ^ (z >> U(31))


@_jit
def _random_game(seed, index, out):
    """Fill ``out`` [60] with one uniformly random legal game; return its length."""
    state, _ = _splitmix(U(seed) * U(0x2545F4914F6CDD1D) ^ U(index))
    state, _ = _splitmix(state ^ U(index) * U(0x9E3779B97F4A7C15))
    p = _START_BLACK
    o = _START_WHITE
    n = 0
    while n < 60:
        moves = legal_mask(p, o)
        if moves == U(0):
            p, o = o, p  # pass
            moves = legal_mask(p, o)
            if moves == U(0):
                break
        count = popcount(moves)
        state, r = _splitmix(state)
        k = int(((r >> U(32)) * U(count)) >> U(32))
        for _ in range(k):
            moves &= moves - U(1)
        sq = _lowest_square(moves)
        f = flip_mask(p, o, sq)
        p |= f | (U(1) << U(sq))
        o &= ~f
        out[n] = sq
        n += 1
        p, o = o, p
    for i in range(n, 60):
        out[i] = -1
    return n


@nb.njit(cache=True, nogil=True, parallel=True)
def random_games(seed, first_index, count):
    """``count`` random games, global indices ``first_index ..``: moves [count, 60] int8 (-1 after the end)."""
    out = np.empty((count, 60), dtype=np.int8)
    for g in nb.prange(count):
        _random_game(seed, first_index + g, out[g])
    return out


@nb.njit(cache=True, nogil=True, parallel=True)
def replay(moves, boards, next_mover, legal, flipped, passed, error_ply, error_code):
    """Replay games into labels. Inputs and outputs, ``G`` games of up to ``T`` plies:

    moves [G, T] int8 squares (-1 = no more moves); boards [G, T, 64] int8 (0 empty, 1 black, 2 white) after
    each ply; next_mover [G, T] int8 (1/2, 0 when the game is over after that ply); legal [G, T, 64] bool
    (the next mover's legal squares); flipped [G, T, 64] bool (discs turned by that ply's move); passed
    [G, T] bool (the player after the mover had to pass); error_ply / error_code [G] (-1 / 0 when legal).
    Plies after a game's last move repeat its final board with no next mover. Any output may be an empty
    array along its first axis, in which case it is not written.
    """
    G, T = moves.shape
    want_boards = boards.shape[0] > 0
    want_mover = next_mover.shape[0] > 0
    want_legal = legal.shape[0] > 0
    want_flipped = flipped.shape[0] > 0
    want_passed = passed.shape[0] > 0
    for g in nb.prange(G):
        black = _START_BLACK
        white = _START_WHITE
        mover = 1
        error_ply[g] = -1
        error_code[g] = OK
        ended = False
        over = False
        for t in range(T):
            sq = moves[g, t]
            f = U(0)
            if sq < 0:
                ended = True
            elif ended:
                error_ply[g] = t
                error_code[g] = GAP
                break
            elif sq > 63:
                error_ply[g] = t
                error_code[g] = OFF_BOARD
                break
            elif over:
                error_ply[g] = t
                error_code[g] = AFTER_END
                break
            else:
                p = black if mover == 1 else white
                o = white if mover == 1 else black
                m = U(1) << U(sq)
                if (p | o) & m:
                    error_ply[g] = t
                    error_code[g] = OCCUPIED
                    break
                f = flip_mask(p, o, sq)
                if f == U(0):
                    error_ply[g] = t
                    error_code[g] = NO_FLIP
                    break
                p |= f | m
                o &= ~f
                if mover == 1:
                    black, white = p, o
                else:
                    white, black = p, o
                # who moves next: the opponent, unless they must pass
                lm = legal_mask(o, p)
                did_pass = False
                if lm != U(0):
                    mover = 3 - mover
                else:
                    lm = legal_mask(p, o)
                    if lm == U(0):
                        over = True
                    else:
                        did_pass = True
                if want_passed:
                    passed[g, t] = did_pass
            if sq < 0 and want_passed:
                passed[g, t] = False
            if want_mover:
                next_mover[g, t] = 0 if (over or ended) else mover
            if want_boards or want_legal or want_flipped:
                if not (over or ended):
                    lm = legal_mask(black, white) if mover == 1 else legal_mask(white, black)
                else:
                    lm = U(0)
                for s in range(64):
                    bit = U(1) << U(s)
                    if want_boards:
                        boards[g, t, s] = 1 if black & bit else (2 if white & bit else 0)
                    if want_legal:
                        legal[g, t, s] = (lm & bit) != U(0)
                    if want_flipped:
                        flipped[g, t, s] = (f & bit) != U(0)


@_jit
def perft(depth):
    """Number of move sequences of length ``depth`` from the start, a forced pass counted as a move.

    Depth-first with an explicit stack (numba's cached recursion is unreliable); a game that ends
    before ``depth`` counts once.
    """
    if depth <= 0:
        return 1
    P = np.zeros(depth + 1, dtype=np.uint64)
    O = np.zeros(depth + 1, dtype=np.uint64)  # noqa: E741 (P, O: player and opponent, as in the other kernels)
    M = np.zeros(depth + 1, dtype=np.uint64)
    passed = np.zeros(depth + 1, dtype=np.bool_)
    P[0] = _START_BLACK
    O[0] = _START_WHITE
    total = 0
    level = 0
    enter = True
    while level >= 0:
        if enter:
            remaining = depth - level
            moves = legal_mask(P[level], O[level])
            if moves == U(0):
                if passed[level] or remaining == 1:
                    total += 1  # game over, or the pass is the last ply counted
                    level -= 1
                    enter = False
                    continue
                M[level] = U(0)
                P[level + 1] = O[level]
                O[level + 1] = P[level]
                passed[level + 1] = True
                level += 1
                continue
            if remaining == 1:
                total += popcount(moves)
                level -= 1
                enter = False
                continue
            M[level] = moves
        moves = M[level]
        if moves == U(0):
            level -= 1
            enter = False
            continue
        sq = _lowest_square(moves)
        M[level] = moves & (moves - U(1))
        f = flip_mask(P[level], O[level], sq)
        P[level + 1] = O[level] & ~f
        O[level + 1] = P[level] | f | (U(1) << U(sq))
        passed[level + 1] = False
        level += 1
        enter = True
    return total
