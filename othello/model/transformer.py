"""The Othello-GPT model: a TransformerLens ``TransformerBridge`` over the native architecture.

    ```python
    model = build_model(preset("small"))
    logits, cache = model.run_with_cache(tokens)          # tokens [batch, pos] int64
    cache["blocks.2.hook_resid_post"].shape               # [batch, pos, d_model]
    ```

The bridge's own hook names (``blocks.{L}.hook_resid_pre``, ``hook_resid_mid``, ``hook_resid_post``,
``hook_attn_out``, ``hook_mlp_out``) are the project's vocabulary; ``othello.model.hooks`` builds them.
"""

from __future__ import annotations

import copy

import torch
from transformer_lens.config import TransformerBridgeConfig
from transformer_lens.model_bridge import TransformerBridge
from transformer_lens.model_bridge.generalized_components.normalization import NormalizationBridge

from othello.model.config import ModelConfig

__all__ = ["build_model", "bridge_config", "untrained_like"]


def bridge_config(cfg: ModelConfig) -> TransformerBridgeConfig:
    cfg.validate()
    return TransformerBridgeConfig(
        n_layers=cfg.n_layers,
        d_model=cfg.d_model,
        n_heads=cfg.n_heads,
        d_head=cfg.d_head,
        d_mlp=cfg.d_mlp,
        n_ctx=cfg.n_ctx,
        d_vocab=cfg.d_vocab,
        d_vocab_out=cfg.d_vocab,
        act_fn=cfg.act_fn,
        normalization_type=cfg.normalization_type,
        positional_embedding_type="standard",
        seed=cfg.seed,
    )


def build_model(cfg: ModelConfig, device: str | torch.device | None = None) -> TransformerBridge:
    """A freshly initialised model of shape ``cfg`` (seeded by ``cfg.seed``), in eval mode."""
    model = TransformerBridge.boot_native(bridge_config(copy.deepcopy(cfg)), device=device)
    _use_native_layer_norm(model)
    model.eval()
    model.othello_config = cfg  # the shape it was built from, for checkpoints
    return model


def _use_native_layer_norm(model: TransformerBridge) -> None:
    """Run each LayerNorm as ``nn.LayerNorm`` (one fused op and its fused backward).

    By default the bridge computes LayerNorm op by op so that ``hook_scale`` and ``hook_normalized`` sit in the
    autograd graph; that backward was most of the bridge's training-speed gap to plain PyTorch (BENCHMARKS.md).
    TransformerLens's own ``use_native_layernorm_autograd`` path (TL 3.9 and 4.x) still fires both hooks and,
    when a hook edits them or a backward hook is attached, falls back to the op-by-op computation (with a
    warning), so hooks behave as before. Parameter-free LayerNorms (folded checkpoints) have no fused op.
    """
    for module in model.modules():
        if type(module) is NormalizationBridge and isinstance(module.original_component, torch.nn.LayerNorm):
            module.use_native_layernorm_autograd = True


def untrained_like(model: TransformerBridge) -> TransformerBridge:
    """A freshly initialised model of ``model``'s shape, on its device: the control that probes are set beside."""
    return build_model(model.othello_config, device=next(model.parameters()).device)
