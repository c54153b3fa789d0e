"""Fitting board probes: one classifier per square, trained at once for all 64 squares, linear or one-hidden-layer MLP.

    ```python
    probe, metrics = fit_probe(train_x, train_y, ProbeConfig(kind="linear"), val_x, val_y)
    metrics["accuracy"], metrics["per_square"].reshape(8, 8)
    ```

Inputs are activations ``[N, d_model]`` and labels ``[N, 64]`` (class indices, -1 = no label), one row per
(game, position); split by game, never by position, before calling. A labelling of the whole position (whose turn
it is) has one target instead of 64: labels ``[N, 1]``, and the probes below take ``n_targets=1``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from othello.errors import ConfigError
from othello.probes.config import ProbeConfig
from othello.train.schedule import cosine_lr

# Positions 5..53: where Nanda et al. fit and score their probes (pos_start 5, pos_end n_ctx - 5), leaving out the
# nearly fixed opening and the last moves, where the model needs little of the board. Plies 6..54.
MIDGAME_PLIES = (6, 54)


class LinearProbe(nn.Module):
    """``logits[n, square, class] = x[n] @ W[:, square, class] + b[square, class]``; W is [d_model, 64, classes]
    ([d_model, n_targets, classes] for other than 64 targets)."""

    def __init__(self, d_model: int, n_classes: int, n_targets: int = 64) -> None:
        super().__init__()
        self.W = nn.Parameter(torch.randn(d_model, n_targets, n_classes) / d_model**0.5)
        self.b = nn.Parameter(torch.zeros(n_targets, n_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [N, d] -> [N, 64, C]
        # one matmul over the flattened (square, class) axis: several times faster than the einsum on CPU
        return (x @ self.W.reshape(self.W.shape[0], -1)).view(len(x), *self.b.shape) + self.b


class MLPProbe(nn.Module):
    """Li et al.'s nonlinear probe: Linear(d, hidden) - ReLU - Linear(hidden, 64 x classes)."""

    def __init__(self, d_model: int, n_classes: int, hidden: int, n_targets: int = 64) -> None:
        super().__init__()
        self.n_classes, self.n_targets = n_classes, n_targets
        self.net = nn.Sequential(nn.Linear(d_model, hidden), nn.ReLU(), nn.Linear(hidden, n_targets * n_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [N, d] -> [N, 64, C]
        return self.net(x).view(len(x), self.n_targets, self.n_classes)


def make_probe(d_model: int, cfg: ProbeConfig, n_targets: int = 64) -> nn.Module:
    if cfg.kind == "linear":
        return LinearProbe(d_model, cfg.n_classes, n_targets)
    if cfg.kind == "mlp":
        return MLPProbe(d_model, cfg.n_classes, cfg.hidden, n_targets)
    raise ConfigError(f"unknown probe kind {cfg.kind!r}; expected linear or mlp")


def _loss(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1).long(), ignore_index=-1)


def _minibatches(
    probe: nn.Module,
    opt: torch.optim.Optimizer,
    X: torch.Tensor,
    Y: torch.Tensor,
    order: torch.Tensor,
    cfg: ProbeConfig,
    step: int,
    steps: int,
) -> int:
    """One pass over the rows of ``X`` [N, d], ``Y`` [N, targets] in ``order``, minibatch AdamW; returns the step
    reached. The learning rate follows a cosine to zero over all ``steps``: it lets minibatch AdamW settle where
    scikit-learn's lbfgs converges (BENCHMARKS.md)."""
    for a in range(0, len(X), cfg.batch_size):
        for group in opt.param_groups:
            group["lr"] = cosine_lr(step, steps, cfg.lr)
        step += 1
        idx = order[a : a + cfg.batch_size].to(X.device)
        loss = _loss(probe(X[idx]), Y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    return step


def fit_probe(
    x: np.ndarray,
    y: np.ndarray,
    cfg: ProbeConfig,
    x_val: np.ndarray | None = None,
    y_val: np.ndarray | None = None,
    plies: np.ndarray | None = None,
    device: str | torch.device | None = None,
    after_pass: np.ndarray | None = None,
) -> tuple[nn.Module, dict[str, Any]]:
    """Train a probe with minibatch AdamW on ``x`` [N, d], ``y`` [N, 64] (or [N, targets]); metrics on the
    validation set (or the training set when none is given), per ply too when ``plies`` [N_val] gives each row's ply,
    and apart after a pass when ``after_pass`` [N_val] bool marks those rows (``probe_metrics``).
    ``device`` (default CPU) is where the fit runs, with the data moved there whole; the probe comes back on the CPU."""
    cfg = cfg.resolved()
    device = torch.device(device or "cpu")
    torch.manual_seed(cfg.seed)
    X = torch.as_tensor(x, dtype=torch.float32).to(device)
    Y = torch.as_tensor(y, dtype=torch.int64).to(device)
    probe = make_probe(X.shape[1], cfg, Y.shape[1]).to(device)
    opt = torch.optim.AdamW(probe.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    gen = torch.Generator().manual_seed(cfg.seed)
    steps, step = cfg.epochs * -(-len(X) // cfg.batch_size), 0
    for _ in range(cfg.epochs):
        step = _minibatches(probe, opt, X, Y, torch.randperm(len(X), generator=gen), cfg, step, steps)
    probe.eval()
    del X, Y
    majority = majority_classes(y, cfg.n_classes)
    eval_x, eval_y = (x, y) if x_val is None else (x_val, y_val)
    metrics = probe_metrics(predict(probe, eval_x), eval_y, majority, plies, after_pass)
    return probe.cpu(), metrics


def fit_probe_in_blocks(
    acts: Any,
    y: np.ndarray,
    train: np.ndarray,
    cfg: ProbeConfig,
    plies: np.ndarray | None = None,
    device: str | torch.device | None = None,
    after_pass: np.ndarray | None = None,
    block_games: int = 256,
) -> tuple[nn.Module, dict[str, Any]]:
    """``fit_probe`` for activations too large for memory: ``acts`` [G, P, d] is read a block of ``block_games``
    consecutive games at a time (an HDF5 dataset, or any array), so memory holds one block whatever G. Each epoch
    visits the train games' blocks (``train`` [G] bool) in a fresh random order and the rows of each block in a
    random order; the held-out games are scored block by block, their rows in the order of ``fit_probe``'s
    (``plies`` and ``after_pass`` [held-out rows] as there). ``y`` [G, P, targets] stays in memory (int8)."""
    cfg = cfg.resolved()
    device = torch.device(device or "cpu")
    torch.manual_seed(cfg.seed)
    n_games, _, d = acts.shape
    blocks = [(a, min(a + block_games, n_games)) for a in range(0, n_games, block_games)]
    train_blocks = [(a, b) for a, b in blocks if train[a:b].any()]
    rows = int(train.sum()) * y.shape[1]
    probe = make_probe(d, cfg, y.shape[2]).to(device)
    opt = torch.optim.AdamW(probe.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    gen = torch.Generator().manual_seed(cfg.seed)
    steps, step = cfg.epochs * -(-rows // cfg.batch_size), 0
    for _ in range(cfg.epochs):
        for k in torch.randperm(len(train_blocks), generator=gen).tolist():
            a, b = train_blocks[k]
            keep = train[a:b]
            X = torch.as_tensor(np.asarray(acts[a:b])[keep].reshape(-1, d), dtype=torch.float32).to(device)
            Y = torch.as_tensor(y[a:b][keep].reshape(len(X), -1), dtype=torch.int64).to(device)
            step = _minibatches(probe, opt, X, Y, torch.randperm(len(X), generator=gen), cfg, step, steps)
    probe.eval()
    held_out = ~train
    preds, truth = [], []
    for a, b in blocks:
        keep = held_out[a:b]
        if keep.any():
            preds.append(predict(probe, np.asarray(acts[a:b])[keep].reshape(-1, d)))
            truth.append(y[a:b][keep].reshape(-1, y.shape[2]))
    majority = majority_classes(y[train].reshape(-1, y.shape[2]), cfg.n_classes)
    metrics = probe_metrics(np.concatenate(preds), np.concatenate(truth), majority, plies, after_pass)
    return probe.cpu(), metrics


@torch.no_grad()
def predict(probe: nn.Module, x: np.ndarray, batch_size: int = 8192) -> np.ndarray:
    """Predicted classes ``[N, 64]``, computed on the probe's device."""
    device = next(probe.parameters()).device
    X = torch.as_tensor(x, dtype=torch.float32)
    return torch.cat(
        [probe(X[a : a + batch_size].to(device)).argmax(-1).cpu() for a in range(0, len(X), batch_size)]
    ).numpy()


def majority_classes(y: np.ndarray, n_classes: int) -> np.ndarray:
    """The most common class of each square over the first axis: ``[N, 64]`` -> ``[64]`` (the baseline a probe
    must beat); ``[G, P, 64]`` -> ``[P, 64]``."""
    counts = np.stack([(y == c).sum(0) for c in range(n_classes)])
    return counts.argmax(0)


def ply_majority_accuracy(y_train: np.ndarray, y_test: np.ndarray, n_classes: int) -> float:
    """Accuracy of the best guess that knows only the ply: each (position, square)'s most common class in
    ``y_train`` [G, P, 64], scored on ``y_test`` [G', P, 64]. A model that carries nothing but its position
    embedding can reach this; an untrained model's residual stream does (the probes' control)."""
    guess = majority_classes(y_train, n_classes)  # [P, 64]
    valid = y_test >= 0
    return float(((guess[None] == y_test) & valid).sum() / max(int(valid.sum()), 1))


def probe_metrics(
    pred: np.ndarray,
    y: np.ndarray,
    majority: np.ndarray,
    plies: np.ndarray | None = None,
    after_pass: np.ndarray | None = None,
) -> dict[str, Any]:
    """Accuracy over labelled squares, per square [64], per class, whole-board, the majority baseline, and,
    given each row's ply (1..59) in ``plies`` [N], per ply [59] (``None`` for a ply with no labelled square) and
    ``midgame_accuracy``, the accuracy at the positions Nanda et al. score (``MIDGAME_PLIES``; ``None`` when
    there are none); given ``after_pass`` [N] bool (rows after an odd number of passes, ``Replay.off_parity``),
    ``after_pass_accuracy`` and ``after_pass_samples`` (accuracy ``None`` when there are none)."""
    valid = y >= 0
    correct = (pred == y) & valid
    n = max(int(valid.sum()), 1)
    rows = valid.any(1)
    per_class = {int(c): float(correct[y == c].sum() / max((y == c).sum(), 1)) for c in np.unique(y[valid])}
    metrics: dict[str, Any] = {
        "accuracy": float(correct.sum() / n),
        "baseline": float(((majority[None, :] == y) & valid).sum() / n),
        "per_square": (correct.sum(0) / np.maximum(valid.sum(0), 1)).tolist(),
        "per_class": per_class,
        "whole_board": float((correct | ~valid).all(1)[rows].mean()) if rows.any() else float("nan"),
        "samples": int(rows.sum()),
    }
    if plies is not None:
        right = np.bincount(plies, weights=correct.sum(1), minlength=60)[1:60]
        total = np.bincount(plies, weights=valid.sum(1), minlength=60)[1:60]
        metrics["per_ply"] = [float(r / t) if t else None for r, t in zip(right, total)]
        mid = slice(MIDGAME_PLIES[0] - 1, MIDGAME_PLIES[1])
        metrics["midgame_accuracy"] = float(right[mid].sum() / total[mid].sum()) if total[mid].sum() else None
    if after_pass is not None:
        scored = valid & after_pass[:, None]
        metrics["after_pass_samples"] = int(scored.any(1).sum())
        metrics["after_pass_accuracy"] = float((correct & scored).sum() / scored.sum()) if scored.any() else None
    return metrics


def unit_directions(probe: LinearProbe, positive: int, negative: int | None = None) -> torch.Tensor:
    """Unit directions ``[64, d_model]`` of a linear probe: class ``positive`` minus class ``negative``
    (e.g. mine - theirs), or ``positive`` against the mean of the others when ``negative`` is None."""
    W = probe.W.detach()  # [d, 64, C]
    if negative is None:
        others = [c for c in range(W.shape[2]) if c != positive]
        d = W[:, :, positive] - W[:, :, others].mean(-1)
    else:
        d = W[:, :, positive] - W[:, :, negative]
    d = d.T
    return d / d.norm(dim=-1, keepdim=True)
