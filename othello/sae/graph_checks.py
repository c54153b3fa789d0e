"""What attribution graphs are worth, measured over many positions: the distribution of their two scores, and the
causal check that the latents a graph ranks first matter more to the logit than as many other active latents.

    ```python
    positions = held_out_positions(200, seed=0)                    # [(prefix, ply)], disjoint from training
    stats = score_distribution(model, transcoders, positions)      # replacement / completeness quantiles
    check = ablation_check(model, transcoders, positions, ks=(5, 10, 20))
    ```

Each position's target is the model's top move there. The causal check runs in the model with every MLP replaced
by its transcoder and the error nodes held at their values on the prefix (exact before any edit): it ablates the
graph's k most influential latents (activation set to 0 at their positions, later transcoders recomputed from what
follows) and, separately, k active latents drawn at random from the same graph, and compares the drops of the
target's logit (the standard of the rule-neuron work, arXiv 2511.00059: at least 5x).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from othello.data.seeds import EVAL_SEED
from othello.engine.games import random_games
from othello.engine.notation import SQUARE_TO_TOKEN
from othello.model.tokens import move_probabilities, to_tokens
from othello.sae.autoencoder import SparseAutoencoder
from othello.sae.graph import AttributionGraph, build_graph, graph_scores, node_influence
from othello.sae.transcoders import input_hook, output_hook, spliced

__all__ = ["ablation_check", "held_out_positions", "score_distribution"]


def held_out_positions(count: int, seed: int = 0, first_ply: int = 4) -> list[list[int]]:
    """``count`` game prefixes from the evaluation stream (never trained on), each cut at a ply drawn uniformly
    from ``first_ply`` .. 58 (or the game's end): the positions a graph is asked about."""
    games = random_games(count, EVAL_SEED, first_index=10**6 + seed * count)
    rng = np.random.default_rng(seed)
    out = []
    for g in games:
        moves = [int(s) for s in g if s >= 0][:59]
        out.append(moves[: int(rng.integers(min(first_ply, len(moves)), len(moves) + 1))])
    return out


def _top_move(model: torch.nn.Module, prefix: Sequence[int]) -> int:
    return int(np.argmax(move_probabilities(model, prefix)))


def score_distribution(
    model: torch.nn.Module,
    transcoders: dict[int, SparseAutoencoder],
    positions: Sequence[Sequence[int]],
    progress: bool = True,
) -> dict[str, Any]:
    """The replacement and completeness scores of each position's graph (for the model's top move): their
    quartiles and the values, with the positions' count."""
    scores: dict[str, list[float]] = {"replacement": [], "completeness": []}
    for prefix in tqdm(positions, desc="graphs", disable=not progress):
        graph = build_graph(model, transcoders, prefix, _top_move(model, prefix))
        for key, value in graph_scores(graph).items():
            scores[key].append(value)
    out: dict[str, Any] = {"positions": len(positions)}
    for key, values in scores.items():
        q = np.quantile(values, [0.1, 0.25, 0.5, 0.75, 0.9]).tolist()
        out[key] = {"p10": q[0], "p25": q[1], "median": q[2], "p75": q[3], "p90": q[4], "values": values}
    return out


@torch.no_grad()
def _logit_with_ablated(
    model: torch.nn.Module,
    transcoders: dict[int, SparseAutoencoder],
    prefix: Sequence[int],
    token: int,
    ablate: list[tuple[int, int, int]],
) -> float:
    """The target's logit in the spliced model (error nodes at their clean values) with the latents ``ablate``
    (block, position, latent) set to 0."""
    tokens = to_tokens(list(prefix)).to(next(model.parameters()).device)
    names = {h for b in transcoders for h in (input_hook(b), output_hook(b))}
    _, cache = model.run_with_cache(tokens, names_filter=lambda n: n in names)
    errors = {}
    for b, tc in transcoders.items():
        x = cache[input_hook(b)]
        errors[b] = cache[output_hook(b)] - tc(x.reshape(-1, x.shape[-1])).reshape(x.shape)

    def edit(block: int, latents: torch.Tensor) -> torch.Tensor:
        chosen = [(p, j) for b, p, j in ablate if b == block]
        if not chosen:
            return latents
        latents = latents.clone()
        for p, j in chosen:
            latents[:, p, j] = 0.0
        return latents

    with spliced(model, transcoders, errors, edit):
        return float(model(tokens)[0, -1, token])


def ablation_check(
    model: torch.nn.Module,
    transcoders: dict[int, SparseAutoencoder],
    positions: Sequence[Sequence[int]],
    ks: Sequence[int] = (5, 10, 20),
    seed: int = 0,
    progress: bool = True,
) -> dict[str, Any]:
    """For each k: the mean drop of the target's logit when the graph's k most influential latents are ablated,
    the same for k random active latents of the same graph, and their ratio (``top_drop``, ``random_drop``,
    ``ratio``), over the positions that have at least k active latents (``positions``)."""
    rng = np.random.default_rng(seed)
    drops: dict[int, dict[str, list[float]]] = {k: {"top": [], "random": []} for k in ks}
    for prefix in tqdm(positions, desc="ablations", disable=not progress):
        target = _top_move(model, prefix)
        token = int(SQUARE_TO_TOKEN[target])
        graph = build_graph(model, transcoders, prefix, target)
        ranked = _latents_by_influence(graph)
        clean = _logit_with_ablated(model, transcoders, prefix, token, [])
        for k in ks:
            if len(ranked) < k:
                continue
            top = ranked[:k]
            random = [ranked[i] for i in rng.choice(len(ranked), k, replace=False)]
            drops[k]["top"].append(clean - _logit_with_ablated(model, transcoders, prefix, token, top))
            drops[k]["random"].append(clean - _logit_with_ablated(model, transcoders, prefix, token, random))
    out: dict[str, Any] = {}
    for k, d in drops.items():
        top, random = (
            float(np.mean(d["top"])) if d["top"] else None,
            float(np.mean(d["random"])) if d["random"] else None,
        )
        ratio = top / random if top is not None and random is not None and abs(random) > 1e-9 else None
        out[str(k)] = {"positions": len(d["top"]), "top_drop": top, "random_drop": random, "ratio": ratio}
    return out


def _latents_by_influence(graph: AttributionGraph) -> list[tuple[int, int, int]]:
    """The graph's active latents (block, position, latent), most influential on the logit first."""
    influence = node_influence(graph)
    latents = [i for i, n in enumerate(graph.nodes) if n.kind == "latent"]
    latents.sort(key=lambda i: -influence[i])
    return [(graph.nodes[i].block, graph.nodes[i].position, graph.nodes[i].latent) for i in latents]
