import numpy as np
import pytest
import slow_engine

from othello.engine.board import Board
from othello.engine.games import check_games, game_lengths, pass_counts, perft, random_games, replay, set_workers
from othello.engine.notation import IllegalMoveError

PERFT = [4, 12, 56, 244, 1396, 8200, 55092, 390216, 3005288]


def test_perft_to_depth_9():
    assert [perft(d) for d in range(1, 10)] == PERFT


def test_random_games_are_reproducible_and_independent_of_batching_and_workers():
    a = random_games(3000, seed=7)
    set_workers(1)
    b = np.concatenate([random_games(1000, 7, 0), random_games(2000, 7, 1000)])
    set_workers(None)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, random_games(3000, seed=8))


def test_random_games_statistics():
    moves = random_games(20_000, seed=11)
    lengths = game_lengths(moves)
    assert 0.98 < (lengths == 60).mean() < 0.997  # published: about 99 %
    assert 0.32 < (pass_counts(moves) > 0).mean() < 0.38  # independent engine: 34.8 %


@pytest.mark.slow
def test_kernels_match_the_scalar_board_on_10000_games():
    moves = random_games(10_000, seed=3)
    r = replay(moves)
    assert (check_games(moves)[0] == -1).all()
    rng = np.random.default_rng(0)
    for g in range(10_000):
        n = int(r.lengths[g])
        board = Board()
        deep = g < 300 or g in set(rng.integers(0, 10_000, 200).tolist())
        for t in range(n):
            board.push(int(moves[g, t]))
            if deep or t == n - 1:
                assert r.boards[g, t].tolist() == board.to_array(), (g, t)
                over = board.is_game_over()
                real = board.copy()
                if real.must_pass():
                    real.push_pass()  # the label's next mover counts the pass
                assert r.next_mover[g, t] == (0 if over else real.next_mover), (g, t)
                assert np.flatnonzero(r.legal[g, t]).tolist() == ([] if over else list(real.legal_moves)), (g, t)
                assert bool(r.passed[g, t]) == (not over and real.next_mover == board.peek().colour)
                assert int(r.flipped[g, t].sum()) == bin(board.peek().flipped).count("1")
        assert board.is_game_over()


@pytest.mark.slow
def test_kernels_match_the_slow_engine():
    moves = random_games(300, seed=5)
    r = replay(moves)
    for g in range(300):
        n = int(r.lengths[g])
        for t, (cells, nxt, legal, turned, passed) in enumerate(slow_engine.replay(moves[g, :n].tolist())):
            assert r.boards[g, t].tolist() == cells
            assert r.next_mover[g, t] == nxt
            assert np.flatnonzero(r.legal[g, t]).tolist() == legal
            assert np.flatnonzero(r.flipped[g, t]).tolist() == turned
            assert bool(r.passed[g, t]) == passed
        assert (r.boards[g, n:] == r.boards[g, n - 1]).all() and (r.next_mover[g, n:] == 0).all()


def test_replay_rejects_illegal_moves_with_game_and_ply():
    moves = random_games(5, seed=1)
    bad = moves.copy()
    bad[3, 10] = bad[3, 9]  # occupied
    with pytest.raises(IllegalMoveError, match=r"games: game 3, ply 11 \(.*\): square already occupied"):
        replay(bad)
    # a square legal only for the opponent (the published generator accepts it; we must not)
    b = Board("f5")
    opponent_only = next(
        s
        for s in range(64)
        if not b.is_legal(s)
        and b.colour_at(s) == 0
        and Board.from_squares(
            [x for x in range(64) if b.colour_at(x) == 1], [x for x in range(64) if b.colour_at(x) == 2], next_mover=1
        ).is_legal(s)
    )
    game = np.full((1, 60), -1, dtype=np.int8)
    game[0, :2] = [37, opponent_only]
    with pytest.raises(IllegalMoveError, match="ply 2.*flips no disc"):
        replay(game, source="test.h5")
    game[0, :3] = [37, 43, 70]
    with pytest.raises(IllegalMoveError, match="ply 3.*out of range"):
        replay(game)
    game = np.full((1, 60), -1, dtype=np.int8)
    game[0, [0, 2]] = [37, 43]
    assert check_games(game)[0].tolist() == [2]
