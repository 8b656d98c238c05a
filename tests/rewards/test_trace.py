"""Reasoning-trace note scores: objects compared as sets, notes matched in any order, stray notes scored 0."""

from rewards.trace import note_members, split_think, trace_scores


def test_notes_are_matched_in_any_order():
    truth = ["the lowest shape = medium purple hexagon", "all stars = large green star, medium orange star"]
    think = "2 edits; all stars = medium orange star, large green star; the lowest shape = small purple hexagon"
    assert trace_scores(think, truth) == [1.0, 0.0]


def test_a_part_without_objects_scores_zero_and_the_count_is_not_a_note():
    assert split_think("3 edits")[1:] == [] and trace_scores("3 edits; hmm", ["a = b"]) == [0.0]
    assert note_members("the star = ") == frozenset()


def test_a_running_scan_is_scored_object_by_object_so_a_cut_scan_loses_nothing():
    from rewards.trace import scan_scores

    truth = (["the leftmost star = small green star"], ["large blue star 0.50 no, small red circle 0.30 no, small green star 0.10 yes"],
             ["large blue star 0.50 best, small red circle 0.30 no, small green star 0.10 best"])
    cut = "1 edit; the leftmost star: large blue star 0.5 best, small green star 0.1 best = small green star"
    full = "1 edit; the leftmost star: large blue star 0.5 best, small red circle 0.3 no, small green star 0.1 best = small green star"
    wrong = "1 edit; the leftmost star: large blue star 0.5 best, small red circle 0.3 best = small red circle"
    assert scan_scores(cut, *truth) == [[1.0, 1.0]]
    assert scan_scores(full, *truth) == [[1.0, 1.0, 1.0]]
    # A candidate misjudged, and an object the scene does not have, score 0.
    assert scan_scores(wrong, *truth) == [[1.0, 0.0]]
    assert scan_scores("1 edit; the leftmost star: tiny pink star 0.1 best = tiny pink star", *truth) == [[0.0]]
