"""A sparse autoencoder of one hook's activations: TopK or ReLU + L1, saved in sae-lens's on-disk format.

    ```python
    sae = SparseAutoencoder(SAEConfig(d_in=256, d_sae=4096, arch="topk", k=32))
    latents = sae.encode(x)                 # [N, 4096], at most k non-zero per row
    save_sae(sae, "runs/sae", info)         # cfg.json + sae_weights.safetensors (sae-lens) + sae.json (ours)
    sae, info = load_sae("runs/sae")
    ```

``encode(x) = act((x * input_scale - b_dec) @ W_enc + b_enc)`` with act = ReLU, or for TopK the k largest
pre-activations kept and ReLU'd (sae-lens's ``TopK``); ``decode(f) = (f @ W_dec + b_dec) / input_scale``. Training
works in normalised units (``input_scale`` makes the mean input norm sqrt(d_in)); saving folds the scale into the
weights, so a saved SAE reads and writes raw activations and sae-lens's ``SAE.load_from_disk`` reproduces our
encodings (tested in ``.venv-tl3``).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn
from safetensors.torch import save_file

from othello.errors import ConfigError
from othello.files import atomic_path, write_json
from othello.model.checkpoints import read_safetensors
from othello.sae.config import SAEConfig

__all__ = ["SAEConfig", "SparseAutoencoder", "save_sae", "load_sae", "SAE_LENS_FILES", "SAEError"]

SAE_LENS_FILES = ("cfg.json", "sae_weights.safetensors")


class SAEError(ConfigError):
    """A folder that holds no readable SAE, or an SAE that does not fit what it is used with."""


class SparseAutoencoder(nn.Module):
    """``W_enc`` [d_in, d_sae], ``b_enc`` [d_sae], ``W_dec`` [d_sae, d_in] (unit rows while training), ``b_dec``
    [d_in]; ``input_scale`` (a buffer) multiplies the input first."""

    def __init__(self, cfg: SAEConfig, seed: int = 0) -> None:
        super().__init__()
        self.cfg = cfg.validate()
        g = torch.Generator().manual_seed(seed)
        W_dec = torch.randn(cfg.d_sae, cfg.d_in, generator=g)
        W_dec /= W_dec.norm(dim=1, keepdim=True)
        self.W_dec = nn.Parameter(W_dec)
        self.W_enc = nn.Parameter(W_dec.T.clone())  # the tied start that TopK SAEs train from (Gao et al.)
        self.b_enc = nn.Parameter(torch.zeros(cfg.d_sae))
        self.b_dec = nn.Parameter(torch.zeros(cfg.d_in))
        self.register_buffer("input_scale", torch.ones(()))

    def pre_activations(self, x: torch.Tensor) -> torch.Tensor:
        """``[N, d_sae]`` before the activation."""
        return (x * self.input_scale - self.b_dec) @ self.W_enc + self.b_enc

    def activate(self, pre: torch.Tensor) -> torch.Tensor:
        if self.cfg.arch == "relu":
            return torch.relu(pre)
        top = pre.topk(self.cfg.k, dim=-1)
        return torch.zeros_like(pre).scatter(-1, top.indices, torch.relu(top.values))

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Latents ``[N, d_sae]`` of activations ``[N, d_in]``."""
        return self.activate(self.pre_activations(x))

    def decode(self, f: torch.Tensor) -> torch.Tensor:
        """Activations ``[N, d_in]`` from latents ``[N, d_sae]``."""
        return (f @ self.W_dec + self.b_dec) / self.input_scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))

    @torch.no_grad()
    def normalise_decoder(self) -> None:
        """Scale each decoder row to unit norm (after every optimiser step)."""
        self.W_dec /= self.W_dec.norm(dim=1, keepdim=True).clamp_min(1e-12)

    @torch.no_grad()
    def remove_parallel_gradient(self) -> None:
        """Drop the part of each decoder row's gradient along the row, which unit norm would undo anyway."""
        if self.W_dec.grad is not None:
            parallel = (self.W_dec.grad * self.W_dec).sum(1, keepdim=True)
            self.W_dec.grad -= parallel * self.W_dec

    @torch.no_grad()
    def folded(self) -> SparseAutoencoder:
        """The same SAE with ``input_scale`` folded into its weights (scale 1): what is saved."""
        out = SparseAutoencoder(self.cfg)
        s = self.input_scale
        out.W_enc.copy_(self.W_enc * s)
        out.b_enc.copy_(self.b_enc)
        out.W_dec.copy_(self.W_dec / s)
        out.b_dec.copy_(self.b_dec / s)
        return out


