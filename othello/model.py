"""The Othello-GPT model: a TransformerLens ``TransformerBridge`` over the native architecture.

    >>> model = build_model(PRESETS["small"])
    >>> logits, cache = model.run_with_cache(tokens)          # tokens [batch, pos] int64
    >>> cache["blocks.2.hook_resid_post"].shape               # [batch, pos, d_model]

The bridge's own hook names (``blocks.{L}.hook_resid_pre``, ``hook_resid_mid``, ``hook_resid_post``,
``hook_attn_out``, ``hook_mlp_out``) are the project's vocabulary; ``hook_name`` builds them.
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass
from typing import Literal

import torch
from transformer_lens.config import TransformerBridgeConfig
from transformer_lens.model_bridge import TransformerBridge
from transformer_lens.model_bridge.generalized_components.normalization import NormalizationBridge

from othello.notation import D_VOCAB, N_CTX


@dataclass
class ModelConfig:
    """Shape of an Othello-GPT. Saved in every checkpoint, so a model is rebuilt from its folder alone."""

    n_layers: int = 4          # transformer blocks
    d_model: int = 256         # residual stream width
    n_heads: int = 8           # attention heads per block (d_head = d_model / n_heads)
    d_mlp: int = 1024          # MLP hidden width
    act_fn: str = "gelu"       # MLP activation
    normalization_type: str = "LN"  # "LN" (trained here), "LNPre" (published checkpoint with LN folded in)
    n_ctx: int = N_CTX         # 59 positions: moves 1..59 predict moves 2..60
    d_vocab: int = D_VOCAB     # 0 = padding, 1..60 = squares
    seed: int = 0              # initialisation seed

    @property
    def d_head(self) -> int:
        return self.d_model // self.n_heads

    def validate(self) -> "ModelConfig":
        if self.d_model % self.n_heads:
            raise ValueError(f"d_model {self.d_model} is not divisible by n_heads {self.n_heads}")
        if self.normalization_type not in ("LN", "LNPre"):
            raise ValueError(f"normalization_type must be LN or LNPre, got {self.normalization_type!r}")
        return self

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "ModelConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown model config fields {sorted(unknown)}")
        return cls(**data).validate()

    def replace(self, **changes: object) -> "ModelConfig":
        return dataclasses.replace(self, **changes).validate()  # type: ignore[arg-type]


PRESETS: dict[str, ModelConfig] = {
    # the published Othello-GPT shape (Li et al.; Nanda et al.)
    "othello-gpt": ModelConfig(n_layers=8, d_model=512, n_heads=8, d_mlp=2048),
    # sized for a 2-core CPU; see BENCHMARKS.md for how they were chosen
    "small": ModelConfig(n_layers=4, d_model=256, n_heads=8, d_mlp=1024),
    "narrow": ModelConfig(n_layers=4, d_model=128, n_heads=4, d_mlp=512),
    # for tests and smoke runs
    "tiny": ModelConfig(n_layers=2, d_model=32, n_heads=2, d_mlp=64),
}


def preset(name: str, **overrides: object) -> ModelConfig:
    """A named preset, with fields overridden (``preset("small", n_layers=6)``)."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose from {', '.join(PRESETS)}")
    return PRESETS[name].replace(**overrides)


def bridge_config(cfg: ModelConfig) -> TransformerBridgeConfig:
    cfg.validate()
    return TransformerBridgeConfig(
        n_layers=cfg.n_layers, d_model=cfg.d_model, n_heads=cfg.n_heads, d_head=cfg.d_head, d_mlp=cfg.d_mlp,
        n_ctx=cfg.n_ctx, d_vocab=cfg.d_vocab, d_vocab_out=cfg.d_vocab, act_fn=cfg.act_fn,
        normalization_type=cfg.normalization_type, positional_embedding_type="standard", seed=cfg.seed,
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


HookKind = Literal["resid_pre", "resid_mid", "resid_post", "attn_out", "mlp_out"]


def hook_name(layer: int, kind: HookKind = "resid_post") -> str:
    """The TransformerLens hook name of block ``layer`` (``hook_name(3) == "blocks.3.hook_resid_post"``)."""
    if kind not in ("resid_pre", "resid_mid", "resid_post", "attn_out", "mlp_out"):
        raise ValueError(f"unknown hook kind {kind!r}")
    return f"blocks.{layer}.hook_{kind}"


def residual_hook(layer: int, n_layers: int) -> str:
    """Hook of "layer L" as tables count it: the residual stream after block L-1; layer 0 = the embeddings."""
    if not 0 <= layer <= n_layers:
        raise ValueError(f"layer {layer} is out of range 0..{n_layers}")
    return hook_name(0, "resid_pre") if layer == 0 else hook_name(layer - 1, "resid_post")


def layer_hook(layer: int, n_layers: int, site: HookKind = "resid_post") -> str:
    """Hook of "layer L" at ``site`` of block L-1: ``resid_post`` is ``residual_hook`` (layer 0 = the embeddings);
    ``resid_mid`` (between the block's attention and its MLP), ``resid_pre``, ``attn_out`` and ``mlp_out`` of
    block L-1 have layers 1..n_layers."""
    if site == "resid_post":
        return residual_hook(layer, n_layers)
    if not 1 <= layer <= n_layers:
        raise ValueError(f"layer {layer} at {site} is out of range 1..{n_layers}")
    return hook_name(layer - 1, site)
