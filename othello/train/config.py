"""The training configuration: a plain dataclass, importable without torch (the CLI reads its defaults)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from othello.data.seeds import TRAIN_SEED

if TYPE_CHECKING:
    from othello.model.config import ModelConfig


# the bound on a planned schedule when no --steps gives one: far more than any machine fits in a day
MAX_PLANNED_STEPS = 1_000_000


@dataclass
class TrainConfig:
    """How a model is trained. Saved in ``config.json``; ``resume`` refuses a different one."""

    preset: str = "small"
    model_overrides: dict[str, Any] = field(default_factory=dict)
    data: str = "synthetic"  # "synthetic" (fresh random games every step) or HDF5 path(s) / glob
    data_seed: int = TRAIN_SEED  # seed of the synthetic stream (othello.data.seeds)
    steps: int = 20_000  # length of the schedule; with ``minutes``, its upper bound
    minutes: float | None = None  # plan the schedule (steps, warm-up) to end in this much wall time
    batch_size: int = 128  # games per step per process
    lr: float = 1e-3
    min_lr_ratio: float = 0.1  # cosine decays to lr * min_lr_ratio
    warmup_steps: int = 200
    weight_decay: float = 0.1
    betas: tuple[float, float] = (0.9, 0.95)
    grad_clip: float = 1.0
    soft_targets: bool = False  # train on the exact next-move distribution (uniform over legal moves)
    pass_weight: float = 1.0  # loss weight of the positions after an odd number of passes (1.1 % of them)
    eval_every: int = 500
    eval_games: int = 1000
    checkpoint_every: int = 500
    log_every: int = 20
    seed: int = 0
    init_from: str | None = None  # a checkpoint folder whose weights start the run (fresh optimizer and schedule)

    def model_config(self) -> ModelConfig:
        from othello.model.config import preset

        return preset(self.preset, **self.model_overrides)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["betas"] = list(self.betas)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        d = dict(d)
        if "betas" in d:
            d["betas"] = tuple(d["betas"])
        return cls(**d)
