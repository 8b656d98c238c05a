"""The image rewards for training an editor: colour share and verified edit, by name through the registry."""

from __future__ import annotations

import numpy as np
import pytest

from rewards import RewardContext, get_reward
from rewards.image_edit import ImageRewardContext, colour_share


def test_colour_share_hard_and_soft():
    image = np.zeros((2, 2, 3), dtype=np.uint8)
    image[0] = (250, 5, 5)
    assert colour_share(image, (255, 0, 0), tolerance=0.1) == 0.5
    soft = colour_share(image, (255, 0, 0), tolerance=2.0, soft=True)
    assert 0.5 < soft < 1.0


def test_colour_share_errors_say_what_to_change():
    with pytest.raises(ValueError, match="three values in 0-255"):
        colour_share(np.zeros((1, 1, 3), dtype=np.uint8), (300, 0, 0))
    with pytest.raises(ValueError, match="H x W x 3"):
        colour_share(np.zeros((2, 2), dtype=np.uint8), (255, 0, 0))
    with pytest.raises(ValueError, match="target_colour"):
        get_reward("colour_share")(ImageRewardContext(edited_image=np.zeros((1, 1, 3), dtype=np.uint8)))
    with pytest.raises(ValueError, match="no field 'target_colour'"):
        get_reward("colour_share")(RewardContext(edited_image=np.zeros((1, 1, 3), dtype=np.uint8)))


def test_verified_edit_weighs_checklist_and_preservation():
    source = np.zeros((2, 2, 3), dtype=np.uint8)
    edited = source.copy()
    edited[1, 1] = 255  # outside the change mask: a quarter of the kept pixels turned white
    mask = np.zeros((2, 2), dtype=bool)
    ctx = ImageRewardContext(checklist_answers=["yes", "yes"], checklist_expected=["yes", "yes"], source_image=source,
                             edited_image=edited, change_mask=mask, preservation_weight=0.4)
    assert get_reward("verified_edit")(ctx) == pytest.approx(0.6 + 0.4 * 0.75)
    only_checklist = ImageRewardContext(checklist_answers=["no"], checklist_expected=["yes"], preservation_weight=0.0)
    assert get_reward("verified_edit")(only_checklist) == 0.0
