"""Direct logit attribution: how much each head, each MLP and the embeddings write a move's logit directly.

    ```python
    rows = direct_logit_attribution(model, "f5 d6 c3 d3 c4", "c4")     # rows by component, largest first
    ```

The residual stream at the last layer is a sum of the components' outputs; the final LayerNorm centres it and
divides by its scale, then the unembedding reads the logit. With the scale taken from the run (it depends on the
whole stream, which is why this is an attribution and not a decomposition of a linear function), each component's
share is ``((c - mean(c)) / scale * w_ln) @ W_U[:, move]``, and the shares plus the biases (the attention output
biases, the final LayerNorm's bias and the unembedding's bias) sum to the logit exactly.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from othello.engine.notation import SQUARE_TO_TOKEN, parse_square, square_name
from othello.errors import ConfigError
from othello.model.hooks import head_hook
from othello.model.tokens import check_game, model_inputs, to_tokens

__all__ = ["logit_components", "direct_logit_attribution", "average_logit_attribution"]


def _component_labels(n_layers: int, n_heads: int) -> list[str]:
    names = ["embed", "pos_embed"]
    for b in range(n_layers):
        names += [f"L{b}H{h}" for h in range(n_heads)] + [f"mlp {b}"]
    return names + ["biases"]


@torch.no_grad()
def logit_components(
    model: torch.nn.Module,
    tokens: torch.Tensor,
    rows: torch.Tensor,
    positions: torch.Tensor,
    targets: torch.Tensor,
) -> tuple[list[str], torch.Tensor, torch.Tensor]:
    """For each i, the logit of token ``targets[i]`` at position ``positions[i]`` of game ``rows[i]`` of ``tokens``
    ``[G, T]``, split into components: returns (names, shares ``[N, C]``, the model's logits ``[N]``); the shares
    sum to the logits. One forward pass for all of them."""
    n, H = model.cfg.n_layers, model.cfg.n_heads
    wanted = {"hook_embed", "hook_pos_embed", "ln_final.hook_scale"}
    wanted |= {head_hook(b) for b in range(n)} | {f"blocks.{b}.hook_mlp_out" for b in range(n)}
    logits, cache = model.run_with_cache(tokens, names_filter=lambda name: name in wanted)

    def at(name: str) -> torch.Tensor:
        return cache[name][rows, positions].float()

    parts = [at("hook_embed"), at("hook_pos_embed")]
    for b in range(n):
        z = at(head_hook(b))  # [B, H, d_head]
        parts += list(torch.einsum("bhk,hkd->hbd", z, model.W_O[b].float()))
        parts.append(at(f"blocks.{b}.hook_mlp_out"))
    stacked = torch.stack(parts, 1)  # [B, C, d]
    state = model.state_dict()
    w_ln, b_ln = state["ln_final.weight"].float(), state["ln_final.bias"].float()
    scale = at("ln_final.hook_scale")  # [B, 1]
    direction = model.W_U.float()[:, targets].T * w_ln  # [B, d]
    shares = (((stacked - stacked.mean(-1, keepdim=True)) / scale[:, None]) * direction[:, None]).sum(-1)
    # b_O is a direct input to the stream too: centred and scaled like a component, then counted with the biases
    b_O = model.b_O.float().sum(0)
    bias = ((b_O - b_O.mean()) / scale * direction).sum(-1) + b_ln @ model.W_U.float()[:, targets]
    bias = bias + model.b_U.float()[targets]
    shares = torch.cat([shares, bias[:, None]], 1)
    return _component_labels(n, H), shares.cpu(), logits[rows, positions, targets].float().cpu()


def _rows(names: list[str], shares: np.ndarray) -> list[dict[str, object]]:
    out = []
    for name, value in zip(names, shares):
        layer = head = hook = None
        if name.startswith("L"):
            layer, head = (int(x) for x in name[1:].split("H"))
            hook = head_hook(layer)
        elif name.startswith("mlp"):
            layer = int(name.split()[1])
            hook = f"blocks.{layer}.hook_mlp_out"
        elif name == "embed":
            hook = "hook_embed"
        out.append(
            {"component": name, "block": layer, "hook": hook, "layer": layer, "head": head, "logit": float(value)}
        )
    return out


def direct_logit_attribution(
    model: torch.nn.Module,
    moves: str | Sequence[int],
    move: str | int,
    position: int = -1,
    against: str | int | None = None,
) -> dict[str, object]:
    """The logit of ``move`` (``"c4"``) after the prefix ``moves`` at ``position`` (default: the last, which
    predicts the move after the prefix), split by component; with ``against`` (another move), the logit
    difference ``logit(move) - logit(against)`` instead, which cancels what every move's logit shares (the
    ARENA habit). Returns ``rows`` (``component``, ``layer``, ``head``, ``logit``: its direct contribution, in
    logit units, in model order), ``logit`` (the model's value of the metric), ``total`` (the rows' sum, equal to
    it) and ``metric`` (``"logit(c4)"`` or ``"logit(c4) - logit(d3)"``)."""
    squares = check_game(moves)
    if not -len(squares) <= position < len(squares):
        raise ConfigError(
            f"position {position} is out of range: the game has positions 0..{len(squares) - 1} (or -1 for the last)"
        )
    position = position % len(squares)
    tokens = to_tokens(squares).to(next(model.parameters()).device)
    names, shares, logit = _components_of(model, tokens, position, move)
    metric = f"logit({square_name(_square(move))})"
    if against is not None:
        if _square(against) == _square(move):
            raise ConfigError(f"--against {against}: the same move as --move; a difference needs another")
        _, other, other_logit = _components_of(model, tokens, position, against)
        shares, logit = shares - other, logit - other_logit
        metric += f" - logit({square_name(_square(against))})"
    return {
        "rows": _rows(names, shares[0].numpy()),
        "logit": float(logit[0]),
        "total": float(shares[0].sum()),
        "metric": metric,
    }


def _square(move: str | int) -> int:
    square = parse_square(move) if isinstance(move, str) else int(move)
    if not 0 <= square < 64 or int(SQUARE_TO_TOKEN[square]) <= 0:
        raise ConfigError(f"move {move!r}: a centre square is never a move")
    return square


def _components_of(
    model: torch.nn.Module, tokens: torch.Tensor, position: int, move: str | int
) -> tuple[list[str], torch.Tensor, torch.Tensor]:
    """``logit_components`` of one move's logit at one position of one game."""
    token = int(SQUARE_TO_TOKEN[_square(move)])
    index = [torch.tensor([x], device=tokens.device) for x in (0, position, token)]
    return logit_components(model, tokens, *index)


