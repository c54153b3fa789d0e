"""The model's shape: a small dataclass saved in every checkpoint, and the named presets. No torch needed."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from othello.configs import config_from_dict
from othello.engine.notation import D_VOCAB, N_CTX
from othello.errors import ConfigError

__all__ = ["ModelConfig", "PRESETS", "preset", "ACT_FNS"]

# the MLP activations both TransformerLens 3.9 and 4.x build (another name failed deep inside the bridge)
ACT_FNS = ("gelu", "gelu_new", "relu", "silu", "solu_ln")


@dataclass
class ModelConfig:
    """Shape of an Othello-GPT. Saved in every checkpoint, so a model is rebuilt from its folder alone."""

    n_layers: int = 4  # transformer blocks
    d_model: int = 256  # residual stream width
    n_heads: int = 8  # attention heads per block (d_head = d_model / n_heads)
    d_mlp: int = 1024  # MLP hidden width
    act_fn: str = "gelu"  # MLP activation
    normalization_type: str = "LN"  # "LN" (trained here), "LNPre" (published checkpoint with LN folded in)
    n_ctx: int = N_CTX  # 59 positions: moves 1..59 predict moves 2..60
    d_vocab: int = D_VOCAB  # 0 = padding, 1..60 = squares
    seed: int = 0  # initialisation seed

    def parameters(self) -> int:
        """About how many weights a model of this shape has (embeddings, attention, MLP, unembedding)."""
        d = self.d_model
        return self.n_layers * (4 * d * d + 2 * d * self.d_mlp) + 2 * self.d_vocab * d + self.n_ctx * d

    @property
    def d_head(self) -> int:
        return self.d_model // self.n_heads

    def validate(self, where: str = "model config") -> ModelConfig:
        """Check types and bounds before anything is allocated (a config file is untrusted input)."""
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.type == "int" and (not isinstance(value, int) or isinstance(value, bool)):
                raise ConfigError(f"{where}: {f.name} must be a whole number, got {value!r}")
            if f.type == "str" and not isinstance(value, str):
                raise ConfigError(f"{where}: {f.name} must be a string, got {value!r}")
        for name, (low, high) in LIMITS.items():
            value = getattr(self, name)
            if not low <= value <= high:
                raise ConfigError(f"{where}: {name} {value} is outside {low}..{high}")
        if self.parameters() > MAX_PARAMETERS:
            raise ConfigError(
                f"{where}: {self.parameters() / 1e6:.0f}M parameters ({self.n_layers} blocks of width {self.d_model}, "
                f"MLP {self.d_mlp}); at most {MAX_PARAMETERS / 1e6:.0f}M are built (the published model has 25M)"
            )
        if self.d_vocab != D_VOCAB or self.n_ctx != N_CTX:
            raise ConfigError(
                f"{where}: d_vocab {self.d_vocab} and n_ctx {self.n_ctx}: an Othello-GPT reads {D_VOCAB} tokens "
                f"(padding and the 60 squares) at {N_CTX} positions"
            )
        if self.d_model % self.n_heads:
            raise ConfigError(f"{where}: d_model {self.d_model} is not divisible by n_heads {self.n_heads}")
        if self.act_fn not in ACT_FNS:
            raise ConfigError(f"{where}: act_fn must be one of {', '.join(ACT_FNS)}, got {self.act_fn!r}")
        if self.normalization_type not in ("LN", "LNPre"):
            raise ConfigError(f"{where}: normalization_type must be LN or LNPre, got {self.normalization_type!r}")
        return self

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict, where: str = "model config") -> ModelConfig:
        """Strict, as every config's (``othello.configs.config_from_dict``): an unknown field is refused by name."""
        return config_from_dict(cls, data, where).validate(where)

    def replace(self, **changes: object) -> ModelConfig:
        return dataclasses.replace(self, **changes).validate()  # type: ignore[arg-type]

    @classmethod
    def parse_override(cls, text: str) -> tuple[str, Any]:
        """``"n_layers=6"`` -> ``("n_layers", 6)``, the value converted to the field's type (what ``--set`` takes)."""
        name, sep, value = text.partition("=")
        fields = {f.name: f for f in dataclasses.fields(cls)}
        if not sep or name.strip() not in fields:
            raise ConfigError(f"--set {text!r}: expected FIELD=VALUE with FIELD one of {', '.join(fields)}")
        name = name.strip()
        kind = fields[name].type
        if kind == "int":
            try:
                return name, int(value)
            except ValueError:
                raise ConfigError(f"--set {text!r}: {name} takes a whole number, got {value!r}") from None
        choices = {"act_fn": ACT_FNS, "normalization_type": ("LN", "LNPre")}.get(name)
        if choices and value not in choices:
            raise ConfigError(f"--set {text!r}: {name} takes one of {', '.join(choices)}")
        return name, value


# sane bounds on a model's shape, checked before anything is allocated (the published model is 8 x 512)
LIMITS: dict[str, tuple[int, int]] = {
    "n_layers": (1, 64),
    "d_model": (1, 8192),
    "n_heads": (1, 256),
    "d_mlp": (1, 65536),
    "n_ctx": (1, 1024),
    "d_vocab": (1, 1024),
    "seed": (0, 2**63 - 1),
}

# the largest model built from a config (a config file is untrusted): 1B weights, 4 GB in fp32
MAX_PARAMETERS = 1_000_000_000

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
        raise ConfigError(f"unknown preset {name!r}; choose from {', '.join(PRESETS)}")
    return PRESETS[name].replace(**overrides)
