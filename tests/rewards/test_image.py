"""Preservation reward on numpy images."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis.extra import numpy as hnp

from rewards import preservation_reward


def test_hand_computed_uint8():
    src = np.zeros((2, 2, 3), dtype=np.uint8)
    out = src.copy()
    out[0, 0] = 255  # inside the mask: ignored
    out[0, 1, 0] = 255  # outside: one channel of one pixel fully changed
    mask = np.array([[True, False], [False, False]])
    # 3 preserved pixels x 3 channels = 9 values, one of them differs by 1.0
    assert preservation_reward(src, out, mask) == pytest.approx(1 - 1 / 9)


def test_identical_images_and_full_mask_score_one():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (5, 7, 3), dtype=np.uint8)
    assert preservation_reward(img, img, np.zeros((5, 7), dtype=bool)) == 1.0
    assert preservation_reward(img, 255 - img, np.ones((5, 7), dtype=bool)) == 1.0  # nothing to preserve


def test_black_to_white_everywhere_scores_zero():
    black = np.zeros((4, 4, 3), dtype=np.uint8)
    assert preservation_reward(black, black + 255, np.zeros((4, 4), dtype=bool)) == 0.0


def test_float_and_uint8_images_are_scaled_consistently():
    src = np.full((3, 3, 3), 102, dtype=np.uint8)  # 0.4
    out = np.full((3, 3, 3), 0.6)
    assert preservation_reward(src, out, np.zeros((3, 3), dtype=bool)) == pytest.approx(0.8)


def test_grayscale_images_are_accepted():
    src = np.zeros((2, 2))
    out = np.array([[0.0, 0.5], [0.0, 0.0]])
    assert preservation_reward(src, out, np.zeros((2, 2), dtype=bool)) == pytest.approx(1 - 0.5 / 4)


@settings(max_examples=100, deadline=None)
@given(
    hnp.arrays(np.uint8, (6, 5, 3)),
    hnp.arrays(np.uint8, (6, 5, 3)),
    hnp.arrays(np.bool_, (6, 5)),
    hnp.arrays(np.uint8, (6, 5, 3)),
)
def test_bounds_and_changes_inside_the_mask_do_not_matter(src, out, mask, noise):
    reward = preservation_reward(src, out, mask)
    assert 0.0 <= reward <= 1.0
    repainted = np.where(mask[..., None], noise, out)
    assert preservation_reward(src, repainted, mask) == pytest.approx(reward)
    assert preservation_reward(out, src, mask) == pytest.approx(reward)  # symmetric in the two images
    # the same permutation of pixels in images and mask leaves the reward unchanged
    perm = np.random.default_rng(0).permutation(30)
    flat = lambda a: a.reshape(30, *a.shape[2:])[perm].reshape(a.shape)  # noqa: E731
    assert preservation_reward(flat(src), flat(out), flat(mask)) == pytest.approx(reward)


@pytest.mark.parametrize(
    ("src", "out", "mask", "message"),
    [
        (np.zeros((2, 2, 3)), np.zeros((2, 3, 3)), np.zeros((2, 2), bool), "same shape"),
        (np.zeros((2, 2, 3)), np.zeros((2, 2, 3)), np.zeros((3, 2), bool), r"change_mask must have shape H x W"),
        (np.zeros((2, 2, 3)), np.zeros((2, 2, 3)), np.zeros((2, 2), np.uint8), "must be a bool array"),
        (np.full((2, 2, 3), 2.0), np.zeros((2, 2, 3)), np.zeros((2, 2), bool), r"must lie in \[0, 1\]"),
        (np.full((2, 2, 3), np.nan), np.zeros((2, 2, 3)), np.zeros((2, 2), bool), "NaN"),
        (np.zeros((0, 2, 3)), np.zeros((0, 2, 3)), np.zeros((0, 2), bool), "empty"),
        (np.zeros((2,)), np.zeros((2,)), np.zeros((2,), bool), "H x W or H x W x C"),
        (np.zeros((2, 2), bool), np.zeros((2, 2), bool), np.zeros((2, 2), bool), "integer or float dtype"),
        (np.full((2, 2), -1, np.int16), np.zeros((2, 2), np.int16), np.zeros((2, 2), bool), "negative"),
    ],
)
def test_bad_input(src, out, mask, message):
    with pytest.raises(ValueError, match=message):
        preservation_reward(src, out, mask)
