"""The causal-variable benchmark: every method that names where a square's state lives, scored by interchange
interventions whose right answer the engine computes.

    result = causal_bench(model, BenchConfig(layers=(4, 6), methods=("full", "probe", "das")))
    result["rows"]           # one per (method, layer, squares): iia with its 95 % interval, errors, size, times

Scoring pairs come from the causal stream's first games, DAS's fitting pairs from games after them (disjoint). Each
method is scored on every scoring pair (``squares: "all"``), on the pairs of the squares DAS was fitted on
(``squares: "das"``), so DAS is compared with the others on the same pairs, and on the decisive pairs
(``squares: "decisive"``: the base run's move is illegal on the counterfactual board, so IIA there starts at 0),
and on the decisive pairs of each kind of square (``"decisive corner"``, ``X``, ``C``, ``edge``, ``ring``,
``centre``: ``othello.engine.notation.SQUARE_KIND``), which says where a method fails.
``none`` is the base run itself.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from othello.causal.config import FIT_OFFSET, BenchConfig
from othello.causal.das import das_intervention, das_step, fit_das
from othello.causal.interchange import (
    Intervention,
    base_logits,
    interchange_logits,
    score_pairs,
    source_activations,
    wilson_interval,
)
from othello.causal.methods import (
    full_stream,
    gradient_edit,
    probe_subspace,
    random_subspace,
    rule_neurons,
    sae_latents,
    transcoder_latents,
)
from othello.causal.suffix import Suffix, last_streams
from othello.data.seeds import CAUSAL_SEED, CIRCUITS_SEED
from othello.engine.counterfactuals import SquarePairs, square_pairs
from othello.engine.games import random_games
from othello.engine.notation import SQUARE_KIND, SQUARE_KINDS, parse_square
from othello.model.hooks import neuron_hook, residual_hook

__all__ = ["causal_bench", "bench_pairs"]


def bench_pairs(config: BenchConfig) -> SquarePairs:
    """The scoring pairs: ``config.pairs`` pairs over the causal stream's first ``config.games`` games."""
    return square_pairs(random_games(config.games, CAUSAL_SEED), config.pairs, seed=config.seed)


def das_fit_pairs(config: BenchConfig, squares: np.ndarray) -> SquarePairs:
    """DAS's fitting pairs: ``config.das_pairs`` per square, from games after the scoring games."""
    games = random_games(max(config.das_pairs * 4, 200), CAUSAL_SEED, first_index=FIT_OFFSET)
    parts = [square_pairs(games, config.das_pairs, seed=config.seed + int(s), squares=np.array([s])) for s in squares]
    return SquarePairs(**{f: np.concatenate([getattr(p, f) for p in parts]) for f in SquarePairs.__dataclass_fields__})


def _row(
    method: str, layer: int, hook: str, size: float, scores: dict[str, np.ndarray], keep: np.ndarray, **extra: Any
) -> dict[str, Any]:
    hits, n = int(scores["hit"][keep].sum()), int(keep.sum())
    low, high = wilson_interval(hits, n)
    right = scores["moved_right"][keep]
    return {
        "method": method,
        "layer": layer,
        "hook": hook,
        "size": size,
        "pairs": n,
        "iia": hits / max(n, 1),
        "iia_low": low,
        "iia_high": high,
        "legal_set_error": float(scores["error"][keep].mean()) if n else float("nan"),
        "moved_right": float(np.nanmean(right)) if np.isfinite(right).any() else float("nan"),
        **extra,
    }


