"""Converters for the published Othello-GPT checkpoints into this project's checkpoint folder.

Two layouts are read, each from a plain state dict of tensors (loaded with ``torch.load(...,
weights_only=True)``, so a crafted pickle cannot run code):

- ``mingpt``: Li et al.'s minGPT (``tok_emb.weight``, ``pos_emb`` [1, T, d], ``blocks.L.attn.query``/``key``/
  ``value``/``proj``, ``blocks.L.mlp.0``/``mlp.2``, ``ln_f``, ``head.weight`` without bias).
- ``hooked``: TransformerLens 3 ``HookedTransformer`` (``embed.W_E``, ``blocks.L.attn.W_Q`` [heads, d_model,
  d_head], ``W_O`` [heads, d_head, d_model], ``mlp.W_in`` [d_model, d_mlp], ``unembed.W_U``...), with or
  without LayerNorm weights (the Othello-GPT demo's checkpoint has them folded in: normalization "LNPre").

The result is the state dict of ``TransformerBridge.boot_native`` (``blocks.L.attn.q.weight`` as
``nn.Linear`` [out, in]), written by our own code so that it works under TransformerLens 3.9 and 4.x alike.

The other way, ``export_hooked`` writes one of our models as a TransformerLens 3.x ``HookedTransformer`` state
dict and the keyword arguments of its ``HookedTransformerConfig``, so that HookedTransformer, sae-lens and
CircuitsVis users can load it:

    ```python
    export_hooked("models/small8", "small8_hooked.pth")   # + small8_hooked.json
    cfg = HookedTransformerConfig(**json.load(open("small8_hooked.json")))
    model = HookedTransformer(cfg); model.load_state_dict(torch.load("small8_hooked.pth", weights_only=True))
    ```
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Literal

import torch

from othello.model.checkpoints import CheckpointError, load_weights, save_model, write_run_config
from othello.model.config import ModelConfig
from othello.model.transformer import build_model

Layout = Literal["mingpt", "hooked"]


def _count_layers(sd: dict[str, torch.Tensor]) -> int:
    odd = [k for k in sd if k.startswith("blocks") and not re.match(r"blocks\.\d{1,3}\.", k)]
    if odd:
        raise CheckpointError(f"tensor {odd[0]!r}: a block's tensors are named blocks.N.NAME with N a block number")
    layers = {int(k.split(".")[1]) for k in sd if k.startswith("blocks.")}
    if not layers or sorted(layers) != list(range(len(layers))):
        raise CheckpointError(f"no consecutive blocks.0 .. blocks.N keys found (got layers {sorted(layers)})")
    return len(layers)


def _need(sd: dict[str, torch.Tensor], key: str, layout: str, ndim: tuple[int, ...] = (1, 2, 3)) -> torch.Tensor:
    """``sd[key]``, which must exist and have one of the dimension counts ``ndim`` (a scalar where a matrix belongs
    is named here, not met as a failed unpacking of its shape)."""
    if key not in sd:
        raise CheckpointError(f"not a {layout} checkpoint: missing {key!r} (found e.g. {sorted(sd)[:4]})")
    if sd[key].ndim not in ndim:
        raise CheckpointError(
            f"tensor {key!r} is {list(sd[key].shape)}: a {layout} checkpoint has {' or '.join(map(str, ndim))} "
            "dimensions there"
        )
    return sd[key]


def from_mingpt(sd: dict[str, torch.Tensor], n_heads: int = 8) -> tuple[ModelConfig, dict[str, torch.Tensor]]:
    """Li et al.'s minGPT layout -> (config, bridge state dict). minGPT shapes do not say the head count."""
    g = lambda k, ndim=(1, 2, 3): _need(sd, k, "minGPT", ndim)  # noqa: E731
    n_layers = _count_layers(sd)
    d_vocab, d_model = g("tok_emb.weight", (2,)).shape
    pos = g("pos_emb", (2, 3))
    cfg = ModelConfig(
        n_layers=n_layers,
        d_model=d_model,
        n_heads=n_heads,
        d_mlp=g("blocks.0.mlp.0.weight", (2,)).shape[0],
        n_ctx=pos.shape[-2],
        d_vocab=d_vocab,
        normalization_type="LN",
    ).validate()
    out = {"embed.weight": g("tok_emb.weight"), "pos_embed.weight": pos.reshape(pos.shape[-2], d_model)}
    for L in range(n_layers):
        p = f"blocks.{L}"
        for ours, theirs in (("ln1", "ln1"), ("ln2", "ln2")):
            out[f"{p}.{ours}.weight"] = g(f"{p}.{theirs}.weight")
            out[f"{p}.{ours}.bias"] = g(f"{p}.{theirs}.bias")
        for ours, theirs in (("q", "query"), ("k", "key"), ("v", "value"), ("o", "proj")):
            out[f"{p}.attn.{ours}.weight"] = g(f"{p}.attn.{theirs}.weight")
            out[f"{p}.attn.{ours}.bias"] = g(f"{p}.attn.{theirs}.bias")
        for ours, theirs in (("in", "0"), ("out", "2")):
            out[f"{p}.mlp.{ours}.weight"] = g(f"{p}.mlp.{theirs}.weight")
            out[f"{p}.mlp.{ours}.bias"] = g(f"{p}.mlp.{theirs}.bias")
    out["ln_final.weight"], out["ln_final.bias"] = g("ln_f.weight"), g("ln_f.bias")
    head = g("head.weight", (2,))
    out["unembed.weight"] = head
    out["unembed.bias"] = sd.get("head.bias", torch.zeros(head.shape[0], dtype=head.dtype))
    return cfg, out


