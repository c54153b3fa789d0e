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

import re
from collections.abc import Callable

import torch

from othello.causal.interchange import Intervention, position_mask, subspace_swap, swap_hook
from othello.causal.suffix import Suffix, last_streams
from othello.engine.counterfactuals import SquarePairs
from othello.errors import ConfigError
from othello.model.tokens import legal_token_mask, model_inputs

__all__ = ["fit_das", "das_step", "das_intervention"]


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
    suffix: bool = True,
    step: Step | None = None,
) -> torch.Tensor:
    """Orthonormal bases ``[64, d, k]`` fitted on ``pairs`` at ``hook``, one per square the pairs name (the others
    zero: their swap does nothing), all squares in each minibatch of ``batch_size`` pairs, by ``steps`` Adam steps,
    seeded. Each basis is the Q of a QR factorisation of its free parameter ``[d, k]`` (orthonormal columns).

    At the last position of a residual-stream hook, with ``suffix``, each step runs only that position from the
    hook on, against the base runs' cached keys and values (``othello.causal.suffix``: the same logits, measured
    ten times faster or more); elsewhere, or without ``suffix`` (a model that is not a TransformerLens
    transformer), the whole model. ``step``: the same, prepared once by ``das_step`` for several fits (k) on the
    same pairs."""
    if len(pairs) == 0:
        raise ConfigError("DAS needs fitting pairs")
    device = next(model.parameters()).device
    g = torch.Generator().manual_seed(seed)
    free = torch.randn(64, model.cfg.d_model, k, generator=g).to(device).requires_grad_(True)
    optimiser = torch.optim.Adam([free], lr=lr)
    target = torch.from_numpy(legal_token_mask(pairs.counterfactual_legal)).float().to(device)
    target = target / target.sum(1, keepdim=True)
    step = step or das_step(model, pairs, hook, positions, suffix)
    frozen = [p.requires_grad for p in model.parameters()]
    for p in model.parameters():
        p.requires_grad_(False)
    try:
        for _ in range(steps):
            rows = torch.randint(len(pairs), (min(batch_size, len(pairs)),), generator=g).to(device)
            logits = step(torch.linalg.qr(free).Q, rows).float()
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


Step = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def das_step(
    model: torch.nn.Module,
    pairs: SquarePairs,
    hook: str,
    positions: str = "last",
    suffix: bool | Suffix = True,
    sources: torch.Tensor | None = None,
) -> Step:
    """What one fitting step computes, prepared once for ``pairs`` (see ``fit_das``): ``step(bases [64, d, k],
    rows [n]) -> logits [n, vocab]`` of the base runs ``rows`` with each pair's square swapped in its basis.
    ``suffix`` may be one already read for these pairs (from the hook's layer or before) and ``sources`` ``[N, d]``
    the source runs' stream at the hook at the last position, both shared by several layers' fits."""
    square = torch.as_tensor(pairs.square, dtype=torch.long, device=next(model.parameters()).device)
    layer = _stream_layer(hook)
    if suffix is not False and positions == "last" and layer is not None:
        if not isinstance(suffix, Suffix):
            suffix = Suffix.of(model, pairs, layer)
        if sources is None:  # [N, d]: read once, not once a step
            sources = last_streams(model, pairs.source_moves, pairs.ply, layer)[layer]
        return _suffix_step(suffix, layer, square, sources)
    return _full_step(model, pairs, hook, positions, square)


def _stream_layer(hook: str) -> int | None:
    """L for the residual stream after block L-1 (``blocks.{L-1}.hook_resid_post``), else None."""
    match = re.fullmatch(r"blocks\.(\d+)\.hook_resid_post", hook)
    return int(match.group(1)) + 1 if match else None


def _suffix_step(suffix: Suffix, layer: int, square: torch.Tensor, sources: torch.Tensor) -> Step:
    """One step's logits ``[n, vocab]`` at the pairs ``rows`` with bases ``[64, d, k]``: the last position only."""

    def step(bases: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        swapped = subspace_swap(bases)(suffix.streams[layer][rows], sources[rows], square[rows])
        return suffix.logits(swapped, rows, layer)

    return step


def _full_step(model: torch.nn.Module, pairs: SquarePairs, hook: str, positions: str, square: torch.Tensor) -> Step:
    """One step's logits ``[n, vocab]`` at the pairs ``rows``: the whole model, the swap at ``positions``."""
    device = next(model.parameters()).device
    tokens = model_inputs(pairs.base_moves).to(device)
    sources = _source_stream(model, pairs, hook)  # [N, T, ...]: read once, not once a step
    ply = torch.as_tensor(pairs.ply, dtype=torch.long, device=device)

    def step(bases: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        length = int(ply[rows].max()) + 1
        mask = position_mask(ply[rows].cpu(), length, positions).to(device)
        r, c = mask.nonzero(as_tuple=True)
        swap = Intervention("das", hook, subspace_swap(bases), bases.shape[-1])
        fix = swap_hook(swap, r, c, sources[rows][r, c], square[rows][r])
        logits = model.run_with_hooks(tokens[rows, :length], fwd_hooks=[(hook, fix)])
        return logits[torch.arange(len(rows), device=device), ply[rows]]

    return step


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
