"""Paired bootstrap intervals: centred on the mean difference, wide when the difference is noise, deterministic."""

import numpy as np
import pytest

from orchestration.stats import bootstrap_mean, paired_bootstrap


def test_interval_brackets_the_mean_difference_and_narrows_with_more_tasks():
    rng = np.random.default_rng(0)
    before = rng.integers(0, 2, 400).astype(float)
    after = np.where(rng.random(400) < 0.2, 1.0, before)  # about +0.1 of the tasks flip to success
    iv = paired_bootstrap(after, before)
    assert iv.low <= iv.estimate <= iv.high and iv.estimate == pytest.approx(after.mean() - before.mean())
    assert iv.excludes_zero
    small = paired_bootstrap(after[:40], before[:40])
    assert (small.high - small.low) > (iv.high - iv.low)


def test_pairing_cancels_shared_task_difficulty():
    # Same per-task outcomes except five flips: an unpaired comparison of two ~0.5 rates would be ~±0.1 wide.
    before = np.array([1.0, 0.0] * 100)
    after = before.copy()
    after[1:11:2] = 1.0
    iv = paired_bootstrap(after, before)
    assert iv.estimate == pytest.approx(0.025) and iv.high - iv.low < 0.05


def test_noise_does_not_exclude_zero_and_same_seed_same_interval():
    rng = np.random.default_rng(1)
    a, b = rng.integers(0, 2, 100), rng.integers(0, 2, 100)
    assert paired_bootstrap(a, b) == paired_bootstrap(a, b)
    assert not paired_bootstrap(a, a).excludes_zero
    assert bootstrap_mean([1.0] * 10).estimate == 1.0


def test_bad_inputs_say_what_is_wrong():
    with pytest.raises(ValueError, match="equal length"):
        paired_bootstrap([1, 0], [1])
    with pytest.raises(ValueError, match="equal length"):
        paired_bootstrap([], [])
    with pytest.raises(ValueError, match="level"):
        paired_bootstrap([1], [0], level=1.5)
