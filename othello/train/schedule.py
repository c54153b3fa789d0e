"""The learning-rate schedule: one cosine, used by training and by probe fitting."""

from __future__ import annotations

import math

__all__ = ["cosine_lr"]


def cosine_lr(step: int, total: int, peak: float, warmup: int = 0, floor: float = 0.0) -> float:
    """Linear warm-up to ``peak`` over ``warmup`` steps, then a cosine from ``peak`` down to ``peak * floor`` at
    step ``total`` (held there after it)."""
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return peak * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress)))
