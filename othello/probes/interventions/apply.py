"""Applying edits: the hooks that write an edited board into the residual stream, and what the model predicts then.

    ```python
    r = intervene(model, "f5 d6 c3 d3 c4", "d5", probes, EditSetting("linear", layers=(2, 3, 4), scale=2.0))
    r.probs_before, r.probs_after, r.legal_before, r.legal_after      # [64], [64], squares, squares
    ```

The edits themselves (what an ``EditCase`` and an ``EditSetting`` are, and the two methods) are ``edits``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from othello.engine.board import Board
from othello.engine.notation import parse_moves, parse_square, square_name, squares_to_tokens
from othello.model.hooks import residual_hook
from othello.model.tokens import pad_prefixes, square_probabilities
from othello.probes.fit import LinearProbe
from othello.probes.interventions.edits import DEFAULT_PROBES, Edit, EditCase, EditError, EditSetting
from othello.probes.targets import board_labels
from othello.train.evaluation import legal_set_errors

__all__ = ["edited_move_probabilities", "intervene", "InterventionResult", "square_mask"]


def _reflect(
    probe: torch.nn.Module,
    x: torch.Tensor,
    squares: torch.Tensor,
    current: torch.Tensor,
    target: torch.Tensor,
    scale: float,
) -> torch.Tensor:
    """``x`` [n, d] reflected across the boundary between classes ``current`` and ``target`` of ``squares`` [n]."""
    w = (probe.W[:, squares, current] - probe.W[:, squares, target]).T  # [n, d]
    margin = (x * w).sum(-1) + probe.b[squares, current] - probe.b[squares, target]
    return x - ((1 + scale) * margin / (w * w).sum(-1))[:, None] * w


def _linear_hook(
    probe: torch.nn.Module,
    rows: torch.Tensor,
    pos: torch.Tensor,
    squares: torch.Tensor,
    current: torch.Tensor,
    target_board: torch.Tensor,
    scale: float,
) -> Callable:
    """Reflect ``squares`` [n] of the activations at (``rows``, ``pos``) from ``current`` to their class in
    ``target_board`` [n, 64] (Nanda et al.'s edit)."""
    target = target_board[torch.arange(len(squares), device=squares.device), squares]

    def hook(resid: torch.Tensor, hook: Any = None) -> torch.Tensor:
        resid = resid.clone()
        resid[rows, pos] = _reflect(probe, resid[rows, pos], squares, current, target, scale)
        return resid

    return hook


def _board_hook(
    probe: torch.nn.Module,
    rows: torch.Tensor,
    pos: torch.Tensor,
    edited: torch.Tensor,
    target_board: torch.Tensor,
    setting: EditSetting,
    stop: Callable[[], bool] | None = None,
) -> Callable:
    """Write ``target_board`` [n, 64] into the activations at (``rows``, ``pos``): minimise the probe's
    cross-entropy of it, the ``edited`` squares ([n, 64] bool) with weight 1 and every other square with
    ``setting.reg``.

    The gradient method uses Adam (Li et al.); the linear one plain gradient descent, whose steps on a linear
    probe are combinations of its weight vectors, so the edit stays in the span of the probe's directions.
    With ``keep="read"`` the other squares are pulled to what the probe reads before the edit, not to the board.
    ``stop``: asked before every step; once it answers True the edit raises ``EditError`` (a caller's time-out).
    """
    weights = torch.full(target_board.shape, setting.reg, device=target_board.device)  # [n, 64]
    weights[edited] = 1.0
    optimiser = torch.optim.Adam if setting.method == "gradient" else torch.optim.SGD

    def hook(resid: torch.Tensor, hook: Any = None) -> torch.Tensor:
        x = resid[rows, pos].detach().float().clone()
        target = target_board
        if setting.keep == "read":
            target = torch.where(edited, target_board, probe(x).argmax(-1))
        if setting.method == "linear" and isinstance(probe, LinearProbe):
            x = _linear_descent(probe, x, target, weights, setting.lr, setting.steps, stop)
        else:
            x = _optimise(probe, x, target, weights, optimiser, setting.lr, setting.steps, stop)
        resid = resid.clone()
        resid[rows, pos] = x.to(resid.dtype)
        return resid

    return hook


def _optimise(
    probe: torch.nn.Module,
    x: torch.Tensor,
    target: torch.Tensor,
    weights: torch.Tensor,
    optimiser: type,
    lr: float,
    steps: int,
    stop: Callable[[], bool] | None = None,
) -> torch.Tensor:
    """``steps`` of ``optimiser`` on ``x`` [n, d] against the probe's weighted cross-entropy of ``target`` [n, 64]."""
    with torch.enable_grad():
        x.requires_grad_(True)
        opt = optimiser([x], lr=lr)
        for _ in range(steps):
            _check_stop(stop)
            ce = F.cross_entropy(probe(x).transpose(1, 2), target, reduction="none", ignore_index=-1)  # [n, 64]
            # summed over cases, so each case's update is independent of the batch it shares
            loss = (ce * weights).sum()
            opt.zero_grad()
            loss.backward()
            opt.step()
    return x.detach()


def _check_stop(stop: Callable[[], bool] | None) -> None:
    if stop is not None and stop():
        raise EditError("the edit was stopped before it finished (its caller gave up waiting)")


def _linear_descent(
    probe: LinearProbe,
    x: torch.Tensor,
    target: torch.Tensor,
    weights: torch.Tensor,
    lr: float,
    steps: int,
    stop: Callable[[], bool] | None = None,
) -> torch.Tensor:
    """``_optimise`` with plain gradient descent on a linear probe, its gradient written out instead of taken by
    autograd (3x faster for these small steps; equal to autograd's to float rounding, tested): the gradient of
    ``sum weights * CE(x W + b, target)`` is ``(weights * (softmax - onehot)) W^T``."""
    d, squares, classes = probe.W.shape
    W = probe.W.detach().reshape(d, squares * classes)
    valid = (target >= 0).unsqueeze(-1)  # [n, 64, 1]
    onehot = F.one_hot(target.clamp(min=0), classes).float()  # [n, 64, C]
    scale = (weights.unsqueeze(-1) * valid).float()
    for _ in range(steps):
        _check_stop(stop)
        p = probe(x).softmax(-1)  # [n, 64, C]
        x = x - lr * ((scale * (p - onehot)).reshape(len(x), -1) @ W.T)
    return x


@torch.no_grad()
def edited_move_probabilities(
    model: torch.nn.Module,
    cases: Sequence[EditCase],
    probes: dict[int, torch.nn.Module],
    setting: EditSetting,
    labelling: str,
    batch_size: int = 500,
    progress: bool = False,
    unedited: bool = True,
    stop: Callable[[], bool] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The model's next-move probabilities ``[cases, 64]`` without and with the edit of each case (without:
    ``[0, 64]`` when ``unedited`` is False, for a caller that has them already). ``stop``: see ``_board_hook``."""
    missing = [L for L in setting.layers if L not in probes]
    if missing:
        raise EditError(f"no {labelling} probe for layers {missing}; have {sorted(probes)}")
    device = next(model.parameters()).device
    n_layers = model.cfg.n_layers
    before, after = [], []
    for a in tqdm(
        range(0, len(cases), batch_size), desc=f"edits ({setting.method})", unit="batch", disable=not progress
    ):
        batch = cases[a : a + batch_size]
        moves, last_np = pad_prefixes([c.moves for c in batch])
        tokens = torch.from_numpy(squares_to_tokens(moves)).to(device)
        last, lengths = torch.as_tensor(last_np, device=device), last_np + 1
        # every (case, position) to edit: the probe's labels of the board there, with the squares edited that
        # hold a disc there
        labels = board_labels(moves, labelling)  # [B, T, 64]; -1 past the prefix
        entries = []
        for i, c in enumerate(batch):
            for p in range(lengths[i] - 1, max(lengths[i] - setting.positions, 0) - 1, -1):
                held = [(sq, op) for sq, op in c.edits if labels[i, p, sq] > 0]
                if held:
                    entries.append((i, p, held))
        rows_np, pos_np = np.array([e[0] for e in entries]), np.array([e[1] for e in entries])
        current_board = labels[rows_np, pos_np].astype(np.int64)  # [n, 64]
        target_board, edited = current_board.copy(), np.zeros(current_board.shape, dtype=bool)
        for k, (_, _, held) in enumerate(entries):
            for sq, op in held:
                target_board[k, sq] = 0 if op == "erase" else 3 - current_board[k, sq]
                edited[k, sq] = True
        rows_t, pos_t = torch.as_tensor(rows_np, device=device), torch.as_tensor(pos_np, device=device)
        target_t = torch.as_tensor(target_board, device=device)
        hooks = []
        for L in setting.layers:
            if setting.writes_board:
                fn = _board_hook(
                    probes[L], rows_t, pos_t, torch.as_tensor(edited, device=device), target_t, setting, stop
                )
                hooks.append((residual_hook(L, n_layers), fn))
                continue
            # one reflection per edited square: the j-th square of every entry that has one, hooks composed in turn
            for j in range(max((len(e[2]) for e in entries), default=0)):
                ks = torch.as_tensor([k for k, e in enumerate(entries) if len(e[2]) > j], device=device)
                sq = np.array([entries[k][2][j][0] for k in ks.tolist()])
                fn = _linear_hook(
                    probes[L],
                    rows_t[ks],
                    pos_t[ks],
                    torch.as_tensor(sq, device=device),
                    torch.as_tensor(current_board[ks.cpu().numpy(), sq], device=device),
                    target_t[ks],
                    setting.scale,
                )
                hooks.append((residual_hook(L, n_layers), fn))
        idx = torch.arange(len(batch), device=device)
        if unedited:
            before.append(square_probabilities(model(tokens)[idx, last]))
        after.append(square_probabilities(model.run_with_hooks(tokens, fwd_hooks=hooks)[idx, last]))
    return np.concatenate(before) if before else np.zeros((0, 64)), np.concatenate(after)


def square_mask(squares: Sequence[Sequence[int]]) -> np.ndarray:
    """Lists of squares, one per row -> a mask ``[rows, 64]`` bool."""
    out = np.zeros((len(squares), 64), dtype=bool)
    for i, s in enumerate(squares):
        out[i, list(s)] = True
    return out


@dataclass
class InterventionResult:
    """One edit: the boards, their legal moves, and the model's move probabilities ``[64]`` before and after."""

    case: EditCase
    setting: EditSetting
    board_before: Board
    board_after: Board
    probs_before: np.ndarray
    probs_after: np.ndarray
    legal_before: list[int] = field(default_factory=list)
    legal_after: list[int] = field(default_factory=list)

    @property
    def error(self) -> int:
        """False positives + false negatives of the top-N moves after the edit against the edited board."""
        return int(legal_set_errors(self.probs_after[None], square_mask([self.legal_after]))[0])

    @property
    def null_error(self) -> int:
        """The same score without the edit (the model still playing the original board)."""
        return int(legal_set_errors(self.probs_before[None], square_mask([self.legal_after]))[0])

    def summary(self) -> str:
        def top(p: np.ndarray, legal: list[int]) -> str:
            order = np.argsort(-p)[: max(len(legal), 1)]
            return " ".join(square_name(s) + ("" if s in legal else "!") for s in order)

        return "\n".join(
            [
                f"edit: {self.case.describe()} ({self.setting.describe()})",
                f"legal before: {' '.join(square_name(s) for s in self.legal_before)}",
                f"legal after:  {' '.join(square_name(s) for s in self.legal_after)}",
                f"model's top moves before: {top(self.probs_before, self.legal_before)}",
                f"model's top moves after:  {top(self.probs_after, self.legal_after)}  (! = not legal on that board)",
                f"error against the edited board: {self.error} with the edit, {self.null_error} without",
            ]
        )


def intervene(
    model: torch.nn.Module,
    moves: str | Sequence[int],
    square: str | int | Sequence[str | int],
    probes: dict[int, torch.nn.Module],
    setting: EditSetting | None = None,
    edit: Edit | Sequence[Edit] = "flip",
    labelling: str | None = None,
    probs_before: np.ndarray | None = None,
    stop: Callable[[], bool] | None = None,
) -> InterventionResult:
    """Edit ``square`` (flip or erase) in the model's board after ``moves`` and return what changed; several
    squares at once when ``square`` is a list (``edit`` then one edit for all, or a list of one per square).

    ``labelling`` is the probes' labelling (default: relative for linear, colour for gradient probes).
    ``probs_before`` [64], the model's probabilities after ``moves`` when the caller has them, saves a forward pass.
    ``stop``: asked at every step of an optimised edit; when it answers True the edit raises ``EditError``."""
    setting = setting or EditSetting(layers=tuple(sorted(probes)[1:]))
    labelling = labelling or DEFAULT_PROBES[setting.method][0]
    squares = parse_square(square) if isinstance(square, (str, int)) else tuple(parse_square(q) for q in square)
    edits = edit if isinstance(edit, str) else tuple(edit)
    case = EditCase(parse_moves(moves) if isinstance(moves, str) else list(moves), squares, edits)
    board, edited = case.boards()
    before, after = edited_move_probabilities(
        model, [case], probes, setting, labelling, unedited=probs_before is None, stop=stop
    )
    if probs_before is not None:
        before = np.asarray(probs_before)[None]
    return InterventionResult(
        case, setting, board, edited, before[0], after[0], sorted(board.legal_moves), sorted(edited.legal_moves)
    )
