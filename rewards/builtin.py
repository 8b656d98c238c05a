"""The built-in registered rewards, each a thin adapter from a :class:`RewardContext` to a pure function.

=================  ====================================================  =========================================
name               computes                                              needs
=================  ====================================================  =========================================
``format``         :func:`format_reward` (0/1) with ``ctx.kind``          ``completion``
``format_partial`` :func:`format_reward` with ``partial=True``            ``completion``
``f1``             :func:`structured_f1` ``.overall``, pooled mode        ``truth_components`` and
                                                                          ``predicted_components`` or ``completion``
``f1_matched``     the same in ``mode="matched"``                         as ``f1``
``checklist``      :func:`checklist_reward` (unknown answers fail)       ``checklist_answers``, ``checklist_expected``
``success``        1.0 when every checklist item is answered as           as ``checklist``
                   expected, else 0.0 (what "full success" counts)
``preservation``   :func:`preservation_reward`                           ``source_image``, ``edited_image``,
                                                                          ``change_mask``
=================  ====================================================  =========================================

``f1`` prefers ``predicted_components`` and otherwise parses ``completion`` (components found in a malformed output
still count: format is scored by its own reward; :func:`predicted_or_parsed` does this for any reward).

A reward that needs an environment's world model is registered by that environment, since this layer imports none:
``grounded_f1`` (subjects compared by the objects they name on the Canvas scene) comes from
:mod:`envs.canvas.grounding` and is registered whenever :mod:`envs` is imported.
"""

from __future__ import annotations

from rewards.checklist import checklist_reward
from rewards.f1 import structured_f1
from rewards.formatting import format_reward
from rewards.image import preservation_reward
from rewards.parsing import parse_tagged
from rewards.registry import RewardContext, register_reward
from rewards.types import ComponentLike

__all__ = [
    "predicted_or_parsed",
    "format_from_context",
    "format_partial_from_context",
    "f1_from_context",
    "f1_matched_from_context",
    "checklist_from_context",
    "success_from_context",
    "preservation_from_context",
]


@register_reward("format")
def format_from_context(ctx: RewardContext) -> float:
    """``format_reward(ctx.completion, kind=ctx.kind, allowed_actions=ctx.allowed_actions)``.

    >>> format_from_context(RewardContext(completion="<think>x</think><answer>a plan</answer>", kind="plan"))
    1.0
    """
    return format_reward(ctx.require("completion", "format"), kind=ctx.kind, allowed_actions=ctx.allowed_actions)


@register_reward("format_partial")
def format_partial_from_context(ctx: RewardContext) -> float:
    """``format_reward(..., partial=True)``; see :func:`format_from_context`.

    >>> format_partial_from_context(RewardContext(completion="<think></think><answer>?</answer>"))
    0.0
    """
    return format_reward(
        ctx.require("completion", "format_partial"), kind=ctx.kind, partial=True, allowed_actions=ctx.allowed_actions
    )


def predicted_or_parsed(ctx: RewardContext, reward: str) -> tuple[ComponentLike, ...] | list[ComponentLike]:
    """``ctx.predicted_components`` when set, else the components parsed from ``ctx.completion``; ``ValueError``
    naming ``reward`` when both are missing. Shared by every reward that scores a decomposition.

    >>> predicted_or_parsed(RewardContext(completion="<think></think><answer><action>add</action>"
    ...                                    "<subject>a star</subject><target></target></answer>"), "f1")[0].subject
    ('a star',)
    """
    if ctx.predicted_components is not None:
        return list(ctx.predicted_components)
    if ctx.completion is None:
        raise ValueError(
            f"reward {reward!r} needs RewardContext.predicted_components or RewardContext.completion; both are None"
        )
    return parse_tagged(ctx.completion).components


@register_reward("f1")
def f1_from_context(ctx: RewardContext) -> float:
    """Overall pooled structured F1 of the predicted (or parsed) components against ``truth_components``.

    >>> f1_from_context(RewardContext(predicted_components=[{"action": "add", "subject": "a star"}],
    ...                               truth_components=[{"action": "add", "subject": "stars"}]))
    1.0
    """
    truth = ctx.require("truth_components", "f1")
    return structured_f1(predicted_or_parsed(ctx, "f1"), truth, synonyms=ctx.synonyms).overall


@register_reward("f1_matched")
def f1_matched_from_context(ctx: RewardContext) -> float:
    """Overall matched structured F1; see :func:`f1_from_context`.

    >>> f1_matched_from_context(RewardContext(predicted_components=[{"action": "add", "subject": "a star"}] * 2,
    ...                                       truth_components=[{"action": "add", "subject": "stars"}]))
    0.6666666666666666
    """
    truth = ctx.require("truth_components", "f1_matched")
    return structured_f1(predicted_or_parsed(ctx, "f1_matched"), truth, synonyms=ctx.synonyms, mode="matched").overall


@register_reward("checklist")
def checklist_from_context(ctx: RewardContext) -> float:
    """``checklist_reward(answers, expected, checklist_weights, groups=checklist_groups)`` (unknown = fail).

    >>> checklist_from_context(RewardContext(checklist_answers=["yes", None], checklist_expected=["yes", "yes"]))
    0.5
    """
    return checklist_reward(
        ctx.require("checklist_answers", "checklist"),
        ctx.require("checklist_expected", "checklist"),
        ctx.checklist_weights,
        groups=ctx.checklist_groups,
    )


@register_reward("success")
def success_from_context(ctx: RewardContext) -> float:
    """1.0 when the verifier answered every checklist item as expected (unknown = fail), else 0.0; an empty
    checklist verified nothing and is not a success (the Canvas verifier's verdict does not pass either).

    The episode-level outcome that held-out "full success" counts. ``checklist`` averages the items, and on Canvas
    the "keep" items pass whatever a policy does, so its value moves little between completions of one group; this
    reward separates a completion whose edit is right from one that is partly right.

    >>> success_from_context(RewardContext(checklist_answers=["yes", "no"], checklist_expected=["yes", "no"]))
    1.0
    >>> success_from_context(RewardContext(checklist_answers=["yes", None], checklist_expected=["yes", "yes"]))
    0.0
    >>> success_from_context(RewardContext(checklist_answers=[], checklist_expected=[]))
    0.0
    """
    answers, expected = ctx.require("checklist_answers", "success"), ctx.require("checklist_expected", "success")
    if len(answers) == 0 and len(expected) == 0:
        return 0.0
    score = checklist_reward(answers, expected)
    return 1.0 if score == 1.0 else 0.0


@register_reward("preservation")
def preservation_from_context(ctx: RewardContext) -> float:
    """``preservation_reward(source_image, edited_image, change_mask)``.

    >>> import numpy as np
    >>> img = np.zeros((2, 2, 3), dtype=np.uint8)
    >>> preservation_from_context(RewardContext(source_image=img, edited_image=img,
    ...                                         change_mask=np.zeros((2, 2), dtype=bool)))
    1.0
    """
    return preservation_reward(
        ctx.require("source_image", "preservation"),
        ctx.require("edited_image", "preservation"),
        ctx.require("change_mask", "preservation"),
    )
