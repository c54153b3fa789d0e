import numpy as np
import pytest

from othello.engine.board import Board
from othello.engine.games import random_games
from othello.engine.notation import parse_moves
from othello.probes.targets import board_labels


def game(text):
    moves = np.full((1, 60), -1, dtype=np.int8)
    squares = parse_moves(text)
    moves[0, : len(squares)] = squares
    return moves


def test_colour_and_relative_after_one_move():
    moves = game("f5 d6")
    colour, relative = board_labels(moves, "colour"), board_labels(moves, "relative")
    b = Board("f5")
    assert colour[0, 0].tolist() == b.to_array()
    # after f5 white moves next: white discs are "mine"
    for s in range(64):
        expected = 0 if b.colour_at(s) == 0 else (1 if b.colour_at(s) == 2 else 2)
        assert relative[0, 0, s] == expected
    assert (colour[0, 2:] == -1).all() and (relative[0, 2:] == -1).all()


def test_relative_follows_the_real_mover_through_a_pass_and_parity_does_not():
    moves = random_games(2000, 1)
    rel, par = board_labels(moves, "relative"), board_labels(moves, "parity")
    from othello.engine.games import replay

    r = replay(moves[:, :59], ("passed", "next_mover"))
    g = int(np.flatnonzero(r.passed.any(1))[0])
    t = int(np.flatnonzero(r.passed[g])[0])
    valid = rel[g, t] >= 0
    assert (rel[g, :t] == par[g, :t]).all()  # identical before the first pass
    assert not (rel[g, t][valid] == par[g, t][valid]).all()  # mine and theirs swap after it
    assert ((rel[g, t] == 0) == (par[g, t] == 0)).all()  # emptiness does not depend on who moves


def test_other_labels():
    moves = game("f5 d6 c3")
    assert np.flatnonzero(board_labels(moves, "last_move")[0, 1]).tolist() == [parse_moves("d6")[0]]
    assert np.flatnonzero(board_labels(moves, "flipped")[0, 0]).tolist() == [parse_moves("e5")[0]]
    assert np.flatnonzero(board_labels(moves, "legal")[0, 0]).tolist() == sorted(Board("f5").legal_moves)
    with pytest.raises(ValueError, match="unknown labelling"):
        board_labels(moves, "mine")


def test_next_mover_is_one_target_per_position_and_follows_passes():
    from othello.engine.games import replay
    from othello.probes.targets import TARGETS

    moves = random_games(500, 3)
    mover = board_labels(moves, "next_mover")
    assert mover.shape == (500, 59, 1) and TARGETS["next_mover"] == 1 and TARGETS["relative"] == 64
    r = replay(moves[:, :59], ("next_mover", "passed"))
    assert (mover[..., 0] == r.next_mover.astype(np.int8) - 1).all()  # black 0, white 1, nobody -1
    assert (board_labels(game("f5 d6"), "next_mover")[0, :2, 0] == [1, 0]).all()  # white after f5, black after d6
    # after a pass the same player moves again: the label breaks the alternation
    g, t = (int(i[0]) for i in np.nonzero(r.passed))
    assert mover[g, t, 0] == mover[g, t - 1, 0]


def test_off_parity_marks_the_positions_after_an_odd_number_of_passes():
    from othello.engine.games import replay

    moves = random_games(500, 3)
    r = replay(moves[:, :59], ("passed", "next_mover"))
    off = r.off_parity()
    # where it is set, the player to move is the one parity would not name: parity says white after move 1 (t = 0)
    parity_mover = np.where(np.arange(59) % 2 == 0, 2, 1)[None, :]
    moving = r.next_mover > 0
    assert ((r.next_mover != parity_mover) == off)[moving].all()
    assert off.any() and not off[:, 0].any()
    with pytest.raises(ValueError, match="passed"):
        replay(moves[:, :59], ("boards",)).off_parity()


def test_after_pass_is_the_flip_between_parity_and_the_real_mover():
    moves = random_games(500, 3)
    odd = board_labels(moves, "after_pass")
    mover, rel, par = (board_labels(moves, name) for name in ("next_mover", "relative", "parity"))
    assert odd.shape == (500, 59, 1) and ((odd >= 0) == (mover >= 0)).all()  # -1 exactly where nobody moves
    live = odd[..., 0] >= 0
    parity_mover = (np.arange(59) % 2 == 0)[None, :].astype(np.int8)  # white (1) after move 1
    assert (mover[..., 0] == parity_mover ^ odd[..., 0])[live].all()  # next_mover = parity XOR after_pass
    assert odd.max() == 1 and odd[:, 0].max() == 0
    # where it is odd, the real-mover board is the parity board with mine (1) and theirs (2) swapped
    swapped = np.where(par == 0, 0, 3 - par)
    assert (np.where(odd == 1, swapped, par) == rel)[live].all()
