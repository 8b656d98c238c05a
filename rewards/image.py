"""Preservation reward: how little the image changed outside the region an edit is expected to change.

ImageEdit-R1's judges score "preservation" 0-10 and Edit-R1's verifier checks "keep" principles; neither defines a
pixel measure. In the Canvas world the expected change region is known, so preservation is measured directly:
``1 - mean |source - edited|`` over the pixels outside ``change_mask`` and over all channels, with pixel values
scaled to ``[0, 1]`` (integer images by their dtype's maximum, e.g. 255 for ``uint8``; float images must already lie
in ``[0, 1]``). An all-True mask leaves nothing to preserve and scores 1.0.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["preservation_reward", "to_unit_float"]


def to_unit_float(image: ArrayLike, name: str = "image") -> NDArray[np.float64]:
    """An image as ``float64`` in ``[0, 1]``: integer dtypes are divided by their maximum, floats are checked.

    Args:
        image: ``H x W`` or ``H x W x C`` array of an unsigned/signed integer dtype (non-negative) or a float dtype
            with values in ``[0, 1]``.
        name: used in error messages.

    Raises:
        ValueError: on a bool/object/complex dtype, NaN/inf, negative values, or floats outside ``[0, 1]``.

    >>> to_unit_float(np.array([[0, 255]], dtype=np.uint8)).tolist()
    [[0.0, 1.0]]
    """
    arr = np.asarray(image)
    if arr.dtype == np.bool_ or not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
        raise ValueError(f"{name} must have an integer or float dtype, got {arr.dtype}")
    if np.issubdtype(arr.dtype, np.integer):
        if arr.size and arr.min() < 0:
            raise ValueError(f"{name} has negative pixel values; pass an unsigned integer or [0, 1] float image")
        return arr.astype(np.float64) / float(np.iinfo(arr.dtype).max)
    out = arr.astype(np.float64)
    if not np.all(np.isfinite(out)):
        raise ValueError(f"{name} contains NaN or inf values")
    if out.size and (out.min() < 0.0 or out.max() > 1.0):
        raise ValueError(
            f"float {name} must lie in [0, 1], got range [{out.min():g}, {out.max():g}]; "
            "divide by 255 or pass a uint8 image"
        )
    return out


def preservation_reward(source: ArrayLike, edited: ArrayLike, change_mask: ArrayLike) -> float:
    """``1 - mean |source - edited|`` outside the expected change, in ``[0, 1]``.

    Args:
        source: ``H x W x C`` (or ``H x W``) image before the edit; ``uint8`` (or other integer) or float in
            ``[0, 1]``.
        edited: the image after the edit, same shape as ``source`` (its dtype may differ; each is scaled by its own).
        change_mask: ``H x W`` ``bool`` array, ``True`` where the edit is expected to change the image.

    Returns:
        ``float`` in ``[0, 1]``: 1.0 when nothing outside the mask changed (or the mask covers everything), 0.0 when
        every preserved pixel went from black to white or back.

    Raises:
        ValueError: on mismatched shapes, an empty image, a non-bool mask, or invalid pixel values.

    >>> src = np.zeros((2, 2, 3), dtype=np.uint8)
    >>> out = src.copy(); out[0, 0] = 255; out[1, 1] = 51
    >>> mask = np.array([[True, False], [False, False]])
    >>> round(preservation_reward(src, out, mask), 4)
    0.9333
    >>> preservation_reward(src, out, np.ones((2, 2), dtype=bool))
    1.0
    """
    src = to_unit_float(source, "source")
    out = to_unit_float(edited, "edited")
    mask = np.asarray(change_mask)
    if src.ndim not in (2, 3):
        raise ValueError(f"source must be H x W or H x W x C, got shape {src.shape}")
    if src.shape != out.shape:
        raise ValueError(f"source and edited must have the same shape, got {src.shape} and {out.shape}")
    if src.shape[0] == 0 or src.shape[1] == 0 or src.size == 0:
        raise ValueError(f"images are empty (shape {src.shape}); there is nothing to compare")
    if mask.dtype != np.bool_:
        raise ValueError(f"change_mask must be a bool array (True = expected to change), got dtype {mask.dtype}; "
                         "use mask.astype(bool)")
    if mask.shape != src.shape[:2]:
        raise ValueError(f"change_mask must have shape H x W = {src.shape[:2]}, got {mask.shape}")
    keep = ~mask
    if not keep.any():
        return 1.0
    diff = np.abs(src - out)[keep]
    return float(min(1.0, max(0.0, 1.0 - diff.mean())))
