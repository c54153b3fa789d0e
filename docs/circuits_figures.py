"""The README's "Circuits" figures on the shipped model: rule-explained neurons by layer with the ablation check,
head classes, a reproduced patching figure, an example neuron and the averaged direct logit attribution.

    python docs/circuits_figures.py [--games 2000] [--out docs/circuits]

Writes ``results.json`` and the PNGs into ``--out``; takes about 15 minutes on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from othello.circuits.attribution import average_logit_attribution
from othello.circuits.directions import neuron_weights
from othello.circuits.heads import head_scores
from othello.circuits.neurons import neuron_page, neuron_profiles, rule_ablation
from othello.circuits.patching import activation_patching, attribution_patching, pair_summary, patching_pair
from othello.data.seeds import CIRCUITS_SEED, EVAL_SEED
from othello.engine.games import random_games
from othello.files import write_json
from othello.model import load_model
from othello.views.circuits import (
    plot_head_classes,
    plot_logit_attribution,
    plot_neuron,
    plot_neuron_examples,
    plot_patching,
    plot_rule_share,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--games", type=int, default=2000)
    parser.add_argument("--out", default="docs/circuits")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    model = load_model()
    results: dict = {"games": args.games, "depth": 4, "layers": []}
    moves = random_games(args.games, CIRCUITS_SEED)
    held_out = random_games(500, EVAL_SEED)
    pages = {}
    for layer in range(model.cfg.n_layers):
        start = time.perf_counter()
        weights = neuron_weights(model, layer, progress=False)
        prof = neuron_profiles(
            model, layer, moves, depth=4, weights=weights, progress=False, keep_activations=layer == 5
        )
        row = {
            "layer": layer,
            "share": prof.explained_share(),
            "explained": int((prof.trees.r2 >= 0.7).sum()),
            "median_r2": float(np.median(prof.trees.r2)),
            "median_subspace_share": float(np.median(weights["subspace_share"])),
            "seconds": time.perf_counter() - start,
        }
        for ablation in ("mean", "zero"):
            row[f"ablation_{ablation}"] = rule_ablation(model, prof, held_out, ablation=ablation, progress=False)
        results["layers"].append(row)
        print(row, flush=True)
        if layer == 5:
            rows = sorted(prof.rows(), key=lambda r: -r["r2"])
            results["layer5_top"] = rows[:20]
            conj = [r for r in rows if r["rule"].count(" and ") >= 2 and "not" not in r["rule"]]
            for name, r in (("best", rows[0]), ("conjunction", conj[0] if conj else rows[1])):
                page = neuron_page(prof, r["neuron"])
                pages[name] = {k: v for k, v in page.items() if k not in ("conditional", "weights", "spectrum")}
                plot_neuron(page, out / f"neuron_{name}.png")
                plot_neuron_examples(page, out / f"neuron_{name}_examples.png", count=6)
    results["neurons"] = pages
    plot_rule_share(results["layers"], out / "rule_share.png")
    heads = head_scores(model, random_games(500, CIRCUITS_SEED))
    results["heads"] = heads
    results["head_kinds"] = {k: sum(h["kind"] == k for h in heads) for k in ("mine", "theirs", "last", "other")}
    plot_head_classes(heads, out / "head_classes.png")
    clean, corrupt, target = patching_pair(model, random_games(200, EVAL_SEED))
    timings = {}
    start = time.perf_counter()
    real = activation_patching(model, clean, corrupt, target)
    timings["activation_s"] = time.perf_counter() - start
    start = time.perf_counter()
    estimate = attribution_patching(model, clean, corrupt, target)
    timings["attribution_s"] = time.perf_counter() - start
    results["patching"] = {**pair_summary(real, estimate), **timings}
    plot_patching(real.summary(), out / "patching_activation.png")
    plot_patching(estimate.summary(), out / "patching_attribution.png")
    dla = average_logit_attribution(model, random_games(200, EVAL_SEED))
    results["logit_attribution"] = sorted(dla["rows"], key=lambda r: -abs(r["logit"]))[:12]
    plot_logit_attribution(dla, out / "logit_attribution.png", title="direct logit attribution of the played move")
    write_json(out / "results.json", results)
    print(results["head_kinds"], results["patching"], flush=True)


if __name__ == "__main__":
    main()
