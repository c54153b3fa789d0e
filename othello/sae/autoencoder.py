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
    """``W_enc`` [d_in, d_sae], ``b_enc`` [d_sae], ``W_dec`` [d_sae, d_out] (unit rows while training), ``b_dec``
    [d_out], and for a skip transcoder ``W_skip`` [d_in, d_out]; ``input_scale`` and ``output_scale`` (buffers)
    bring the input and the output to mean norm sqrt(width) while training (folded into the weights when saved).

    An SAE (``cfg.d_out`` None) reconstructs its input: ``encode(x) = act((x s - b_dec) W_enc + b_enc)``. A
    transcoder predicts another hook from its input: ``encode(x) = act(x s_in W_enc + b_enc)`` and
    ``forward(x) = (encode(x) W_dec + b_dec + x s_in W_skip) / s_out``."""

    def __init__(self, cfg: SAEConfig, seed: int = 0) -> None:
        super().__init__()
        self.cfg = cfg.validate()
        g = torch.Generator().manual_seed(seed)
        W_dec = torch.randn(cfg.d_sae, cfg.width_out, generator=g)
        W_dec /= W_dec.norm(dim=1, keepdim=True)
        self.W_dec = nn.Parameter(W_dec)
        if cfg.width_out == cfg.d_in:
            W_enc = W_dec.T.clone()  # the tied start that TopK SAEs train from (Gao et al.)
        else:
            W_enc = torch.randn(cfg.d_in, cfg.d_sae, generator=g) / cfg.d_in**0.5
        self.W_enc = nn.Parameter(W_enc)
        self.b_enc = nn.Parameter(torch.zeros(cfg.d_sae))
        self.b_dec = nn.Parameter(torch.zeros(cfg.width_out))
        self.W_skip = nn.Parameter(torch.zeros(cfg.d_in, cfg.width_out)) if cfg.skip else None
        self.register_buffer("input_scale", torch.ones(()))
        self.register_buffer("output_scale", torch.ones(()))

    @property
    def scale_out(self) -> torch.Tensor:
        """The output's scale: an SAE's output is its input, on the input's scale."""
        return self.output_scale if self.cfg.transcoder else self.input_scale

    def pre_activations(self, x: torch.Tensor) -> torch.Tensor:
        """``[N, d_sae]`` before the activation."""
        if self.cfg.transcoder:
            return (x * self.input_scale) @ self.W_enc + self.b_enc
        return (x * self.input_scale - self.b_dec) @ self.W_enc + self.b_enc

    def activate(self, pre: torch.Tensor) -> torch.Tensor:
        if self.cfg.arch == "relu":
            return torch.relu(pre)
        top = pre.topk(self.cfg.k, dim=-1)
        return torch.zeros_like(pre).scatter(-1, top.indices, torch.relu(top.values))

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Latents ``[N, d_sae]`` of activations ``[N, d_in]``."""
        return self.activate(self.pre_activations(x))

    def decode(self, f: torch.Tensor, x: torch.Tensor | None = None) -> torch.Tensor:
        """The output ``[N, d_out]`` from latents ``[N, d_sae]`` (and, through a skip connection, from the input
        ``x`` the latents came from)."""
        out = f @ self.W_dec + self.b_dec
        if self.W_skip is not None:
            if x is None:
                raise SAEError("a skip transcoder decodes from its input too: decode(f, x)")
            out = out + (x * self.input_scale) @ self.W_skip
        return out / self.scale_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x), x)

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
        """The same dictionary with its scales folded into its weights (both 1): what is saved."""
        out = SparseAutoencoder(self.cfg)
        s_in, s_out = self.input_scale, self.scale_out
        out.W_enc.copy_(self.W_enc * s_in)
        out.b_enc.copy_(self.b_enc)
        out.W_dec.copy_(self.W_dec / s_out)
        out.b_dec.copy_(self.b_dec / s_out)
        if self.W_skip is not None:
            out.W_skip.copy_(self.W_skip * s_in / s_out)
        return out


def save_sae(sae: SparseAutoencoder, folder: str | os.PathLike, info: dict[str, Any]) -> Path:
    """Write ``folder/cfg.json`` and ``folder/sae_weights.safetensors`` (sae-lens's format, ``input_scale`` folded
    in) and ``folder/sae.json`` (``info``: hook, training settings, metrics...). Atomic per file."""
    folder = Path(folder)
    folded = sae.folded()
    names = ("W_enc", "b_enc", "W_dec", "b_dec") + (("W_skip",) if sae.cfg.skip else ())
    tensors = {k: folded.state_dict()[k].detach().contiguous().cpu() for k in names}
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
    if sae.cfg.transcoder:  # sae-lens reads SAEs only; these fields are ours (circuit-tracer's layout: export)
        lens_cfg |= {"d_out": sae.cfg.d_out, "skip": sae.cfg.skip, "apply_b_dec_to_input": False}
        lens_cfg["metadata"] |= {"output_hook_name": info.get("output_hook"), "source": "othello-gpt transcoders train"}
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
    for name, default in (("d_in", None), ("d_sae", None), ("k", 1), ("d_out", 0)):
        value = data.get(name, default)
        if name == "d_out" and value in (0, None):
            continue  # an SAE
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise SAEError(f"{where}: {name} is {value!r}, expected a positive whole number")
        sizes[name] = value
    skip = data.get("skip", False)
    if not isinstance(skip, bool):
        raise SAEError(f"{where}: skip is {skip!r}, expected true or false")
    if max(sizes["d_in"], sizes.get("d_out", 0)) * sizes["d_sae"] > MAX_WEIGHTS:
        raise SAEError(
            f"{where}: d_in {sizes['d_in']} x d_sae {sizes['d_sae']} is over {MAX_WEIGHTS:,} weights per matrix: "
            "refused before allocating"
        )
    try:
        return SAEConfig(
            sizes["d_in"], sizes["d_sae"], arch, sizes["k"], d_out=sizes.get("d_out"), skip=skip
        ).validate()
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
        "W_dec": (cfg.d_sae, cfg.width_out),
        "b_dec": (cfg.width_out,),
    } | ({"W_skip": (cfg.d_in, cfg.width_out)} if cfg.skip else {})
    for name, shape in expected.items():
        if name not in tensors or tuple(tensors[name].shape) != shape:
            found = tuple(tensors[name].shape) if name in tensors else "missing"
            raise SAEError(f"{folder}/sae_weights.safetensors: {name} is {found}, expected {shape}")
    with torch.no_grad():
        for name in expected:
            getattr(sae, name).copy_(tensors[name].float())
    return sae.to(device).eval().requires_grad_(False), info
