"""Group math: GRPO normalisation, combiners, UCPG (against brute force) and GCPO."""

from __future__ import annotations

import itertools
import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from rewards import (
    average_ranks,
    dual_atomic_advantages,
    gcpo_rewards,
    group_normalize,
    ucpg_advantages,
    ucpg_subset,
    weighted_sum,
)

# -------------------------------------------------------------------------------------------------- group_normalize


def test_group_normalize_matches_the_grpo_formula_per_group():
    r = np.array([0.2, 0.9, 0.4, 1.0, 0.0, 0.5])
    ids = ["p", "q", "p", "q", "p", "q"]
    out = group_normalize(r, ids)
    for g in ("p", "q"):
        idx = [i for i, x in enumerate(ids) if x == g]
        ref = (r[idx] - r[idx].mean()) / (r[idx].std(ddof=1) + 1e-6)
        np.testing.assert_allclose(out[idx], ref, rtol=1e-12)
    pop = group_normalize(r, ids, ddof=0, eps=0.0)
    np.testing.assert_allclose(pop[[0, 2, 4]], (r[[0, 2, 4]] - 0.2) / r[[0, 2, 4]].std(), rtol=1e-12, atol=1e-12)


def test_group_normalize_dr_grpo_only_centres():
    np.testing.assert_allclose(group_normalize([1.0, 2.0, 6.0], scale_by_std=False), [-2.0, -1.0, 3.0])


def test_constant_groups_and_singletons_get_exactly_zero():
    out = group_normalize([0.1, 0.1, 0.1, 7.0, 1.0, 0.0], [0, 0, 0, 1, 2, 2])
    assert out[:4].tolist() == [0.0, 0.0, 0.0, 0.0]
    assert out[4] > 0 > out[5]
    assert group_normalize([0.1] * 3, scale_by_std=False).tolist() == [0.0] * 3


def test_group_ids_may_be_a_numpy_array():
    np.testing.assert_array_equal(group_normalize([1.0, 0.0, 1.0, 0.0], np.array([3, 3, 4, 4])),
                                  group_normalize([1.0, 0.0, 1.0, 0.0], ["a", "a", "b", "b"]))


@settings(max_examples=150, deadline=None)
@given(
    hnp.arrays(np.float64, st.integers(1, 24), elements=st.floats(-100, 100, allow_subnormal=False)),
    st.data(),
)
def test_group_normalize_properties(rewards, data):
    n = len(rewards)
    ids = data.draw(st.lists(st.integers(0, 3), min_size=n, max_size=n))
    out = group_normalize(rewards, ids)
    assert out.shape == (n,) and np.all(np.isfinite(out))
    for g in set(ids):
        idx = np.array([i for i, x in enumerate(ids) if x == g])
        assert abs(out[idx].sum()) < 1e-6 * max(1, len(idx))  # zero mean per group
        assert np.all(np.abs(out[idx]) <= np.sqrt(len(idx)))  # |z| <= (n-1)/sqrt(n) for the sample std
    perm = np.array(data.draw(st.permutations(range(n))))
    np.testing.assert_allclose(group_normalize(rewards[perm], [ids[i] for i in perm]), out[perm], atol=1e-9)


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        (([],), {}, "empty"),
        (([1.0, np.nan],), {}, "NaN or inf"),
        (([1.0, np.inf],), {}, "NaN or inf"),
        (([[1.0, 2.0]],), {}, "must be 1-D"),
        (([1.0, 2.0], [0]), {}, "group_ids has 1 labels but there are 2 samples"),
        (([1.0, 2.0], "ab"), {}, "not a single str"),
        (([1.0, 2.0], [[0], [1]]), {}, "hashable"),
        (([1.0, 2.0],), {"ddof": 2}, "ddof must be 0"),
        (([1.0, 2.0],), {"eps": -1.0}, "eps must be"),
        ((["a", "b"],), {}, "must be numeric"),
    ],
)
def test_group_normalize_bad_input(args, kwargs, message):
    with pytest.raises(ValueError, match=message):
        group_normalize(*args, **kwargs)


# ------------------------------------------------------------------------------------------------------- combiners


def test_weighted_sum_forms():
    assert weighted_sum({"a": 1.0, "b": 0.5}, {"a": 2.0, "b": -2.0}) == 1.0
    np.testing.assert_allclose(weighted_sum({"a": [1.0, 0.0], "b": [0.0, 1.0]}, {"a": 0.25, "b": 0.75}), [0.25, 0.75])
    assert weighted_sum([0.5, 1.0], [2.0, 1.0]) == 2.0
    np.testing.assert_allclose(weighted_sum([[1.0, 1.0], [0.0, 2.0]], [1.0, 0.5]), [1.5, 1.0])


