"""Structured F1, text normalisation and the Component type."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rewards import Component, as_component, set_f1, structured_f1
from rewards.f1 import max_weight_assignment
from rewards.text import normalize_members, normalize_phrase, singularize


def comp(action, subject=(), target=()):
    return {"action": action, "subject": list(subject), "target": list(target)}


# ---------------------------------------------------------------------------------------------------- normalisation


@pytest.mark.parametrize(
    ("word", "singular"),
    [("circles", "circle"), ("boxes", "box"), ("benches", "bench"), ("dishes", "dish"), ("glasses", "glass"),
     ("berries", "berry"), ("shapes", "shape"), ("glass", "glass"), ("bus", "bus"), ("axis", "axis"), ("its", "its"),
     ("red", "red"), ("top-lefts", "top-lefts")],
)
def test_singularize(word, singular):
    assert singularize(word) == singular


def test_normalize_phrase_case_articles_whitespace_plural_punctuation():
    assert normalize_phrase("  The   RED\tCircles. ") == "red circle"
    assert normalize_phrase("an apple and a box") == "apple and box"
    assert normalize_phrase("“the” star!") == "star"
    assert normalize_phrase("the") == ""
    assert normalize_phrase("top-left corner") == "top-left corner"


def test_synonyms_are_normalised_and_multiword_keys_match_longest_first():
    syn = {"Crimson": "red", "light blue": "cyan", "light": "pale"}
    assert normalize_phrase("the crimson circles", syn) == "red circle"
    assert normalize_phrase("light blue light green", syn) == "cyan pale green"
    assert normalize_phrase("red", {"red": "crimson", "crimson": "red"}) == "crimson"  # one pass, no chains
    with pytest.raises(ValueError, match="empty after normalisation"):
        normalize_phrase("red", {"the": "x"})
    with pytest.raises(ValueError, match="must map str to str"):
        normalize_phrase("red", {"red": 1})  # type: ignore[dict-item]


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=40))
def test_normalize_phrase_is_idempotent_and_clean(text):
    once = normalize_phrase(text)
    assert normalize_phrase(once) == once
    assert once == once.strip() and "  " not in once
    assert not ({"a", "an", "the"} & set(once.split()))


def test_normalize_members_collapses_duplicates_and_drops_empties():
    assert normalize_members(["The circle", "circles", "the", ""]) == frozenset({"circle"})


# -------------------------------------------------------------------------------------------------------- Component


def test_as_component_conversions():
    assert as_component({"action": " add ", "subject": "a star"}) == Component("add", ("a star",), ())
    assert as_component({"action": "x", "subject": ("a", " ", "b"), "target": None}) == Component("x", ("a", "b"))
    c = Component("x", ("a",))
    assert as_component(c) is c
    assert Component("x", ("a",), ("b",)).as_dict() == {"action": "x", "subject": ["a"], "target": ["b"]}


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"subject": "a"}, "missing 'action'"),
        ({"action": "x", "subjet": "a"}, r"unknown keys \['subjet'\]"),
        ({"action": 3}, "'action' must be a str"),
        ({"action": "x", "subject": [1]}, "only str members"),
        ({"action": "x", "target": 2.0}, "must be a str or a list"),
        (["recolor", "a", "b"], "expected a Component or a mapping"),
    ],
)
def test_as_component_rejects_bad_input(value, message):
    with pytest.raises(ValueError, match=message):
        as_component(value)


def test_component_constructor_rejects_str_fields():
    with pytest.raises(ValueError, match="must be a tuple of str"):
        Component("recolor", "the circle")  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------------- structured_f1


def test_set_f1_edge_cases():
    assert set_f1(set(), set()) == 1.0
    assert set_f1({"a"}, set()) == 0.0 and set_f1(set(), {"a"}) == 0.0
    assert set_f1({"a", "b"}, {"b", "c"}) == 0.5
    assert set_f1(["a", "a"], ["a"]) == 1.0  # duplicates collapse


def test_pooled_f1_hand_computed():
    truth = [comp("recolor", ["the red circle", "the green star"], ["blue"]), comp("remove", ["the small square"])]
    pred = [comp("recolor", ["red circle"], ["blue"]), comp("move", ["the small square"], ["left"])]
    r = structured_f1(pred, truth)
    # action {recolor, move} vs {recolor, remove}: 2*1/4; subject {red circle, small square} vs 3 members: 2*2/5;
    # target {blue, left} vs {blue}: 2*1/3
    assert r.action == pytest.approx(0.5)
    assert r.subject == pytest.approx(0.8)
    assert r.target == pytest.approx(2 / 3)
    assert r.overall == pytest.approx((0.5 + 0.8 + 2 / 3) / 3)
    assert r.as_dict() == {"action": r.action, "subject": r.subject, "target": r.target, "overall": r.overall}


def test_normalisation_makes_surface_variants_equal():
    truth = [comp("recolor", ["the red circle"], ["blue"])]
    pred = [comp("Recolor", ["Red  Circles"], ["BLUE."])]
    assert structured_f1(pred, truth).overall == 1.0
    crimson = [comp("recolor", ["crimson circle"], ["blue"])]
    assert structured_f1(crimson, truth).subject == 0.0
    assert structured_f1(crimson, truth, synonyms={"crimson": "red"}).subject == 1.0


def test_component_lists_edge_cases():
    one = [comp("remove", ["square"])]
    for mode in ("pooled", "matched"):
        all_ones = dict.fromkeys(("action", "subject", "target", "overall"), 1.0)
        assert structured_f1([], [], mode=mode).as_dict() == all_ones
        assert structured_f1([], one, mode=mode).overall == 0.0
        assert structured_f1(one, [], mode=mode).target == 0.0  # even though both have no targets
        assert structured_f1(one, one, mode=mode).target == 1.0  # both targets empty: nothing to find, nothing wrong


def test_matching_is_by_field_sets_not_position():
    a = comp("recolor", ["circle"], ["blue"])
    b = comp("remove", ["square"])
    for mode in ("pooled", "matched"):
        assert structured_f1([a, b], [b, a], mode=mode).overall == 1.0


def test_duplicates_pooled_collapse_matched_penalise():
    a = comp("recolor", ["circle"], ["blue"])
    assert structured_f1([a, a, a], [a]).overall == 1.0
    assert structured_f1([a, a, a], [a], mode="matched").overall == pytest.approx(2 * 1 / 4)


def test_matched_mode_keeps_subjects_with_their_actions():
    truth = [comp("recolor", ["circle"], ["blue"]), comp("remove", ["square"])]
    swapped = [comp("recolor", ["square"], ["blue"]), comp("remove", ["circle"])]
    assert structured_f1(swapped, truth).overall == 1.0  # pooled cannot tell
    r = structured_f1(swapped, truth, mode="matched")
    assert r.subject == 0.0 and r.action == 1.0 and r.target == 1.0


def test_matched_mode_finds_the_optimal_not_the_greedy_matching():
    # greedy takes the largest entry (0, 0) and is left with (1, 1): 0.9 + 0.0; the optimum pairs crosswise: 1.5
    w = [[0.9, 0.8], [0.7, 0.0]]
    assert sorted(max_weight_assignment(w)) == [(0, 1), (1, 0)]
    assert sorted(max_weight_assignment([[1.0], [3.0], [2.0]])) == [(1, 0)]
    assert sorted(max_weight_assignment([[1.0, 3.0, 2.0]])) == [(0, 1)]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.lists(st.floats(0, 1), min_size=1, max_size=5), min_size=1, max_size=5).filter(
    lambda rows: len({len(r) for r in rows}) == 1))
def test_assignment_is_optimal_against_brute_force(weights):
    n, m = len(weights), len(weights[0])
    pairs = max_weight_assignment(weights)
    assert len(pairs) == min(n, m)
    assert len({i for i, _ in pairs}) == len(pairs) == len({j for _, j in pairs})
    value = sum(weights[i][j] for i, j in pairs)
    if n <= m:
        best = max(sum(weights[i][p[i]] for i in range(n)) for p in itertools.permutations(range(m), n))
    else:
        best = max(sum(weights[p[j]][j] for j in range(m)) for p in itertools.permutations(range(n), m))
    assert value == pytest.approx(best, abs=1e-9)


WORDS = st.sampled_from(["circle", "the circle", "circles", "star", "red", "blue", "square", "left", "the"])
COMPONENTS = st.lists(
    st.builds(
        comp,
        st.sampled_from(["add", "remove", "recolor", "move"]),
        st.lists(WORDS, max_size=3),
        st.lists(WORDS, max_size=2),
    ),
    max_size=4,
)


@settings(max_examples=200, deadline=None)
@given(COMPONENTS, COMPONENTS, st.randoms(use_true_random=False), st.sampled_from(["pooled", "matched"]))
def test_f1_bounds_symmetry_and_permutation_invariance(pred, truth, rnd, mode):
    r = structured_f1(pred, truth, mode=mode)
    values = r.as_dict()
    assert all(0.0 <= v <= 1.0 for v in values.values())
    assert r.overall == pytest.approx((r.action + r.subject + r.target) / 3)
    swapped = structured_f1(truth, pred, mode=mode)
    shuffled_pred = rnd.sample(pred, len(pred))
    shuffled_truth = [dict(c, subject=rnd.sample(c["subject"], len(c["subject"])))
                      for c in rnd.sample(truth, len(truth))]
    permuted = structured_f1(shuffled_pred, shuffled_truth, mode=mode)
    assert swapped.overall == pytest.approx(r.overall, abs=1e-12)
    assert permuted.overall == pytest.approx(r.overall, abs=1e-12)
    if mode == "pooled":  # per-field values too; in matched mode ties between matchings may move credit
        assert swapped == r and permuted == r
    if pred:
        assert structured_f1(pred, pred, mode=mode).overall == 1.0


@settings(max_examples=100, deadline=None)
@given(COMPONENTS.filter(bool), COMPONENTS.filter(bool))
def test_matched_overall_equals_brute_force_over_matchings(pred, truth):
    def fields(c):
        return [normalize_members([c["action"]]), normalize_members(c["subject"]), normalize_members(c["target"])]

    sims = [[sum(set_f1(a, b) for a, b in zip(fields(p), fields(t))) / 3 for t in truth] for p in pred]
    n, m = len(pred), len(truth)
    if n <= m:
        best = max(sum(sims[i][q[i]] for i in range(n)) for q in itertools.permutations(range(m), n))
    else:
        best = max(sum(sims[q[j]][j] for j in range(m)) for q in itertools.permutations(range(n), m))
    assert structured_f1(pred, truth, mode="matched").overall == pytest.approx(2 * best / (n + m), abs=1e-9)


def test_structured_f1_bad_input():
    with pytest.raises(ValueError, match="mode must be one of"):
        structured_f1([], [], mode="exact")
    with pytest.raises(ValueError, match="single Component"):
        structured_f1(Component("x"), [])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown keys"):
        structured_f1([{"verb": "x"}], [])
