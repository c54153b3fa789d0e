"""The training configuration: a plain dataclass, importable without torch (the CLI reads its defaults)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from othello.configs import check_config, config_from_dict, setting
from othello.data.seeds import TRAIN_SEED
from othello.model.config import PRESETS

if TYPE_CHECKING:
    from othello.model.config import ModelConfig


# the bound on a planned schedule when no --steps gives one: far more than any machine fits in a day
MAX_PLANNED_STEPS = 1_000_000


@dataclass
class TrainConfig:
    """How a model is trained. Saved in ``config.json``; ``resume`` refuses a different one. Each field is declared
    once (``othello.configs.setting``): the command line's flags, their help and the checks come from here."""

    preset: str = setting("small", "the model's shape: a preset of othello.model.config", choices=tuple(PRESETS))
    model_overrides: dict[str, Any] = setting({}, "model fields changed from the preset (--set)", flag=False)
    data: str = setting("synthetic", "'synthetic' (fresh random games every step) or HDF5 path(s) / glob", flag=False)
    data_seed: int = setting(TRAIN_SEED, "seed of the synthetic stream (othello.data.seeds)", low=0, high=2**63 - 1)
    steps: int = setting(20_000, "length of the schedule; with minutes, its upper bound", low=1, flag=False)
    minutes: float | None = setting(
        None, "plan the schedule (steps, warm-up) to end in this much wall time", above=0, flag=False
    )
    batch_size: int = setting(128, "games per step per process", low=1)
    lr: float = setting(1e-3, "peak learning rate", above=0)
    min_lr_ratio: float = setting(0.1, "the cosine ends at lr x this", low=0, high=1)
    warmup_steps: int = setting(200, "steps of linear warm-up", low=0)
    weight_decay: float = setting(0.1, "AdamW's weight decay (matrices only)", low=0)
    betas: tuple[float, float] = setting((0.9, 0.95), "AdamW's betas", flag=False)
    grad_clip: float = setting(1.0, "gradient norm clip", above=0)
    soft_targets: bool = setting(False, "train on the exact next-move distribution (uniform over legal moves)")
    pass_weight: float = setting(
        1.0, "loss weight of the positions after an odd number of passes (1.1 % of them; 1: a plain mean)", above=0
    )
    eval_every: int = setting(500, "steps between evaluations", low=1)
    eval_games: int = setting(1000, "held-out games each evaluation scores", low=1)
    checkpoint_every: int = setting(500, "steps between checkpoints", low=1)
    log_every: int = setting(20, "steps between lines of metrics.jsonl", low=1)
    seed: int = setting(0, "seed of the weights' initialisation", low=0, high=2**63 - 1)
    init_from: str | None = setting(
        None,
        "a checkpoint folder whose weights start the run (same shape, or fewer blocks to grow from; fresh "
        "optimizer and schedule)",
    )

    def __post_init__(self) -> None:
        check_config(self)

    def model_config(self) -> ModelConfig:
        from othello.model.config import preset

        return preset(self.preset, **self.model_overrides)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["betas"] = list(self.betas)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any], where: str = "training config") -> TrainConfig:
        """Strict: an unknown field or a value out of bounds is a ``ConfigError`` naming it."""
        return config_from_dict(cls, d, where)
