"""Every MLP neuron of a block over held-out games: what board it fires on, an automatic rule for it, and whether
that rule matters to the model's moves.

    ```python
    moves = random_games(2000, CIRCUITS_SEED)
    prof = neuron_profiles(model, 5, moves)                 # blocks.5.mlp.hook_post, all 1,024 neurons
    prof.rows()[:3]                                         # layer, neuron, r2, rule, top_squares, ...
    rule_ablation(model, prof, random_games(500, EVAL_SEED))   # rule positions vs random ones
    ```

A neuron's rule is a regression tree over the board's 384 binary features (``othello.probes.trees``, the code
dictionary latents' rules use too), fitted on the first half of the games and scored by R^2 on the second;
"rule-explained" means R^2 >= 0.7 (``RULE_R2``). Its rule text is the path to its highest leaf ("c4 empty and d5
theirs and not e3 flipped").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from othello.engine.notation import TOKEN_TO_SQUARE
from othello.errors import ConfigError
from othello.memory import check_memory
from othello.model.hooks import neuron_hook
from othello.model.tokens import model_inputs, top_moves
from othello.probes.activations import iter_activations
from othello.probes.rules import RULE_DEPTH, RULE_R2
from othello.probes.targets import board_labels
from othello.probes.trees import FEATURES, GROUPS, RuleTrees, board_features, fit_rules

__all__ = [
    "GROUPS",
    "FEATURES",
    "RULE_R2",
    "RuleTrees",
    "NeuronProfiles",
    "board_features",
    "fit_rules",
    "neuron_profiles",
    "rule_ablation",
    "top1_legal_rate",
]


@dataclass
class NeuronProfiles:
    """Neurons ``neurons`` of ``blocks.{layer}.mlp.hook_post`` over games ``moves``:

    - ``mean`` ``[K]``; ``conditional[group]`` ``[K, 64]``: mean activation where each square's feature of that
      group holds (``GROUPS``: empty, mine, theirs, flipped, legal, played), NaN where it never does;
    - ``trees``: the rules (fitted on the first half of the games, R^2 on the second);
    - ``top`` ``[K, n, 2]`` (game, position) of the highest activations and ``top_values`` ``[K, n]``;
    - ``activations`` ``[rows, K]`` and ``features`` ``[rows, 384]`` of every valid position, when asked to keep
      them (one neuron's page draws its spectrum from them).
    """

    layer: int
    neurons: np.ndarray
    moves: np.ndarray
    mean: np.ndarray
    conditional: dict[str, np.ndarray]
    trees: RuleTrees
    top: np.ndarray
    top_values: np.ndarray
    weights: dict[str, np.ndarray] | None = None
    activations: np.ndarray | None = None
    features: np.ndarray | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def index(self, neuron: int) -> int:
        where = np.flatnonzero(self.neurons == neuron)
        if not len(where):
            raise ConfigError(f"neuron {neuron} was not profiled (profiled: {len(self.neurons)} neurons)")
        return int(where[0])

    def rows(self) -> list[dict[str, Any]]:
        """One row per neuron: ``block``, ``hook``, ``layer`` (an alias of ``block``), ``neuron``, ``r2``,
        ``rule``, ``top_squares``, ``explained`` (r2 >=
        ``RULE_R2``), ``mean``, ``max``, and ``subspace_share`` where the weights were read."""
        out = []
        for i, n in enumerate(self.neurons):
            row = {
                "block": self.layer,
                "hook": neuron_hook(self.layer),
                "layer": self.layer,
                "neuron": int(n),
                "r2": float(self.trees.r2[i]),
                "rule": self.trees.rule(i),
                "top_squares": self.trees.rule_squares(i),
                "explained": bool(self.trees.r2[i] >= RULE_R2),
                "mean": float(self.mean[i]),
                "max": float(self.top_values[i, 0]),
            }
            if self.weights is not None:
                row["subspace_share"] = float(self.weights["subspace_share"][n])
            out.append(row)
        return out

    def explained_share(self, threshold: float = RULE_R2) -> float:
        return float((self.trees.r2 >= threshold).mean())


def _collect(model: torch.nn.Module, moves: np.ndarray, hook: str, neurons: np.ndarray, progress: bool) -> np.ndarray:
    parts = []
    for _, acts in iter_activations(model, moves, [hook], batch_size=128, progress=progress):
        parts.append(acts[hook][:, :, neurons])
    return np.concatenate(parts)  # [G, 59, K]


def neuron_profiles(
    model: torch.nn.Module,
    layer: int,
    moves: np.ndarray,
    neurons: Sequence[int] | None = None,
    depth: int = RULE_DEPTH,
    top: int = 8,
    keep_activations: bool = False,
    weights: dict[str, np.ndarray] | None = None,
    progress: bool = True,
) -> NeuronProfiles:
    """Profiles of the neurons ``neurons`` (all by default) of ``blocks.{layer}.mlp.hook_post`` over games
    ``moves`` ``[G, 60]`` (at least 2; the first half fits the rules, the second scores them). ``weights``: the
    layer's ``neuron_weights``, carried into the rows."""
    n_layers, d_mlp = model.cfg.n_layers, model.cfg.d_mlp
    if not 0 <= layer < n_layers:
        raise ConfigError(f"layer {layer} is out of range 0..{n_layers - 1} (blocks.L.mlp.hook_post)")
    index = np.arange(d_mlp) if neurons is None else np.asarray(list(neurons), dtype=np.int64)
    if len(index) == 0 or index.min() < 0 or index.max() >= d_mlp:
        raise ConfigError(f"neurons must lie in 0..{d_mlp - 1}")
    moves = np.asarray(moves)
    if len(moves) < 2:
        raise ConfigError("neuron profiles need at least 2 games: half fit the rules, half score them")
    # activations [G, 59, K] float32 held about three times (collected, valid rows, fit and test halves), and the
    # 384 board features of every position as float32
    check_memory(
        len(moves) * 59 * (3 * 4 * len(index) + 4 * 384), f"profiles of {len(index)} neurons over {len(moves):,} games"
    )
    acts = _collect(model, moves, neuron_hook(layer), index, progress)  # [G, 59, K]
    features, valid = board_features(moves)
    half = len(moves) // 2
    fit_rows, test_rows = valid.copy(), valid.copy()
    fit_rows[half:], test_rows[:half] = False, False
    A = torch.from_numpy(acts[valid])  # [rows, K]
    F = torch.from_numpy(features[valid]).float()  # [rows, 384]
    counts = F.sum(0)
    conditional = ((F.T @ A) / counts[:, None]).T.numpy()  # [K, 384]; NaN where a feature never holds
    conditional = {g: conditional[:, i * 64 : (i + 1) * 64] for i, g in enumerate(GROUPS)}
    trees = fit_rules(
        torch.from_numpy(acts[fit_rows]),
        torch.from_numpy(features[fit_rows]),
        torch.from_numpy(acts[test_rows]),
        torch.from_numpy(features[test_rows]),
        depth,
    )
    k = min(top, len(A))
    top_values, top_rows = torch.topk(A, k, dim=0)  # [k, K]
    games, positions = np.nonzero(valid)
    top_rows = top_rows.T.numpy()
    return NeuronProfiles(
        layer=layer,
        neurons=index,
        moves=moves,
        mean=A.mean(0).numpy(),
        conditional=conditional,
        trees=trees,
        top=np.stack([games[top_rows], positions[top_rows]], -1),
        top_values=top_values.T.numpy(),
        weights=weights,
        activations=A.numpy() if keep_activations else None,
        features=features[valid] if keep_activations else None,
    )


def top1_legal_rate(logits: torch.Tensor, legal: np.ndarray, valid: np.ndarray) -> tuple[int, int]:
    """(positions whose top move is legal, positions) for logits ``[G, 59, 61]``, legal ``[G, 59, 64]`` and the
    positions to count ``[G, 59]``."""
    top = TOKEN_TO_SQUARE[top_moves(logits).cpu().numpy()]  # [G, 59] squares
    hit = np.take_along_axis(legal, top[..., None].astype(np.int64), -1)[..., 0] == 1
    return int((hit & valid).sum()), int(valid.sum())


@torch.no_grad()
def rule_ablation(
    model: torch.nn.Module,
    profiles: NeuronProfiles,
    moves: np.ndarray,
    threshold: float = RULE_R2,
    ablation: str = "mean",
    seed: int = 0,
    batch_size: int = 128,
    progress: bool = True,
) -> dict[str, Any]:
    """Ablate the rule-explained neurons (R^2 >= ``threshold``) of the profiled layer at the positions of games
    ``moves`` where their rule fires (the path to their highest leaf holds), and, as the control, the same
    neurons at as many random positions each; the top-1 legal rate over every position, clean and under each.
    ``ablation``: "mean" (the neuron's mean activation) or "zero"."""
    if ablation not in ("mean", "zero"):
        raise ConfigError(f"unknown ablation {ablation!r}; choose mean or zero")
    chosen = np.flatnonzero(profiles.trees.r2 >= threshold)
    rng = np.random.default_rng(seed)
    features, valid = board_features(moves)
    legal = board_labels(moves, "legal")
    value = torch.from_numpy(profiles.mean[chosen] if ablation == "mean" else np.zeros(len(chosen), np.float32))
    neurons = torch.from_numpy(profiles.neurons[chosen])
    best = torch.tensor([profiles.trees.best_leaf(int(i)) for i in chosen], dtype=torch.long)
    hook_point = neuron_hook(profiles.layer)
    device = next(model.parameters()).device
    hits = {"clean": 0, "rule": 0, "random": 0}
    total, ablated = 0, 0
    for a in tqdm(range(0, len(moves), batch_size), desc="ablation", unit="batch", disable=not progress):
        sl = slice(a, a + batch_size)
        g_valid = valid[sl]
        tokens = model_inputs(np.asarray(moves[sl])).to(device)
        rule_mask = torch.zeros(g_valid.shape + (len(chosen),), dtype=torch.bool)
        if len(chosen):
            leaf = profiles.trees.leaf_of(torch.from_numpy(features[sl][g_valid]), chosen)  # [rows, k]
            rule_mask[torch.from_numpy(g_valid)] = leaf == best[None, :]
        random_mask = torch.zeros_like(rule_mask)
        flat_valid = np.flatnonzero(g_valid.ravel())
        for j, count in enumerate(rule_mask.flatten(0, 1).sum(0).tolist()):
            picked = rng.choice(flat_valid, size=min(count, len(flat_valid)), replace=False)
            random_mask.view(-1, len(chosen))[picked, j] = True
        ablated += int(rule_mask.sum())
        for name, mask in (("clean", None), ("rule", rule_mask), ("random", random_mask)):

            def edit(act: torch.Tensor, hook: Any, mask: torch.Tensor | None = mask) -> torch.Tensor:
                act = act.clone()
                sub = act[:, :, neurons]
                m = mask.to(act.device)
                act[:, :, neurons] = torch.where(m, value.to(act.device).to(act.dtype), sub)
                return act

            logits = model(tokens) if mask is None else model.run_with_hooks(tokens, fwd_hooks=[(hook_point, edit)])
            hit, count = top1_legal_rate(logits, legal[sl], g_valid)
            hits[name] += hit
        total += count
    rates = {name: hits[name] / max(total, 1) for name in hits}
    rule_drop, random_drop = rates["clean"] - rates["rule"], rates["clean"] - rates["random"]
    return {
        "block": profiles.layer,
        "hook": neuron_hook(profiles.layer),
        "layer": profiles.layer,
        "neurons": len(chosen),
        "threshold": threshold,
        "ablation": ablation,
        "positions": total,
        "ablated": ablated,
        "clean_legal": rates["clean"],
        "rule_legal": rates["rule"],
        "random_legal": rates["random"],
        "rule_drop": rule_drop,
        "random_drop": random_drop,
        "ratio": rule_drop / random_drop if random_drop > 0 else None,
    }


def neuron_page(profiles: NeuronProfiles, neuron: int, bins: int = 40) -> dict[str, Any]:
    """Everything one neuron's page shows, as plain data: its row, the conditional maps ``{group: [64]}``, its
    weights in the probe basis (``[64]`` each, where read), the spectrum (histograms of its activation where its
    best single feature, the tree's first split, holds and where it does not; needs ``keep_activations``) and
    its top positions (game, position, moves, activation, board ``[64]`` 0 empty 1 black 2 white, next mover)."""
    from othello.engine.games import replay
    from othello.engine.notation import square_name

    i = profiles.index(neuron)
    page: dict[str, Any] = next(r for r in profiles.rows() if r["neuron"] == neuron)
    page["conditional"] = {g: profiles.conditional[g][i].tolist() for g in GROUPS}
    page["weights"] = (
        {k: v[neuron].tolist() for k, v in profiles.weights.items() if k != "subspace_share"}
        if profiles.weights is not None
        else None
    )
    root = int(profiles.trees.splits[i, 0])
    page["spectrum"] = None
    if profiles.activations is not None and root >= 0:
        a = profiles.activations[:, i]
        on = profiles.features[:, root].astype(bool)
        edges = np.linspace(float(a.min()), float(a.max()) + 1e-6, bins + 1)
        page["spectrum"] = {
            "feature": FEATURES[root],
            "edges": edges.tolist(),
            "on": np.histogram(a[on], edges)[0].tolist(),
            "off": np.histogram(a[~on], edges)[0].tolist(),
        }
    examples = []
    for (g, t), value in zip(profiles.top[i], profiles.top_values[i]):
        game = profiles.moves[int(g) : int(g) + 1]
        r = replay(game, ("boards", "next_mover"))
        examples.append(
            {
                "game": int(g),
                "position": int(t),
                "moves": " ".join(square_name(s) for s in game[0, : int(t) + 1]),
                "activation": float(value),
                "board": r.boards[0, int(t)].tolist(),
                "next_mover": int(r.next_mover[0, int(t)]),
            }
        )
    page["examples"] = examples
    return page
