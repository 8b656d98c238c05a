"""GRPO core math against hand-computed values."""

import math

import numpy as np
import pytest
import torch

from orchestration.grpo.core import (aggregate, component_token_advantages, entropy_from_logits, greedy_baseline_advantages,
                                     group_advantages, kl_penalty, policy_loss, zero_variance_groups)


def test_group_advantages_by_hand():
    r = [1.0, 0.0, 0.0, 0.0, 2.0, 2.0]
    g = ["a", "a", "a", "a", "b", "b"]
    # group a: mean 0.25, sample std sqrt(0.25) = 0.5
    a = group_advantages(r, g, scale="group", eps=0.0)
    assert a[:4].tolist() == pytest.approx([1.5, -0.5, -0.5, -0.5])
    assert a[4:].tolist() == [0.0, 0.0]  # zero-variance group
    assert group_advantages(r, g, scale="none").tolist() == pytest.approx([0.75, -0.25, -0.25, -0.25, 0.0, 0.0])
    centred = np.array([0.75, -0.25, -0.25, -0.25, 0.0, 0.0])
    assert group_advantages(r, g, scale="batch", eps=0.0) == pytest.approx(centred / centred.std(ddof=1))


def test_eps_is_added_to_the_std():
    a_small = group_advantages([1.0, 0.0], ["g", "g"], eps=0.0)
    a_eps = group_advantages([1.0, 0.0], ["g", "g"], eps=1.0)
    std = math.sqrt(0.5)
    assert a_small[0] == pytest.approx(0.5 / std) and a_eps[0] == pytest.approx(0.5 / (std + 1.0))


def test_zero_variance_groups_are_found():
    assert zero_variance_groups([1, 1, 0, 1, 3], ["a", "a", "b", "b", "c"]) == {"a", "c"}



@pytest.mark.parametrize("as_ids", [list, np.array, lambda ids: np.array(ids, dtype=np.int32), torch.tensor,
                                    lambda ids: list(torch.tensor(ids))], ids=["list", "numpy", "int32", "tensor", "tensors"])
def test_group_ids_as_arrays_and_tensors_group_like_a_list(as_ids):
    # verl hands over its group index as an array or tensor; a tensor's 0-d elements would each be a group of one
    r = [1.0, 0.0, 0.0, 0.0, 2.0, 2.0]
    ids = [7, 7, 7, 7, 9, 9]
    g = as_ids(ids)
    for scale in ("group", "batch", "none"):
        assert group_advantages(r, g, scale=scale).tolist() == group_advantages(r, ids, scale=scale).tolist()
    assert group_advantages(r, g)[0] > 0
    greedy = [1, 0, 0, 0, 1, 0]
    assert greedy_baseline_advantages(r, g, greedy).tolist() == greedy_baseline_advantages(r, ids, greedy).tolist()
    assert zero_variance_groups(r, g) == {9} and all(type(x) is int for x in zero_variance_groups(r, g))
    token_line = np.zeros((6, 2), dtype=int)
    scores = [[1.0], [0.0], [1.0], [0.0], [1.0], [1.0]]
    assert (component_token_advantages(np.zeros(6), token_line, scores, g, weight=1.0).tolist()
            == component_token_advantages(np.zeros(6), token_line, scores, ids, weight=1.0).tolist())


def test_group_ids_of_the_wrong_shape_are_refused():
    with pytest.raises(ValueError, match="1-D"):
        group_advantages([1.0, 0.0], torch.tensor([[0, 0]]))


def test_clip_on_both_sides():
    # positive advantage: ratio 2 clipped at 1 + 0.28; negative advantage: ratio 0.5 clipped at 1 - 0.2.
    logp = torch.log(torch.tensor([[0.5], [0.25]]))
    old = torch.log(torch.tensor([[0.25], [0.5]]))
    adv = torch.tensor([1.0, -1.0])
    loss, m = policy_loss(logp, old, adv, torch.ones(2, 1), clip_low=0.2, clip_high=0.28, agg="token-mean")
    # seq 0: -min(2*1, 1.28*1) = -1.28; seq 1: -min(0.5*-1, 0.8*-1) = -(-0.8) = 0.8
    assert loss.item() == pytest.approx((-1.28 + 0.8) / 2)
    assert m["clip_fraction"] == 1.0


def test_unclipped_side_keeps_the_gradient():
    # Negative advantage with ratio > 1 is never clipped (pessimistic bound): the loss grows with rho.
    logp = torch.log(torch.tensor([[0.6]])).requires_grad_(True)
    old = torch.log(torch.tensor([[0.3]]))
    loss, m = policy_loss(logp, old, torch.tensor([-1.0]), torch.ones(1, 1))
    assert loss.item() == pytest.approx(2.0) and m["clip_fraction"] == 0.0
    loss.backward()
    assert logp.grad.item() == pytest.approx(2.0)  # d(rho)/d(logp) = rho


def test_mask_excludes_padding():
    logp = torch.zeros(1, 3)
    old = torch.tensor([[0.0, 0.0, -5.0]])  # the padded token would have a huge ratio
    loss, _ = policy_loss(logp, old, torch.tensor([1.0]), torch.tensor([[1.0, 1.0, 0.0]]))
    assert loss.item() == pytest.approx(-1.0)


def test_each_aggregation():
    v = torch.tensor([[2.0, 2.0, 0.0, 0.0], [1.0, 1.0, 1.0, 1.0]])
    m = torch.tensor([[1.0, 1.0, 0.0, 0.0], [1.0, 1.0, 1.0, 1.0]])
    assert aggregate(v, m, "token-mean").item() == pytest.approx(8 / 6)
    assert aggregate(v, m, "seq-mean-token-mean").item() == pytest.approx((2 + 1) / 2)
    assert aggregate(v, m, "seq-mean-token-sum-norm").item() == pytest.approx((4 / 4 + 4 / 4) / 2)
    assert aggregate(v, m, "seq-mean-token-sum-norm", norm_length=8).item() == pytest.approx((4 / 8 + 4 / 8) / 2)
    with pytest.raises(ValueError, match="unknown aggregation"):
        aggregate(v, m, "sum")


def test_kl_estimators():
    lp = torch.tensor([[math.log(0.5)]])
    ref = torch.tensor([[math.log(0.25)]])
    d = math.log(0.25) - math.log(0.5)
    assert kl_penalty(lp, ref, "k1").item() == pytest.approx(-d)
    assert kl_penalty(lp, ref, "k2").item() == pytest.approx(0.5 * d * d)
    assert kl_penalty(lp, ref, "k3").item() == pytest.approx(math.exp(d) - d - 1)
    assert kl_penalty(lp, lp, "k3").item() == 0.0


def test_shape_errors_say_what_is_wrong():
    with pytest.raises(ValueError, match="must match"):
        policy_loss(torch.zeros(2, 3), torch.zeros(2, 2), torch.zeros(2), torch.ones(2, 3))
    with pytest.raises(ValueError, match="advantages must be"):
        policy_loss(torch.zeros(2, 3), torch.zeros(2, 3), torch.zeros(3), torch.ones(2, 3))
    with pytest.raises(ValueError, match="scale must be"):
        group_advantages([1.0], ["a"], scale="std")


def test_entropy():
    assert entropy_from_logits(torch.tensor([[0.0, -1e9]])).item() == pytest.approx(0.0, abs=1e-6)
