"""Evaluation: how often the model's next move is legal, and Li et al.'s legal-set error.

```python
evaluate(model, moves)["top1_legal"]          # moves [games, 60]
```
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from othello.engine.games import replay
from othello.engine.notation import N_CTX
from othello.model.tokens import legal_token_mask, move_logits, top_moves

__all__ = ["evaluate", "evaluate_dataset", "legal_move_scores", "legal_set_errors", "moved_right"]


def legal_move_scores(logits: torch.Tensor, legal_tokens: torch.Tensor, mask: torch.Tensor) -> dict[str, float]:
    """Top-1 legal rate and the legal-set error over the positions in ``mask``.

    ``logits`` [N, 61], ``legal_tokens`` [N, 61] bool, ``mask`` [N] bool. Legal-set error: take the top-N
    predictions, N = the number of legal moves; count false positives + false negatives.
    """
    logits, legal_tokens = logits[mask], legal_tokens[mask]
    top1 = top_moves(logits)
    top1_legal = legal_tokens.gather(1, top1[:, None])[:, 0].float()
    # over the 60 moves: padding is never a move
    errors = torch.from_numpy(legal_set_errors(logits[:, 1:].numpy(), legal_tokens[:, 1:].numpy())).float()
    return {
        "positions": int(mask.sum()),
        "top1_legal": float(top1_legal.mean()) if len(top1) else float("nan"),
        "legal_set_error": float(errors.mean()) if len(top1) else float("nan"),
    }


def legal_set_errors(scores: np.ndarray, legal: np.ndarray) -> np.ndarray:
    """Li et al.'s legal-set score per row: take the top-N of ``scores`` [B, K], N = the legal moves in
    ``legal`` [B, K] bool; return false positives + false negatives ``[B]``."""
    n = legal.sum(1)
    ranks = np.argsort(np.argsort(-scores, axis=1, kind="stable"), axis=1)
    return ((ranks < n[:, None]) ^ legal).sum(1)


def moved_right(
    before: np.ndarray, after: np.ndarray, legal_orig: np.ndarray, legal_edit: np.ndarray, tol: float = 1e-5
) -> float:
    """Of the squares whose legality the edit changes, the fraction whose probability moved the right way
    (up when the edit makes them legal, down when it makes them illegal) by more than ``tol``: a smaller change is
    the rounding between two computations of the same run (the whole model's and the last position's alone), not
    a move. Unlike the error, it does not count the mistakes the model makes on the unedited board, so it
    measures the edit alone."""
    changed = legal_orig ^ legal_edit
    right = np.where(legal_edit, after > before + tol, after < before - tol)
    return float(right[changed].mean()) if changed.any() else float("nan")


def evaluate(
    model: torch.nn.Module, moves: np.ndarray, batch_size: int = 512, progress: bool = False
) -> dict[str, Any]:
    """Legal-move metrics of ``model`` on games ``[G, 60]`` at every position that has a next move: ``games``,
    ``positions``, ``top1_legal``, ``legal_set_error``, and the same three with the prefix ``after_pass_`` over
    the positions after an odd number of passes, where the player to move is not the one the move count's parity
    names (the model must have noticed the pass; rates are None where there are no such positions), and with the
    prefix ``pass_earlier_`` over those of them where the pass was not forced at this very position: there the
    board shows no sign of who moves (both sides have moves), so only a model that remembers the pass is right."""
    was_training = model.training
    model.eval()
    groups = ("", "after_pass_", "pass_earlier_")
    totals = {group: {"positions": 0, "top1_legal": 0.0, "legal_set_error": 0.0} for group in groups}
    for a in tqdm(range(0, len(moves), batch_size), desc="eval", unit="batch", disable=not progress):
        chunk = moves[a : a + batch_size]
        logits = move_logits(model, chunk, batch_size).reshape(-1, 61)
        r = replay(chunk[:, :N_CTX], ("legal", "passed"))
        legal = torch.from_numpy(legal_token_mask(r.legal)).reshape(-1, 61)
        has_next = chunk[:, 1 : N_CTX + 1] >= 0
        after_pass = has_next & r.off_parity()
        for group, mask in zip(groups, (has_next, after_pass, after_pass & ~r.passed)):
            scores = legal_move_scores(logits, legal, torch.from_numpy(mask).reshape(-1))
            t = totals[group]
            t["positions"] += scores["positions"]
            for k in ("top1_legal", "legal_set_error"):
                t[k] += scores[k] * scores["positions"] if scores["positions"] else 0.0
    metrics: dict[str, Any] = {"games": len(moves)}
    for group, t in totals.items():
        n = t["positions"]
        metrics[f"{group}positions"] = n
        for k in ("top1_legal", "legal_set_error"):
            metrics[f"{group}{k}"] = t[k] / n if n else None
    model.train(was_training)
    return metrics


def evaluate_dataset(
    model: torch.nn.Module,
    data: Any,
    split: str | None = None,
    games: int | None = None,
    batch_size: int = 512,
    progress: bool = False,
) -> dict[str, Any]:
    """``evaluate`` on the games of HDF5 file(s) ``data`` (one split of them, the first ``games``), with ``data``
    recorded in the result (what ``othello-gpt eval`` prints)."""
    from othello.data.datasets import load_moves

    moves = load_moves(data, split=split, limit=games)
    if not len(moves):
        from othello.data.datasets import DatasetError

        where = f" in its {split} split" if split else ""
        raise DatasetError(f"{data}: no games{where} to evaluate")
    return {
        "data": [str(d) for d in data] if isinstance(data, (list, tuple)) else str(data),
        **evaluate(model, moves, batch_size, progress),
    }