def save_sae(sae: SparseAutoencoder, folder: str | os.PathLike, info: dict[str, Any]) -> Path:
    """Write ``folder/cfg.json`` and ``folder/sae_weights.safetensors`` (sae-lens's format, ``input_scale`` folded
    in) and ``folder/sae.json`` (``info``: hook, training settings, metrics...). Atomic per file."""
    folder = Path(folder)
    folded = sae.folded()
    tensors = {k: folded.state_dict()[k].detach().contiguous().cpu() for k in ("W_enc", "b_enc", "W_dec", "b_dec")}
    with atomic_path(folder / "sae_weights.safetensors") as tmp:
        save_file(tensors, str(tmp))
    lens_cfg: dict[str, Any] = {
        "d_in": sae.cfg.d_in,
        "d_sae": sae.cfg.d_sae,
        "dtype": "float32",
        "device": "cpu",
        "apply_b_dec_to_input": True,
        "normalize_activations": "none",
        "reshape_activations": "none",
        "metadata": {"model_name": "othello-gpt", "hook_name": info.get("hook"), "source": "othello-gpt sae train"},
        "architecture": "topk" if sae.cfg.arch == "topk" else "standard",
    }
    if sae.cfg.arch == "topk":
        lens_cfg |= {"k": sae.cfg.k, "rescale_acts_by_decoder_norm": False}
    write_json(folder / "cfg.json", lens_cfg)
    write_json(folder / "sae.json", {"format_version": 1, "config": asdict(sae.cfg), **info})
    return folder


# the largest dictionary read from a file: 2 x d_in x d_sae float32 weights in at most 8 GB (d_in 512 x 4M latents)
MAX_WEIGHTS = 2 * 1024**3


def _lens_config(data: Any, where: Path) -> SAEConfig:
    """sae-lens's ``cfg.json`` as our ``SAEConfig``: an object with an architecture we read and whole-number sizes
    whose weights fit in memory, or an ``SAEError`` naming the field and the value."""
    if not isinstance(data, dict):
        raise SAEError(f"{where}: expected an object, got {type(data).__name__}")
    arch = {"topk": "topk", "standard": "relu"}.get(data.get("architecture"))
    if arch is None:
        raise SAEError(f"{where}: architecture {data.get('architecture')!r}; read: topk, standard")
    sizes = {}
    for name, default in (("d_in", None), ("d_sae", None), ("k", 1)):
        value = data.get(name, default)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise SAEError(f"{where}: {name} is {value!r}, expected a positive whole number")
        sizes[name] = value
    if sizes["d_in"] * sizes["d_sae"] > MAX_WEIGHTS:
        raise SAEError(
            f"{where}: d_in {sizes['d_in']} x d_sae {sizes['d_sae']} is over {MAX_WEIGHTS:,} weights per matrix: "
            "refused before allocating"
        )
    try:
        return SAEConfig(sizes["d_in"], sizes["d_sae"], arch, sizes["k"]).validate()
    except ConfigError as error:
        raise SAEError(f"{where}: {error}") from None


def load_sae(folder: str | os.PathLike, device: str | torch.device = "cpu") -> tuple[SparseAutoencoder, dict]:
    """An SAE saved by ``save_sae`` (or by sae-lens, TopK or standard) and its info (``sae.json``, or ``{}``)."""
    folder = Path(folder)
    missing = [name for name in SAE_LENS_FILES if not (folder / name).exists()]
    if missing:
        raise SAEError(f"{folder}: no SAE here (missing {', '.join(missing)})")
    try:
        lens_cfg = json.loads((folder / "cfg.json").read_text())
        info = json.loads((folder / "sae.json").read_text()) if (folder / "sae.json").exists() else {}
    except (ValueError, OSError, RecursionError) as error:
        raise SAEError(f"{folder}: unreadable SAE ({error})") from None
    cfg = _lens_config(lens_cfg, folder / "cfg.json")  # checked before the weights are read or anything allocated
    if not isinstance(info, dict):
        raise SAEError(f"{folder}/sae.json: expected an object, got {type(info).__name__}")
    tensors = read_safetensors(folder / "sae_weights.safetensors")
    sae = SparseAutoencoder(cfg)
    expected = {
        "W_enc": (cfg.d_in, cfg.d_sae),
        "b_enc": (cfg.d_sae,),
        "W_dec": (cfg.d_sae, cfg.d_in),
        "b_dec": (cfg.d_in,),
    }
    for name, shape in expected.items():
        if name not in tensors or tuple(tensors[name].shape) != shape:
            found = tuple(tensors[name].shape) if name in tensors else "missing"
            raise SAEError(f"{folder}/sae_weights.safetensors: {name} is {found}, expected {shape}")
    with torch.no_grad():
        for name in expected:
            getattr(sae, name).copy_(tensors[name].float())
    return sae.to(device).eval().requires_grad_(False), info