def from_hooked(sd: dict[str, torch.Tensor]) -> tuple[ModelConfig, dict[str, torch.Tensor]]:
    """TransformerLens 3 ``HookedTransformer`` layout (LN or folded LNPre) -> (config, bridge state dict)."""
    g = lambda k, ndim=(1, 2, 3): _need(sd, k, "HookedTransformer", ndim)  # noqa: E731
    n_layers = _count_layers(sd)
    d_vocab, d_model = g("embed.W_E", (2,)).shape
    n_heads, _, d_head = g("blocks.0.attn.W_Q", (3,)).shape
    if n_heads * d_head != d_model:
        raise CheckpointError(f"W_Q has {n_heads} heads of {d_head}, which does not make d_model {d_model}")
    folded = "blocks.0.ln1.w" not in sd
    W_U = g("unembed.W_U", (2,))
    if W_U.shape[1] != d_vocab:
        raise CheckpointError(f"unembed.W_U has {W_U.shape[1]} outputs but the vocabulary has {d_vocab}")
    cfg = ModelConfig(
        n_layers=n_layers,
        d_model=d_model,
        n_heads=n_heads,
        d_mlp=g("blocks.0.mlp.W_in", (2,)).shape[1],
        n_ctx=g("pos_embed.W_pos", (2,)).shape[0],
        d_vocab=d_vocab,
        normalization_type="LNPre" if folded else "LN",
    ).validate()
    out = {"embed.weight": g("embed.W_E"), "pos_embed.weight": g("pos_embed.W_pos")}
    for L in range(n_layers):
        p = f"blocks.{L}"
        if not folded:
            for ln in ("ln1", "ln2"):
                out[f"{p}.{ln}.weight"], out[f"{p}.{ln}.bias"] = g(f"{p}.{ln}.w"), g(f"{p}.{ln}.b")
        for ours in ("q", "k", "v"):
            W = g(f"{p}.attn.W_{ours.upper()}")  # [heads, d_model, d_head]
            out[f"{p}.attn.{ours}.weight"] = W.permute(0, 2, 1).reshape(n_heads * d_head, d_model)
            out[f"{p}.attn.{ours}.bias"] = g(f"{p}.attn.b_{ours.upper()}").reshape(n_heads * d_head)
        W_O = g(f"{p}.attn.W_O")  # [heads, d_head, d_model]
        out[f"{p}.attn.o.weight"] = W_O.reshape(n_heads * d_head, d_model).T
        out[f"{p}.attn.o.bias"] = g(f"{p}.attn.b_O")
        out[f"{p}.mlp.in.weight"], out[f"{p}.mlp.in.bias"] = g(f"{p}.mlp.W_in").T, g(f"{p}.mlp.b_in")
        out[f"{p}.mlp.out.weight"], out[f"{p}.mlp.out.bias"] = g(f"{p}.mlp.W_out").T, g(f"{p}.mlp.b_out")
    if not folded:
        out["ln_final.weight"], out["ln_final.bias"] = g("ln_final.w"), g("ln_final.b")
    out["unembed.weight"] = W_U.T
    out["unembed.bias"] = sd.get("unembed.b_U", torch.zeros(d_vocab, dtype=W_U.dtype))
    return cfg, {k: v.contiguous() for k, v in out.items()}