@pytest.mark.parametrize(
    ("rewards", "weights", "message"),
    [
        ({"a": 1.0}, {"b": 1.0}, r"missing weights for \['a'\], weights without a reward \['b'\]"),
        ({}, {}, "empty"),
        ({"a": 1.0}, [1.0], "weights must be a mapping"),
        ({"a": [1.0, 2.0], "b": [1.0]}, {"a": 1.0, "b": 1.0}, "same N"),
        ({"a": float("nan")}, {"a": 1.0}, "NaN"),
        ([1.0, 2.0], [1.0], "2 columns but weights has 1"),
        ([1.0], [float("inf")], "NaN or inf"),
        (np.zeros((2, 2, 2)), [1.0, 1.0], r"\[K\] or \[N, K\]"),
    ],
)
def test_weighted_sum_bad_input(rewards, weights, message):
    with pytest.raises(ValueError, match=message):
        weighted_sum(rewards, weights)


def test_dual_atomic_is_a_weighted_sum_of_per_reward_normalisations():
    rng = np.random.default_rng(1)
    matrix = rng.random((12, 2))
    ids = np.repeat([0, 1, 2], 4)
    out = dual_atomic_advantages(matrix, ids, [0.3, 0.7])
    ref = 0.3 * group_normalize(matrix[:, 0], ids) + 0.7 * group_normalize(matrix[:, 1], ids)
    np.testing.assert_allclose(out, ref, rtol=1e-12)
    np.testing.assert_allclose(dual_atomic_advantages(matrix, ids), 0.5 * group_normalize(matrix[:, 0], ids)
                               + 0.5 * group_normalize(matrix[:, 1], ids), rtol=1e-12)


def test_dual_atomic_does_not_let_a_wide_reward_drown_a_narrow_one():
    rng = np.random.default_rng(2)
    matrix = rng.random((8, 2))
    wide = matrix * [1.0, 1000.0]
    np.testing.assert_allclose(dual_atomic_advantages(wide, eps=0.0), dual_atomic_advantages(matrix, eps=0.0),
                               rtol=1e-9)
    fused = group_normalize(weighted_sum(wide, [0.5, 0.5]), eps=0.0)
    np.testing.assert_allclose(fused, group_normalize(wide[:, 1], eps=0.0), atol=1e-2)  # naive fusion: column 1 wins


@pytest.mark.parametrize(
    ("matrix", "kwargs", "message"),
    [
        ([1.0, 2.0], {}, r"reshape to \(N, 1\)"),
        ([[1.0, 2.0]], {"weights": [1.0]}, "weights has 1 entries but reward_matrix has 2 columns"),
        ([[1.0, np.nan]], {}, "NaN"),
        (np.zeros((3, 0)), {}, "no reward dimensions"),
        ([[1.0], [2.0]], {"group_ids": [0]}, "group_ids has 1 labels"),
    ],
)
def test_dual_atomic_bad_input(matrix, kwargs, message):
    with pytest.raises(ValueError, match=message):
        dual_atomic_advantages(matrix, **kwargs)


# ------------------------------------------------------------------------------------------------------------ UCPG


def test_average_ranks():
    assert average_ranks([3.0, 1.0, 2.0]).tolist() == [3.0, 1.0, 2.0]
    assert average_ranks([5.0, 5.0, 5.0]).tolist() == [2.0, 2.0, 2.0]
    assert average_ranks([0.0, 1.0, 0.0, 1.0, 2.0]).tolist() == [1.5, 3.5, 1.5, 3.5, 5.0]


def test_ucpg_single_dimension_keeps_everything_and_ranks():
    adv = ucpg_advantages([[0.1], [0.7], [0.4]])
    np.testing.assert_allclose(adv, [-np.sqrt(1.5), np.sqrt(1.5), 0.0])
    assert ucpg_subset([[0.1], [0.7], [0.4]]).all()


def test_ucpg_drops_a_chain_that_conflicts():
    # chain 1 beats chain 0 on dim 0 but loses on dim 1; chain 2 dominates everything, chain 3 is dominated
    scores = [[1.0, 1.0], [2.0, 0.0], [2.0, 2.0], [0.0, 0.0]]
    assert ucpg_subset(scores).tolist() == [True, False, True, True]
    np.testing.assert_allclose(ucpg_advantages(scores), [0.0, 0.0, np.sqrt(1.5), -np.sqrt(1.5)])


