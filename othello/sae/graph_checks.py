"""What attribution graphs are worth, measured over many positions: the distribution of their two scores, the
causal check that the latents a graph ranks first matter more to the logit than as many other active latents, and
the check that steering a board-labelled supernode moves the legal moves the way its label says.

    ```python
    positions = held_out_positions(200, seed=0)                         # game prefixes, never trained on
    result = check_graphs(model, transcoders, positions, labels=latent_labels(folder, transcoders))
    result["scores"]["replacement"]["median"], result["ablation"]["10"]["ratio"], result["steering"]["success"]
    ```

One graph per position, for the model's top move there. Every edit runs in the model with each MLP replaced by
its transcoder and the error nodes held at their values on the prefix (exact before any edit; later transcoders
recompute their latents from what the edit changed), all of a position's edits in one batched forward pass:

- **ablation**: the graph's k most influential latents set to 0, against k active latents of the same graph drawn
  at random; the mean drops of the target's logit and their ratio (the rule-neuron work's standard, arXiv
  2511.00059: at least 5x).
- **steering**: each supernode of the pruned graph at the last position whose label is a square's state ("e4
  theirs") and holds on the board: its latents scaled by ``scale`` (default -1: inverted). The label says which
  moves should change: for "mine" / "theirs" the moves whose legality changes when the engine flips that disc,
  for "empty" the square itself (a disc there makes it illegal; which other moves change depends on the disc's
  colour, which the label does not say). A case succeeds when most of those moves' probabilities move the right
  way (``moved_right`` > 0.5, the intervention benchmark's measure).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from othello.data.seeds import EVAL_SEED
from othello.engine.counterfactuals import STATES, legal_squares, relative_boards
from othello.engine.games import pad_games, random_games, replay
from othello.engine.notation import SQUARE_TO_TOKEN, parse_square
from othello.model.tokens import move_probabilities, square_probabilities, to_tokens
from othello.sae.autoencoder import SparseAutoencoder
from othello.sae.graph import AttributionGraph, Labels, build_graph, graph_scores, node_influence, prune_graph
from othello.sae.graph import supernodes as find_supernodes
from othello.sae.transcoders import input_hook, output_hook, spliced
from othello.train.evaluation import moved_right

__all__ = ["check_graphs", "edited_logits", "held_out_positions"]

Latent = tuple[int, int, int]  # (block, position, latent)


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


def top_move(model: torch.nn.Module, prefix: Sequence[int]) -> int:
    """The model's most probable next square after ``prefix``."""
    return int(np.argmax(move_probabilities(model, prefix)))


@torch.no_grad()
def edited_logits(
    model: torch.nn.Module,
    transcoders: dict[int, SparseAutoencoder],
    prefix: Sequence[int],
    edits: Sequence[tuple[Sequence[Latent], float]],
) -> torch.Tensor:
    """``[len(edits), 61]``: the last position's logits of the spliced model (error nodes at their clean values)
    with, for each edit ``(latents, scale)``, those latents multiplied by ``scale``; all edits in one batch. An
    edit with no latents gives the clean model's logits."""
    tokens = to_tokens(list(prefix)).to(next(model.parameters()).device)
    names = {h for b in transcoders for h in (input_hook(b), output_hook(b))}
    _, cache = model.run_with_cache(tokens, names_filter=lambda n: n in names)
    batch = len(edits)
    errors = {}
    for b, tc in transcoders.items():
        x = cache[input_hook(b)]
        error = cache[output_hook(b)] - tc(x.reshape(-1, x.shape[-1])).reshape(x.shape)
        errors[b] = error.expand(batch, -1, -1)
    factors = {b: torch.ones(batch, tokens.shape[1], tc.cfg.d_sae) for b, tc in transcoders.items()}
    for row, (latents, scale) in enumerate(edits):
        for b, p, j in latents:
            factors[b][row, p, j] = scale

    def edit(block: int, latents: torch.Tensor) -> torch.Tensor:
        return latents * factors[block].to(latents.device)

    with spliced(model, transcoders, errors, edit):
        return model(tokens.expand(batch, -1))[:, -1].float().cpu()


def _latents_by_influence(graph: AttributionGraph) -> list[Latent]:
    """The graph's active latents (block, position, latent), most influential on the logit first."""
    influence = node_influence(graph)
    latents = [i for i, n in enumerate(graph.nodes) if n.kind == "latent"]
    latents.sort(key=lambda i: -influence[i])
    return [(graph.nodes[i].block, graph.nodes[i].position, graph.nodes[i].latent) for i in latents]


def _board(prefix: Sequence[int]) -> tuple[np.ndarray, np.ndarray] | None:
    """The relative board ``[64]`` (0 empty, 1 mine, 2 theirs for the player to move) and the legal squares after
    ``prefix``; None at the game's end or after an odd number of passes (the model's frame names the wrong
    player there)."""
    r = replay(pad_games([list(prefix)]), ("boards", "next_mover", "legal", "passed"))
    t = len(prefix) - 1
    if r.next_mover[0, t] <= 0 or r.off_parity()[0, t]:
        return None
    return relative_boards(r.boards[0, t], r.next_mover[0, t]), r.legal[0, t]


