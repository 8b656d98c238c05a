"""Checklist reward: hand-computed cases, the unknown-answer policies, groups, properties and bad input."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rewards import checklist_reward


def test_fraction_answered_as_expected():
    assert checklist_reward(["yes", "yes", "no", "no"], ["yes", "yes", "yes", "no"]) == 0.75
    assert checklist_reward(["no"], ["no"]) == 1.0
    assert checklist_reward(["yes"], ["no"]) == 0.0


def test_answers_are_case_and_whitespace_insensitive():
    assert checklist_reward([" YES ", "No", "Unknown"], ["yes", " NO", "yes"], unknown="skip") == 1.0


@pytest.mark.parametrize(("policy", "expected"), [("fail", 2 / 5), ("skip", 2 / 3), ("half", 3 / 5)])
def test_unknown_policies(policy, expected):
    answers = ["yes", "no", None, "unknown", "yes"]
    truth = ["yes", "yes", "yes", "no", "yes"]
    assert checklist_reward(answers, truth, unknown=policy) == pytest.approx(expected)


def test_default_policy_means_a_blind_verifier_earns_nothing():
    assert checklist_reward([None] * 4, ["yes", "no", "yes", "no"]) == 0.0
    assert checklist_reward([None] * 4, ["yes", "no", "yes", "no"], unknown="skip") == 0.0  # nothing counted
    assert checklist_reward([None] * 4, ["yes", "no", "yes", "no"], unknown="half") == 0.5


def test_groups_with_weights_hand_computed():
    answers = ["yes", "no", "yes", "yes", "no", "yes"]
    expected = ["yes", "yes", "yes", "yes", "yes", "no"]
    groups = ["keep", "keep", "follow", "follow", "follow", "quality"]
    # keep 1/2, follow 2/3, quality 0
    assert checklist_reward(answers, expected, groups=groups) == pytest.approx((1 / 2 + 2 / 3 + 0) / 3)
    weights = {"keep": 1.0, "follow": 2.0, "quality": 1.0}
    assert checklist_reward(answers, expected, weights, groups=groups) == pytest.approx((0.5 + 4 / 3) / 4)


def test_groups_absent_from_the_checklist_are_ignored_and_weights_renormalised():
    weights = {"keep": 1.0, "follow": 3.0, "quality": 100.0}
    assert checklist_reward(["yes", "no"], ["yes", "yes"], weights, groups=["keep", "follow"]) == pytest.approx(0.25)


def test_a_group_with_nothing_counted_drops_out_under_skip():
    reward = checklist_reward(["yes", None], ["yes", "yes"], {"keep": 1.0, "follow": 1.0},
                              groups=["keep", "follow"], unknown="skip")
    assert reward == 1.0


def test_zero_weight_group_does_not_count():
    assert checklist_reward(["yes", "no"], ["yes", "yes"], {"a": 1.0, "b": 0.0}, groups=["a", "b"]) == 1.0


ANSWER = st.sampled_from(["yes", "no", "unknown", None])
EXPECTED = st.sampled_from(["yes", "no"])
GROUP = st.sampled_from(["keep", "follow", "quality"])


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(ANSWER, EXPECTED, GROUP), min_size=1, max_size=12),
    st.sampled_from(["fail", "skip", "half"]),
    st.fixed_dictionaries({g: st.floats(0.1, 10) for g in ["keep", "follow", "quality"]}),
    st.randoms(use_true_random=False),
)
def test_bounds_permutation_invariance_and_policy_order(items, policy, weights, rnd):
    answers, expected, groups = map(list, zip(*items))
    reward = checklist_reward(answers, expected, weights, groups=groups, unknown=policy)
    assert 0.0 <= reward <= 1.0
    shuffled = rnd.sample(items, len(items))
    a2, e2, g2 = map(list, zip(*shuffled))
    assert checklist_reward(a2, e2, weights, groups=g2, unknown=policy) == pytest.approx(reward, abs=1e-12)
    # an unknown answer scores 0 under "fail", 0.5 under "half": fail <= half, item by item
    assert checklist_reward(answers, expected, weights, groups=groups, unknown="fail") <= checklist_reward(
        answers, expected, weights, groups=groups, unknown="half"
    ) + 1e-12
    # all answers as expected -> 1.0
    assert checklist_reward(expected, expected, weights, groups=groups) == 1.0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"answers": [], "expected": []}, "empty checklist"),
        ({"answers": ["yes"], "expected": ["yes", "no"]}, "answers has 1 items but expected has 2"),
        ({"answers": ["maybe"], "expected": ["yes"]}, r"answers\[0\] must be one of"),
        ({"answers": ["yes"], "expected": [None]}, r"expected\[0\] must be one of \['yes', 'no'\], got None"),
        ({"answers": ["yes"], "expected": ["unknown"]}, r"expected\[0\] must be one of"),
        ({"answers": "yes", "expected": ["yes"]}, "not a single str"),
        ({"answers": ["yes"], "expected": ["yes"], "unknown": "ignore"}, "unknown must be one of"),
        ({"answers": ["yes"], "expected": ["yes"], "weights": {"a": 1.0}}, "pass groups="),
        ({"answers": ["yes"], "expected": ["yes"], "groups": ["a", "b"]}, "groups has 2 items"),
        ({"answers": ["yes"], "expected": ["yes"], "groups": ["a"], "weights": {"b": 1.0}},
         r"no entry for groups \['a'\]"),
        ({"answers": ["yes"], "expected": ["yes"], "groups": ["a"], "weights": {"a": -1.0}}, "finite number >= 0"),
        ({"answers": ["yes"], "expected": ["yes"], "groups": ["a"], "weights": {"a": float("nan")}}, "finite number"),
        ({"answers": ["yes"], "expected": ["yes"], "groups": ["a"], "weights": {"a": 0.0}},
         "all group weights are zero"),
        ({"answers": ["yes"], "expected": ["yes"], "groups": [1]}, r"groups\[0\] must be a str"),
    ],
)
def test_bad_input_raises_value_error_saying_what_is_wrong(kwargs, message):
    with pytest.raises(ValueError, match=message):
        checklist_reward(**kwargs)