def test_ucpg_ties_on_a_dimension_do_not_conflict():
    # chain 1 is better on dim 0 and tied on dim 1: consistent, kept, ranked above chain 0
    assert ucpg_subset([[0.0, 0.5], [1.0, 0.5]]).tolist() == [True, True]
    np.testing.assert_allclose(ucpg_advantages([[0.0, 0.5], [1.0, 0.5]]), [-1.0, 1.0])


def test_ucpg_identical_chains_tie():
    adv = ucpg_advantages([[1.0, 1.0], [1.0, 1.0], [0.0, 0.0]])
    assert adv[0] == adv[1] > 0 > adv[2]
    assert ucpg_advantages([[0.3, 0.3]] * 4).tolist() == [0.0] * 4  # everyone tied: no signal


def test_ucpg_fully_anti_correlated_keeps_one_chain_with_zero_advantage():
    scores = np.stack([np.arange(6.0), -np.arange(6.0)], axis=1)
    kept = ucpg_subset(scores)
    assert kept.tolist() == [True, False, False, False, False, False]  # all totals tie: lowest index
    assert ucpg_advantages(scores).tolist() == [0.0] * 6


def test_ucpg_tie_break_prefers_higher_total_rank_then_lower_index():
    # {0, 2} and {1, 2} are both largest; chain 1 leads on two dimensions of three, so its total rank is higher
    assert ucpg_subset([[1.0, 0.0, 0.0], [0.0, 1.0, 1.0], [2.0, 2.0, 2.0]]).tolist() == [False, True, True]
    # with two symmetric dimensions the totals tie and the lower index wins
    assert ucpg_subset([[1.0, 0.0], [0.0, 1.0], [2.0, 2.0]]).tolist() == [True, False, True]


def test_ucpg_groups_are_independent():
    rng = np.random.default_rng(3)
    a, b = rng.random((5, 3)), rng.random((7, 3))
    ids = [0] * 5 + [1] * 7
    together = ucpg_advantages(np.vstack([a, b]), ids)
    np.testing.assert_allclose(together, np.concatenate([ucpg_advantages(a), ucpg_advantages(b)]))


def _consistent(s: np.ndarray, subset) -> bool:
    for i, j in itertools.combinations(subset, 2):
        d = s[i] - s[j]
        if (d > 0).any() and (d < 0).any():
            return False
    return True


def _brute_force(s: np.ndarray) -> tuple[int, ...]:
    g, k = s.shape
    rank2 = (2 * sum(average_ranks(s[:, d]) for d in range(k))).astype(int)
    best_key, best = None, None
    for size in range(g, 0, -1):
        for subset in itertools.combinations(range(g), size):
            if _consistent(s, subset):
                key = (sum(rank2[list(subset)]), tuple(-i for i in subset))
                if best_key is None or key > best_key:
                    best_key, best = key, subset
        if best is not None:
            return best
    raise AssertionError("unreachable: a single chain is always consistent")


SMALL_SCORES = st.integers(1, 8).flatmap(
    lambda g: st.integers(1, 3).flatmap(
        lambda k: hnp.arrays(np.float64, (g, k), elements=st.sampled_from([0.0, 0.25, 0.5, 0.75, 1.0]))
    )
)


@settings(max_examples=300, deadline=None)
@given(SMALL_SCORES)
def test_ucpg_subset_is_consistent_maximal_and_equals_brute_force(scores):
    kept = ucpg_subset(scores)
    subset = tuple(np.flatnonzero(kept))
    assert subset and _consistent(scores, subset)
    expected = _brute_force(scores)
    assert len(subset) == len(expected)  # maximum size
    assert subset == expected  # and the documented tie-break
    # no chain outside could be added (maximality, implied by maximum size, checked directly)
    for extra in set(range(len(scores))) - set(subset):
        assert not _consistent(scores, subset + (extra,))


@settings(max_examples=200, deadline=None)
@given(SMALL_SCORES, st.data())
def test_ucpg_advantage_properties(scores, data):
    adv = ucpg_advantages(scores)
    kept = ucpg_subset(scores)
    assert np.all(adv[~kept] == 0.0)
    assert abs(adv[kept].sum()) < 1e-9
    if np.any(adv != 0):
        assert adv[kept].std() == pytest.approx(1.0)
    # within the kept subset, a chain that weakly dominates another never gets a lower advantage
    idx = np.flatnonzero(kept)
    for i, j in itertools.permutations(idx, 2):
        if np.all(scores[i] >= scores[j]):
            assert adv[i] >= adv[j] - 1e-12
    # permutation: the kept size is invariant, and the advantages permute when the maximum subset is unique
    perm = np.array(data.draw(st.permutations(range(len(scores)))))
    assert ucpg_subset(scores[perm]).sum() == kept.sum()
    g = len(scores)
    sizes = [len(c) for n in range(1, g + 1) for c in itertools.combinations(range(g), n) if _consistent(scores, c)]
    if sizes.count(max(sizes)) == 1:
        np.testing.assert_allclose(ucpg_advantages(scores[perm]), adv[perm], atol=1e-12)


