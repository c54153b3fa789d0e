"""Interchange interventions: the base run with one component taken from the source run, and how to score it.

An ``Intervention`` names a hook and a ``swap``: given the base run's activations at the chosen positions, the
source run's at the same positions and each pair's square, it returns what the base run carries on. A subspace
method swaps the component in its subspace (``subspace_swap``: ``base + (source - base) Q Q^T`` for an orthonormal
``Q [d, k]``, which may depend on the square); a unit method copies units (``unit_swap``: MLP neurons); a dictionary
method swaps the decoded contribution of some latents (``latent_swap``), keeping everything else of the base run,
the dictionary's error included.

    logits = interchange_logits(model, pairs, intervention, positions="last")    # [N, 61]
    scores = score_pairs(logits, pairs, base_logits)                              # per-pair hits and errors
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from othello.causal.suffix import Suffix
from othello.engine.counterfactuals import SquarePairs
from othello.engine.notation import TOKEN_TO_SQUARE
from othello.errors import ConfigError
from othello.model.tokens import model_inputs, square_probabilities, top_moves
from othello.train.evaluation import legal_set_errors, moved_right

__all__ = [
    "Intervention",
    "interchange_logits",
    "base_logits",
    "source_activations",
    "swap_hook",
    "subspace_swap",
    "unit_swap",
    "latent_swap",
    "transcoder_hooks",
    "score_pairs",
    "position_mask",
    "wilson_interval",
]

Swap = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


Hooks = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor], list[tuple[str, Callable[..., Any]]]]


@dataclass
class Intervention:
    """A method's interchange at one hook: ``swap(base [n, ...], source [n, ...], square [n]) -> [n, ...]`` on the
    rows of the chosen positions; ``size`` is its dimension or unit count (mean over squares where it varies).
    A method that reads one hook and writes another (a transcoder's latents: read at the MLP's input, written at
    its output) gives ``hooks(rows, cols, source, square) -> [(hook name, function)]`` instead; ``hook`` is then
    where the source runs are read."""

    method: str
    hook: str
    swap: Swap | None
    size: float
    hooks: Hooks | None = None

    def fwd_hooks(
        self, rows: torch.Tensor, cols: torch.Tensor, source: torch.Tensor, square: torch.Tensor
    ) -> list[tuple[str, Callable[..., Any]]]:
        """The forward hooks that carry out the interchange at (``rows``, ``cols``)."""
        if self.hooks is not None:
            return self.hooks(rows, cols, source, square)
        return [(self.hook, swap_hook(self, rows, cols, source, square))]


def position_mask(ply: torch.Tensor, length: int, positions: str) -> torch.Tensor:
    """``[N, length]`` bool: the positions an interchange touches for pairs at ``ply`` [N]: ``"last"`` (the
    position that predicts the next move), ``"last:K"`` (the last K), ``"all"`` (every position up to the last)."""
    index = torch.arange(length)[None, :]
    last = ply[:, None]
    if positions == "last":
        return index == last
    if positions == "all":
        return index <= last
    if positions.startswith("last:"):
        try:
            k = int(positions.split(":", 1)[1])
        except ValueError:
            k = 0
        if k >= 1:
            return (index <= last) & (index > last - k)
    raise ConfigError(f"positions {positions!r}: expected last, last:K (K >= 1) or all")


def _batches(pairs: SquarePairs, batch_size: int) -> Any:
    """Batches of pairs in order of their ply (so a batch is cut at its longest position with little padding):
    each batch's pair indices, plies, base and source tokens and squares."""
    order = np.argsort(pairs.ply, kind="stable")
    for a in range(0, len(pairs), batch_size):
        idx = order[a : a + batch_size]
        ply = torch.as_tensor(pairs.ply[idx], dtype=torch.long)
        length = int(ply.max()) + 1  # nothing after the last position read matters to it
        base = model_inputs(pairs.base_moves[idx])[:, :length]
        source = model_inputs(pairs.source_moves[idx])[:, :length]
        yield idx, ply, base, source, torch.as_tensor(pairs.square[idx], dtype=torch.long)


def _read(logits: torch.Tensor, ply: torch.Tensor) -> torch.Tensor:
    return logits[torch.arange(len(ply)), ply]


