"""Activation patching and attribution patching, written on TransformerLens hooks.

    ```python
    p = activation_patching(model, "f5 d6 c3 d3 c4", "f5 d6 c3 d3 e3", "c5")
    p.grids["resid_pre"].shape            # [layers, positions]: 1 = as clean, 0 = as corrupted
    a = attribution_patching(model, "f5 d6 c3 d3 c4", "f5 d6 c3 d3 e3", "c5")   # the same grids, by gradient
    ```

A clean and a corrupted game of the same length are run; the metric is the target move's log-probability (or
logit) at the last position. Each patch runs the corrupted game with one activation taken from the clean run,
and its effect is scaled so that 0 is the corrupted metric and 1 the clean one (where the two are equal, the
effect is the raw change of the metric, 0 when nothing moves). Sites: ``resid_pre`` (the residual stream
entering block L, by position), ``attn_out`` and ``mlp_out`` (block L's outputs, by position) and ``head``
(``attn.hook_z`` of one head at every position, by layer and head).

``transformer_lens.patching`` is written for ``HookedTransformer``; here every patch is a forward hook on the
bridge, and all the patches of a grid run as one batch (one corrupted copy per patch), which is what makes a full
grid take a second rather than a minute.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import torch

from othello.engine.board import real_mover_board
from othello.engine.notation import SQUARE_TO_TOKEN, parse_moves, parse_square, square_name
from othello.errors import ConfigError
from othello.model.hooks import head_hook
from othello.model.tokens import check_game, check_prefix, to_tokens

__all__ = [
    "PATCH_SITES",
    "Metric",
    "Patching",
    "site_hook",
    "activation_patching",
    "attribution_patching",
    "patched_effect",
    "patching_agreement",
    "corrupted_games",
    "patching_pair",
    "pair_summary",
]

PATCH_SITES = ("resid_pre", "attn_out", "mlp_out", "head")
Metric = Literal["log_prob", "logit"]
# the least clean - corrupted gap of the metric (nats of log-probability, or logit units) that a 0..1 scale means
# something on: below it, or when the corrupted run scores the target higher, dividing by the gap magnifies noise
# or flips the sign, so the grids stay in the metric's units and the result says why
MIN_GAP = 0.5


def site_hook(site: str, layer: int) -> str:
    """The hook a site patches in block ``layer``."""
    if site not in PATCH_SITES:
        raise ConfigError(f"unknown patching site {site!r}; choose from {', '.join(PATCH_SITES)}")
    return head_hook(layer) if site == "head" else f"blocks.{layer}.hook_{site}"


@dataclass
class Patching:
    """A patching result: ``grids[site]`` is ``[layers, positions]`` (``[layers, heads]`` for ``head``)."""

    clean: list[int]
    corrupt: list[int]
    move: int
    metric: str
    clean_metric: float
    corrupt_metric: float
    grids: dict[str, np.ndarray] = field(default_factory=dict)
    method: str = "activation"

    @property
    def labels(self) -> list[str]:
        """A label per position: the clean move it reads last, with the corrupted one where they differ."""
        return [
            square_name(c) if c == k else f"{square_name(c)}/{square_name(k)}" for c, k in zip(self.clean, self.corrupt)
        ]

    def rows(self) -> list[dict[str, Any]]:
        """One row per patch: ``site``, ``block``, ``hook``, ``layer`` (an alias of ``block``), ``position``
        (None for heads), ``head`` (None otherwise),
        ``effect``."""
        out = []
        for site, grid in self.grids.items():
            for layer, row in enumerate(grid):
                for i, effect in enumerate(row):
                    head = i if site == "head" else None
                    position = None if site == "head" else i
                    out.append(
                        {
                            "site": site,
                            "block": layer,
                            "hook": site_hook(site, layer),
                            "layer": layer,
                            "position": position,
                            "head": head,
                            "effect": float(effect),
                        }
                    )
        return out

    @property
    def normalised(self) -> bool:
        """Whether the grids are on the 0 (corrupted) .. 1 (clean) scale: only where the clean run scores the target
        at least ``MIN_GAP`` above the corrupted one."""
        return self.clean_metric - self.corrupt_metric >= MIN_GAP

    @property
    def scale(self) -> str:
        """What a grid's value means, with its unit."""
        if self.normalised:
            return "share of the clean - corrupted gap restored (0 = corrupted run, 1 = clean run)"
        unit = "nats" if self.metric == "log_prob" else "logit units"
        return f"change of the {self.metric} from the corrupted run ({unit})"

    @property
    def warning(self) -> str | None:
        """Why the grids are not normalised, or why the target makes the pair hard to read; None when neither."""
        notes = []
        gap = self.clean_metric - self.corrupt_metric
        if gap < 0:
            notes.append(
                f"the corrupted run scores {square_name(self.move)} higher than the clean run ({gap:+.2f}): "
                "patching cannot mean restoring it"
            )
        elif gap < MIN_GAP:
            notes.append(f"the clean - corrupted gap is {gap:.2f}, under {MIN_GAP}: too small to normalise")
        if self.move not in real_mover_board(self.clean).legal_moves:
            notes.append(f"{square_name(self.move)} is not a legal move after the clean game")
        return "; ".join(notes) or None

    def summary(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "clean": " ".join(square_name(s) for s in self.clean),
            "corrupt": " ".join(square_name(s) for s in self.corrupt),
            "move": square_name(self.move),
            "metric": self.metric,
            "clean_metric": self.clean_metric,
            "corrupt_metric": self.corrupt_metric,
            "gap": self.clean_metric - self.corrupt_metric,
            "normalised": self.normalised,
            "scale": self.scale,
            "warning": self.warning,
            "labels": self.labels,
            "rows": self.rows(),
        }