def test_ucpg_g64_k3_is_fast():
    rng = np.random.default_rng(0)
    cases = [rng.random((64, 3)), rng.integers(0, 3, (64, 3)).astype(float), np.ones((64, 3)), rng.random((64, 1))]
    start = time.perf_counter()
    for s in cases:
        kept = ucpg_subset(s)
        assert _consistent(s, tuple(np.flatnonzero(kept)))
        ucpg_advantages(s)
    assert time.perf_counter() - start < 1.0


@pytest.mark.parametrize(
    ("scores", "kwargs", "message"),
    [
        (np.zeros((0, 3)), {}, "empty"),
        ([[0.1, np.nan]], {}, r"NaN or inf \(first at index \[0, 1\]\)"),
        ([0.1, 0.2], {}, r"reshape to \(N, 1\)"),
        ([[0.1], [0.2]], {"group_ids": [0, 1, 2]}, "group_ids has 3 labels"),
    ],
)
def test_ucpg_bad_input(scores, kwargs, message):
    with pytest.raises(ValueError, match=message):
        ucpg_advantages(scores, **kwargs)
    if not kwargs:
        with pytest.raises(ValueError, match=message):
            ucpg_subset(scores)


# ------------------------------------------------------------------------------------------------------------ GCPO


def test_gcpo_hand_computed():
    pref, rej = gcpo_rewards([9.0, 4.0, 6.0], [5.0, 6.0])
    np.testing.assert_allclose(pref, [1.0, 0.0, 0.75])
    np.testing.assert_allclose(rej, [2 / 3, (1 + 0.5) / 3])
    strict = gcpo_rewards([9.0, 4.0, 6.0], [5.0, 6.0], tie_credit=0.0)
    np.testing.assert_allclose(strict.preferred, [1.0, 0.0, 0.5])
    np.testing.assert_allclose(strict.rejected, [2 / 3, 1 / 3])


def test_gcpo_perfect_separation():
    pref, rej = gcpo_rewards([10.0, 11.0], [0.0, 1.0, 2.0])
    assert pref.tolist() == [1.0, 1.0] and rej.tolist() == [1.0, 1.0, 1.0]
    pref, rej = gcpo_rewards([0.0], [1.0, 2.0])
    assert pref.tolist() == [0.0] and rej.tolist() == [0.0, 0.0]


FINITE = st.floats(-10, 10, allow_nan=False)


@settings(max_examples=200, deadline=None)
@given(st.lists(FINITE, min_size=1, max_size=10), st.lists(FINITE, min_size=1, max_size=10), st.data())
def test_gcpo_properties(pref_scores, rej_scores, data):
    pref, rej = gcpo_rewards(pref_scores, rej_scores)
    assert pref.shape == (len(pref_scores),) and rej.shape == (len(rej_scores),)
    assert np.all((0 <= pref) & (pref <= 1)) and np.all((0 <= rej) & (rej <= 1))
    assert pref.mean() == pytest.approx(rej.mean())  # both equal the AUC with ties at 0.5
    # a higher-scoring preferred candidate is never rewarded less
    order = np.argsort(pref_scores)
    assert np.all(np.diff(pref[order]) >= -1e-12)
    perm = data.draw(st.permutations(range(len(pref_scores))))
    np.testing.assert_allclose(gcpo_rewards([pref_scores[i] for i in perm], rej_scores).preferred, pref[list(perm)])


@pytest.mark.parametrize(
    ("pref", "rej", "kwargs", "message"),
    [
        ([], [1.0], {}, "preferred_scores is empty"),
        ([1.0], [], {}, "rejected_scores is empty"),
        ([np.nan], [1.0], {}, "NaN"),
        ([[1.0]], [1.0], {}, "must be 1-D"),
        ([1.0], [1.0], {"tie_credit": 1.5}, r"tie_credit must lie in \[0, 1\]"),
    ],
)
def test_gcpo_bad_input(pref, rej, kwargs, message):
    with pytest.raises(ValueError, match=message):
        gcpo_rewards(pref, rej, **kwargs)