@torch.no_grad()
def base_logits(model: torch.nn.Module, pairs: SquarePairs, batch_size: int = 256) -> torch.Tensor:
    """The base runs' next-move logits ``[N, 61]`` at each pair's position, no intervention."""
    device = next(model.parameters()).device
    out = torch.zeros(len(pairs), model.cfg.d_vocab)
    for idx, ply, base, _, _ in _batches(pairs, batch_size):
        out[idx] = _read(model(base.to(device)), ply).float().cpu()
    return out


@torch.no_grad()
def source_activations(
    model: torch.nn.Module, pairs: SquarePairs, hooks: list[str], positions: str = "last", batch_size: int = 256
) -> dict[str, list[torch.Tensor]]:
    """The source runs' activations at ``hooks`` at the chosen positions, one tensor per batch (in
    ``interchange_logits``'s batch order): read once, shared by every method at those hooks."""
    device = next(model.parameters()).device
    out: dict[str, list[torch.Tensor]] = {hook: [] for hook in hooks}
    for _, ply, _, source, _ in _batches(pairs, batch_size):
        rows, cols = position_mask(ply, source.shape[1], positions).nonzero(as_tuple=True)
        _, cache = model.run_with_cache(source.to(device), names_filter=lambda n: n in out)
        for hook in hooks:
            out[hook].append(cache[hook][rows.to(device), cols.to(device)])
    return out


def interchange_logits(
    model: torch.nn.Module,
    pairs: SquarePairs,
    intervention: Intervention,
    positions: str = "last",
    batch_size: int = 256,
    grad: bool = False,
    sources: dict[str, list[torch.Tensor]] | None = None,
    suffix: Suffix | None = None,
) -> torch.Tensor:
    """The base runs' next-move logits ``[N, 61]`` with ``intervention`` applied at ``positions`` (see
    ``position_mask``): the source runs' activations at the hook (from ``sources`` when given, made by
    ``source_activations`` with the same pairs, positions and batch size) replace the base runs' there, which
    carry on. ``grad``: keep the graph (to fit a method through it). ``suffix``: the base runs of the same pairs
    read once (``othello.causal.suffix``); at the last position, where the intervention's hooks are its points,
    only that position is run from the hooked layer on (the same logits, the rest of the run unchanged)."""
    device = next(model.parameters()).device
    if sources is None:
        sources = source_activations(model, pairs, [intervention.hook], positions, batch_size)
    rows_out: list[torch.Tensor] = []
    order: list[np.ndarray] = []
    with torch.set_grad_enabled(grad):
        for b, (idx, ply, base, _, square) in enumerate(_batches(pairs, batch_size)):
            rows, cols = position_mask(ply, base.shape[1], positions).to(device).nonzero(as_tuple=True)
            source = sources[intervention.hook][b]
            fast = suffix is not None and positions == "last"
            if fast:  # one position a pair: the hooks see [n, 1, ...]
                here = torch.arange(len(idx), device=device)
                hooks = intervention.fwd_hooks(here, torch.zeros_like(here), source, square.to(device))
                fast = suffix.first_layer([name for name, _ in hooks]) is not None
            if fast:
                read = suffix.run(torch.as_tensor(idx, device=device), hooks)
            else:
                hooks = intervention.fwd_hooks(rows, cols, source, square.to(device)[rows])
                read = _read(model.run_with_hooks(base.to(device), fwd_hooks=hooks), ply)
            rows_out.append(read if grad else read.float().cpu())
            order.append(idx)
    logits = torch.cat(rows_out)
    return logits[torch.from_numpy(np.argsort(np.concatenate(order)))]


def swap_hook(
    intervention: Intervention, rows: torch.Tensor, cols: torch.Tensor, source: torch.Tensor, square: torch.Tensor
) -> Callable[..., torch.Tensor]:
    """The hook that swaps the base run's activations at (``rows``, ``cols``) with ``source`` ``[n, ...]``."""

    def hook(act: torch.Tensor, hook: Any = None) -> torch.Tensor:
        act = act.clone()
        act[rows, cols] = intervention.swap(act[rows, cols], source, square).to(act.dtype)
        return act

    return hook


