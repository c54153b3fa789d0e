"""The circuits toolkit's speed on the shipped model, each beside a baseline measured in the same run.

    .venv/bin/python benchmarks/circuit_speed.py [--model models/small8] [--layer 5] [--games 2000] [--repeats 5]

- neuron profiles and rules for every neuron of one layer (``neuron_profiles``, trees of depth 4 grown for all
  neurons at once) against scikit-learn's ``DecisionTreeRegressor`` fitted neuron by neuron on the same rows
  (timed on ``--sklearn-neurons`` neurons and scaled to the layer);
- a full activation-patching grid (every layer x position at resid_pre, attn_out and mlp_out, plus every head)
  for one pair, batched, against the same grid one forward pass per patch;
- attribution patching of the same grid, against the batched activation patching.

Prints the median seconds over ``--repeats`` runs (one run for the neuron profiles) and the ratios.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from timing import median_time  # benchmarks/timing.py: scripts here run with this folder on the path

from othello.circuits.neurons import board_features, neuron_profiles
from othello.circuits.patching import PATCH_SITES, activation_patching, attribution_patching, site_hook
from othello.data.seeds import CIRCUITS_SEED
from othello.engine.games import random_games
from othello.model.checkpoints import load_model
from othello.model.tokens import to_tokens
from othello.probes.activations import collect_activations

CLEAN = "f5 d6 c3 d3 c4 f4 f6 f3 e6 e7 d7 c6 b6 c5 b4 e3 f2 c7 d8 f7 g5 e8 g6 h6 b5 a6 h5 g4 c8 h3"
CORRUPT = "f5 d6 c3 d3 c4 f4 f6 f3 e6 e7 d7 c6 b6 c5 b4 e3 f2 c7 d8 f7 g5 e8 g6 h6 b5 a6 h5 g4 c8 h4"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None)
    parser.add_argument("--layer", type=int, default=5)
    parser.add_argument("--games", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--sklearn-neurons", type=int, default=8)
    args = parser.parse_args()
    torch.set_grad_enabled(True)
    model = load_model(args.model)
    moves = random_games(args.games, CIRCUITS_SEED)
    print(f"torch threads {torch.get_num_threads()}, {args.games} games, layer {args.layer}", flush=True)

    t = time.perf_counter()
    prof = neuron_profiles(model, args.layer, moves, depth=4, progress=False)
    ours = time.perf_counter() - t
    d_mlp = len(prof.neurons)
    print(f"neuron_profiles, all {d_mlp} neurons, depth 4: {ours:.1f} s ({prof.explained_share():.1%} explained)")

    from sklearn.tree import DecisionTreeRegressor

    hook = f"blocks.{args.layer}.mlp.hook_post"
    acts = collect_activations(model, moves, [hook])[hook]
    features, valid = board_features(moves)
    half = len(moves) // 2
    fit = valid.copy()
    fit[half:] = False
    X, A = features[fit], acts[fit]
    t = time.perf_counter()
    for k in range(args.sklearn_neurons):
        DecisionTreeRegressor(max_depth=4, min_samples_leaf=20).fit(X, A[:, k])
    per_neuron = (time.perf_counter() - t) / args.sklearn_neurons
    print(
        f"sklearn trees, one per neuron (fits only): {per_neuron:.2f} s per neuron, {per_neuron * d_mlp:.0f} s for "
        f"{d_mlp} (scaled); ratio to ours {per_neuron * d_mlp / ours:.1f}x"
    )

    batched = median_time(lambda: activation_patching(model, CLEAN, CORRUPT, "h5"), args.repeats)
    n, T, H = model.cfg.n_layers, len(CLEAN.split()), model.cfg.n_heads

    hooks = {site_hook(s, L) for s in PATCH_SITES for L in range(n)}
    _, cache = model.run_with_cache(to_tokens(CLEAN), names_filter=lambda name: name in hooks)
    corrupt = to_tokens(CORRUPT)

    @torch.no_grad()
    def one_at_a_time() -> None:  # the same patches, one forward pass each (the clean run cached once)
        for site in PATCH_SITES:
            for L in range(n):
                name = site_hook(site, L)
                for i in range(H if site == "head" else T):

                    def patch(act, hook, name=name, i=i, site=site):
                        act = act.clone()
                        if site == "head":
                            act[0, :, i] = cache[name][0, :, i]
                        else:
                            act[0, i] = cache[name][0, i]
                        return act

                    model.run_with_hooks(corrupt, fwd_hooks=[(name, patch)])

    single = median_time(one_at_a_time, 1)
    patches = 3 * n * T + n * H
    print(f"activation patching, {patches} patches ({n} layers x {T} positions x 3 sites + {n * H} heads):")
    print(f"  batched {batched:.2f} s; one forward per patch {single:.1f} s; ratio {single / batched:.1f}x")
    attribution = median_time(lambda: attribution_patching(model, CLEAN, CORRUPT, "h5"), args.repeats)
    print(f"attribution patching, the same grid: {attribution:.3f} s; {batched / attribution:.1f}x faster than batched")
    real = activation_patching(model, CLEAN, CORRUPT, "h5")
    estimate = attribution_patching(model, CLEAN, CORRUPT, "h5")
    agree = {s: float(np.corrcoef(real.grids[s].ravel(), estimate.grids[s].ravel())[0, 1]) for s in PATCH_SITES}
    print("agreement (Pearson r): " + ", ".join(f"{k} {v:.2f}" for k, v in agree.items()))


if __name__ == "__main__":
    main()
