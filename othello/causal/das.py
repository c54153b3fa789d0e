"""Distributed alignment search (Geiger et al.): the k-dimensional subspace where swapping the source's component
into the base run makes the model act on the counterfactual board.

The subspace is ``Q [d, k]`` with orthonormal columns (``torch.nn.utils.parametrizations.orthogonal``: no extra
dependency; pyvene wraps the same parametrisation around its own model classes, which would add nothing here but
an install). It is fitted on the fitting pairs of one square by the cross-entropy of the intervened next-move
distribution against the counterfactual board's legal moves (uniform over them, the distribution the model was
trained to output), the model frozen.

    Q = fit_das(model, fit_pairs, hook="blocks.4.hook_resid_post", k=2, steps=100)
"""

from __future__ import annotations

import torch
from torch import nn

from othello.causal.interchange import Intervention, interchange_logits, subspace_swap
from othello.engine.counterfactuals import SquarePairs
from othello.errors import ConfigError
from othello.model.tokens import legal_token_mask

__all__ = ["fit_das", "das_intervention"]


def fit_das(
    model: torch.nn.Module,
    pairs: SquarePairs,
    hook: str,
    k: int,
    steps: int = 100,
    batch_size: int = 64,
    lr: float = 0.01,
    positions: str = "last",
    seed: int = 0,
) -> torch.Tensor:
    """An orthonormal basis ``[d, k]`` fitted on ``pairs`` (all of one square, or pooled) at ``hook`` by ``steps``
    Adam steps on minibatches of ``batch_size`` pairs, seeded."""
    if len(pairs) == 0:
        raise ConfigError("DAS needs fitting pairs")
    d = model.cfg.d_model
    g = torch.Generator().manual_seed(seed)
    rotation = nn.Linear(d, k, bias=False)
    with torch.no_grad():
        rotation.weight.copy_(torch.randn(k, d, generator=g))
    rotation = nn.utils.parametrizations.orthogonal(rotation)  # weight [k, d], orthonormal rows
    optimiser = torch.optim.Adam(rotation.parameters(), lr=lr)
    target = torch.from_numpy(legal_token_mask(pairs.counterfactual_legal)).float()
    target = target / target.sum(1, keepdim=True)
    frozen = [p.requires_grad for p in model.parameters()]
    for p in model.parameters():
        p.requires_grad_(False)
    try:
        for _ in range(steps):
            rows = torch.randint(len(pairs), (min(batch_size, len(pairs)),), generator=g).numpy()
            swap = subspace_swap_live(rotation)
            logits = interchange_logits(
                model, pairs.subset(rows), Intervention("das", hook, swap, k), positions, len(rows), grad=True
            )
            logits = logits.float().clone()
            logits[:, 0] = -1e9  # padding is never a move
            loss = -(target[rows] * logits.log_softmax(-1)).sum(-1).mean()
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
    finally:
        for p, was in zip(model.parameters(), frozen):
            p.requires_grad_(was)
    return rotation.weight.detach().T.clone()


def subspace_swap_live(rotation: nn.Module):  # noqa: ANN201 - a swap (see interchange.Swap)
    """The swap of ``rotation``'s current subspace, differentiable through its parametrisation."""

    def swap(base: torch.Tensor, source: torch.Tensor, square: torch.Tensor) -> torch.Tensor:
        Q = rotation.weight.T  # [d, k]
        return base + ((source - base) @ Q) @ Q.T

    return swap


def das_intervention(bases: torch.Tensor, hook: str) -> Intervention:
    """A fitted DAS method: ``bases`` ``[64, d, k]`` (squares not fitted: zero, so their swap does nothing)."""
    return Intervention(f"das (k={bases.shape[-1]})", hook, subspace_swap(bases), float(bases.shape[-1]))
