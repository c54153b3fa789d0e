"""The last position's run from one layer on, against the base runs' cached keys and values: what an interchange
at the last position changes, computed without re-running anything else.

An interchange at the last position leaves every earlier position of the base run as it was (attention looks
back only), so from the swapped layer on only the last position has to be computed, attending to the earlier
positions' keys and values read once from the base run. For DAS, whose fit runs the model a few hundred times
on the same pairs, that is a forward and backward pass over one position per pair instead of the whole game; for
the benchmark's scoring, one position per pair for each method and layer after a single base run.

    suffix = Suffix.of(model, pairs, start=1)              # one base run: streams, keys and values from layer 1 on
    logits = suffix.logits(suffix.streams[5], rows, 5)     # [n, vocab]: no swap, the model's own logits
    logits = suffix.logits(swapped, rows, 5)               # a swapped layer-5 stream at the last position, carried on
    logits = suffix.run(rows, hooks)                       # TransformerLens-style hooks at the last position

The blocks are written out from the model's weights (TransformerLens's layout): LayerNorm, attention with the
model's scale, the MLP with its activation, the unembedding. The hook points are the stream after a block
(``blocks.B.hook_resid_post``) and, inside a block's MLP, ``ln2.hook_normalized``, ``mlp.hook_post`` and
``hook_mlp_out``; a hook sees its activation as ``[n, 1, ...]`` (one position per pair). The tests check the
logits against the model's own, with and without a swap or hooks.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import numpy as np
import torch
import torch.nn.functional as F

from othello.engine.counterfactuals import SquarePairs
from othello.errors import ConfigError
from othello.model.convert import to_hooked
from othello.model.tokens import model_inputs

__all__ = ["Suffix", "last_streams"]

ACTIVATIONS = {"gelu": F.gelu, "relu": F.relu, "gelu_new": lambda x: F.gelu(x, approximate="tanh")}
_POINT = re.compile(r"blocks\.(\d+)\.(hook_resid_post|ln2\.hook_normalized|mlp\.hook_post|hook_mlp_out)")
Hook = Callable[..., torch.Tensor]


def _stream_name(layer: int) -> str:
    return "blocks.0.hook_resid_pre" if layer == 0 else f"blocks.{layer - 1}.hook_resid_post"


@torch.no_grad()
def last_streams(
    model: torch.nn.Module, moves: np.ndarray, ply: np.ndarray, start: int = 0, batch_size: int = 256
) -> dict[int, torch.Tensor]:
    """The residual stream ``[N, d]`` at each game's position ``ply`` ``[N]`` at every layer from ``start`` on (layer
    L: after block L-1; 0: the embeddings), of the games ``moves`` ``[N, plies]``: one run."""
    return _read(model, moves, ply, start, keys=False, batch_size=batch_size)[0]


def _read(
    model: torch.nn.Module, moves: np.ndarray, ply: np.ndarray, start: int, keys: bool, batch_size: int
) -> tuple[dict[int, torch.Tensor], dict[int, torch.Tensor], dict[int, torch.Tensor], dict[str, torch.Tensor]]:
    """Streams at the last position from ``start`` on and (with ``keys``) each later block's keys and values
    ``[N, heads, T, d_head]`` at every position; the weights written out."""
    n = model.cfg.n_layers
    if not 0 <= start <= n:
        raise ConfigError(f"layer {start}: the residual stream's layers 0..{n} (L = after block L-1)")
    device = next(model.parameters()).device
    names = {_stream_name(L) for L in range(start, n + 1)} | {f"blocks.{b}.ln1.hook_out" for b in range(start, n)}
    ply_t = torch.as_tensor(ply, dtype=torch.long)
    tokens = model_inputs(moves)[:, : int(ply_t.max()) + 1]
    weights = {k: v.to(device).float() for k, v in to_hooked(model.othello_config, model.state_dict()).items()}
    streams: dict[int, list] = {L: [] for L in range(start, n + 1)}
    ks: dict[int, list] = {b: [] for b in range(start, n)} if keys else {}
    vs: dict[int, list] = {b: [] for b in range(start, n)} if keys else {}
    for a in range(0, len(tokens), batch_size):
        _, cache = model.run_with_cache(tokens[a : a + batch_size].to(device), names_filter=lambda x: x in names)
        at = (torch.arange(len(cache[_stream_name(n)])), ply_t[a : a + batch_size])
        for L in streams:
            streams[L].append(cache[_stream_name(L)][at].float())
        for b in ks:
            x = cache[f"blocks.{b}.ln1.hook_out"].float()
            ks[b].append(_heads(x, weights, f"blocks.{b}.attn", "K").transpose(1, 2).contiguous())
            vs[b].append(_heads(x, weights, f"blocks.{b}.attn", "V").transpose(1, 2).contiguous())
    cat = lambda parts: {i: torch.cat(p) for i, p in parts.items()}  # noqa: E731
    return cat(streams), cat(ks), cat(vs), weights


@dataclass
class Suffix:
    """The base runs of ``pairs`` from layer ``start`` on: ``streams[L]`` ``[N, d]`` at each pair's last position
    at every layer L >= ``start``, and each block's keys and values ``[N, heads, T, d_head]`` at every position
    from block ``start`` on."""

    start: int
    streams: dict[int, torch.Tensor]
    keys: dict[int, torch.Tensor]
    values: dict[int, torch.Tensor]
    ply: torch.Tensor
    weights: dict[str, torch.Tensor]
    eps: float
    scale: float
    activation: str

    @classmethod
    def of(cls, model: torch.nn.Module, pairs: SquarePairs, start: int, batch_size: int = 256) -> Suffix:
        if model.cfg.act_fn not in ACTIVATIONS:
            raise ConfigError(f"activation {model.cfg.act_fn!r}: the suffix knows {', '.join(ACTIVATIONS)}")
        streams, keys, values, weights = _read(model, pairs.base_moves, pairs.ply, start, True, batch_size)
        return cls(
            start,
            streams,
            keys,
            values,
            torch.as_tensor(pairs.ply, dtype=torch.long, device=next(model.parameters()).device),
            weights,
            float(getattr(model.cfg, "eps", 1e-5)),
            model.cfg.d_head**-0.5 if getattr(model.cfg, "use_attn_scale", True) else 1.0,
            model.cfg.act_fn,
        )

    @property
    def n_layers(self) -> int:
        return max(self.streams)

    def first_layer(self, hooks: list[str]) -> int | None:
        """The layer whose stream a run with ``hooks`` starts from (the stream before the first hooked block, or
        the hooked stream itself), or None where a hook is not one of this suffix's points or comes before
        ``start``."""
        layers = []
        for name in hooks:
            match = _POINT.fullmatch(name)
            if not match:
                return None
            block = int(match.group(1))
            layers.append(block + 1 if match.group(2) == "hook_resid_post" else block)
        layer = min(layers, default=self.n_layers)
        return layer if self.start <= layer <= self.n_layers else None

    def run(self, rows: torch.Tensor, hooks: list[tuple[str, Hook]]) -> torch.Tensor:
        """``[n, vocab]``: the base runs ``rows`` ``[n]`` with ``hooks`` (``(name, fn(act [n, 1, ...], hook=None))``
        at this suffix's points, as TransformerLens calls them) at their last position."""
        layer = self.first_layer([name for name, _ in hooks])
        if layer is None:
            raise ConfigError(f"hooks {[name for name, _ in hooks]}: not all at the suffix's points from {self.start}")
        return self.logits(self.streams[layer][rows], rows, layer, hooks)

    def logits(
        self, stream: torch.Tensor, rows: torch.Tensor, layer: int, hooks: list[tuple[str, Hook]] | None = None
    ) -> torch.Tensor:
        """``[n, vocab]``: the next-move logits of the base runs ``rows`` ``[n]`` with ``stream`` ``[n, d]`` at
        their last position at layer ``layer`` (differentiable in ``stream``); ``hooks`` as in ``run``."""
        table: dict[str, list[Hook]] = {}
        for name, fn in hooks or []:
            table.setdefault(name, []).append(fn)

        def point(name: str, act: torch.Tensor) -> torch.Tensor:
            for fn in table.get(name, ()):
                act = fn(act[:, None], hook=None)[:, 0]
            return act

        x = point(_stream_name(layer), stream) if layer else stream
        ply = self.ply[rows]
        seen = torch.arange(int(ply.max()), device=x.device)[None, :] < ply[:, None]  # earlier positions [n, t]
        for b in range(layer, self.n_layers):
            x = x + self._attention(x, rows, seen, b)
            h = self._norm(x, f"blocks.{b}.ln2", partial(point, f"blocks.{b}.ln2.hook_normalized"))
            post = ACTIVATIONS[self.activation](
                h @ self.weights[f"blocks.{b}.mlp.W_in"] + self.weights[f"blocks.{b}.mlp.b_in"]
            )
            post = point(f"blocks.{b}.mlp.hook_post", post)
            out = post @ self.weights[f"blocks.{b}.mlp.W_out"] + self.weights[f"blocks.{b}.mlp.b_out"]
            x = point(f"blocks.{b}.hook_resid_post", x + point(f"blocks.{b}.hook_mlp_out", out))
        return self._norm(x, "ln_final") @ self.weights["unembed.W_U"] + self.weights["unembed.b_U"]

    def _attention(self, x: torch.Tensor, rows: torch.Tensor, seen: torch.Tensor, b: int) -> torch.Tensor:
        """Block ``b``'s attention output ``[n, d]`` at the last position: its query against the cached keys of
        the earlier positions and its own (from ``x``, which a swap may have changed)."""
        attn = f"blocks.{b}.attn"
        q, k, v = (_heads(self._norm(x, f"blocks.{b}.ln1"), self.weights, attn, kind) for kind in "QKV")  # [n, h, e]
        t = seen.shape[1]
        keys, values = self.keys[b][rows, :, :t], self.values[b][rows, :, :t]  # [n, h, t, e]: constants
        earlier = (q[:, :, None, :] @ keys.transpose(-1, -2))[:, :, 0] * self.scale  # [n, h, t]
        earlier = earlier.masked_fill(~seen[:, None, :], float("-inf"))
        own = (q * k).sum(-1, keepdim=True) * self.scale  # [n, h, 1]
        pattern = torch.cat([earlier, own], -1).softmax(-1)
        z = (pattern[:, :, None, :t] @ values)[:, :, 0] + pattern[:, :, t:] * v  # [n, h, e]
        return torch.einsum("nhe,hed->nd", z, self.weights[f"{attn}.W_O"]) + self.weights[f"{attn}.b_O"]

    def _norm(self, x: torch.Tensor, name: str, hook: Hook | None = None) -> torch.Tensor:
        """LayerNorm ``name``; ``hook`` sees the normalised vector before the scale and bias, where
        TransformerLens's ``hook_normalized`` is."""
        x = x - x.mean(-1, keepdim=True)
        x = x / (x.pow(2).mean(-1, keepdim=True) + self.eps).sqrt()
        if hook is not None:
            x = hook(x)
        w, b = self.weights.get(f"{name}.w"), self.weights.get(f"{name}.b")
        return x if w is None else x * w + b


def _heads(x: torch.Tensor, weights: dict[str, torch.Tensor], attn: str, kind: str) -> torch.Tensor:
    """Queries, keys or values (``kind`` Q, K, V) ``[..., heads, d_head]`` of normalised inputs ``[..., d]``."""
    return torch.einsum("...d,hde->...he", x, weights[f"{attn}.W_{kind}"]) + weights[f"{attn}.b_{kind}"]
