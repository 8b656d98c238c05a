"""Reasoning-trace note scores: objects compared as sets, notes matched in any order, stray notes scored 0."""

from rewards.trace import note_members, split_think, trace_scores


def test_notes_are_matched_in_any_order():
    truth = ["the lowest shape = medium purple hexagon", "all stars = large green star, medium orange star"]
    think = "2 edits; all stars = medium orange star, large green star; the lowest shape = small purple hexagon"
    assert trace_scores(think, truth) == [1.0, 0.0]


def test_a_part_without_objects_scores_zero_and_the_count_is_not_a_note():
    assert split_think("3 edits")[1:] == [] and trace_scores("3 edits; hmm", ["a = b"]) == [0.0]
    assert note_members("the star = ") == frozenset()
