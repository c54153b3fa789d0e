"""The shapes and recipes of sparse autoencoders: plain dataclasses, importable without torch (the CLI reads its
defaults from them)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from othello.configs import check_config, config_from_dict, setting
from othello.errors import ConfigError

__all__ = ["SAEConfig", "SAETrainConfig"]


@dataclass
class SAEConfig:
    """The shape of a dictionary (saved beside its weights): an SAE reconstructs its input (``d_out`` None); a
    transcoder reads one hook and predicts another of width ``d_out`` (block L's MLP: its input, its output),
    optionally through a linear skip connection as well (``skip``: Paulo et al.'s skip transcoders)."""

    d_in: int
    d_sae: int
    arch: Literal["topk", "relu"] = "topk"
    k: int = 32  # TopK: latents kept per token
    d_out: int | None = None  # a transcoder's output width; None: an SAE (the output is the input)
    skip: bool = False  # a transcoder's linear skip connection W_skip [d_in, d_out]

    @property
    def transcoder(self) -> bool:
        return self.d_out is not None

    @property
    def width_out(self) -> int:
        return self.d_in if self.d_out is None else self.d_out

    def validate(self) -> SAEConfig:
        if self.arch not in ("topk", "relu"):
            raise ConfigError(f"arch must be topk or relu, got {self.arch!r}")
        if self.d_in < 1 or self.d_sae < 1 or (self.d_out is not None and self.d_out < 1):
            raise ConfigError(f"d_in, d_sae and d_out must be positive, got {self.d_in}, {self.d_sae}, {self.d_out}")
        if self.skip and not self.transcoder:
            raise ConfigError("a skip connection belongs to a transcoder (an SAE's would copy its input)")
        if self.arch == "topk" and not 1 <= self.k <= self.d_sae:
            raise ConfigError(f"k must lie in 1..{self.d_sae} (the latents), got {self.k}")
        return self


@dataclass
class SAETrainConfig:
    """How an SAE is trained. Saved in the run's state; a resumed run refuses a different one. Each field is
    declared once (``othello.configs.setting``): the flags of ``sae train``, their help and the checks come from
    here."""

    hook: str = setting("blocks.6.hook_resid_mid", "the TransformerLens hook whose activations the SAE reads")
    output_hook: str | None = setting(
        None, "a transcoder: the hook it predicts from --hook (None: an SAE, which reconstructs --hook)", flag=False
    )
    skip_connection: bool = setting(
        False, "a transcoder: add a linear skip connection from its input to its output", flag=False
    )
    arch: Literal["topk", "relu"] = setting("topk", "the latents' activation", choices=("topk", "relu"))
    latents: int = setting(4096, "the dictionary's size", low=1)
    k: int = setting(64, "topk: latents kept per token (the best of 32 / 64 / 128 on the shipped model)", low=1)
    l1: float = setting(5.0, "relu: weight of the latents' L1 norm (inputs normalised to mean norm sqrt(d_in))", low=0)
    lr: float = setting(5e-4, "Adam's learning rate", above=0)
    tokens: int = setting(3_000_000, "training tokens: 3000000, 3M or 500k", low=1, flag=False)
    batch_size: int = setting(
        256, "tokens per step (at a fixed token count, more and smaller steps gave the better dictionary)", low=1
    )
    chunk_games: int = setting(500, "games per shuffled chunk of activations", low=1)
    aux_k: int = setting(256, "topk: latents the auxiliary loss lets each dead-latent reconstruction use", low=1)
    aux_coefficient: float = setting(1 / 32, "topk: weight of the auxiliary (AuxK) loss", low=0)
    dead_tokens: int = setting(200_000, "a latent that fired on none of this many tokens is dead", low=1)
    checkpoint_every: int = setting(100, "steps between checkpoints", low=1)
    seed: int = setting(0, "seed of the dictionary's initialisation and the games", low=0, high=2**63 - 1)
    data: str | None = setting(None, "an HDF5 activation file (default: synthetic games through the model)")

    def __post_init__(self) -> None:
        check_config(self)

    @property
    def steps(self) -> int:
        return max(1, self.tokens // self.batch_size)

    def validate(self) -> SAETrainConfig:
        """Every field within its bounds (checked when made), and k within the dictionary."""
        check_config(self)
        SAEConfig(
            1, self.latents, self.arch, self.k, d_out=1 if self.output_hook else None, skip=self.skip_connection
        ).validate()
        return self

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str = "SAE training config") -> SAETrainConfig:
        """Strict: an unknown field or a value out of bounds is a ``ConfigError`` naming it."""
        return config_from_dict(cls, data, where).validate()