def to_hooked(cfg: ModelConfig, sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Our (bridge) state dict -> a TransformerLens 3.x ``HookedTransformer`` state dict (float32, with its mask
    buffers): the inverse of ``from_hooked``."""
    g = lambda k: _need(sd, k, "othello-gpt bridge")  # noqa: E731
    h, dh, d = cfg.n_heads, cfg.d_head, cfg.d_model
    out = {"embed.W_E": g("embed.weight"), "pos_embed.W_pos": g("pos_embed.weight")}
    buffers: dict[str, torch.Tensor] = {}
    for L in range(cfg.n_layers):
        p = f"blocks.{L}"
        if cfg.normalization_type == "LN":
            for ln in ("ln1", "ln2"):
                out[f"{p}.{ln}.w"], out[f"{p}.{ln}.b"] = g(f"{p}.{ln}.weight"), g(f"{p}.{ln}.bias")
        for ours in ("q", "k", "v"):
            W = g(f"{p}.attn.{ours}.weight")  # [heads * d_head, d_model]
            out[f"{p}.attn.W_{ours.upper()}"] = W.reshape(h, dh, d).permute(0, 2, 1)
            out[f"{p}.attn.b_{ours.upper()}"] = g(f"{p}.attn.{ours}.bias").reshape(h, dh)
        out[f"{p}.attn.W_O"] = g(f"{p}.attn.o.weight").T.reshape(h, dh, d)
        out[f"{p}.attn.b_O"] = g(f"{p}.attn.o.bias")
        out[f"{p}.mlp.W_in"], out[f"{p}.mlp.b_in"] = g(f"{p}.mlp.in.weight").T, g(f"{p}.mlp.in.bias")
        out[f"{p}.mlp.W_out"], out[f"{p}.mlp.b_out"] = g(f"{p}.mlp.out.weight").T, g(f"{p}.mlp.out.bias")
        # HookedTransformer keeps its causal mask and the masked score as buffers in its state dict; writing them
        # lets a plain ``load_state_dict`` (strict) take the file
        buffers[f"{p}.attn.mask"] = torch.tril(torch.ones(cfg.n_ctx, cfg.n_ctx, dtype=torch.bool))
        buffers[f"{p}.attn.IGNORE"] = torch.tensor(-torch.inf)
    if cfg.normalization_type == "LN":
        out["ln_final.w"], out["ln_final.b"] = g("ln_final.weight"), g("ln_final.bias")
    out["unembed.W_U"], out["unembed.b_U"] = g("unembed.weight").T, g("unembed.bias")
    return {k: v.detach().float().cpu().contiguous() for k, v in out.items()} | buffers


def hooked_config(cfg: ModelConfig) -> dict[str, Any]:
    """The keyword arguments of TransformerLens's ``HookedTransformerConfig`` for a model of shape ``cfg``."""
    return {
        "n_layers": cfg.n_layers,
        "d_model": cfg.d_model,
        "n_heads": cfg.n_heads,
        "d_head": cfg.d_head,
        "d_mlp": cfg.d_mlp,
        "n_ctx": cfg.n_ctx,
        "d_vocab": cfg.d_vocab,
        "d_vocab_out": cfg.d_vocab,
        "act_fn": cfg.act_fn,
        "normalization_type": cfg.normalization_type,
        "positional_embedding_type": "standard",
        "default_prepend_bos": False,  # token 0 is padding, not a BOS: a game starts with its first move
        "model_name": "othello-gpt",
        "seed": cfg.seed,
    }


def export_hooked(model_dir: str | os.PathLike, out: str | os.PathLike) -> Path:
    """Write the checkpoint folder ``model_dir`` as a HookedTransformer state dict ``out`` (``.pth``, read with
    ``torch.load(..., weights_only=True)``, or ``.safetensors``) and its config beside it (``out`` with the suffix
    ``.json``); returns the config's path."""
    from safetensors.torch import save_file

    from othello.files import atomic_path, refuse_overwriting_inputs, write_json
    from othello.model.checkpoints import load_model

    out = Path(out)
    if out.suffix not in (".pth", ".pt", ".safetensors"):
        raise CheckpointError(f"--out {out}: name a .pth or .safetensors file")
    refuse_overwriting_inputs([out, out.with_suffix(".json")], [model_dir])
    model = load_model(model_dir)
    cfg = model.othello_config
    tensors = to_hooked(cfg, {k: v for k, v in model.state_dict().items()})
    config_path = out.with_suffix(".json")
    with atomic_path(out) as tmp:
        if out.suffix == ".safetensors":
            save_file(tensors, str(tmp))
        else:
            torch.save(tensors, tmp)
    write_json(config_path, hooked_config(cfg))
    return config_path


def load_state_dict_file(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """A ``.pth``/``.pt`` state dict read with ``weights_only=True`` (or a ``.safetensors`` file)."""
    path = Path(path)
    if path.suffix == ".safetensors":
        from othello.model.checkpoints import read_safetensors

        return read_safetensors(path)
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises UnpicklingError, RuntimeError, ... for unsafe or broken files
        raise CheckpointError(
            f"{path}: cannot be read as a plain tensor state dict with weights_only=True ({error})"
        ) from None
    if isinstance(data, dict) and "state_dict" in data and isinstance(data["state_dict"], dict):
        data = data["state_dict"]
    if not isinstance(data, dict) or not all(isinstance(v, torch.Tensor) for v in data.values()):
        raise CheckpointError(f"{path}: expected a dict of tensors")
    return data


def convert_checkpoint(src: str | os.PathLike, layout: Layout, out: str | os.PathLike, n_heads: int = 8) -> ModelConfig:
    """Convert a published checkpoint file into a checkpoint folder ``out`` (config.json + model.safetensors)."""
    from othello.files import refuse_overwriting_inputs

    refuse_overwriting_inputs([Path(out) / "config.json", Path(out) / "model.safetensors"], [src])
    sd = load_state_dict_file(src)
    if layout not in ("mingpt", "hooked"):
        raise CheckpointError(f"unknown layout {layout!r}; expected mingpt or hooked")
    try:
        cfg, tensors = from_mingpt(sd, n_heads=n_heads) if layout == "mingpt" else from_hooked(sd)
    except CheckpointError as error:
        raise CheckpointError(f"{src}: {error}") from None
    except (RuntimeError, IndexError, ValueError) as error:  # a reshape of tensors whose shapes disagree
        raise CheckpointError(f"{src}: its tensors do not fit together as a {layout} model ({error})") from None
    model = build_model(cfg)
    load_weights(model, tensors, str(src))
    write_run_config(out, cfg, None, source=f"converted from {Path(src).name} ({layout} layout)")
    save_model(out, model)
    return cfg
