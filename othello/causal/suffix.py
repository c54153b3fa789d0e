"""The last position's run from one layer on, against the base runs' cached keys and values: what an interchange
at the last position changes, computed without re-running anything else.

An interchange at the last position leaves every earlier position of the base run as it was (attention looks
back only), so from the swapped layer on only the last position has to be computed, attending to the earlier
positions' keys and values read once from the base run. For DAS, whose fit runs the model a few hundred times
on the same pairs, that is a forward and backward pass over one position per pair instead of the whole game.

    suffix = Suffix.of(model, pairs, layer=5)            # the base runs' stream and keys / values, read once
    logits = suffix.logits(suffix.stream, rows)          # [n, vocab]: no swap, the model's own logits
    logits = suffix.logits(swapped_stream, rows)         # the swapped stream at the last position carried on

The blocks are written out from the model's weights (TransformerLens's layout): LayerNorm, attention with the
model's scale, the MLP with its activation, the unembedding. The tests check the logits against the model's own,
with and without a swap.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from othello.engine.counterfactuals import SquarePairs
from othello.errors import ConfigError
from othello.model.convert import to_hooked
from othello.model.tokens import model_inputs

__all__ = ["Suffix"]

ACTIVATIONS = {"gelu": F.gelu, "relu": F.relu, "gelu_new": lambda x: F.gelu(x, approximate="tanh")}


@dataclass
class Suffix:
    """The base runs of ``pairs`` from layer ``layer`` (the stream after block ``layer - 1``) on: ``stream``
    ``[N, d]`` at each pair's last position there, and each later block's keys and values ``[N, T, heads,
    d_head]`` at every position."""

    layer: int
    stream: torch.Tensor
    keys: dict[int, torch.Tensor]
    values: dict[int, torch.Tensor]
    ply: torch.Tensor
    weights: dict[str, torch.Tensor]
    eps: float
    scale: float
    activation: str

    @classmethod
    @torch.no_grad()
    def of(cls, model: torch.nn.Module, pairs: SquarePairs, layer: int, batch_size: int = 256) -> Suffix:
        n = model.cfg.n_layers
        if not 1 <= layer <= n:
            raise ConfigError(f"layer {layer}: the residual stream's layers 1..{n} (L = after block L-1)")
        if model.cfg.act_fn not in ACTIVATIONS:
            raise ConfigError(f"activation {model.cfg.act_fn!r}: the suffix knows {', '.join(ACTIVATIONS)}")
        device = next(model.parameters()).device
        hook = f"blocks.{layer - 1}.hook_resid_post"
        names = {hook} | {f"blocks.{b}.ln1.hook_out" for b in range(layer, n)}
        ply = torch.as_tensor(pairs.ply, dtype=torch.long)
        tokens = model_inputs(pairs.base_moves)[:, : int(ply.max()) + 1]
        weights = {k: v.to(device) for k, v in to_hooked(model.othello_config, model.state_dict()).items()}
        stream, keys, values = [], {b: [] for b in range(layer, n)}, {b: [] for b in range(layer, n)}
        for a in range(0, len(pairs), batch_size):
            _, cache = model.run_with_cache(tokens[a : a + batch_size].to(device), names_filter=lambda x: x in names)
            stream.append(cache[hook][torch.arange(len(cache[hook])), ply[a : a + batch_size]].float())
            for b in range(layer, n):
                x = cache[f"blocks.{b}.ln1.hook_out"].float()
                keys[b].append(_heads(x, weights, f"blocks.{b}.attn", "K"))
                values[b].append(_heads(x, weights, f"blocks.{b}.attn", "V"))
        scale = model.cfg.d_head**-0.5 if getattr(model.cfg, "use_attn_scale", True) else 1.0
        return cls(
            layer,
            torch.cat(stream),
            {b: torch.cat(k) for b, k in keys.items()},
            {b: torch.cat(v) for b, v in values.items()},
            ply.to(device),
            weights,
            float(getattr(model.cfg, "eps", 1e-5)),
            scale,
            model.cfg.act_fn,
        )

    def _norm(self, x: torch.Tensor, name: str) -> torch.Tensor:
        x = x - x.mean(-1, keepdim=True)
        x = x / (x.pow(2).mean(-1, keepdim=True) + self.eps).sqrt()
        w, b = self.weights.get(f"{name}.w"), self.weights.get(f"{name}.b")
        return x if w is None else x * w + b

    def logits(self, stream: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        """``[n, vocab]``: the next-move logits of the base runs ``rows`` ``[n]`` with ``stream`` ``[n, d]`` at
        their last position at this layer (differentiable in ``stream``)."""
        x, ply = stream, self.ply[rows]
        length = int(ply.max()) + 1
        seen = torch.arange(length, device=x.device)[None, :] <= ply[:, None]  # [n, t]
        here = torch.arange(length, device=x.device)[None, :] == ply[:, None]
        for b in sorted(self.keys):
            block, attn = f"blocks.{b}", f"blocks.{b}.attn"
            h = self._norm(x, f"{block}.ln1")
            q, k_new, v_new = (_heads(h, self.weights, attn, kind) for kind in "QKV")
            # the cached keys and values, this position's replaced by the swapped stream's
            keys = torch.where(here[:, :, None, None], k_new[:, None], self.keys[b][rows, :length])
            values = torch.where(here[:, :, None, None], v_new[:, None], self.values[b][rows, :length])
            scores = torch.einsum("nhe,nthe->nht", q, keys) * self.scale
            pattern = scores.masked_fill(~seen[:, None, :], float("-inf")).softmax(-1)
            z = torch.einsum("nht,nthe->nhe", pattern, values)
            x = x + torch.einsum("nhe,hed->nd", z, self.weights[f"{attn}.W_O"]) + self.weights[f"{attn}.b_O"]
            h = self._norm(x, f"{block}.ln2")
            hidden = ACTIVATIONS[self.activation](
                h @ self.weights[f"{block}.mlp.W_in"] + self.weights[f"{block}.mlp.b_in"]
            )
            x = x + hidden @ self.weights[f"{block}.mlp.W_out"] + self.weights[f"{block}.mlp.b_out"]
        return self._norm(x, "ln_final") @ self.weights["unembed.W_U"] + self.weights["unembed.b_U"]


def _heads(x: torch.Tensor, weights: dict[str, torch.Tensor], attn: str, kind: str) -> torch.Tensor:
    """Queries, keys or values (``kind`` Q, K, V) ``[..., heads, d_head]`` of normalised inputs ``[..., d]``."""
    return torch.einsum("...d,hde->...he", x, weights[f"{attn}.W_{kind}"]) + weights[f"{attn}.b_{kind}"]
