"""Activations at TransformerLens hook points, collected in batches, to memory or streamed to HDF5.

```python
acts = collect_activations(model, moves, ["blocks.3.hook_resid_post"])
acts["blocks.3.hook_resid_post"].shape      # [games, 59, d_model]
```
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import h5py
import numpy as np
import torch
from tqdm.auto import tqdm

from othello.data.datasets import describe, open_for_writing
from othello.engine.notation import N_CTX
from othello.errors import ConfigError
from othello.files import atomic_path
from othello.model.tokens import model_inputs


def _positions(positions: Sequence[int] | slice | None) -> np.ndarray:
    if positions is None:
        return np.arange(N_CTX)
    index = np.arange(N_CTX)[positions] if isinstance(positions, slice) else np.asarray(positions, dtype=np.int64)
    if index.size == 0 or index.min() < 0 or index.max() >= N_CTX:
        raise ConfigError(f"positions must lie in 0..{N_CTX - 1}")
    return index


@torch.no_grad()
def iter_activations(
    model: torch.nn.Module,
    moves: np.ndarray,
    hooks: Sequence[str],
    positions: Sequence[int] | slice | None = None,
    batch_size: int = 256,
    progress: bool = False,
):
    """Yield ``(start, {hook: float32 [batch, positions, d]})`` batch by batch; memory holds one batch."""
    index = _positions(positions)
    wanted = set(hooks)
    available = set(model.hook_dict) if hasattr(model, "hook_dict") else wanted
    missing = wanted - available
    if missing:
        raise ConfigError(f"unknown hook points {sorted(missing)}; e.g. {sorted(available)[:3]}")
    device = next(model.parameters()).device
    for start in tqdm(range(0, len(moves), batch_size), desc="activations", unit="batch", disable=not progress):
        tokens = model_inputs(moves[start : start + batch_size]).to(device)
        _, cache = model.run_with_cache(tokens, names_filter=lambda name: name in wanted)
        yield start, {h: cache[h][:, index].float().cpu().numpy() for h in hooks}


def collect_activations(
    model: torch.nn.Module,
    moves: np.ndarray,
    hooks: Sequence[str],
    positions: Sequence[int] | slice | None = None,
    batch_size: int = 256,
    out: str | os.PathLike | None = None,
    progress: bool = False,
) -> dict[str, np.ndarray] | Path:
    """Activations of ``hooks`` for games ``moves`` [G, 60] at ``positions`` (all 59 by default).

    Returns ``{hook: float32 [G, len(positions), d]}``, or, with ``out``, writes one HDF5 dataset per hook
    (batch by batch, so memory stays at one batch whatever ``G``) and returns the path.
    """
    index = _positions(positions)
    if out is None:
        parts: dict[str, list[np.ndarray]] = {h: [] for h in hooks}
        for _, acts in iter_activations(model, moves, hooks, index, batch_size, progress):
            for h, a in acts.items():
                parts[h].append(a)
        return {h: np.concatenate(p) if p else np.empty((0, len(index), 0), np.float32) for h, p in parts.items()}
    with atomic_path(out) as tmp, open_for_writing(tmp, "w") as f:
        dsets: dict[str, h5py.Dataset] = {}
        for start, acts in iter_activations(model, moves, hooks, index, batch_size, progress):
            for h, a in acts.items():
                if h not in dsets:
                    dsets[h] = f.create_dataset(
                        h,
                        shape=(len(moves),) + a.shape[1:],
                        dtype=np.float32,
                        chunks=(min(batch_size, len(moves)),) + a.shape[1:],
                    )
                    dsets[h].attrs["encoding"] = (
                        f"float32 [games, positions, d]: the activation at TransformerLens hook {h}; row g is game "
                        "g of 'moves', column i is model position positions[i] (the file's attribute), whose input is "
                        "the game's first positions[i] + 1 moves"
                    )
                dsets[h][start : start + len(a)] = a
        f.attrs.update({"format_version": 1, "positions": index, "games": len(moves)})
        describe(f.create_dataset("moves", data=np.asarray(moves, dtype=np.int8)))
    return Path(out)
