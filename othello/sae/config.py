"""The shapes and recipes of sparse autoencoders: plain dataclasses, importable without torch (the CLI reads its
defaults from them)."""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any, Literal

from othello.errors import ConfigError

__all__ = ["SAEConfig", "SAETrainConfig"]


@dataclass
class SAEConfig:
    """The shape of an SAE (saved beside its weights)."""

    d_in: int
    d_sae: int
    arch: Literal["topk", "relu"] = "topk"
    k: int = 32  # TopK: latents kept per token

    def validate(self) -> SAEConfig:
        if self.arch not in ("topk", "relu"):
            raise ConfigError(f"arch must be topk or relu, got {self.arch!r}")
        if self.d_in < 1 or self.d_sae < 1:
            raise ConfigError(f"d_in and d_sae must be positive, got {self.d_in}, {self.d_sae}")
        if self.arch == "topk" and not 1 <= self.k <= self.d_sae:
            raise ConfigError(f"k must lie in 1..{self.d_sae} (the latents), got {self.k}")
        return self


@dataclass
class SAETrainConfig:
    """How an SAE is trained. Saved in the run's state; a resumed run refuses a different one."""

    hook: str = "blocks.6.hook_resid_mid"
    arch: Literal["topk", "relu"] = "topk"
    latents: int = 4096
    k: int = 64  # the best of 32 / 64 / 128 on the shipped model (README, "SAE features")
    l1: float = 5.0  # ReLU: weight of the latents' L1 norm (inputs normalised to mean norm sqrt(d_in))
    lr: float = 5e-4
    tokens: int = 3_000_000
    batch_size: int = 256  # at a fixed token count, more and smaller steps gave the better dictionary
    chunk_games: int = 500
    aux_k: int = 256  # TopK: latents the auxiliary loss lets each dead-latent reconstruction use
    aux_coefficient: float = 1 / 32
    dead_tokens: int = 200_000
    checkpoint_every: int = 100
    seed: int = 0
    data: str | None = None  # an HDF5 activation file; None: synthetic games through the model

    @property
    def steps(self) -> int:
        return max(1, self.tokens // self.batch_size)

    def validate(self) -> SAETrainConfig:
        for name in ("latents", "tokens", "batch_size", "chunk_games", "checkpoint_every", "aux_k", "dead_tokens"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be positive, got {getattr(self, name)}")
        for name in ("lr", "l1", "aux_coefficient"):
            if not getattr(self, name) >= 0 or math.isinf(getattr(self, name)):
                raise ConfigError(f"{name} must be a finite number >= 0, got {getattr(self, name)}")
        SAEConfig(1, self.latents, self.arch, self.k).validate()
        return self

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SAETrainConfig:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})
