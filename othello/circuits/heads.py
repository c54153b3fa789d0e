"""Where each attention head looks: the moves of the player about to move ("mine"), the other player's
("theirs"), the move just played ("last") or the first position, and the class that makes of it.

    ```python
    rows = head_scores(model, random_games(500, CIRCUITS_SEED))    # one row per head, with its kind
    head_pattern(model, "f5 d6 c3 d3 c4", layer=2, head=5)         # {"labels": [...], "pattern": [q][k]}
    ```

At query position t (the board after move t + 1, 0-based t), key position s < t holds move s + 1; it is "mine"
when the player who made it is the one to move after move t + 1 (passes counted), else "theirs". Key t itself is
the last move and key 0 the first; they are scored apart, so mine and theirs share the keys 1..t-1.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from othello.engine.notation import parse_moves, square_name
from othello.errors import ConfigError
from othello.model.hooks import pattern_hook
from othello.model.tokens import check_prefix, model_inputs, to_tokens
from othello.probes.targets import board_labels

__all__ = [
    "HEAD_KINDS",
    "SCORE_FIELDS",
    "move_makers",
    "attention_scores",
    "classify_head",
    "head_scores",
    "head_pattern",
]

HEAD_KINDS = ("mine", "theirs", "last", "other")
SCORE_FIELDS = ("mine_score", "theirs_score", "last_score", "first_score")
LAST_THRESHOLD = 0.5  # a "last" head puts at least half its attention on the move just played
SIDE_THRESHOLD = 0.5  # a "mine" / "theirs" head puts at least half on that side's moves...
SIDE_RATIO = 2.0  # ...and at least twice what it puts on the other side's


def move_makers(moves: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For games ``[G, 60]``: who made the move each position reads last, and who moves next there, both
    ``[G, 59]`` (0 black, 1 white, -1 none: after the game's end)."""
    next_mover = board_labels(moves, "next_mover")[:, :, 0].astype(np.int8)  # [G, 59]
    made = np.empty_like(next_mover)
    made[:, 0] = 0  # black opens
    made[:, 1:] = next_mover[:, :-1]
    made[np.asarray(moves)[:, : made.shape[1]] < 0] = -1
    return made, next_mover


def attention_scores(patterns: torch.Tensor, made: np.ndarray, next_mover: np.ndarray) -> np.ndarray:
    """Mean attention ``[heads, 4]`` (``SCORE_FIELDS``: mine, theirs, last, first) of patterns ``[G, heads, T, T]``
    over the queries t >= 2 that have a next mover; ``made`` and ``next_mover`` as ``move_makers`` gives them."""
    G, H, T, _ = patterns.shape
    made_t = torch.as_tensor(made[:, :T], dtype=torch.int64)
    mover_t = torch.as_tensor(next_mover[:, :T], dtype=torch.int64)
    t = torch.arange(T)
    middle = (t[None, :] >= 1) & (t[None, :] < t[:, None])  # [q, k]: keys 1..q-1
    mine = (made_t[:, None, :] == mover_t[:, :, None]) & middle  # [G, q, k]
    theirs = (made_t[:, None, :] != mover_t[:, :, None]) & (made_t[:, None, :] >= 0) & middle
    queries = (mover_t >= 0) & (t[None, :] >= 2)  # [G, q]
    p = patterns.float()
    out = torch.stack(
        [
            (p * mine[:, None]).sum(-1),
            (p * theirs[:, None]).sum(-1),
            p.diagonal(dim1=-2, dim2=-1),
            p[..., 0],
        ],
        -1,
    )  # [G, H, q, 4]
    weight = queries[:, None, :, None].float()
    return ((out * weight).sum((0, 2)) / weight.sum((0, 2)).clamp_min(1)).numpy()


def classify_head(scores: dict[str, float]) -> tuple[str, str]:
    """A head's kind (``HEAD_KINDS``) and the score that decided it, from its ``SCORE_FIELDS``: "last" when at
    least half its attention goes to the move just played; else "mine" or "theirs" when at least half goes to
    that side's moves and twice what goes to the other's; else "other" (decided by its largest score)."""
    mine, theirs, last = scores["mine_score"], scores["theirs_score"], scores["last_score"]
    if last >= LAST_THRESHOLD:
        return "last", "last_score"
    for kind, own, other in (("mine", mine, theirs), ("theirs", theirs, mine)):
        if own >= SIDE_THRESHOLD and own >= SIDE_RATIO * other:
            return kind, f"{kind}_score"
    return "other", max(SCORE_FIELDS, key=lambda f: scores[f])


@torch.no_grad()
def head_scores(model: torch.nn.Module, moves: np.ndarray, batch_size: int = 128) -> list[dict[str, object]]:
    """One row per head over games ``moves`` ``[G, 60]``: ``layer``, ``head``, ``kind``, ``mine_score``,
    ``theirs_score``, ``last_score``, ``first_score`` and ``decided_by`` (the score the kind rests on)."""
    if len(moves) == 0:
        raise ConfigError("head scores need at least one game")
    n, H = model.cfg.n_layers, model.cfg.n_heads
    device = next(model.parameters()).device
    made, next_mover = move_makers(moves)
    names = [pattern_hook(b) for b in range(n)]
    total = np.zeros((n, H, 4))
    weight = 0.0
    for a in range(0, len(moves), batch_size):
        tokens = model_inputs(np.asarray(moves[a : a + batch_size])).to(device)
        _, cache = model.run_with_cache(tokens, names_filter=lambda name: name in names)
        queries = float(((next_mover[a : a + batch_size] >= 0)[:, 2:]).sum())
        for b, name in enumerate(names):
            total[b] += queries * attention_scores(
                cache[name].cpu(), made[a : a + batch_size], next_mover[a : a + batch_size]
            )
        weight += queries
    rows = []
    for b in range(n):
        for h in range(H):
            scores = dict(zip(SCORE_FIELDS, (float(x) for x in total[b, h] / max(weight, 1.0))))
            kind, decided = classify_head(scores)
            rows.append(
                {"block": b, "hook": names[b], "layer": b, "head": h, "kind": kind, **scores, "decided_by": decided}
            )
    return rows


@torch.no_grad()
def head_pattern(model: torch.nn.Module, moves: str | Sequence[int], layer: int, head: int) -> dict[str, object]:
    """Head ``head`` of block ``layer``'s attention over one game: ``pattern[q][k]`` (query position q attending
    to key position k), ``labels`` (each position's move) and ``makers`` ("black" / "white": who made it)."""
    squares = check_prefix(parse_moves(moves) if isinstance(moves, str) else moves)
    n, H = model.cfg.n_layers, model.cfg.n_heads
    if not (0 <= layer < n and 0 <= head < H):
        raise ConfigError(f"no head {layer}.{head}: blocks 0..{n - 1}, heads 0..{H - 1}")
    name = pattern_hook(layer)
    _, cache = model.run_with_cache(
        to_tokens(squares).to(next(model.parameters()).device), names_filter=lambda x: x == name
    )
    made, _ = move_makers(np.array([squares + [-1] * (60 - len(squares))]))
    return {
        "block": layer,
        "hook": name,
        "layer": layer,
        "head": head,
        "labels": [square_name(s) for s in squares],
        "makers": ["black" if m == 0 else "white" for m in made[0, : len(squares)]],
        "pattern": cache[name][0, head].float().cpu().numpy(),
    }