def _inputs(
    clean: str | Sequence[int], corrupt: str | Sequence[int], move: str | int
) -> tuple[list[int], list[int], int, int]:
    clean_sq = check_game(clean, "the clean game")
    corrupt_sq = check_game(corrupt, "the corrupted game")
    if len(clean_sq) != len(corrupt_sq):
        raise ConfigError(
            f"the clean game has {len(clean_sq)} moves and the corrupted one {len(corrupt_sq)}: patching pairs "
            "positions, so both need the same length"
        )
    target = parse_square(move) if isinstance(move, str) else int(move)
    token = int(SQUARE_TO_TOKEN[target])
    if token <= 0:
        raise ConfigError(f"move {square_name(target)}: a centre square is never a move")
    return clean_sq, corrupt_sq, target, token


def _metric_fn(metric: str, token: int) -> Callable[[torch.Tensor], torch.Tensor]:
    if metric == "log_prob":
        return lambda logits: logits[:, -1].float().log_softmax(-1)[:, token]
    if metric == "logit":
        return lambda logits: logits[:, -1, token].float()
    raise ConfigError(f"unknown metric {metric!r}; choose log_prob or logit")


def _scale(values: torch.Tensor, clean: float, corrupt: float) -> np.ndarray:
    """The metric's change from the corrupted run, as a share of the gap where the gap means something
    (``Patching.normalised``)."""
    delta = values.detach().cpu().double().numpy() - corrupt
    return delta / (clean - corrupt) if clean - corrupt >= MIN_GAP else delta


@dataclass
class _CleanRun:
    """What every patching starts from: the pair, the metric, the clean run's metric and its activations at
    ``hooks`` (``cached[hook]`` [T, ...], the batch axis dropped)."""

    clean: list[int]
    corrupt: list[int]
    target: int
    metric: Callable[[torch.Tensor], torch.Tensor]
    clean_metric: float
    cached: dict[str, torch.Tensor]
    corrupt_tokens: torch.Tensor  # [1, T], on the model's device


@torch.no_grad()
def _clean_run(
    model: torch.nn.Module,
    clean: str | Sequence[int],
    corrupt: str | Sequence[int],
    move: str | int,
    metric: Metric,
    hooks: set[str],
) -> _CleanRun:
    clean_sq, corrupt_sq, target, token = _inputs(clean, corrupt, move)
    device = next(model.parameters()).device
    fn = _metric_fn(metric, token)
    logits, cache = model.run_with_cache(to_tokens(clean_sq).to(device), names_filter=lambda name: name in hooks)
    cached = {h: cache[h][0] for h in hooks}
    return _CleanRun(clean_sq, corrupt_sq, target, fn, float(fn(logits)[0]), cached, to_tokens(corrupt_sq).to(device))


