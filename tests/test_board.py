import pytest
import slow_engine
from hypothesis import given, settings
from hypothesis import strategies as st

from othello.engine.board import BLACK, WHITE, Board, flips_mask, squares_of
from othello.engine.notation import IllegalMoveError, parse_square, square_name


def names(squares):
    return sorted(square_name(s) for s in squares)


def test_start_position():
    b = Board()
    assert b.colour_at("d4") == WHITE and b.colour_at("e5") == WHITE
    assert b.colour_at("d5") == BLACK and b.colour_at("e4") == BLACK
    assert b.next_mover == BLACK
    assert names(b.legal_moves) == ["c4", "d3", "e6", "f5"]
    assert len(b.legal_moves) == 4 and "f5" in b.legal_moves and "a1" not in b.legal_moves


def test_push_pop_and_parsing():
    b = Board("f5d6c3")
    assert b.moves == [37, 43, 18]
    assert b.next_mover == WHITE
    assert b.score() == (5, 2)
    before = b.to_array()
    b.push("d3")
    b.pop()
    assert b.to_array() == before and b.next_mover == WHITE
    c = b.copy()
    c.push("d3")
    assert b.moves == [37, 43, 18] and c.moves[-1] == parse_square("d3")


@pytest.mark.parametrize("direction", [(0, 1), (0, -1), (1, 0), (-1, 0), (1, 1), (1, -1), (-1, 1), (-1, -1)])
def test_flips_in_every_direction(direction):
    dr, dc = direction
    centre = (3, 3)
    move = centre[0] * 8 + centre[1]
    run = [(centre[0] + k * dr) * 8 + centre[1] + k * dc for k in (1, 2)]
    anchor = (centre[0] + 3 * dr) * 8 + centre[1] + 3 * dc
    b = Board.from_squares(black=[anchor], white=run)
    assert flips_mask(b.black, b.white, move) == sum(1 << s for s in run)
    b.push(move)
    assert all(b.colour_at(s) == BLACK for s in run + [move, anchor])


def test_no_wrap_around_the_edges():
    # h4 white, a5 black: a move on g4 must not "see" a5 through the edge
    b = Board.from_squares(black=["a5"], white=["h4"])
    assert flips_mask(b.black, b.white, parse_square("g4")) == 0
    # the same along a diagonal: h3 -> a5 would wrap
    b = Board.from_squares(black=["b5"], white=["a4", "h2"])
    assert flips_mask(b.black, b.white, parse_square("g1")) == 0


def test_corner_and_edge_moves():
    b = Board.from_squares(black=["c3"], white=["b2", "a2", "a3"], next_mover=BLACK)
    assert "a1" in b.legal_moves
    b.push("a1")
    assert b.colour_at("b2") == BLACK and b.colour_at("a2") == WHITE


def test_forced_pass_is_implicit_and_explicit():
    # white to move has nothing; black has a move: white passes
    b = Board.from_squares(black=["a1"], white=["b1"], next_mover=WHITE)
    assert not b.legal_moves and b.must_pass() and not b.is_game_over()
    b.push("c1")  # implicit pass, then black plays
    assert b.history[-2].square is None and b.colour_at("b1") == BLACK
    b2 = Board.from_squares(black=["a1"], white=["b1"], next_mover=WHITE)
    b2.push_pass()
    assert b2.next_mover == BLACK
    with pytest.raises(IllegalMoveError, match="cannot pass"):
        Board().push_pass()


def test_game_ending_early_and_wipe_out():
    # the shortest games end in 9 moves with one colour wiped out
    b = Board("e6 f4 e3 f6 g5 d6 e7 f5 c5")
    assert b.is_game_over()
    assert 0 in b.score()
    assert b.winner() in (BLACK, WHITE)
    with pytest.raises(IllegalMoveError, match="after the game ended|occupied"):
        b.push("a1")


def test_illegal_moves_say_why():
    with pytest.raises(IllegalMoveError, match="flips no disc.*legal: d3, c4, f5, e6"):
        Board().push("a1")
    with pytest.raises(IllegalMoveError, match="occupied"):
        Board().push("d4")
    with pytest.raises(IllegalMoveError, match="ply 2"):
        Board("f5 f5")


def test_diagram():
    text = str(Board("f5"))
    assert text.splitlines()[0] == "  a b c d e f g h"
    assert "white to move" in text


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=10_000), min_size=1, max_size=60))
def test_random_play_matches_slow_engine_and_invariants(choices):
    b = Board()
    cells, who = slow_engine.start(), BLACK
    for c in choices:
        if b.is_game_over():
            break
        if not slow_engine.legal(cells, who):
            who = 3 - who
        legal = list(b.legal_moves) if b.legal_moves else None
        if legal is None:
            b.push_pass()
            legal = list(b.legal_moves)
        assert legal == slow_engine.legal(cells, who)
        move = legal[c % len(legal)]
        before = b.score()
        flipped = squares_of(flips_mask(*b._mover_bits(), move))
        # every flipped disc lies on a line from the move over opponent discs to a friendly disc
        mr, mc = divmod(move, 8)
        for s in flipped:
            r, c2 = divmod(s, 8)
            dr, dc = (r > mr) - (r < mr), (c2 > mc) - (c2 < mc)
            assert r == mr or c2 == mc or abs(r - mr) == abs(c2 - mc)
            rr, cc = mr + dr, mc + dc
            while 0 <= rr < 8 and 0 <= cc < 8 and cells[rr * 8 + cc] == 3 - who:
                rr, cc = rr + dr, cc + dc
            assert 0 <= rr < 8 and 0 <= cc < 8 and cells[rr * 8 + cc] == who
        b.push(move)
        cells = slow_engine.play(cells, who, move)
        who = 3 - who
        assert b.to_array() == cells
        # disc counts: the mover gains 1 + flips, the opponent loses the flips
        gained = b.score()[0] - before[0] if b.history[-1].colour == BLACK else b.score()[1] - before[1]
        assert gained == 1 + len(flipped)
        assert sum(b.score()) == sum(before) + 1


def test_real_mover_board_makes_the_forced_pass():
    import numpy as np

    from othello.engine.board import GameOverError, real_mover_board
    from othello.engine.games import random_games, replay
    from othello.errors import OthelloError

    board = real_mover_board("f5 d6 c3")
    assert board.next_mover == Board("f5 d6 c3").next_mover and board.history[-1].square is not None
    games = random_games(500, 3)
    passed = replay(games, ("passed",)).passed
    g, t = (int(x[0]) for x in np.nonzero(passed))  # after move t + 1 of game g the next player must pass
    prefix = [int(s) for s in games[g, : t + 1]]
    assert Board(prefix).must_pass()
    after = real_mover_board(prefix)
    assert after.next_mover == 3 - Board(prefix).next_mover and after.history[-1].square is None
    with pytest.raises(GameOverError) as error:
        real_mover_board([int(s) for s in games[0] if s >= 0])
    assert isinstance(error.value, OthelloError) and "game is over" in str(error.value)
