"""Registry, RewardContext and the built-in rewards."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from rewards import RewardContext, available_rewards, get_reward, register_reward
from rewards.registry import _REGISTRY

COMPLETION = (
    "<think>two edits</think><answer>\n"
    "<action>recolor</action><subject>the red circle</subject><target>blue</target>\n"
    "<action>remove</action><subject>the square</subject><target></target>\n</answer>"
)
TRUTH = [
    {"action": "recolor", "subject": ["the red circle"], "target": ["blue"]},
    {"action": "remove", "subject": ["the square"], "target": []},
]


@pytest.fixture
def scratch_names():
    names: list[str] = []
    yield names
    for name in names:
        _REGISTRY.pop(name, None)


def test_builtins_are_registered():
    assert {"format", "format_partial", "f1", "f1_matched", "checklist", "success", "preservation"} <= set(available_rewards())
    assert list(available_rewards()) == sorted(available_rewards())


def test_unknown_name_lists_the_known_ones():
    with pytest.raises(ValueError, match=r"unknown reward 'f2'; known rewards: .*checklist.*f1.*preservation"):
        get_reward("f2")


def test_register_and_lookup(scratch_names):
    scratch_names.append("test_len")

    @register_reward("test_len")
    def length(ctx: RewardContext) -> float:
        return float(len(ctx.require("completion", "test_len")))

    assert get_reward("test_len") is length
    assert get_reward("test_len")(RewardContext(completion="abc")) == 3.0
    assert "test_len" in available_rewards()


def test_duplicate_names_are_refused_unless_overwrite(scratch_names):
    scratch_names.append("test_dup")
    register_reward("test_dup")(lambda ctx: 0.0)
    with pytest.raises(ValueError, match="already registered"):
        register_reward("test_dup")(lambda ctx: 1.0)
    register_reward("test_dup", overwrite=True)(lambda ctx: 1.0)
    assert get_reward("test_dup")(RewardContext()) == 1.0


def test_bad_registrations():
    with pytest.raises(ValueError, match="non-empty str"):
        register_reward("  ")
    with pytest.raises(ValueError, match="must decorate a callable"):
        register_reward("test_not_callable")(3)  # type: ignore[arg-type]
    assert "test_not_callable" not in available_rewards()


def test_context_is_frozen_plain_data():
    ctx = RewardContext(completion="x")
    with pytest.raises(dataclasses.FrozenInstanceError):
        ctx.completion = "y"  # type: ignore[misc]
    assert all(f.default is not dataclasses.MISSING for f in dataclasses.fields(RewardContext))
    with pytest.raises(ValueError, match="no field 'nope'"):
        ctx.require("nope", "r")


def test_format_rewards():
    assert get_reward("format")(RewardContext(completion=COMPLETION)) == 1.0
    assert get_reward("format")(RewardContext(completion=COMPLETION, allowed_actions={"recolor"})) == 0.0
    assert get_reward("format_partial")(RewardContext(completion=COMPLETION, allowed_actions={"recolor"})) == 0.5
    assert get_reward("format")(RewardContext(completion="<think></think><answer>a plan</answer>", kind="plan")) == 1.0


def test_f1_parses_the_completion_or_uses_predicted_components():
    assert get_reward("f1")(RewardContext(completion=COMPLETION, truth_components=TRUTH)) == 1.0
    only_first = RewardContext(completion=COMPLETION, predicted_components=TRUTH[:1], truth_components=TRUTH)
    assert get_reward("f1")(only_first) == pytest.approx((2 / 3 + 2 / 3 + 1.0) / 3)  # predicted wins over completion
    assert get_reward("f1_matched")(only_first) == pytest.approx(2 / 3)
    synonyms = RewardContext(predicted_components=[{"action": "remove", "subject": "the box"}],
                             truth_components=[{"action": "remove", "subject": "the square"}],
                             synonyms={"box": "square"})
    assert get_reward("f1")(synonyms) == 1.0


def test_checklist_and_preservation():
    ctx = RewardContext(checklist_answers=["yes", "no", None], checklist_expected=["yes", "no", "yes"],
                        checklist_groups=["keep", "follow", "follow"], checklist_weights={"keep": 1.0, "follow": 1.0})
    assert get_reward("checklist")(ctx) == pytest.approx(0.75)
    img = np.zeros((3, 3, 3), dtype=np.uint8)
    edited = img.copy()
    edited[0, 0] = 255
    mask = np.zeros((3, 3), dtype=bool)
    assert get_reward("preservation")(RewardContext(source_image=img, edited_image=edited, change_mask=mask)) == (
        pytest.approx(1 - 1 / 9)
    )
    mask[0, 0] = True
    assert get_reward("preservation")(RewardContext(source_image=img, edited_image=edited, change_mask=mask)) == 1.0


@pytest.mark.parametrize(
    ("name", "ctx", "message"),
    [
        ("format", RewardContext(), r"reward 'format' needs RewardContext.completion"),
        ("format_partial", RewardContext(), r"RewardContext.completion"),
        ("f1", RewardContext(completion=COMPLETION), r"needs RewardContext.truth_components"),
        ("f1", RewardContext(truth_components=TRUTH), r"predicted_components or RewardContext.completion"),
        ("f1_matched", RewardContext(truth_components=TRUTH), r"predicted_components or RewardContext.completion"),
        ("checklist", RewardContext(checklist_answers=["yes"]), r"RewardContext.checklist_expected"),
        ("preservation", RewardContext(source_image=np.zeros((2, 2))), r"RewardContext.edited_image"),
        ("format", RewardContext(completion=COMPLETION, kind="json"), "kind must be one of"),
    ],
)
def test_missing_inputs_name_the_field(name, ctx, message):
    with pytest.raises(ValueError, match=message):
        get_reward(name)(ctx)
