"""Rewards on edited images for training an editing model: the share of a colour, and a verified-edit score.

Both are registered (``colour_share``, ``verified_edit``) and read an :class:`ImageRewardContext`, a
:class:`~rewards.registry.RewardContext` with the few extra fields these need; a plain ``RewardContext`` gets an
error naming the missing field.

- ``colour_share``: how much of the edited image is the target colour. Hard share (pixels within ``tolerance`` of the
  colour, Euclidean distance in ``[0, 1]`` RGB) or, with ``soft``, the mean of ``max(0, 1 - distance / tolerance)``:
  a cheap reward whose value moves with every pixel, so that even an untrained model's group of samples differs in it.
- ``verified_edit``: ``(1 - w) * checklist + w * preservation``: a verifier's checklist answers (fraction answered as
  expected, unknown fails) plus the preservation term outside the region the edit is expected to change, weight
  ``w = preservation_weight``. Edit-R1 trains its editor on its verifier's score; the preservation term keeps a
  policy from rewriting the whole image to satisfy a checklist.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from rewards.checklist import checklist_reward
from rewards.image import preservation_reward, to_unit_float
from rewards.registry import RewardContext, register_reward

__all__ = ["ImageRewardContext", "colour_share", "colour_share_from_context", "verified_edit_from_context"]


@dataclass(frozen=True)
class ImageRewardContext(RewardContext):
    """A :class:`RewardContext` with the image rewards' own settings.

    Attributes:
        target_colour: ``(r, g, b)`` in 0-255 for ``colour_share``.
        colour_tolerance: distance in unit RGB (0 to ``sqrt(3)``) within which a pixel counts as the colour.
        soft_colour: score ``max(0, 1 - distance / tolerance)`` per pixel instead of a 0/1 count.
        preservation_weight: ``w`` of ``verified_edit``.
    """

    target_colour: Sequence[int] | None = None
    colour_tolerance: float = 0.25
    soft_colour: bool = False
    preservation_weight: float = 0.3


def colour_share(image: ArrayLike, colour: Sequence[int], tolerance: float = 0.25, soft: bool = False) -> float:
    """Share of ``image`` (``H x W x 3``) that is ``colour`` (0-255 RGB), in ``[0, 1]``.

    >>> img = np.zeros((1, 2, 3), dtype=np.uint8); img[0, 0] = (255, 0, 0)
    >>> colour_share(img, (255, 0, 0))
    0.5
    >>> round(colour_share(np.full((1, 1, 3), 128, dtype=np.uint8), (255, 0, 0), tolerance=2.0, soft=True), 3)
    0.566
    """
    pixels = to_unit_float(image, "edited_image")
    if pixels.ndim != 3 or pixels.shape[2] != 3:
        raise ValueError(f"colour_share needs an H x W x 3 RGB image, got shape {pixels.shape}")
    rgb = np.asarray(colour, dtype=np.float64)
    if rgb.shape != (3,) or rgb.min() < 0 or rgb.max() > 255:
        raise ValueError(f"the target colour must be three values in 0-255, got {colour!r}")
    if not tolerance > 0:
        raise ValueError(f"colour tolerance must be > 0, got {tolerance}")
    distance = np.linalg.norm(pixels - rgb / 255.0, axis=-1)
    if soft:
        return float(np.clip(1.0 - distance / tolerance, 0.0, 1.0).mean())
    return float((distance <= tolerance).mean())


@register_reward("colour_share")
def colour_share_from_context(ctx: RewardContext) -> float:
    """:func:`colour_share` of ``ctx.edited_image`` with the context's colour settings."""
    colour = ctx.require("target_colour", "colour_share")
    return colour_share(ctx.require("edited_image", "colour_share"), colour, ctx.colour_tolerance, ctx.soft_colour)  # type: ignore[attr-defined]


@register_reward("verified_edit")
def verified_edit_from_context(ctx: RewardContext) -> float:
    """``(1 - w) * checklist + w * preservation`` (module docstring).

    >>> src = np.zeros((2, 2, 3), dtype=np.uint8)
    >>> ctx = ImageRewardContext(checklist_answers=["yes", "no"], checklist_expected=["yes", "yes"],
    ...                          source_image=src, edited_image=src, change_mask=np.zeros((2, 2), bool),
    ...                          preservation_weight=0.5)
    >>> verified_edit_from_context(ctx)
    0.75
    """
    # A plain RewardContext (the registry's callers that know nothing of images) gets the default weight.
    weight = float(getattr(ctx, "preservation_weight", ImageRewardContext.preservation_weight))
    if not 0.0 <= weight <= 1.0:
        raise ValueError(f"preservation_weight must be in [0, 1], got {weight}")
    answers = ctx.require("checklist_answers", "verified_edit")
    expected = ctx.require("checklist_expected", "verified_edit")
    score = checklist_reward(list(answers), list(expected))
    if weight == 0.0:
        return float(score)
    kept = preservation_reward(ctx.require("source_image", "verified_edit"), ctx.require("edited_image", "verified_edit"),
                               ctx.require("change_mask", "verified_edit"))
    return float((1.0 - weight) * score + weight * kept)