@torch.no_grad()
def activation_patching(
    model: torch.nn.Module,
    clean: str | Sequence[int],
    corrupt: str | Sequence[int],
    move: str | int,
    sites: Sequence[str] = PATCH_SITES,
    metric: Metric = "log_prob",
) -> Patching:
    """Patch each site of ``sites`` from the clean run into the corrupted one, one patch at a time; the effect on
    the metric of ``move`` at the last position, scaled 0 (corrupted) .. 1 (clean)."""
    n, H = model.cfg.n_layers, model.cfg.n_heads
    run = _clean_run(model, clean, corrupt, move, metric, {site_hook(s, L) for s in sites for L in range(n)})
    T = len(run.clean)
    m_corrupt = float(run.metric(model(run.corrupt_tokens))[0])
    result = Patching(run.clean, run.corrupt, run.target, metric, run.clean_metric, m_corrupt)
    for site in sites:
        width = H if site == "head" else T  # what one layer's patches range over
        batch = run.corrupt_tokens.expand(n * width, T)

        def patcher(layer: int, site: str = site, width: int = width) -> Callable[[torch.Tensor, Any], torch.Tensor]:
            return lambda act, hook: _patch_layer(act, run.cached[site_hook(site, layer)], site, layer, width)

        logits = model.run_with_hooks(batch, fwd_hooks=[(site_hook(site, L), patcher(L)) for L in range(n)])
        result.grids[site] = _scale(run.metric(logits), run.clean_metric, m_corrupt).reshape(n, width)
    return result


def _patch_layer(act: torch.Tensor, clean_act: torch.Tensor, site: str, layer: int, width: int) -> torch.Tensor:
    """Rows ``layer * width + i`` of the batch get the clean activation at position (or head) i."""
    rows = torch.arange(layer * width, (layer + 1) * width, device=act.device)
    cols = torch.arange(width, device=act.device)
    act = act.clone()
    if site == "head":
        act[rows, :, cols] = clean_act[:, cols].transpose(0, 1)  # [heads, T, d_head]
    else:
        act[rows, cols] = clean_act[cols]
    return act


@torch.no_grad()
def patched_effect(
    model: torch.nn.Module,
    clean: str | Sequence[int],
    corrupt: str | Sequence[int],
    move: str | int,
    site: str,
    layer: int,
    positions: Sequence[int] | None = None,
    heads: Sequence[int] | None = None,
    metric: Metric = "log_prob",
) -> float:
    """One patch of several positions (or heads) at once: the corrupted run with ``site`` of block ``layer``
    taken from the clean run at ``positions`` (all by default; for ``head``: ``heads`` at every position, all by
    default), scaled 0 (corrupted) .. 1 (clean) where the gap allows (``Patching.normalised``), else the change
    of the metric from the corrupted run."""
    name = site_hook(site, layer)
    run = _clean_run(model, clean, corrupt, move, metric, {name})
    m_corrupt = float(run.metric(model(run.corrupt_tokens))[0])
    index = list(range(model.cfg.n_heads if site == "head" else len(run.clean)))
    chosen = list(heads if site == "head" and heads is not None else positions if positions is not None else index)
    clean_act = run.cached[name]

    def patch(act: torch.Tensor, hook: Any) -> torch.Tensor:
        act = act.clone()
        if site == "head":
            act[0, :, chosen] = clean_act[:, chosen]
        else:
            act[0, chosen] = clean_act[chosen]
        return act

    value = run.metric(model.run_with_hooks(run.corrupt_tokens, fwd_hooks=[(name, patch)]))
    return float(_scale(value, run.clean_metric, m_corrupt)[0])


def attribution_patching(
    model: torch.nn.Module,
    clean: str | Sequence[int],
    corrupt: str | Sequence[int],
    move: str | int,
    sites: Sequence[str] = PATCH_SITES,
    metric: Metric = "log_prob",
) -> Patching:
    """The gradient approximation of ``activation_patching``: each patch's effect estimated as the metric's
    gradient at the corrupted run times (clean - corrupted activation), from one forward and one backward pass.
    Exact where the metric is linear in the patched activation."""
    n = model.cfg.n_layers
    hooks = {site_hook(s, L) for s in sites for L in range(n)}
    run = _clean_run(model, clean, corrupt, move, metric, hooks)
    held: dict[str, torch.Tensor] = {}

    def keeper(name: str) -> Callable[[torch.Tensor, Any], torch.Tensor]:
        def keep(act: torch.Tensor, hook: Any) -> torch.Tensor:  # hook.name may be an alias of ``name``
            act.retain_grad()
            held[name] = act
            return act

        return keep

    with torch.enable_grad():
        logits = model.run_with_hooks(run.corrupt_tokens, fwd_hooks=[(h, keeper(h)) for h in sorted(hooks)])
        value = run.metric(logits)[0]
        value.backward()
    model.zero_grad(set_to_none=True)
    m_corrupt = float(value.detach())
    result = Patching(run.clean, run.corrupt, run.target, metric, run.clean_metric, m_corrupt, method="attribution")
    for site in sites:
        grid = []
        for L in range(n):
            name = site_hook(site, L)
            act = held[name]
            estimate = act.grad[0] * (run.cached[name] - act.detach()[0])  # [T, d] or [T, heads, d_head]
            grid.append(estimate.sum((0, 2)) if site == "head" else estimate.sum(-1))
        values = torch.stack(grid).double().cpu().numpy()  # [n, width]: estimated changes of the metric
        scale = run.clean_metric - m_corrupt
        result.grids[site] = values / scale if scale >= MIN_GAP else values
    return result