def _steering_cases(graph: AttributionGraph, labels: Labels, board: tuple[np.ndarray, np.ndarray]) -> list[dict]:
    """The supernodes at the last position whose label is a square's state, with what the label says should
    change (``expected`` [64] bool), or why nothing can be expected (``left_out``: "label false" where the label
    does not hold on the board, "no change" where the label's counterfactual changes no legal move)."""
    relative, legal = board
    keep, _ = prune_graph(graph)
    last = len(graph.moves) - 1
    cases = []
    for group in find_supernodes(graph, keep, labels):
        name, state = group["property"].split()
        if group["position"] != last or state not in STATES:
            continue
        square, code = parse_square(name), STATES.index(state)
        if state == "empty":
            expected = legal.copy()
            expected[square] = False
        else:
            flipped = relative.copy()
            flipped[square] = 3 - code
            expected = legal_squares(flipped)
        left_out = "label false" if relative[square] != code else "no change" if (expected == legal).all() else None
        latents = [(graph.nodes[i].block, last, graph.nodes[i].latent) for i in group["nodes"]]
        cases.append(
            {"supernode": group["name"], "state": state, "latents": latents, "expected": expected, "left_out": left_out}
        )
    return cases


def check_graphs(
    model: torch.nn.Module,
    transcoders: dict[int, SparseAutoencoder],
    positions: Sequence[Sequence[int]],
    labels: Labels | None = None,
    ks: Sequence[int] = (5, 10, 20),
    scale: float = -1.0,
    seed: int = 0,
    progress: bool = True,
) -> dict[str, Any]:
    """The three checks over ``positions`` (see the module): ``scores`` (replacement and completeness quantiles
    and values), ``ablation`` (per k: ``positions``, ``top_drop``, ``random_drop``, ``ratio``) and, with
    ``labels``, ``steering`` (``cases``, ``success``, ``mean_moved_right``, by state, and the supernodes left out
    with why)."""
    rng = np.random.default_rng(seed)
    scores: dict[str, list[float]] = {"replacement": [], "completeness": []}
    drops: dict[int, dict[str, list[float]]] = {k: {"top": [], "random": []} for k in ks}
    steering: list[dict] = []
    skipped = {"label false": 0, "no change": 0, "no player to move": 0}
    for prefix in tqdm(positions, desc="graphs", disable=not progress):
        target = top_move(model, prefix)
        token = int(SQUARE_TO_TOKEN[target])
        graph = build_graph(model, transcoders, prefix, target)
        for key, value in graph_scores(graph).items():
            scores[key].append(value)
        ranked = _latents_by_influence(graph)
        usable = [k for k in ks if len(ranked) >= k]
        edits: list[tuple[Sequence[Latent], float]] = [((), 1.0)]
        for k in usable:
            random = [ranked[i] for i in rng.choice(len(ranked), k, replace=False)]
            edits += [(ranked[:k], 0.0), (random, 0.0)]
        board = _board(prefix) if labels else None
        cases = _steering_cases(graph, labels, board) if board is not None else []
        skipped["no player to move"] += bool(labels) and board is None
        for c in cases:
            if c["left_out"]:
                skipped[c["left_out"]] += 1
        cases = [c for c in cases if c["left_out"] is None]
        edits += [(c["latents"], scale) for c in cases]
        logits = edited_logits(model, transcoders, prefix, edits)
        clean = float(logits[0, token])
        for n, k in enumerate(usable):
            drops[k]["top"].append(clean - float(logits[1 + 2 * n, token]))
            drops[k]["random"].append(clean - float(logits[2 + 2 * n, token]))
        if cases:
            probabilities = square_probabilities(logits)
            for c, after in zip(cases, probabilities[-len(cases) :]):
                right = moved_right(probabilities[0], after, board[1], c["expected"])
                steering.append({"supernode": c["supernode"], "state": c["state"], "moved_right": right})
    out: dict[str, Any] = {"positions": len(positions), "scores": _quantiles(scores), "ablation": _ablation(drops)}
    if labels:
        out["steering"] = {"scale": scale, **_steering_summary(steering), "skipped": skipped}
    return out


def _quantiles(scores: dict[str, list[float]]) -> dict[str, Any]:
    out = {}
    for key, values in scores.items():
        q = np.quantile(values, [0.1, 0.25, 0.5, 0.75, 0.9]).tolist() if values else [float("nan")] * 5
        out[key] = {"p10": q[0], "p25": q[1], "median": q[2], "p75": q[3], "p90": q[4], "values": values}
    return out


def _ablation(drops: dict[int, dict[str, list[float]]]) -> dict[str, Any]:
    out = {}
    for k, d in drops.items():
        top = float(np.mean(d["top"])) if d["top"] else None
        random = float(np.mean(d["random"])) if d["random"] else None
        ratio = top / random if top is not None and random is not None and abs(random) > 1e-9 else None
        out[str(k)] = {"positions": len(d["top"]), "top_drop": top, "random_drop": random, "ratio": ratio}
    return out


def _steering_summary(rows: list[dict]) -> dict[str, Any]:
    def summary(part: list[dict]) -> dict[str, Any]:
        right = np.array([r["moved_right"] for r in part], dtype=float)
        return {
            "cases": len(part),
            "success": float((right > 0.5).mean()) if len(part) else None,
            "mean_moved_right": float(right.mean()) if len(part) else None,
        }

    by_state = {s: summary([r for r in rows if r["state"] == s]) for s in STATES}
    return {**summary(rows), "by_state": by_state, "rows": rows}
