"""Learning per CPU-second: how far each training setting gets on the same budget of CPU time.

    .venv/bin/python benchmarks/learning.py [--budget 180] [--only base,lr3e-3] [--json]

Every setting trains from scratch on one thread (``torch`` and the engine) for the same budget of process CPU
seconds (``time.process_time``: the time this process ran, so another job on the machine slows the wall clock
but not the figure). A short calibration run times each setting's CPU seconds per step; the schedule (warm-up
then cosine decay) is then sized to spend the budget, so each setting is compared at the end of its own
schedule. The run is cut into segments with exact resume; after each one the model is scored on the same
1,000 held-out games (validation split of synthetic stream 1, never trained on), outside the timed part.
Prints one row per setting and segment: CPU seconds, games seen, top-1 legal rate, legal-set error.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("NUMBA_NUM_THREADS", "1")  # before the engine is imported: one core per setting


from othello.data.datasets import generate
from othello.data.streams import SyntheticStream
from othello.train import evaluate, train
from othello.train.config import TrainConfig

BASE = TrainConfig(
    preset="narrow",
    batch_size=128,
    lr=1e-3,
    soft_targets=True,
    eval_every=10**9,
    eval_games=50,
    checkpoint_every=10**9,
    log_every=10**9,
)
FIXED_FILE_GAMES = 20_000

# name -> (what it varies, changes to BASE); "file" stands for a fixed file of FIXED_FILE_GAMES games.
SETTINGS: dict[str, tuple[str, dict]] = {
    "base": ("narrow (4L d128), batch 128, lr 1e-3 cosine, soft targets, fresh games", {}),
    "lr3e-4": ("learning rate", {"lr": 3e-4}),
    "lr3e-3": ("learning rate", {"lr": 3e-3}),
    "constant-lr": ("schedule: constant lr after warm-up", {"min_lr_ratio": 1.0}),
    "batch32": ("batch size", {"batch_size": 32}),
    "batch512": ("batch size", {"batch_size": 512}),
    "hard-targets": ("sampled next move instead of soft targets", {"soft_targets": False}),
    "fixed-file": (f"a fixed file of {FIXED_FILE_GAMES:,} games, repeated", {"data": "file"}),
    "wide-2L-d256": ("width vs depth", {"preset": "small", "model_overrides": {"n_layers": 2}}),
    "deep-8L-d64": ("width vs depth", {"model_overrides": {"n_layers": 8, "d_model": 64, "d_mlp": 256}}),
    "small-4L-d256": ("the shipped preset's shape", {"preset": "small"}),
}


def configure(changes: dict, steps: int, file: str) -> TrainConfig:
    changes = {k: (file if v == "file" else v) for k, v in changes.items()}
    return dataclasses.replace(BASE, steps=steps, warmup_steps=max(1, steps // 20), **changes)


def cpu_seconds_per_step(changes: dict, file: str, work: Path, precision: str, steps: int = 8) -> float:
    """CPU seconds per step of a setting, from a throwaway run: two resumed calls of ``steps`` and ``3 * steps``
    steps, differenced, so that a call's fixed cost (building the model, loading the state) cancels out."""
    cfg = configure(changes, 10_000, file)
    folder = work / f"calibrate-{time.monotonic_ns()}"
    train(cfg, folder, stop_at=4, progress=False, threads=1, precision=precision)  # warm-up, not counted
    spent = []
    for end in (4 + steps, 4 + 4 * steps):
        start = time.process_time()
        train(cfg, folder, resume=True, stop_at=end, progress=False, threads=1, precision=precision)
        spent.append(time.process_time() - start)
    return (spent[1] - spent[0]) / (2 * steps)


def run_setting(
    name: str, changes: dict, budget: float, segments: int, file: str, work: Path, held_out, precision: str
) -> list[dict]:
    per_step = cpu_seconds_per_step(changes, file, work, precision)
    steps = max(segments, round(budget / per_step))
    cfg = configure(changes, steps, file)
    folder, rows, cpu = work / name, [], 0.0
    for k in range(1, segments + 1):
        start = time.process_time()
        result = train(
            cfg,
            folder,
            resume=k > 1,
            stop_at=round(steps * k / segments),
            progress=False,
            threads=1,
            precision=precision,
        )
        cpu += time.process_time() - start
        scores = evaluate(result.model, held_out)
        rows.append(
            {
                "setting": name,
                "segment": k,
                "steps": result.step,
                "games": result.step * cfg.batch_size,
                "cpu_s": round(cpu, 1),
                "cpu_s_per_step_calibrated": round(per_step, 4),
                "top1_legal": scores["top1_legal"],
                "legal_set_error": scores["legal_set_error"],
            }
        )
        print(
            f"{name:>14} {k}/{segments}: {rows[-1]['games']:>7,} games {cpu:7.1f} CPU-s  "
            f"top-1 legal {100 * scores['top1_legal']:5.2f} %  legal-set error {scores['legal_set_error']:.2f}",
            file=sys.stderr,
            flush=True,
        )
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--budget", type=float, default=180.0, help="CPU seconds per setting")
    ap.add_argument("--segments", type=int, default=4, help="evaluations along each run")
    ap.add_argument("--only", help="comma-separated setting names (default: all)")
    ap.add_argument(
        "--precision",
        choices=("bf16", "fp32"),
        default="bf16" if _has_bf16() else "fp32",
        help="bf16 autocast where the CPU has avx512_bf16 (what the shipped run uses), else fp32",
    )
    ap.add_argument("--json", action="store_true", help="print the rows as JSON")
    args = ap.parse_args()
    names = args.only.split(",") if args.only else list(SETTINGS)
    unknown = set(names) - set(SETTINGS)
    if unknown:
        ap.error(f"unknown settings {sorted(unknown)}; choose from {', '.join(SETTINGS)}")
    held_out = SyntheticStream(1, 128).eval_games(1000)
    rows: list[dict] = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        file = str(work / "fixed.h5")
        if any(SETTINGS[n][1].get("data") == "file" for n in names):
            generate(file, FIXED_FILE_GAMES, seed=1)  # the same games as stream 1's first 20,000
        for name in names:
            rows += run_setting(
                name, SETTINGS[name][1], args.budget, args.segments, file, work, held_out, args.precision
            )
    if args.json:
        print(json.dumps(rows, indent=1))
        return
    print(f"budget {args.budget:.0f} CPU-s per setting, 1 thread, {args.precision}; held-out: 1,000 games")
    print(
        "| setting | varies | CPU-s / step | CPU-s used | games | "
        + " | ".join(f"top-1 @ {k}/{args.segments}" for k in range(1, args.segments + 1))
        + " | final legal-set error |"
    )
    print("|---" * (6 + args.segments) + "|")
    for name in names:
        mine = [r for r in rows if r["setting"] == name]
        print(
            f"| {name} | {SETTINGS[name][0]} | {mine[0]['cpu_s_per_step_calibrated']:.3f} | {mine[-1]['cpu_s']:.0f} | "
            f"{mine[-1]['games']:,} | "
            + " | ".join(f"{100 * r['top1_legal']:.1f} %" for r in mine)
            + f" | {mine[-1]['legal_set_error']:.2f} |"
        )


def _has_bf16() -> bool:
    try:
        return "avx512_bf16" in Path("/proc/cpuinfo").read_text()
    except OSError:
        return False


if __name__ == "__main__":
    main()