def patching_agreement(real: Patching, estimate: Patching) -> dict[str, float]:
    """Pearson correlation of each site's grid between real patching and its estimate (NaN where a grid is
    constant)."""
    out = {}
    for site in real.grids.keys() & estimate.grids.keys():
        a, b = real.grids[site].ravel(), estimate.grids[site].ravel()
        out[site] = float(np.corrcoef(a, b)[0, 1]) if a.std() > 0 and b.std() > 0 else float("nan")
    return out


def corrupted_games(moves: str | Sequence[int], ply: int) -> list[list[int]]:
    """Corrupted versions of a game prefix for patching: move ``ply`` (0-based) replaced by another move legal
    there, keeping only those where every later move of the prefix stays legal (so the corruption changes the
    board, not the game's grammar). Ordered by the replacement's square."""
    squares = check_prefix(parse_moves(moves) if isinstance(moves, str) else moves)
    if not 0 <= ply < len(squares):
        raise ConfigError(f"ply {ply} is out of range 0..{len(squares) - 1}")
    return list(_corruptions(squares, ply))


def _corruptions(squares: list[int], ply: int) -> Iterator[list[int]]:
    from othello.engine.board import Board
    from othello.errors import OthelloError

    before = Board(squares[:ply])
    for alternative in sorted(before.legal_moves):
        if alternative == squares[ply]:
            continue
        game = squares[:ply] + [alternative] + squares[ply + 1 :]
        try:
            Board(game)
        except OthelloError:
            continue
        yield game


def corruptible_plies(moves: str | Sequence[int]) -> list[int]:
    """The plies (0-based) of a game prefix that ``corrupted_games`` can corrupt: those with another legal move
    that keeps the rest of the prefix legal. A patching pair needs one; the explorer offers only these."""
    squares = check_prefix(parse_moves(moves) if isinstance(moves, str) else moves)
    return [ply for ply in range(len(squares)) if next(_corruptions(squares, ply), None) is not None]


def patching_pair(
    model: torch.nn.Module, games: np.ndarray, lengths: Sequence[int] = range(30, 45), back: int = 6
) -> tuple[list[int], list[int], int]:
    """A clean prefix and a corrupted one for patching, from games ``[G, 60]``: an earlier move (within ``back``
    plies of the end) replaced so that the rest stays legal (``corrupted_games``), chosen so that the model's top
    move after the clean prefix is illegal after the corrupted one. Returns (clean, corrupt, target square)."""
    from othello.model.tokens import move_probabilities

    for game in np.asarray(games):
        squares = [int(s) for s in game if s >= 0]
        for length in lengths:
            if length > min(len(squares), 59):
                break
            prefix = squares[:length]
            top = int(np.argmax(move_probabilities(model, prefix)))
            for ply in range(max(0, length - back), length - 1):
                for corrupt in corrupted_games(prefix, ply):
                    if top not in real_mover_board(corrupt).legal_moves:
                        return prefix, corrupt, top
    raise ConfigError("no clean / corrupted pair found in these games: give more games")


def pair_summary(real: Patching, estimate: Patching) -> dict[str, Any]:
    """A clean / corrupted pair as reports show it: the games, the target, both metrics and the agreement of the
    gradient estimate with real patching."""
    return {
        "clean": " ".join(square_name(s) for s in real.clean),
        "corrupt": " ".join(square_name(s) for s in real.corrupt),
        "move": square_name(real.move),
        "clean_metric": real.clean_metric,
        "corrupt_metric": real.corrupt_metric,
        "agreement": patching_agreement(real, estimate),
    }
