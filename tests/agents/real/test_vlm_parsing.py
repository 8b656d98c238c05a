"""The free-text parsers of the chat-model agents: what real models write, and that nothing ever raises."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agents.vlm import parsing
from agents.vlm.policy import VLMDecomposer, VLMSorter, VLMThinker

DIMS = {"instruction": ["instruction", "reasoning"], "consistency": ["consistency"], "quality": ["quality", "plausibility"]}


@pytest.mark.parametrize("text, expected", [
    ("Yes", "yes"), ("yes.", "yes"), ("YES, the car is blue.", "yes"), ("**No**. It is still red.", "no"),
    ("No, but the tree was removed", "no"), ("The answer is: yes", "yes"), ("I think no change was made", "no"),
    ("<think>It looks blue, so yes.</think><answer>No</answer>", "no"), ('```json\n{"answer": "yes"}\n```', "yes"),
    ('{"label": true}', "yes"), ("True", "yes"), ("Incorrect.", "no"),
    ("Yes and no", "unknown"), ("It is hard to tell.", "unknown"), ("", "unknown"), ("\x00\ufffd", "unknown"),
    ("<think>unclosed", "unknown"),
])
def test_yes_no(text, expected):
    assert parsing.parse_yes_no(text) == expected


def test_questions_from_typical_lists():
    text = ("Here are the questions:\n1. Is the car now blue?\n2) Is the tree still present?\n"
            "- Q3: Is the background unchanged?\n* Is the car now blue?\nThanks!")
    assert parsing.parse_questions(text) == ["Is the car now blue?", "Is the tree still present?", "Is the background unchanged?"]
    assert parsing.parse_questions(text, max_items=1) == ["Is the car now blue?"]


def test_scores_in_the_forms_judges_write():
    assert parsing.parse_scores("**Instruction Reasoning**: 5\n**Appearance Consistency**: 4\n**Visual Plausibility**: 3", DIMS) == \
        {"instruction": 5, "consistency": 4, "quality": 3}
    assert parsing.parse_scores('{"instruction": {"score": 2, "reason": "x"}, "consistency": "4"}', DIMS) == \
        {"instruction": 2, "consistency": 4, "quality": None}
    assert parsing.parse_scores("Consistency: 0\nQuality: 7", DIMS) == {"instruction": None, "consistency": None, "quality": None}


def test_plan_forms():
    assert parsing.parse_plan_text("<think>a</think><answer>\n Paint the car\n blue. </answer>") == "Paint the car blue."
    assert parsing.parse_plan_text('{"Rewrited": "Remove the tree."}') == "Remove the tree."
    assert parsing.parse_plan_text("<think>only thinking</think>") == ""


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_parsers_never_raise_on_any_text(text):
    assert parsing.parse_yes_no(text) in ("yes", "no", "unknown")
    assert all(q.endswith("?") for q in parsing.parse_questions(text))
    assert all(0 <= i < 4 for i, _ in parsing.parse_order(text, 4))
    assert all(v is None or 1 <= v <= 5 for v in parsing.parse_scores(text, DIMS).values())
    assert isinstance(parsing.parse_plan_text(text), str)
    # The agents' parse methods (no model needed) are just as safe.
    assert VLMThinker.parse(None, text).raw == text  # type: ignore[arg-type]
    assert VLMDecomposer.parse(None, text).raw == text  # type: ignore[arg-type]
    assert isinstance(VLMSorter.parse(None, text).items, list)  # type: ignore[arg-type]


@settings(max_examples=100, deadline=None)
@given(st.lists(st.sampled_from(["<think>", "</think>", "<answer>", "</answer>", "yes", "no", "1:", "?", "\n", "{", "}",
                                 '"answer"', ":", "5", "Instruction", "consistency", " "]), max_size=30).map("".join))
def test_parsers_never_raise_on_tag_soup(text):
    test_parsers_never_raise_on_any_text.hypothesis.inner_test(text)
