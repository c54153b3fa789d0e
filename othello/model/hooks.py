"""Hook names: the TransformerLens vocabulary, and how the project's "layer L" maps onto it.

"Layer L" in a probe or intervention table is the residual stream after block L-1 (layer 0 = the embeddings):
``residual_hook(3, n_layers) == "blocks.2.hook_resid_post"``. ``site`` picks another hook of block L-1. Views of
one block's parts (neurons, heads, patching, attribution, dictionaries) name the block index ``block`` and the
hook (``neuron_hook(5) == "blocks.5.mlp.hook_post"``); their older ``layer`` field is an alias of ``block``.
"""

from __future__ import annotations

from typing import Literal

from othello.errors import ConfigError

__all__ = ["HookKind", "SITES", "hook_name", "residual_hook", "layer_hook", "neuron_hook", "pattern_hook", "head_hook"]

HookKind = Literal["resid_pre", "resid_mid", "resid_post", "attn_out", "mlp_out"]
SITES: tuple[str, ...] = ("resid_post", "resid_mid", "resid_pre", "attn_out", "mlp_out")


def hook_name(layer: int, kind: HookKind = "resid_post") -> str:
    """The TransformerLens hook name of block ``layer`` (``hook_name(3) == "blocks.3.hook_resid_post"``)."""
    if kind not in SITES:
        raise ConfigError(f"unknown hook kind {kind!r}")
    return f"blocks.{layer}.hook_{kind}"


def residual_hook(layer: int, n_layers: int) -> str:
    """Hook of "layer L" as tables count it: the residual stream after block L-1; layer 0 = the embeddings."""
    if not 0 <= layer <= n_layers:
        raise ConfigError(f"layer {layer} is out of range 0..{n_layers}")
    return hook_name(0, "resid_pre") if layer == 0 else hook_name(layer - 1, "resid_post")


def layer_hook(layer: int, n_layers: int, site: HookKind = "resid_post") -> str:
    """Hook of "layer L" at ``site`` of block L-1: ``resid_post`` is ``residual_hook`` (layer 0 = the embeddings);
    ``resid_mid`` (between the block's attention and its MLP), ``resid_pre``, ``attn_out`` and ``mlp_out`` of
    block L-1 have layers 1..n_layers."""
    if site == "resid_post":
        return residual_hook(layer, n_layers)
    if not 1 <= layer <= n_layers:
        raise ConfigError(f"layer {layer} at {site} is out of range 1..{n_layers}")
    return hook_name(layer - 1, site)


def neuron_hook(block: int) -> str:
    """The hook of block ``block``'s MLP neurons (after the nonlinearity)."""
    return f"blocks.{block}.mlp.hook_post"


def pattern_hook(block: int) -> str:
    """The hook of block ``block``'s attention patterns ``[batch, head, query, key]``."""
    return f"blocks.{block}.attn.hook_pattern"


def head_hook(block: int) -> str:
    """The hook of block ``block``'s per-head attention outputs before the output matrix
    ``[batch, pos, head, d_head]``."""
    return f"blocks.{block}.attn.hook_z"
