"""The learning-rate schedule: one cosine, used by training and by probe fitting."""

from __future__ import annotations

import math

__all__ = ["cosine_lr", "plan_steps"]


def cosine_lr(step: int, total: int, peak: float, warmup: int = 0, floor: float = 0.0) -> float:
    """Linear warm-up to ``peak`` over ``warmup`` steps, then a cosine from ``peak`` down to ``peak * floor`` at
    step ``total`` (held there after it)."""
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return peak * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress)))


def plan_steps(
    seconds: float,
    step_seconds: float,
    eval_seconds: float,
    eval_every: int,
    checkpoint_seconds: float = 0.0,
    checkpoint_every: int = 1,
    margin: float = 0.9,
) -> int:
    """How many steps fit in ``seconds`` of wall time (at least 1): each step costs ``step_seconds``, every
    ``eval_every`` steps an evaluation ``eval_seconds`` and every ``checkpoint_every`` a checkpoint; one final
    evaluation is kept out of the budget and ``margin`` of the rest is planned, since machines are noisy."""
    per_step = step_seconds + eval_seconds / max(1, eval_every) + checkpoint_seconds / max(1, checkpoint_every)
    return max(1, int(margin * (seconds - eval_seconds) / per_step))
