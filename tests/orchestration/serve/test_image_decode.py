"""Which uploads the ingress decodes on its event loop (small ones: cheaper than a thread hop) and which on a worker
thread; either way a bad upload gets the same error."""

import io

import pytest
from PIL import Image

from orchestration.serve.api import INLINE_DECODE_MAX_PIXELS, ApiError, decode_image, decode_is_cheap
from orchestration.serve.config import Limits


def _png(width: int, height: int) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (width, height), (200, 30, 30)).save(buf, format="PNG")
    return buf.getvalue()


def test_a_canvas_sized_image_decodes_in_place_and_a_photo_on_a_thread():
    assert decode_is_cheap(_png(128, 128))
    assert decode_is_cheap(_png(256, 256)) and 256 * 256 == INLINE_DECODE_MAX_PIXELS
    assert not decode_is_cheap(_png(257, 256))
    assert not decode_is_cheap(_png(1024, 768))


def test_unreadable_and_oversized_uploads_fail_the_same_way_wherever_they_decode():
    limits = Limits(max_pixels=100_000)
    garbage = b"not an image at all"
    assert decode_is_cheap(garbage)  # fails fast: no reason to leave the loop
    with pytest.raises(ApiError) as err:
        decode_image(garbage, limits)
    assert err.value.status == 400
    too_many = _png(400, 300)
    assert not decode_is_cheap(too_many)
    with pytest.raises(ApiError) as err:
        decode_image(too_many, limits)
    assert err.value.status == 413 and "120,000 pixels" in err.value.detail

