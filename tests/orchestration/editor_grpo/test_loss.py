"""The per-step clipped objective and the choice of steps."""

from __future__ import annotations

import pytest
import torch

from orchestration.editor_grpo.loss import clipped_step_loss, select_steps


def test_gradient_raises_the_log_prob_of_positive_advantages_and_clips():
    log_prob = torch.zeros(2, requires_grad=True)
    loss, _ = clipped_step_loss(log_prob, torch.zeros(2), torch.tensor([1.0, -1.0]), 0.2)
    loss.backward()
    assert log_prob.grad.tolist() == [-0.5, 0.5]  # descent raises row 0, lowers row 1
    moved = torch.tensor([0.5, -0.5], requires_grad=True)  # both ratios beyond the range in the advantage's favour
    loss, stats = clipped_step_loss(moved, torch.zeros(2), torch.tensor([1.0, -1.0]), 0.2)
    loss.backward()
    assert moved.grad.tolist() == [0.0, 0.0] and stats["clip_frac"] == 1.0


def test_bad_inputs_say_what_to_change():
    with pytest.raises(ValueError, match="one shape"):
        clipped_step_loss(torch.zeros(2), torch.zeros(3), torch.zeros(2), 0.1)
    with pytest.raises(ValueError, match="clip_range"):
        clipped_step_loss(torch.zeros(2), torch.zeros(2), torch.zeros(2), 0.0)
    with pytest.raises(ValueError, match="below num_steps"):
        select_steps(3, [0, 5], 1.0, torch.Generator())


def test_fraction_draws_a_new_subset_of_the_right_size():
    generator = torch.Generator().manual_seed(0)
    draws = [select_steps(10, None, 0.3, generator) for _ in range(5)]
    assert all(len(d) == 3 and d == sorted(d) for d in draws)
    assert len({tuple(d) for d in draws}) > 1
    assert select_steps(4, None, 1.0, generator) == [0, 1, 2, 3]
