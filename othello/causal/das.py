"""Distributed alignment search (Geiger et al.): the k-dimensional subspace where swapping the source's component
into the base run makes the model act on the counterfactual board.

The subspace of each square is ``Q [d, k]`` with orthonormal columns, the Q of a QR factorisation of a free
``[d, k]`` parameter (what ``torch.nn.utils.parametrizations.orthogonal`` does for one matrix, here batched over
the squares, so one minibatch trains every square's subspace; pyvene wraps the same idea around its own model
classes and would add an install for nothing the benchmark needs). It is fitted on the fitting pairs by the
cross-entropy of the intervened next-move distribution against the counterfactual board's legal moves (uniform
over them, the distribution the model was trained to output), the model frozen.

    bases = fit_das(model, fit_pairs, hook="blocks.4.hook_resid_post", k=2, steps=100)   # [64, d, k]
"""

from __future__ import annotations

import torch

from othello.causal.interchange import Intervention, position_mask, subspace_swap, swap_hook
from othello.engine.counterfactuals import SquarePairs
from othello.errors import ConfigError
from othello.model.tokens import legal_token_mask, model_inputs

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
    """Orthonormal bases ``[64, d, k]`` fitted on ``pairs`` at ``hook``, one per square the pairs name (the others
    zero: their swap does nothing), all squares in each minibatch of ``batch_size`` pairs, by ``steps`` Adam steps,
    seeded. Each basis is the Q of a QR factorisation of its free parameter ``[d, k]`` (orthonormal columns)."""
    if len(pairs) == 0:
        raise ConfigError("DAS needs fitting pairs")
    device = next(model.parameters()).device
    d = model.cfg.d_model
    g = torch.Generator().manual_seed(seed)
    free = torch.randn(64, d, k, generator=g).to(device).requires_grad_(True)
    optimiser = torch.optim.Adam([free], lr=lr)
    target = torch.from_numpy(legal_token_mask(pairs.counterfactual_legal)).float().to(device)
    target = target / target.sum(1, keepdim=True)
    tokens = model_inputs(pairs.base_moves).to(device)
    sources = _source_stream(model, pairs, hook)  # [N, T, ...]: read once, not once a step
    ply = torch.as_tensor(pairs.ply, dtype=torch.long)
    square = torch.as_tensor(pairs.square, dtype=torch.long, device=device)
    frozen = [p.requires_grad for p in model.parameters()]
    for p in model.parameters():
        p.requires_grad_(False)
    try:
        for _ in range(steps):
            rows = torch.randint(len(pairs), (min(batch_size, len(pairs)),), generator=g)
            length = int(ply[rows].max()) + 1
            mask = position_mask(ply[rows], length, positions).to(device)
            r, c = mask.nonzero(as_tuple=True)
            bases = torch.linalg.qr(free).Q  # [64, d, k]
            swap = Intervention("das", hook, subspace_swap(bases), k)
            fix = swap_hook(swap, r, c, sources[rows.to(device)][r, c], square[rows.to(device)][r])
            logits = model.run_with_hooks(tokens[rows, :length], fwd_hooks=[(hook, fix)])
            logits = logits[torch.arange(len(rows)), ply[rows]].float()
            logits = logits.masked_fill(torch.arange(logits.shape[1], device=device) == 0, -1e9)  # padding
            loss = -(target[rows] * logits.log_softmax(-1)).sum(-1).mean()
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
    finally:
        for p, was in zip(model.parameters(), frozen):
            p.requires_grad_(was)
    bases = torch.linalg.qr(free.detach()).Q.cpu()
    fitted = torch.zeros(64, dtype=torch.bool)
    fitted[torch.as_tensor(pairs.square, dtype=torch.long)] = True
    return bases * fitted[:, None, None]


@torch.no_grad()
def _source_stream(model: torch.nn.Module, pairs: SquarePairs, hook: str, batch_size: int = 256) -> torch.Tensor:
    """The source runs' activations at ``hook`` at every position ``[N, T, ...]`` (positions past a pair's own
    are never read)."""
    device = next(model.parameters()).device
    tokens = model_inputs(pairs.source_moves)[:, : int(pairs.ply.max()) + 1]
    parts = []
    for a in range(0, len(pairs), batch_size):
        _, cache = model.run_with_cache(tokens[a : a + batch_size].to(device), names_filter=lambda n: n == hook)
        parts.append(cache[hook])
    return torch.cat(parts)


def das_intervention(bases: torch.Tensor, hook: str) -> Intervention:
    """A fitted DAS method: ``bases`` ``[64, d, k]`` (squares not fitted: zero, so their swap does nothing)."""
    return Intervention(f"das (k={bases.shape[-1]})", hook, subspace_swap(bases), float(bases.shape[-1]))
