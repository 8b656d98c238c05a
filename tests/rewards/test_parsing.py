"""Parser, writer and format reward for the tagged LM output format."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rewards import Component, format_components, format_reward, format_tagged, parse_tagged
from rewards.formatting import component_schema_errors
from rewards.parsing import parse_components

CANVAS_ACTIONS = {"add", "remove", "recolor", "move", "resize", "reshape", "background"}

EXAMPLE = """<think>free reasoning text</think><answer>
<action>recolor</action><subject>the red circle, the green star</subject><target>blue</target>
<action>remove</action><subject>the small square</subject><target></target>
</answer>"""


# ---------------------------------------------------------------------------------------------------- parse_tagged


def test_lead_example_parses_exactly():
    out = parse_tagged(EXAMPLE)
    assert out.well_formed and out.envelope_errors == ()
    assert out.think == "free reasoning text"
    assert out.components == (
        Component("recolor", ("the red circle", "the green star"), ("blue",)),
        Component("remove", ("the small square",), ()),
    )
    assert out.malformed == ()
    assert out.components_well_formed


def test_whitespace_between_tags_fields_and_blocks_is_allowed():
    text = (
        "  \n<think>\n a \n</think>\n\n<answer>\n\n"
        "<action> move </action>\n  <subject>  star ,, circle </subject>\t<target> left of the square </target>"
        "\n</answer>\n "
    )
    out = parse_tagged(text)
    assert out.well_formed
    assert out.think == "\n a \n"
    assert out.components == (Component("move", ("star", "circle"), ("left of the square",)),)


def test_empty_think_and_plan_answer_have_no_components():
    out = parse_tagged("<think></think><answer>Make the circle blue, then remove the square.</answer>")
    assert out.well_formed and out.think == ""
    assert out.answer == "Make the circle blue, then remove the square."
    assert out.components == ()
    assert len(out.malformed) == 1 and "unparsed text" in out.malformed[0]
    assert not out.components_well_formed


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("<answer>x</answer>", "tag <think> appears 0 times"),
        ("<think>a</think><think>b</think><answer>x</answer>", "tag <think> appears 2 times"),
        ("<answer>x</answer><think>a</think>", "tags out of order"),
        ("hello <think>a</think><answer>x</answer>", "text before <think>"),
        ("<think>a</think> so <answer>x</answer>", "text between </think> and <answer>"),
        ("<think>a</think><answer>x</answer> bye", "text after </answer>"),
        ("<think>a</think><answer>x", "tag </answer> appears 0 times"),
    ],
)
def test_broken_envelopes_are_diagnosed(text, fragment):
    out = parse_tagged(text)
    assert not out.well_formed
    assert any(fragment in e for e in out.envelope_errors), out.envelope_errors


def test_lenient_extraction_of_a_broken_envelope():
    out = parse_tagged("<think>plan</think><answer><action>add</action><subject>a star</subject><target></target>")
    assert not out.well_formed
    assert out.think == "plan"
    assert out.components == (Component("add", ("a star",), ()),)  # unclosed answer: parsed to the end of the text


def test_tags_are_case_sensitive():
    assert not parse_tagged("<THINK>a</THINK><ANSWER>b</ANSWER>").well_formed


# ------------------------------------------------------------------------------------------------ parse_components


def test_malformed_chunks_are_reported_and_skipped():
    answer = (
        "<action>recolor</action><subject>circle</subject><target>blue</target>\n"
        "<action>move</action><subject>star</subject>\n"  # no target
        "<action> </action><subject>square</subject><target>red</target>\n"  # blank action
        "<action>add</action><subject>a hexagon</subject><target></target>"
    )
    components, malformed = parse_components(answer)
    assert [c.action for c in components] == ["recolor", "add"]
    assert len(malformed) == 2
    assert "incomplete component" in malformed[0] and "'<action>move</action>" in malformed[0]
    assert "empty <action>" in malformed[1]


def test_fields_out_of_order_or_with_angle_brackets_are_malformed():
    swapped = "<subject>circle</subject><action>recolor</action><target>blue</target>"
    assert parse_components(swapped).components == ()
    assert len(parse_components(swapped).malformed) == 1
    nested = "<action>recolor <b>now</b></action><subject>circle</subject><target>blue</target>"
    assert parse_components(nested).components == ()


def test_members_are_split_on_commas_and_blank_members_dropped():
    (comp,), malformed = parse_components("<action>x</action><subject>a, ,b,</subject><target> , </target>")
    assert malformed == ()
    assert comp == Component("x", ("a", "b"), ())


def test_parsers_reject_non_str_with_value_error():
    with pytest.raises(ValueError, match="expects a str"):
        parse_tagged(None)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="expects a str"):
        parse_components(b"<action>")  # type: ignore[arg-type]


TAG_SOUP = st.lists(
    st.sampled_from(
        ["<think>", "</think>", "<answer>", "</answer>", "<action>", "</action>", "<subject>", "</subject>",
         "<target>", "</target>", "recolor", "the red circle", ",", " ", "\n", "<", ">", "é", "\x00"]
    ),
    max_size=40,
).map("".join)


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=300), TAG_SOUP))
def test_parser_never_raises_and_is_self_consistent(text):
    out = parse_tagged(text)
    assert out.well_formed == (out.envelope_errors == ())
    assert all(c.action.strip() and c.action == c.action.strip() for c in out.components)
    assert all(m and m == m.strip() and "," not in m for c in out.components for m in c.subject + c.target)
    if out.components_well_formed:
        assert out.well_formed and out.components
    if out.well_formed:
        assert out.think is not None and out.answer is not None
    score = format_reward(text)
    partial = format_reward(text, partial=True)
    assert score in (0.0, 1.0) and 0.0 <= partial <= 1.0
    assert partial >= score  # all-or-nothing credit can never exceed partial credit
    assert format_reward(text, kind="plan") in (0.0, 1.0)


# ---------------------------------------------------------------------------------------------- format_components

MEMBER = st.text(
    alphabet=st.characters(blacklist_characters=",<>", blacklist_categories=("Cs",)), min_size=1, max_size=12
).map(str.strip).filter(bool)
ACTION = st.from_regex(r"[a-z]{1,10}", fullmatch=True)
COMPONENT = st.builds(
    Component, ACTION, st.lists(MEMBER, max_size=3).map(tuple), st.lists(MEMBER, max_size=3).map(tuple)
)


@settings(max_examples=200, deadline=None)
@given(st.lists(COMPONENT, max_size=5))
def test_format_components_round_trips(components):
    text = format_components(components)
    parsed = parse_components(text)
    assert parsed.components == tuple(components)
    assert parsed.malformed == ()
    full = parse_tagged(format_tagged("reasoning", text))
    assert full.well_formed and full.components == tuple(components)


def test_format_components_accepts_mappings_and_writes_canonical_lines():
    text = format_components([{"action": "recolor", "subject": ["a", "b"], "target": "blue"}])
    assert text == "<action>recolor</action><subject>a, b</subject><target>blue</target>"


@pytest.mark.parametrize(
    ("component", "message"),
    [
        (Component("recolor", ("red, circle",), ()), "contains ','"),
        (Component("recolor", ("circle",), ("<blue>",)), "contains ','"),
        (Component("  ", ("circle",), ()), "blank action"),
    ],
)
def test_format_components_rejects_what_cannot_round_trip(component, message):
    with pytest.raises(ValueError, match=message):
        format_components([component])


def test_format_tagged_rejects_envelope_tags_inside_blocks():
    with pytest.raises(ValueError, match="envelope tag </think>"):
        format_tagged("a</think>", "b")


# --------------------------------------------------------------------------------------------------- format_reward


def test_format_reward_binary_on_the_lead_example():
    assert format_reward(EXAMPLE) == 1.0
    assert format_reward(EXAMPLE, allowed_actions=CANVAS_ACTIONS) == 1.0
    assert format_reward(EXAMPLE, allowed_actions={"recolor"}) == 0.0
    assert format_reward(EXAMPLE, allowed_actions={"recolor"}, partial=True) == 0.5


def test_format_reward_partial_counts_malformed_chunks():
    text = EXAMPLE.replace("</answer>", "<action>move</action><subject>x</subject>\nand more text\n</answer>")
    # two good components + one chunk ("<action>move…" up to the end, including the stray text)
    assert format_reward(text) == 0.0
    assert format_reward(text, partial=True) == pytest.approx(2 / 3)


def test_format_reward_zero_for_broken_envelope_even_with_partial():
    text = EXAMPLE.replace("<think>", "")
    assert format_reward(text) == 0.0
    assert format_reward(text, partial=True) == 0.0


def test_format_reward_components_needs_at_least_one_component():
    assert format_reward("<think>x</think><answer>  </answer>") == 0.0
    assert format_reward("<think>x</think><answer>  </answer>", partial=True) == 0.0


def test_format_reward_plan_mode():
    assert format_reward("<think>x</think><answer>make the star red</answer>", kind="plan") == 1.0
    assert format_reward("<think>x</think><answer> \n </answer>", kind="plan") == 0.0
    assert format_reward("<answer>make the star red</answer>", kind="plan") == 0.0
    assert format_reward(EXAMPLE, kind="plan") == 1.0  # components are a valid (if unusual) plan text


def test_schema_checks_word_action_case_insensitive_allowed_set_and_subject():
    ok = Component("Recolor", ("circle",), ("blue",))
    assert component_schema_errors(ok, allowed_actions=CANVAS_ACTIONS) == []
    assert component_schema_errors(Component("paint it", ("c",)))[0] == "action 'paint it' is not a single word"
    no_subject = Component("background", (), ("white",))
    assert component_schema_errors(no_subject) == []
    assert component_schema_errors(no_subject, require_subject=True) == ["component 'background' has no subject"]
    text = "<think></think><answer><action>background</action><subject></subject><target>white</target></answer>"
    assert format_reward(text) == 1.0
    assert format_reward(text, require_subject=True) == 0.0


def test_format_reward_bad_arguments():
    with pytest.raises(ValueError, match="kind must be one of"):
        format_reward(EXAMPLE, kind="json")
    with pytest.raises(ValueError, match="completion must be a str"):
        format_reward(None)  # type: ignore[arg-type]
