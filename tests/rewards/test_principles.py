"""Parser, writer and score of the reasoning verifier's principles."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from rewards.principles import Principle, format_principles, parse_principles, principle_score

EXAMPLE = [
    Principle("follow", "Is the circle now green?", "no", "yes", "saw small red circle"),
    Principle("follow", "Is there still a small red circle in the top left?", "yes", "no", "saw small red circle"),
    Principle("keep", "Is the star unchanged?", "yes", "yes", "saw large blue star"),
    Principle("quality", "Is the image clean?", "yes"),
]


def test_round_trip():
    parsed = parse_principles(format_principles(EXAMPLE))
    assert parsed.principles == tuple(EXAMPLE)
    assert parsed.well_formed and parsed.malformed == ()
    assert [p.holds for p in parsed.principles] == [False, False, True, True]
    assert principle_score(parsed.principles) == 0.5


def test_reason_comes_before_the_answer_and_the_other_order_is_read():
    line = format_principles(EXAMPLE[1:2]).splitlines()[1]
    assert line == "follow: Is there still a small red circle in the top left? saw small red circle; yes (expected no)"
    answer_first = "follow: Is there still a small red circle in the top left? yes (expected no); saw small red circle"
    assert parse_principles(answer_first).principles == parse_principles(line).principles == tuple(EXAMPLE[1:2])


def test_bad_line_is_skipped_not_fatal():
    text = format_principles(EXAMPLE[:2]).replace("</answer>", "keep Is it? maybe\n</answer>")
    parsed = parse_principles(text)
    assert len(parsed.principles) == 2 and len(parsed.malformed) == 1
    assert not parsed.well_formed


def test_plain_list_without_envelope():
    parsed = parse_principles("follow: Is the star red? yes\nkeep: Is the circle unchanged? no; moved")
    assert [p.kind for p in parsed.principles] == ["follow", "keep"]
    assert parsed.principles[1].reason == "moved"
    assert not parsed.envelope_ok and not parsed.well_formed


def test_truncated_completion_keeps_finished_lines():
    text = format_principles(EXAMPLE)[:-40]  # cut inside the last lines, no </answer>
    parsed = parse_principles(text)
    assert parsed.principles[:2] == tuple(EXAMPLE[:2])


def test_garbage_and_empty():
    for text in ["", "<think>", "</answer><answer>", "yes no yes", "follow: ? yes", "\x00<<>>;;", "keep: Is it? yes (expected maybe)"]:
        parsed = parse_principles(text)
        assert not parsed.well_formed
    assert principle_score(parse_principles("garbage").principles) == 0.0
    assert parse_principles(None).malformed  # type: ignore[arg-type]


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_never_raises(text):
    parsed = parse_principles(text)
    assert 0.0 <= principle_score(parsed.principles) <= 1.0


def test_writer_refuses_what_would_not_parse_back():
    import pytest

    for bad in [Principle("follow", "no question mark", "yes"), Principle("follow", "a; b?", "yes"),
                Principle("other", "Is it?", "yes"), Principle("keep", "Is it?", "yes", reason="<tag>"),
                Principle("keep", "Is it?", "yes", reason="a; b"), Principle("keep", "Is it?", "yes", reason="no")]:  # type: ignore[arg-type]
        with pytest.raises(ValueError):
            format_principles([bad])
