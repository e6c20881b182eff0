"""Learning rate per step: linear warm-up, then cosine decay to a tenth of the peak."""

from __future__ import annotations

import math

FINAL_FRACTION = 0.1
WARMUP_FRACTION = 0.05
MAX_WARMUP = 200


def warmup_steps(total: int) -> int:
    return max(1, min(MAX_WARMUP, round(total * WARMUP_FRACTION)))


def learning_rate(step: int, total: int, peak: float) -> float:
    """The rate for STEP (0-based) of TOTAL steps."""
    warm = warmup_steps(total)
    if step < warm:
        return peak * (step + 1) / warm
    progress = (step - warm) / max(total - warm, 1)
    cosine = 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))
    return peak * (FINAL_FRACTION + (1 - FINAL_FRACTION) * cosine)