def causal_bench(
    model: torch.nn.Module, config: BenchConfig, progress: bool = True, log: Callable[[str], None] | None = None
) -> dict[str, Any]:
    """The leaderboard (see the module): ``rows``, ``pairs`` (how many, which squares DAS used), ``config``,
    ``seconds`` by part."""
    n, d = model.cfg.n_layers, model.cfg.d_model
    config = config.check(n)
    timer = time.perf_counter()
    pairs = bench_pairs(config)
    seconds = {"pairs": time.perf_counter() - timer}
    das_squares = np.array([parse_square(s) for s in config.das_squares])
    on_das = np.isin(pairs.square, das_squares)
    # at the last position every method runs from its layer on against one base run (othello.causal.suffix)
    suffix = Suffix.of(model, pairs, max(min(config.layers) - 1, 0)) if config.positions == "last" else None
    every = torch.arange(len(pairs))
    before = suffix.run(every, []).cpu() if suffix is not None else base_logits(model, pairs)
    base_scores = score_pairs(before, pairs, before)
    # "decisive": the pairs where the base run's move is illegal on the counterfactual board, so only a swap that
    # carries the square's state can make the top move legal (elsewhere IIA starts at the base run's rate)
    decisive = ~base_scores["hit"]
    groups = {
        "all": np.ones(len(pairs), dtype=bool),
        "das": on_das,
        "decisive": decisive,
        "das decisive": on_das & decisive,  # where DAS, fitted on its squares only, can be compared on decisive pairs
    }
    kinds = np.array(SQUARE_KIND)[pairs.square]
    groups |= {f"decisive {kind}": decisive & (kinds == kind) for kind in SQUARE_KINDS}  # which squares fail
    hooks = {residual_hook(L, n) for L in config.layers} | {neuron_hook(L - 1) for L in config.layers}
    sae = sae_latents(config.sae) if "sae" in config.methods else None  # loaded once, whatever the layers
    if sae is not None:
        hooks.add(sae.hook)
    transcoders = {}
    if "transcoders" in config.methods:
        transcoders = {L: transcoder_latents(config.transcoders, L - 1) for L in config.layers}
        hooks |= {t.hook for t in transcoders.values()}
    sources = source_activations(model, pairs, sorted(hooks), config.positions)
    seconds["base and source runs"] = time.perf_counter() - timer - seconds["pairs"]
    rows: list[dict[str, Any]] = []

    def add(intervention: Intervention, layer: int, fit: float) -> None:
        t = time.perf_counter()
        logits = interchange_logits(model, pairs, intervention, config.positions, sources=sources, suffix=suffix)
        scores = score_pairs(logits, pairs, before)
        run = time.perf_counter() - t
        for squares, keep in groups.items():
            rows.append(
                _row(intervention.method, layer, intervention.hook, intervention.size, scores, keep, squares=squares)
                | {"fit_seconds": fit, "run_seconds": run}
            )
        seconds[intervention.method.split(" ")[0]] = seconds.get(intervention.method.split(" ")[0], 0.0) + fit + run

    for squares, keep in groups.items():
        rows.append(_row("none", 0, "", 0.0, base_scores, keep, squares=squares, fit_seconds=0.0, run_seconds=0.0))
    steps = [(m, L) for L in config.layers for m in config.methods]
    bar = tqdm(steps, desc="causal bench", disable=not progress, unit="method")
    probes = _probes(model, config, "relative", "linear") if "probe" in config.methods else {}
    mlp_probes = _probes(model, config, "colour", "mlp") if "gradient" in config.methods else {}
    fit: tuple[SquarePairs, bool | Suffix, dict[int, torch.Tensor]] | None = None
    for method, layer in bar:
        bar.set_postfix_str(f"{method} at layer {layer}")
        t = time.perf_counter()
        if method == "full":
            add(full_stream(layer, n, d), layer, 0.0)
        elif method == "random":
            add(random_subspace(layer, n, d, config.random_dim, config.seed), layer, 0.0)
        elif method == "probe":
            add(probe_subspace(probes[layer], layer, n), layer, 0.0)
        elif method == "gradient":
            add(gradient_edit(mlp_probes[layer], layer, n, d), layer, 0.0)
        elif method == "neurons":
            games = random_games(config.neuron_games, CIRCUITS_SEED)
            intervention = rule_neurons(model, layer, games, progress=False)
            add(intervention, layer, time.perf_counter() - t)
        elif method == "sae":
            if sae is not None and sae.hook == residual_hook(layer, n):
                add(sae, layer, 0.0)
        elif method == "transcoders":
            add(transcoders[layer], layer, 0.0)
        elif method == "das":
            start = time.perf_counter()
            if fit is None:  # read once for every layer: its time goes to the first
                fit = _das_fit_runs(model, config, das_squares)
            fit_pairs, fit_suffix, fit_sources = fit
            hook = residual_hook(layer, n)
            step = das_step(model, fit_pairs, hook, config.positions, suffix=fit_suffix, sources=fit_sources.get(layer))
            for k in config.das_dims:
                bases = fit_das(
                    model,
                    fit_pairs,
                    hook,
                    k,
                    config.das_steps,
                    config.das_batch,
                    positions=config.positions,
                    seed=config.seed,
                    step=step,
                )
                add(das_intervention(bases, hook), layer, time.perf_counter() - start)
                start = time.perf_counter()
        if log:
            log(f"{method} at layer {layer}: {time.perf_counter() - t:.1f} s")
    return {
        "rows": rows,
        "pairs": {"scoring": len(pairs), "das_squares": list(config.das_squares), "on_das_squares": int(on_das.sum())},
        "config": dict(config.__dict__),
        "seconds": seconds,
    }


def _das_fit_runs(
    model: torch.nn.Module, config: BenchConfig, squares: np.ndarray
) -> tuple[SquarePairs, bool | Suffix, dict[int, torch.Tensor]]:
    """DAS's fitting pairs and, at the last position, their base runs from the first layer on and the source runs'
    streams there ``{layer: [N, d]}``, read once for every layer's fits."""
    pairs = das_fit_pairs(config, squares)
    if config.positions != "last":
        return pairs, False, {}
    start = min(config.layers)
    return pairs, Suffix.of(model, pairs, start), last_streams(model, pairs.source_moves, pairs.ply, start)


def _probes(model: torch.nn.Module, config: BenchConfig, labelling: str, kind: str) -> dict[int, torch.nn.Module]:
    from othello.probes.store import layer_probes

    return layer_probes(model, labelling, kind, list(config.layers), progress=False)
