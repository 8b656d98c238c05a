"""GCPO's per-pair rewards and groups."""

from __future__ import annotations

import numpy as np
import pytest

from orchestration.gcpo.core import gcpo_pair_rewards, pair_group_ids


def test_rewards_rank_against_the_opposite_side():
    r = gcpo_pair_rewards([[1.0, 0.5, 0.0]], [[0.5, 0.5, 0.0]], np.ones((1, 3), bool), np.ones((1, 3), bool))
    # preferred 1.0 beats all three; 0.5 ties two (0.5 each) and beats one -> 2/3; 0.0 ties one -> 1/6
    np.testing.assert_allclose(r[0, 0], [1.0, 2 / 3, 1 / 6])
    # rejected 0.5: below 1.0, tie with 0.5, above 0.0 -> 1.5/3; rejected 0.0: below 1.0 and 0.5, tie 0.0 -> 2.5/3
    np.testing.assert_allclose(r[0, 1], [0.5, 0.5, 2.5 / 3])


def test_malformed_judgements_earn_nothing():
    # An empty judgement of the rejected edit scores 0, below every preferred one: without the gate it would earn 1.
    r = gcpo_pair_rewards([[0.8, 0.6]], [[0.0, 0.4]], [[True, True]], [[False, True]])
    assert r[0, 1, 0] == 0.0 and r[0, 1, 1] == 1.0


def test_groups_and_bad_shapes():
    assert pair_group_ids(2, 1) == [(0, 0), (0, 1), (1, 0), (1, 1)]
    with pytest.raises(ValueError, match=r"\[P, G\]"):
        gcpo_pair_rewards([1.0], [0.0], [True], [True])
    with pytest.raises(ValueError, match="validity masks"):
        gcpo_pair_rewards([[1.0]], [[0.0]], [[True, True]], [[True]])
