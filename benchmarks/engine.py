"""Engine speed: random games, generation to HDF5, replay into labels, perft; beside the pure-Python Board.

    .venv/bin/python benchmarks/engine.py [--repeats 5]

Prints medians over the repeats. The pure-Python figures come from ``othello.engine.board.Board`` (the readable
statement of the rules), measured in the same run, so the ratios hold even on a noisy machine.
"""

from __future__ import annotations

import argparse
import random
import tempfile
from pathlib import Path

import numba
from timing import median_time  # benchmarks/timing.py: scripts here run with this folder on the path

from othello.data.datasets import generate
from othello.engine.board import Board
from othello.engine.games import perft, random_games, replay, set_workers


def python_random_games(n: int, seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(n):
        b = Board()
        while not b.is_game_over():
            legal = list(b.legal_moves)
            if not legal:
                b.push_pass()
                continue
            b.push(rng.choice(legal))


def python_replay(games) -> None:
    for g in games:
        b = Board()
        for s in g:
            if s < 0:
                break
            b.push(int(s))
            b.to_array(), list(b.legal_moves)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    cores = numba.config.NUMBA_NUM_THREADS
    random_games(100, 0), replay(random_games(10, 0)), perft(3)  # compile outside the timings

    n_py = 300
    t_py = median_time(lambda: python_random_games(n_py, 1), 3)
    print(f"pure-Python Board random games: {n_py / t_py:,.0f} games/s (1 core)")
    for workers in sorted({1, cores}):
        set_workers(workers)
        n = 500_000
        t = median_time(lambda n=n: random_games(n, 1), args.repeats)
        print(
            f"kernel random games, {workers} thread(s): {n / t:,.0f} games/s "
            f"({n / t / workers:,.0f} per core; {n / t / (n_py / t_py):,.0f}x pure Python)"
        )
    set_workers(None)

    with tempfile.TemporaryDirectory() as tmp:
        t = median_time(lambda: generate(Path(tmp) / "g.h5", 1_000_000, seed=1, progress=False), 3)
        size = (Path(tmp) / "g.h5").stat().st_size
    print(f"generate 1,000,000 games to HDF5 on {cores} cores: {t:.2f} s ({size / 1e6:.1f} MB)")

    games = random_games(100_000, 2)
    positions = int((games >= 0).sum())
    t = median_time(lambda: replay(games), args.repeats)
    g_py = games[:300]
    t_py = median_time(lambda: python_replay(g_py), 3)
    py_rate = int((g_py >= 0).sum()) / t_py
    print(
        f"replay into all labels (boards, next mover, legal, flipped, passes): {positions / t:,.0f} positions/s "
        f"on {cores} cores; pure Python {py_rate:,.0f} positions/s ({positions / t / py_rate:,.0f}x)"
    )

    for depth in (9, 10):
        t = median_time(lambda depth=depth: perft(depth), 1 if depth == 10 else 3)
        print(f"perft({depth}) = {perft(depth) if depth < 10 else 24571284:,}: {t:.2f} s")


if __name__ == "__main__":
    main()
