"""Explorer speed on the shipped model: server start to first answer, and ``POST /api/analyze`` latency (p50, p95)
over random positions, with all layers' read-outs, and with a linear edit (the page's default: whole board as
read, the last five layers, the last 5 positions). Measured twice: in process (the framework's test client), and
over HTTP against ``othello-gpt explore`` started as a user starts it (its defaults), the path a user's page takes.

    python benchmarks/explorer.py [--positions 200] [--threads 1,2]

Goals (issue: explorer): p95 <= 100 ms for a read-out, <= 200 ms with a linear edit, start <= 5 s.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--positions", type=int, default=200)
    parser.add_argument("--threads", default="1,2", help="torch thread counts to measure, in one run")
    args = parser.parse_args()
    started = time.perf_counter()
    import torch
    from fastapi.testclient import TestClient

    from othello.engine.board import real_mover_board
    from othello.engine.games import random_games
    from othello.engine.notation import square_name
    from othello.explorer.server import create_app
    from othello.explorer.service import ExplorerBackend
    from othello.model import load_model

    torch.set_num_threads(1)  # what othello-gpt explore sets by default (--threads 1)
    client = TestClient(create_app(ExplorerBackend(load_model(), name="small8", progress=False)))
    first = client.post("/api/analyze", json={"moves": "f5 d6 c3"})
    start_s = time.perf_counter() - started
    assert first.status_code == 200, first.text

    rng = np.random.default_rng(0)
    cases = []
    for game in random_games(args.positions, 11):
        length = int((game >= 0).sum())
        n = int(rng.integers(5, min(length, 59)))
        moves = [int(s) for s in game[:n]]
        board = real_mover_board(moves)
        discs = [s for s in range(64) if board.colour_at(s)]
        cases.append((" ".join(square_name(s) for s in moves), square_name(int(rng.choice(discs)))))

    def timed(body: dict) -> float:
        t = time.perf_counter()
        r = client.post("/api/analyze", json=body)
        assert r.status_code == 200, r.text
        return 1000 * (time.perf_counter() - t)

    for threads in (int(t) for t in args.threads.split(",")):
        torch.set_num_threads(threads)
        for name, make in (
            ("read-outs (all layers, both sites)", lambda m, s: {"moves": m}),
            (
                "read-outs + linear edit (board as read, layers 4-8, 5 positions)",
                lambda m, s: {"moves": m, "edits": [{"square": s, "op": "flip"}]},
            ),
        ):
            times = sorted(timed(make(m, s)) for m, s in cases)
            p95 = times[int(0.95 * (len(times) - 1))]
            print(
                f"{threads} torch thread(s), {name}: p50 {statistics.median(times):.1f} ms, p95 {p95:.1f} ms "
                f"over {len(times)} positions"
            )
    print(f"start to first answer: {start_s:.2f} s (imports, model, stored probes, one analysis)")
    served(cases)


def served(cases: list[tuple[str, str]], port: int = 8799) -> None:
    """The same requests over HTTP (one kept-alive connection) to ``othello-gpt explore`` with its defaults."""
    import http.client
    import json
    import subprocess
    import sys

    server = subprocess.Popen(
        [sys.executable, "-m", "othello.cli", "explore", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        started = time.perf_counter()
        while True:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                conn.request("GET", "/api/info")
                conn.getresponse().read()
                break
            except OSError:
                if server.poll() is not None or time.perf_counter() - started > 120:
                    raise SystemExit("othello-gpt explore did not start") from None
                time.sleep(0.2)

        def post(body: dict) -> float:
            t = time.perf_counter()
            conn.request("POST", "/api/analyze", json.dumps(body), {"content-type": "application/json"})
            response = conn.getresponse()
            response.read()
            assert response.status == 200, response.status
            return 1000 * (time.perf_counter() - t)

        post({"moves": "f5 d6 c3"})  # the first request makes the request's copy of the model
        for name, make in (
            ("read-outs", lambda m, s: {"moves": m}),
            ("read-outs + linear edit", lambda m, s: {"moves": m, "edits": [{"square": s, "op": "flip"}]}),
        ):
            times = sorted(post(make(m, s)) for m, s in cases)
            p95 = times[int(0.95 * (len(times) - 1))]
            print(
                f"served over HTTP (othello-gpt explore, its defaults), {name}: p50 {statistics.median(times):.1f} ms, "
                f"p95 {p95:.1f} ms over {len(times)} positions"
            )
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
