"""Neuron pages without the wait: a block's profiles computed once and cached on disk, then any neuron's page.

    .venv/bin/python benchmarks/neuron_pages.py [--block 5] [--pages 20] [--cli-runs 3]

Measures, on the shipped model with a fresh cache folder (``$OTHELLO_GPT_CACHE`` set to a temporary one):
- the explorer's first look at a block (``GET /api/neuron/L/N`` through the app, profiles of all its neurons
  computed and written): the baseline, what every page cost before the cache;
- a cached page in a new explorer process's backend (nothing in memory, the block read from disk): the median
  over ``--pages`` neurons, first request of each;
- ``othello-gpt neuron L N --games 1000 --json`` as a user runs it (the explorer's game count, so the pages the
  explorer cached serve it: a new process: imports, model load, page read): the median over ``--cli-runs`` runs.

Goal (issue 42): a cached neuron page in <= 2 s.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--block", type=int, default=5)
    parser.add_argument("--pages", type=int, default=20)
    parser.add_argument("--cli-runs", type=int, default=3)
    args = parser.parse_args()
    cache = tempfile.mkdtemp(prefix="neuron-pages-")
    os.environ["OTHELLO_GPT_CACHE"] = cache
    from fastapi.testclient import TestClient

    from othello.explorer.server import create_app
    from othello.explorer.service import ExplorerBackend
    from othello.model import load_model

    model = load_model()

    def client() -> TestClient:
        return TestClient(create_app(ExplorerBackend(model, name="small8")))

    first = client()
    first.get("/api/info")  # the read-out probes fitted (cached too), so the timing below is the neurons' own
    t = time.perf_counter()
    answer = first.get(f"/api/neuron/{args.block}/0")
    cold = time.perf_counter() - t
    assert answer.status_code == 200, answer.text
    print(f"first look at block {args.block} (all {model.cfg.d_mlp} neurons profiled and cached): {cold:.1f} s")

    fresh = client()  # a new explorer: nothing in memory
    fresh.get("/api/info")
    times = []
    for neuron in range(1, args.pages + 1):
        t = time.perf_counter()
        assert fresh.get(f"/api/neuron/{args.block}/{neuron * 37 % model.cfg.d_mlp}").status_code == 200
        times.append(time.perf_counter() - t)
    print(
        f"cached page, a new explorer: median {statistics.median(times):.3f} s, max {max(times):.3f} s "
        f"over {args.pages} neurons ({cold / statistics.median(times):.0f}x faster than the first look)"
    )
    cli = []
    for run in range(args.cli_runs):
        t = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "othello.cli", "neuron", str(args.block), str(100 + run), "--games", "1000"]
            + ["--json", "--quiet"],
            check=True,
            stdout=subprocess.DEVNULL,
            env={**os.environ, "OTHELLO_GPT_CACHE": cache},
        )
        cli.append(time.perf_counter() - t)
    print(f"othello-gpt neuron {args.block} N --json, cached, a new process: median {statistics.median(cli):.2f} s")


if __name__ == "__main__":
    main()
