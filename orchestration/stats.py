"""Intervals for comparing two policies on the same held-out tasks.

Every learning result in this project compares two rows evaluated on the *same* tasks (a cold start and its GRPO
run, GRPO and continued SFT, a learned pipeline and the rule pipeline). The tasks are the unit of resampling: a
paired bootstrap resamples task indices once and applies them to both rows, so the interval reflects how much the
difference depends on which tasks were drawn, and the shared difficulty of a task cancels out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["Interval", "paired_bootstrap", "bootstrap_mean"]


@dataclass(frozen=True)
class Interval:
    """A point estimate with a two-sided percentile interval."""

    estimate: float
    low: float
    high: float

    @property
    def excludes_zero(self) -> bool:
        return self.low > 0 or self.high < 0

    def __str__(self) -> str:
        return f"{self.estimate:+.3f} [{self.low:+.3f}, {self.high:+.3f}]"


def paired_bootstrap(after: Sequence[float], before: Sequence[float], *, resamples: int = 10_000, level: float = 0.95,
                     seed: int = 0) -> Interval:
    """Mean of ``after - before`` over paired per-task scores, with a percentile bootstrap interval.

    Args:
        after, before: one score per task, same tasks in the same order (e.g. 0/1 full success).
        resamples: bootstrap resamples of the task set.
        level: coverage of the interval.
        seed: resampling seed (the interval is deterministic for given inputs).

    >>> iv = paired_bootstrap([1, 1, 1, 0] * 50, [0, 1, 1, 0] * 50)
    >>> round(iv.estimate, 3), iv.excludes_zero
    (0.25, True)
    >>> paired_bootstrap([1, 0], [1, 0]).excludes_zero
    False
    """
    a = np.asarray(after, dtype=float)
    b = np.asarray(before, dtype=float)
    if a.shape != b.shape or a.ndim != 1 or a.size == 0:
        raise ValueError(f"paired scores must be two non-empty 1-D sequences of equal length, got {a.shape} and {b.shape}")
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    diff = a - b
    rng = np.random.default_rng(seed)
    means = diff[rng.integers(0, diff.size, size=(resamples, diff.size))].mean(axis=1)
    tail = (1 - level) / 2
    return Interval(float(diff.mean()), float(np.quantile(means, tail)), float(np.quantile(means, 1 - tail)))


def bootstrap_mean(scores: Sequence[float], *, resamples: int = 10_000, level: float = 0.95, seed: int = 0) -> Interval:
    """Mean of ``scores`` with a percentile bootstrap interval (one row, no comparison).

    >>> iv = bootstrap_mean([0, 1] * 100)
    >>> iv.estimate, iv.low < 0.5 < iv.high
    (0.5, True)
    """
    return paired_bootstrap(scores, [0.0] * len(scores), resamples=resamples, level=level, seed=seed)