def subspace_swap(bases: torch.Tensor) -> Swap:
    """The swap of an orthonormal subspace: ``bases`` ``[d, k]`` (one for every square) or ``[64, d, k]`` (each
    square its own)."""

    def swap(base: torch.Tensor, source: torch.Tensor, square: torch.Tensor) -> torch.Tensor:
        Q = bases.to(base.device, base.dtype)
        if Q.dim() == 2:
            return base + ((source - base) @ Q) @ Q.T
        Q = Q[square]  # [n, d, k]
        coords = torch.einsum("nd,ndk->nk", source - base, Q)
        return base + torch.einsum("nk,ndk->nd", coords, Q)

    return swap


def unit_swap(units: torch.Tensor) -> Swap:
    """The swap of units: ``units`` ``[64, n_units]`` bool, the units that stand for each square."""

    def swap(base: torch.Tensor, source: torch.Tensor, square: torch.Tensor) -> torch.Tensor:
        chosen = units.to(base.device)[square]
        return torch.where(chosen, source, base)

    return swap


def latent_swap(encode: Callable[[torch.Tensor], torch.Tensor], decoder: torch.Tensor, latents: torch.Tensor) -> Swap:
    """The swap of a dictionary's latents: ``encode`` maps activations ``[n, d]`` to latents ``[n, d_sae]``,
    ``decoder`` ``[d_sae, d]`` is what a unit of each latent adds to the activation, ``latents`` ``[64, d_sae]``
    bool the latents that stand for each square. Only their decoded difference is added: the rest of the base
    activation, the dictionary's error included, stays."""

    def swap(base: torch.Tensor, source: torch.Tensor, square: torch.Tensor) -> torch.Tensor:
        chosen = latents.to(base.device)[square].to(base.dtype)
        delta = (encode(source) - encode(base)) * chosen
        return base + delta @ decoder.to(base.device, base.dtype)

    return swap


def transcoder_hooks(
    encode: Callable[[torch.Tensor], torch.Tensor],
    decoder: torch.Tensor,
    latents: torch.Tensor,
    input_hook: str,
    output_hook: str,
) -> Hooks:
    """The interchange of a transcoder's latents: at the chosen rows the MLP's output gains the decoded difference
    between the source's latents and the base's, over the latents that stand for the square (``latents`` ``[64,
    d_sae]`` bool); the base's latents are read from its own input to the MLP in the same run, the source's from
    ``source`` (its input there). The MLP itself and the transcoder's error stay the base run's."""

    def hooks(rows: torch.Tensor, cols: torch.Tensor, source: torch.Tensor, square: torch.Tensor) -> list:
        seen: dict[str, torch.Tensor] = {}

        def keep(act: torch.Tensor, hook: Any = None) -> torch.Tensor:
            seen["input"] = act[rows, cols]
            return act

        def write(act: torch.Tensor, hook: Any = None) -> torch.Tensor:
            chosen = latents.to(act.device)[square].to(act.dtype)
            delta = (encode(source) - encode(seen.pop("input"))) * chosen
            act = act.clone()
            act[rows, cols] = act[rows, cols] + (delta @ decoder.to(act.device, act.dtype)).to(act.dtype)
            return act

        return [(input_hook, keep), (output_hook, write)]

    return hooks


def score_pairs(logits: torch.Tensor, pairs: SquarePairs, before: torch.Tensor) -> dict[str, np.ndarray]:
    """Per pair, from the intervened logits ``[N, 61]`` and the base runs' ``before``: ``hit`` (the top move is
    legal on the counterfactual board: the interchange-intervention accuracy's numerator), ``error`` (Li et al.'s
    legal-set error against the counterfactual legal set) and ``moved_right`` (of the squares whose legality the
    swap changes, the share whose probability moved the right way from the base run; NaN where none)."""
    top = TOKEN_TO_SQUARE[top_moves(logits).numpy()]
    hit = pairs.counterfactual_legal[np.arange(len(pairs)), top]
    after, prior = square_probabilities(logits), square_probabilities(before)
    error = legal_set_errors(after, pairs.counterfactual_legal)
    right = np.array(
        [moved_right(prior[i], after[i], pairs.base_legal[i], pairs.counterfactual_legal[i]) for i in range(len(pairs))]
    )
    return {"hit": hit, "error": error.astype(float), "moved_right": right}


def wilson_interval(hits: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """The 95 % Wilson score interval of a rate ``hits / n``."""
    if n == 0:
        return float("nan"), float("nan")
    p = hits / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return float(centre - half), float(centre + half)
