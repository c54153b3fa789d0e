"""The whole experiment in one call: evaluate a model, probe every layer, intervene, draw, write the report.

    ```python
    summary = run_demo(DemoConfig(out="runs/demo"))      # the shipped model; minutes on 2 CPU cores
    summary["probes"]["rows"][0]["accuracy"]
    ```

Every stage is cached by its inputs in ``out/{stage}.json`` (the model's fingerprint and the stage's settings,
beside the result and the seconds it took): a rerun skips what is done, ``force`` redoes stages. The interventions
run at ``recommended_settings``; ``full`` sweeps them. ``train_minutes`` trains a fresh model into ``out/model``
first, its schedule planned for that time (resumable: a rerun continues it).
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import platform
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from othello.data.seeds import EVAL_SEED, PROBE_SEED
from othello.engine.games import random_games
from othello.files import write_json
from othello.lab.figures import draw_figures
from othello.model.checkpoints import SHIPPED_MODEL, load_model, read_run_config
from othello.model.transformer import untrained_like
from othello.probes.fit import ProbeConfig
from othello.probes.interventions.edits import (
    DEFAULT_PROBES,
    DESCENT_DEFAULTS,
)
from othello.probes.interventions.evaluation import (
    benchmark,
    make_cases,
    recommended_settings,
    sweep_settings,
    synthetic_cases,
)
from othello.probes.rules import RULE_DEPTH
from othello.probes.store import layer_probes, model_fingerprint, stored_probe_rows
from othello.views.tables import best_setting, demo_summary_lines

__all__ = ["DemoConfig", "run_demo", "summary_table"]


@dataclass
class DemoConfig:
    """What the demo runs on and how much of it (defaults fit in minutes on 2 CPU cores)."""

    out: str = "runs/demo"
    model: str | None = None  # checkpoint folder; None = the shipped model (or out/model with training)
    eval_games: int = 2000  # held-out games for the legal-move rates (synthetic and WTHOR each)
    probe_games: int = 2000  # synthetic games the probes are fitted (train split) and scored on
    probe_epochs: int | None = None  # None: the per-kind default (8 linear, 16 MLP)
    cases: int = 300  # intervention cases per data set
    full: bool = False  # sweep every first layer, scale, position count and keep; else the recommended settings
    scales: tuple[float, ...] = (1.0, 2.0, 4.0)
    gradient_steps: int = 1000  # Li et al.'s setting
    edit_positions: tuple[int, ...] = (1, 5)  # edit the last N positions holding the square (1: the papers' recipe)
    keeps: tuple[str, ...] = ("board", "read")  # board-writing edits: other squares from the real board / as read
    wthor: str | None = None  # folder of WTHOR .wtb files; None: no championship games
    train_minutes: float | None = None  # train a fresh model for this long first
    preset: str = "small"
    train_steps: int = 20000  # the longest schedule of a fresh training (planned to fit train_minutes)
    circuit_games: int = 1000  # held-out games for the neuron rules and head classes
    device: str = "cpu"
    force: tuple[str, ...] = ()  # stages to redo ("all" for every one)
    progress: bool = True


def _stage(cfg: DemoConfig, name: str, key: dict[str, Any], run: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    path = Path(cfg.out) / f"{name}.json"
    # compare as stored: JSON turns tuples into lists, and a tuple never equals a list
    key = json.loads(json.dumps(key))
    if path.exists() and name not in cfg.force and "all" not in cfg.force:
        saved = json.loads(path.read_text())
        if saved.get("key") == key:
            if cfg.progress:
                print(f"[{name}] cached ({path})")
            return saved["result"]
    if cfg.progress:
        print(f"[{name}] running")
    started = time.perf_counter()
    result = run()
    seconds = round(time.perf_counter() - started, 1)
    # the wall time of each stage, kept beside its result (BENCHMARKS.md reads where the minutes go from these)
    write_json(path, {"key": key, "result": result, "seconds": seconds})
    if cfg.progress:
        print(f"[{name}] done in {seconds:.0f} s")
    return result


def _provenance(model_dir: Path, fingerprint: str) -> dict[str, Any]:
    import importlib.metadata

    try:
        commit = (
            subprocess.run(
                ["git", "rev-parse", "--short", "HEAD"],
                cwd=Path(__file__).parent,
                capture_output=True,
                text=True,
                timeout=10,
            ).stdout.strip()
            or None
        )
    except (OSError, subprocess.SubprocessError):
        commit = None
    return {
        "model": str(model_dir),
        "model_fingerprint": fingerprint,
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "git_commit": commit,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformer_lens": importlib.metadata.version("transformer_lens"),
        "machine": platform.machine(),
        "threads": torch.get_num_threads(),
    }


def _wthor_games(cfg: DemoConfig) -> np.ndarray | None:
    """The test split of the WTHOR folder ``cfg.wthor``, imported once into ``out/wthor.h5``; None without one."""
    from othello.data.datasets import DatasetError, load_moves
    from othello.data.importers import import_to_file

    if cfg.wthor is None:
        return None
    folder = Path(cfg.wthor)
    if not folder.is_dir() or not any(folder.glob("*.wtb")):
        raise DatasetError(f"{folder}: no WTHOR .wtb files there")
    path = Path(cfg.out) / "wthor.h5"
    if not path.exists():
        import_to_file([folder], path, source="wthor")
    return load_moves(path, split="test")


def run_demo(cfg: DemoConfig) -> dict[str, Any]:
    """Run every stage (cached) and return the summary written to ``out/summary.json``."""
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    model_dir = Path(cfg.model) if cfg.model else SHIPPED_MODEL
    if cfg.train_minutes:
        from othello.train.config import TrainConfig
        from othello.train.loop import train

        model_dir = Path(cfg.model) if cfg.model else out / "model"
        tc = TrainConfig(
            preset=cfg.preset,
            steps=cfg.train_steps,
            minutes=cfg.train_minutes,
            soft_targets=True,
            eval_every=250,
            checkpoint_every=250,
        )

        def train_stage() -> dict[str, Any]:
            # a forced rerun resumes the run on its planned schedule (a finished one has nothing left to do)
            trained = train(
                tc,
                model_dir,
                resume=(model_dir / "config.json").exists(),
                minutes=cfg.train_minutes,
                device=cfg.device,
                progress=cfg.progress,
            )
            return {"step": trained.step, **trained.metrics}

        _stage(
            cfg, "train", {"config": tc.to_dict(), "minutes": cfg.train_minutes, "folder": str(model_dir)}, train_stage
        )
    model = load_model(model_dir, device=cfg.device)
    fp = model_fingerprint(model)
    summary: dict[str, Any] = {
        "provenance": _provenance(model_dir, fp),
        "config": dataclasses.asdict(cfg),
        "model_config": read_run_config(model_dir),
    }
    n = model.cfg.n_layers
    wthor = _wthor_games(cfg)

    def evaluate_stage() -> dict[str, Any]:
        from othello.train.evaluation import evaluate

        result = {"synthetic": evaluate(model, random_games(cfg.eval_games, EVAL_SEED))}
        if wthor is not None:
            result["wthor"] = evaluate(model, wthor[: cfg.eval_games])
        return result

    summary["eval"] = _stage(
        cfg,
        "eval",
        {
            "model": fp,
            "games": cfg.eval_games,
            "wthor": wthor is not None,
            "metrics": ["top1_legal", "legal_set_error", "after_pass"],
        },
        evaluate_stage,
    )

    probe_cfg = ProbeConfig(epochs=cfg.probe_epochs)
    # whose turn it is (next_mover): the bit a colour probe needs on top of the relative board; one target, cheap
    combos = [
        ("relative", "linear"),
        ("colour", "linear"),
        ("relative", "mlp"),
        ("colour", "mlp"),
        ("next_mover", "linear"),
    ]

    def probes_stage() -> dict[str, Any]:
        from othello.probes.layers import probe_accuracy_by_layer

        # the stored probes (the shipped model's are committed beside it), fitted only where none match
        rows = [
            {**r, "model": "trained"}
            for labelling, kind in combos
            for r in stored_probe_rows(
                model, labelling, kind, games=cfg.probe_games, config=probe_cfg, progress=cfg.progress
            )
        ]
        control = probe_accuracy_by_layer(
            untrained_like(model),
            random_games(cfg.probe_games, PROBE_SEED),
            ("relative", "colour"),
            ("linear",),
            config=probe_cfg,
            progress=cfg.progress,
        )
        return {"rows": rows + [{**r, "model": "untrained"} for r in control]}

    probe_settings = {
        kind: dataclasses.asdict(dataclasses.replace(probe_cfg, kind=kind).resolved()) for kind in ("linear", "mlp")
    }
    summary["probes"] = _stage(
        cfg, "probes", {"model": fp, "games": cfg.probe_games, "probe": probe_settings, "labels": combos}, probes_stage
    )

    def interventions_stage() -> dict[str, Any]:
        sets = {"synthetic": synthetic_cases(cfg.cases)}
        if wthor is not None:
            sets["wthor"] = make_cases(wthor, cfg.cases, seed=0)
        rows = []
        for method in ("linear", "gradient"):
            labelling, kind = DEFAULT_PROBES[method]
            probes = layer_probes(model, labelling, kind, games=cfg.probe_games, config=probe_cfg, progress=False)
            settings = [] if cfg.full else recommended_settings(n, method)
            for positions in cfg.edit_positions if cfg.full else ():
                if method == "linear":
                    settings += sweep_settings("linear", n, cfg.scales, positions=positions)
                for keep in cfg.keeps:
                    settings += sweep_settings(
                        method,
                        n,
                        positions=positions,
                        keep=keep,
                        **({"whole_board": True} if method == "linear" else {"steps": cfg.gradient_steps}),
                    )
            for data, cases in sets.items():
                rows += benchmark(model, cases, probes, settings, labelling, data=data, progress=cfg.progress)
        return {"rows": rows}

    summary["interventions"] = _stage(
        cfg,
        "interventions",
        {
            "model": fp,
            "cases": cfg.cases,
            "full": cfg.full,
            "scales": list(cfg.scales),
            "steps": cfg.gradient_steps,
            "probe_games": cfg.probe_games,
            "positions": list(cfg.edit_positions),
            "keeps": list(cfg.keeps),
            "descent": list(DESCENT_DEFAULTS["linear"]),
            "probe": probe_settings,
            "wthor": wthor is not None,
        },
        interventions_stage,
    )

    summary["circuits"] = _stage(
        cfg,
        "circuits",
        {
            "model": fp,
            "games": cfg.circuit_games,
            "probe_games": cfg.probe_games,
            "probe": probe_settings,
            "depth": RULE_DEPTH,
        },
        lambda: circuits_summary(model, cfg, probe_cfg),
    )

    def figures_stage() -> dict[str, Any]:
        return draw_figures(model, model_dir, summary, probe_cfg, cfg)

    summary["figures"] = _stage(
        cfg,
        "figures",
        {"model": fp, "probes": cfg.probe_games, "cases": cfg.cases, "steps": cfg.gradient_steps, "full": cfg.full},
        figures_stage,
    )
    write_json(out / "summary.json", summary)
    from othello.lab.report import write_report

    summary["report"] = str(write_report(out))
    return summary


def circuits_summary(model: torch.nn.Module, cfg: DemoConfig, probe_cfg: ProbeConfig) -> dict[str, Any]:
    """The circuits stage: head classes, the rules of one layer's neurons (three blocks before the last: block 5 of
    the shipped model, where the posts' example neuron lives) with the ablation check, the layer's best neuron's
    page, and one patching pair; figures into ``cfg.out``."""
    from othello.circuits.directions import directions_from_probes, neuron_weights
    from othello.circuits.heads import head_scores
    from othello.circuits.neurons import neuron_page, neuron_profiles, rule_ablation
    from othello.circuits.patching import activation_patching, attribution_patching, pair_summary, patching_pair
    from othello.data.seeds import CIRCUITS_SEED
    from othello.views.circuits import plot_head_classes, plot_neuron, plot_neuron_examples, plot_patching

    out = Path(cfg.out)
    n = model.cfg.n_layers
    layer = max(0, n - 3)
    games = random_games(cfg.circuit_games, CIRCUITS_SEED)
    heads = head_scores(model, games[:500])
    plot_head_classes(heads, out / "circuits_heads.png")
    found = {}
    for site in ("resid_mid", "resid_post"):
        found[site] = layer_probes(
            model, "relative", "linear", [layer + 1], games=cfg.probe_games, config=probe_cfg, site=site, progress=False
        )[layer + 1]
    weights = neuron_weights(
        model, layer, directions_from_probes(found["resid_mid"]), directions_from_probes(found["resid_post"])
    )
    prof = neuron_profiles(
        model, layer, games, depth=RULE_DEPTH, weights=weights, keep_activations=True, progress=cfg.progress
    )
    rows = sorted(prof.rows(), key=lambda r: -r["r2"])
    ablation = rule_ablation(model, prof, random_games(300, EVAL_SEED), progress=False)
    page = neuron_page(prof, rows[0]["neuron"])
    plot_neuron(page, out / "circuits_neuron.png")
    plot_neuron_examples(page, out / "circuits_neuron_examples.png", count=6)
    clean, corrupt, target = patching_pair(model, random_games(200, EVAL_SEED))
    real = activation_patching(model, clean, corrupt, target)
    estimate = attribution_patching(model, clean, corrupt, target)
    plot_patching(real.summary(), out / "circuits_patching.png")
    return {
        "layer": layer,
        "games": cfg.circuit_games,
        "explained": sum(r["explained"] for r in rows),
        "explained_share": prof.explained_share(),
        "neurons": rows[:10],
        "example": {k: page[k] for k in ("layer", "neuron", "r2", "rule", "top_squares")},
        "ablation": ablation,
        "heads": heads,
        "head_kinds": {k: sum(h["kind"] == k for h in heads) for k in ("mine", "theirs", "last", "other")},
        "patching": pair_summary(real, estimate),
    }


def summary_table(summary: dict[str, Any]) -> str:
    """The demo's final figures as a few lines of text: the best intervention setting of each method, data set and
    what its edit writes, beside everything else ``demo_summary_lines`` shows."""
    irows = summary["interventions"]["rows"]
    best = [
        b
        for method in ("linear", "gradient")
        for data in sorted({r["data"] for r in irows})
        for scope in ("square", "board", "board as read")
        if (b := best_setting(irows, method, data, scope))
    ]
    return "\n".join(demo_summary_lines(summary, best))
