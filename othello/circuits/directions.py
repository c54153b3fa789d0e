"""The probe basis: each square's directions from the linear probes, what each component writes along them, and
the MLP neurons' weights read in that basis (Nanda's Othello-GPT posts; ARENA's "modular circuits").

    ```python
    dirs = probe_directions(model, layer=5)                    # {"mine_dir": [64, d_model], ...}, unit rows
    attr = probe_attribution(model, "f5 d6 c3 d3 c4", 5, dirs["mine_dir"])
    attr["scores"].shape                                       # [games, components, positions, 64]
    w = neuron_weights(model, block=5)                          # {"in_mine": [d_mlp, 64], ...}
    ```

"Layer L" is the residual stream after block L-1, as the probes count it (``othello.model.hooks``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from othello.engine.notation import TOKEN_TO_SQUARE, parse_moves
from othello.errors import ConfigError
from othello.model.hooks import residual_hook
from othello.model.tokens import model_inputs, to_tokens
from othello.probes.fit import LinearProbe
from othello.probes.store import layer_probes

__all__ = [
    "DIRECTIONS",
    "directions_from_probes",
    "probe_directions",
    "probe_attribution",
    "component_names",
    "neuron_weights",
    "unembedding_by_square",
]

# blank / mine / theirs: the relative probe's class vectors; blank_dir = P_empty - (P_mine + P_theirs) / 2 and
# mine_dir = P_mine - P_theirs as the posts define them; flipped from a linear probe of the flipped labels.
DIRECTIONS = ("blank", "mine", "theirs", "blank_dir", "mine_dir", "flipped")


def _unit(d: torch.Tensor) -> torch.Tensor:
    return d / d.norm(dim=-1, keepdim=True).clamp_min(1e-12)


def directions_from_probes(relative: LinearProbe, flipped: LinearProbe | None = None) -> dict[str, torch.Tensor]:
    """Unit directions ``{name: [64, d_model]}`` (``DIRECTIONS``; ``flipped`` only with its probe) from a linear
    relative probe (classes empty, mine, theirs) and optionally a linear flipped probe (kept, flipped)."""
    W = relative.W.detach().float()  # [d, 64, 3]
    empty, mine, theirs = W[..., 0].T, W[..., 1].T, W[..., 2].T
    out = {
        "blank": _unit(empty),
        "mine": _unit(mine),
        "theirs": _unit(theirs),
        "blank_dir": _unit(empty - (mine + theirs) / 2),
        "mine_dir": _unit(mine - theirs),
    }
    if flipped is not None:
        F = flipped.W.detach().float()
        out["flipped"] = _unit((F[..., 1] - F[..., 0]).T)
    return out


def probe_directions(
    model: torch.nn.Module,
    layer: int,
    site: str = "resid_post",
    flipped: bool = True,
    cache: str | None = None,
    progress: bool = True,
) -> dict[str, torch.Tensor]:
    """Unit directions ``{name: [64, d_model]}`` at "layer L" (``site`` of block L-1) from the stored linear
    probes (fitted once and cached where none are stored, as ``othello.probes.store.layer_probes`` does)."""
    relative = layer_probes(model, "relative", "linear", [layer], cache=cache, progress=progress, site=site)[layer]
    flip = (
        layer_probes(model, "flipped", "linear", [layer], cache=cache, progress=progress, site=site)[layer]
        if flipped
        else None
    )
    return directions_from_probes(relative, flip)


def _tokens(moves: str | Sequence[int] | np.ndarray) -> torch.Tensor:
    if isinstance(moves, np.ndarray) and moves.ndim == 2:
        return model_inputs(moves)
    return to_tokens(parse_moves(moves) if isinstance(moves, str) else moves)


def component_names(n_blocks: int) -> list[str]:
    """``["embed", "attn 0", "mlp 0", ..., "attn {n-1}", "mlp {n-1}"]``: what writes to the residual stream before
    "layer n" (embed = token + position embeddings)."""
    return ["embed"] + [f"{kind} {b}" for b in range(n_blocks) for kind in ("attn", "mlp")]


@torch.no_grad()
def probe_attribution(
    model: torch.nn.Module,
    moves: str | Sequence[int] | np.ndarray,
    layer: int,
    directions: torch.Tensor,
) -> dict[str, object]:
    """What each component writes along each square's direction before "layer L".

    ``moves``: one prefix (``"f5 d6 c3"``) or games ``[G, 60]``; ``directions`` ``[64, d_model]`` (one entry of
    ``probe_directions``). Returns ``components`` (``component_names(layer)``), ``scores`` ``[G, C, T, 64]``
    (component c's output at position t projected on square s's direction) and ``accumulated`` (their running
    sum over components: the residual stream's projection after each, the last equal to the projection of
    layer L's residual stream, which a linear probe reads).
    """
    n = model.cfg.n_layers
    residual_hook(layer, n)  # range check
    hooks = ["hook_embed", "hook_pos_embed"] + [
        f"blocks.{b}.hook_{kind}_out" for b in range(layer) for kind in ("attn", "mlp")
    ]
    tokens = _tokens(moves).to(next(model.parameters()).device)
    _, cache = model.run_with_cache(tokens, names_filter=lambda name: name in hooks)
    parts = [cache["hook_embed"] + cache["hook_pos_embed"]] + [cache[h] for h in hooks[2:]]
    stacked = torch.stack(parts, 1).float()  # [G, C, T, d]
    scores = stacked @ directions.to(stacked.device).float().T  # [G, C, T, 64]
    return {
        "components": component_names(layer),
        "scores": scores.cpu().numpy(),
        "accumulated": scores.cumsum(1).cpu().numpy(),
    }


def _weight(model: torch.nn.Module, name: str) -> torch.Tensor:
    """One LayerNorm weight by its state-dict name (the bridge exposes no ``W_``-style property for it)."""
    return model.state_dict()[name].detach().float()


def unembedding_by_square(model: torch.nn.Module) -> torch.Tensor:
    """The unembedding with the final LayerNorm's weight folded in, by square: ``[d_model, 64]`` (the centre
    squares, which are never moves, are 0)."""
    W_U = model.W_U.detach().float() * _weight(model, "ln_final.weight")[:, None]  # [d, 61]
    out = torch.zeros(W_U.shape[0], 64)
    out[:, torch.as_tensor(TOKEN_TO_SQUARE[1:].astype(np.int64))] = W_U[:, 1:].cpu()
    return out


def neuron_weights(
    model: torch.nn.Module,
    block: int,
    directions_in: dict[str, torch.Tensor] | None = None,
    directions_out: dict[str, torch.Tensor] | None = None,
    progress: bool = True,
) -> dict[str, np.ndarray]:
    """Block ``block``'s MLP neurons in the probe basis, each ``[d_mlp, 64]`` unless said:

    - ``in_blank``, ``in_mine``: cosine of each neuron's input weights (LayerNorm weight folded in) with each
      square's ``blank_dir`` / ``mine_dir`` of the residual stream it reads (``resid_mid`` of the block);
    - ``out_blank``, ``out_mine``: cosine of its output weights with the directions of the stream it writes to
      (layer ``block + 1``);
    - ``out_moves``: its output weights through the unembedding: the logit each move gains per unit of activation
      (the final LayerNorm's scale left out);
    - ``subspace_share`` ``[d_mlp]``: the share of the input weights' squared norm inside the span of the 128
      blank / mine directions.

    Directions default to the stored probes: the ``resid_mid`` probes of layer ``block + 1`` for the input and
    the ``resid_post`` probes of layer ``block + 1`` for the output.
    """
    n = model.cfg.n_layers
    if not 0 <= block < n:
        raise ConfigError(f"block {block} is out of range 0..{n - 1}")
    if directions_in is None:
        directions_in = probe_directions(model, block + 1, "resid_mid", flipped=False, progress=progress)
    if directions_out is None:
        directions_out = probe_directions(model, block + 1, flipped=False, progress=progress)
    W_in = (model.W_in[block].detach().float() * _weight(model, f"blocks.{block}.ln2.weight")[:, None]).cpu()
    W_out = model.W_out[block].detach().float().cpu()  # [m, d]

    def cosine(w: torch.Tensor, d: torch.Tensor) -> np.ndarray:  # w [m, d], d [64, d] unit rows
        return (_unit(w) @ d.cpu().float().T).numpy()

    basis = torch.cat([directions_in["blank_dir"], directions_in["mine_dir"]]).cpu().float()  # [128, d]
    q, _ = torch.linalg.qr(basis.T)  # [d, rank]: an orthonormal basis of their span
    inside = ((W_in.T @ q) ** 2).sum(-1) / (W_in**2).sum(0).clamp_min(1e-12)
    return {
        "in_blank": cosine(W_in.T, directions_in["blank_dir"]),
        "in_mine": cosine(W_in.T, directions_in["mine_dir"]),
        "out_blank": cosine(W_out, directions_out["blank_dir"]),
        "out_mine": cosine(W_out, directions_out["mine_dir"]),
        "out_moves": (W_out @ unembedding_by_square(model)).numpy(),
        "subspace_share": inside.numpy(),
    }