def average_logit_attribution(model: torch.nn.Module, moves: np.ndarray, batch_size: int = 256) -> dict[str, object]:
    """The logit of the move actually played next, split by component and averaged over every position of games
    ``moves`` ``[G, 60]`` that has a next move. Same fields as ``direct_logit_attribution``."""
    device = next(model.parameters()).device
    total, count, logit_sum, names = None, 0, 0.0, []
    for a in range(0, len(moves), batch_size):
        batch = np.asarray(moves[a : a + batch_size])
        tokens = model_inputs(batch).to(device)
        nxt = torch.from_numpy(SQUARE_TO_TOKEN[np.clip(batch[:, 1:60], 0, 63)].astype(np.int64))
        g, t = torch.nonzero(torch.from_numpy(batch[:, 1:60] >= 0), as_tuple=True)
        names, shares, logits = logit_components(model, tokens, g.to(device), t.to(device), nxt[g, t].to(device))
        total = shares.sum(0) if total is None else total + shares.sum(0)
        count += len(g)
        logit_sum += float(logits.sum())
    if not count:
        raise ConfigError("no positions with a next move to attribute")
    mean = (total / count).numpy()
    return {
        "rows": _rows(names, mean),
        "logit": logit_sum / count,
        "total": float(mean.sum()),
        "metric": "logit of the move played next (mean)",
    }
