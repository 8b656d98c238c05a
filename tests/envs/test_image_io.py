"""envs.image_io: every bad input ends in ImageInputError naming the source and the problem; odd formats load."""

from __future__ import annotations

import base64
import io
import struct
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, features

from envs.image_io import ImageInputError, decode_base64_image, encode_png, load_image


# -- fixture builders --------------------------------------------------------------------------------------------


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def _raw_png(width: int, height: int, depth: int, color_type: int, idat: bytes) -> bytes:
    """A PNG written byte by byte, for what Pillow will not write (16-bit RGB, huge declared sizes)."""
    ihdr = struct.pack(">IIBBBBB", width, height, depth, color_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", idat) + _png_chunk(b"IEND", b"")


def _noise(w: int = 64, h: int = 48) -> Image.Image:
    # Noise does not compress, so cutting the file in half really cuts the pixel data.
    return Image.fromarray(np.random.default_rng(0).integers(0, 256, (h, w, 3), dtype=np.uint8))


def _save(img: Image.Image, path: Path, fmt: str, **kw: object) -> Path:
    img.save(path, fmt, **kw)
    return path


def _error(source: object, **kw: object) -> str:
    with pytest.raises(ImageInputError) as info:
        load_image(source, **kw)  # type: ignore[arg-type]
    return str(info.value)


# -- bad input -----------------------------------------------------------------------------------------------------


def test_missing_path(tmp_path: Path) -> None:
    msg = _error(tmp_path / "nope.png")
    assert "nope.png" in msg and "no such file" in msg and "check the path" in msg


def test_directory(tmp_path: Path) -> None:
    msg = _error(tmp_path)
    assert str(tmp_path) in msg and "is a directory" in msg


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.png"
    path.write_bytes(b"")
    msg = _error(path)
    assert "empty.png" in msg and "empty" in msg.split(":", 1)[1]


def test_empty_bytes() -> None:
    assert "empty" in _error(b"")


def test_not_an_image(tmp_path: Path) -> None:
    path = tmp_path / "notes.png"
    path.write_text("just some text, not a picture\n" * 10)
    msg = _error(path)
    assert "notes.png" in msg and "not a recognised image format" in msg


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_truncated(tmp_path: Path, fmt: str) -> None:
    buf = io.BytesIO()
    _noise().save(buf, fmt)
    data = buf.getvalue()
    path = tmp_path / f"cut.{fmt.lower()}"
    path.write_bytes(data[: len(data) // 2])
    msg = _error(path)
    assert f"cut.{fmt.lower()}" in msg and "truncated" in msg


def test_truncated_header() -> None:
    buf = io.BytesIO()
    _noise().save(buf, "PNG")
    assert "truncated" in _error(buf.getvalue()[:30])


def test_too_small(tmp_path: Path) -> None:
    path = _save(Image.new("RGB", (1, 1), (255, 0, 0)), tmp_path / "dot.png", "PNG")
    msg = _error(path)
    assert "dot.png" in msg and "image is 1x1 pixels; need at least 8x8" in msg
    # min_side is the caller's to set.
    assert load_image(path, min_side=1).size == (1, 1)
    assert "need at least 9x9" in _error(_save(Image.new("RGB", (20, 8)), tmp_path / "thin.png", "PNG"), min_side=9)


def test_too_many_pixels_low_limit(tmp_path: Path) -> None:
    path = _save(Image.new("RGB", (64, 64)), tmp_path / "big.png", "PNG")
    msg = _error(path, max_pixels=100)
    assert "big.png" in msg and "64x64" in msg and "max_pixels=100" in msg


def test_bomb_header_checked_before_decoding(tmp_path: Path) -> None:
    # 5000x5000 is under Pillow's own limit but over our default 16 MP. The IDAT is empty, so any attempt to decode
    # would fail as "truncated": the size message proves the check came first.
    path = tmp_path / "wide.png"
    path.write_bytes(_raw_png(5000, 5000, 1, 0, zlib.compress(b"")))
    msg = _error(path)
    assert "wide.png" in msg and "5000x5000" in msg and "max_pixels=16,000,000" in msg


def test_real_decompression_bomb(tmp_path: Path) -> None:
    # A real, valid 20000x20000 1-bit PNG (400 MP of zeros, ~50 KB on disk) with the default limits.
    side = 20_000
    comp = zlib.compressobj(9)
    row = b"\x00" * (1 + side // 8)
    idat = b"".join(comp.compress(row) for _ in range(side)) + comp.flush()
    path = tmp_path / "bomb.png"
    path.write_bytes(_raw_png(side, side, 1, 0, idat))
    assert path.stat().st_size < 200_000
    start = time.perf_counter()
    for kw in ({}, {"max_pixels": 10**10}):  # also when our own limit would allow it: Pillow's refusal is converted
        msg = _error(path, **kw)
        assert "bomb.png" in msg and ("decompression bomb" in msg or "max_pixels" in msg) and "downscale" in msg
    assert time.perf_counter() - start < 1.0  # nothing was decoded


def test_max_bytes(tmp_path: Path) -> None:
    path = _save(_noise(), tmp_path / "heavy.png", "PNG")
    msg = _error(path, max_bytes=100)
    assert "heavy.png" in msg and "max_bytes=100" in msg
    assert "max_bytes=100" in _error(path.read_bytes(), max_bytes=100)
    assert load_image(path, max_bytes=path.stat().st_size).size == (64, 48)


def test_wrong_type_is_a_type_error() -> None:
    with pytest.raises(TypeError):
        load_image(12345)  # type: ignore[arg-type]


# -- base64 ----------------------------------------------------------------------------------------------------------


def _b64_png() -> str:
    return base64.b64encode(encode_png(Image.new("RGB", (9, 9), (10, 200, 30)))).decode()


def test_base64_roundtrip_and_data_url() -> None:
    text = _b64_png()
    assert decode_base64_image(text).getpixel((4, 4)) == (10, 200, 30)
    assert decode_base64_image("data:image/png;base64," + text).size == (9, 9)
    assert decode_base64_image(text.encode()).size == (9, 9)
    # MIME-style line breaks are not data and are ignored.
    wrapped = "\n".join(text[i : i + 20] for i in range(0, len(text), 20))
    assert decode_base64_image(wrapped).size == (9, 9)


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("abc$def", "not valid base64"),
        ("YWJj" + "=" * 3, "not valid base64"),  # bad padding
        (_b64_png()[:-2], "not valid base64"),  # padding cut off
        ("", "empty"),
        ("data:text/plain;base64,aGVsbG8=", "media type 'text/plain'"),
        ("data:image/png,rawdata", "not base64-encoded"),
        ("data:nonsense", "malformed data URL"),
        (base64.b64encode(b"plain text").decode(), "not a recognised image format"),
    ],
)
def test_base64_errors(text: str, needle: str) -> None:
    with pytest.raises(ImageInputError) as info:
        decode_base64_image(text)
    assert str(info.value).startswith("base64 image:") and needle in str(info.value)


def test_base64_max_bytes() -> None:
    with pytest.raises(ImageInputError, match="max_bytes=10"):
        decode_base64_image(_b64_png(), max_bytes=10)


# -- valid odd formats ---------------------------------------------------------------------------------------------


def _load_saved(img: Image.Image, tmp_path: Path, name: str, fmt: str, **kw: object) -> Image.Image:
    out = load_image(_save(img, tmp_path / name, fmt, **kw))
    assert out.mode == "RGB" and out.size == img.size
    return out


def test_rgba_composited_on_white(tmp_path: Path) -> None:
    arr = np.zeros((10, 12, 4), dtype=np.uint8)
    arr[..., 0] = 255
    arr[:, :6, 3] = 255  # left half opaque red, right half fully transparent
    arr[0, 0, 3] = 128  # one half-transparent red pixel
    out = _load_saved(Image.fromarray(arr, "RGBA"), tmp_path, "a.png", "PNG")
    assert out.getpixel((3, 5)) == (255, 0, 0)
    assert out.getpixel((9, 5)) == (255, 255, 255)
    r, g, b = out.getpixel((0, 0))  # type: ignore[misc]
    assert r == 255 and 120 <= g <= 135 and g == b


@pytest.mark.parametrize("mode", ["L", "LA", "1"])
def test_greyscale_modes(tmp_path: Path, mode: str) -> None:
    img = Image.new(mode, (10, 9), 0 if mode != "LA" else (0, 255))
    assert _load_saved(img, tmp_path, f"{mode}.png", "PNG").getpixel((2, 2)) == (0, 0, 0)


def test_16_bit_greyscale_png_is_scaled_not_clipped(tmp_path: Path) -> None:
    arr = np.full((10, 12), 65535, dtype=np.uint16)
    arr[0, 0] = 32896  # 128 * 257
    arr[0, 1] = 0
    out = _load_saved(Image.fromarray(arr), tmp_path, "grey16.png", "PNG")
    assert out.getpixel((0, 0)) == (128, 128, 128)
    assert out.getpixel((1, 0)) == (0, 0, 0)
    assert out.getpixel((5, 5)) == (255, 255, 255)


def test_16_bit_rgb_png(tmp_path: Path) -> None:
    w, h = 9, 8
    row = b"\x00" + struct.pack(">HHH", 65535, 0, 32896) * w
    path = tmp_path / "rgb48.png"
    path.write_bytes(_raw_png(w, h, 16, 2, zlib.compress(row * h)))
    out = load_image(path)
    assert out.mode == "RGB" and out.size == (w, h) and out.getpixel((3, 3)) == (255, 0, 128)


def test_palette_with_transparency(tmp_path: Path) -> None:
    img = Image.new("P", (10, 10), 0)
    img.putpalette([255, 0, 0, 0, 0, 255] + [0] * 762)
    img.paste(1, (5, 0, 10, 10))
    for name, fmt in (("p.png", "PNG"), ("p.gif", "GIF")):
        out = _load_saved(img, tmp_path, name, fmt, transparency=0)
        assert out.getpixel((1, 1)) == (255, 255, 255)  # index 0 is transparent: white
        assert out.getpixel((7, 1)) == (0, 0, 255)
    assert _load_saved(img, tmp_path, "opaque.png", "PNG").getpixel((1, 1)) == (255, 0, 0)


@pytest.mark.parametrize("fmt", ["JPEG", "TIFF"])
def test_cmyk(tmp_path: Path, fmt: str) -> None:
    img = Image.new("CMYK", (16, 16), (0, 255, 255, 0))  # red
    r, g, b = _load_saved(img, tmp_path, f"cmyk.{fmt.lower()}", fmt).getpixel((8, 8))  # type: ignore[misc]
    assert r > 230 and g < 25 and b < 25


@pytest.mark.parametrize("fmt", ["JPEG", "BMP", "TIFF"])
def test_plain_formats(tmp_path: Path, fmt: str) -> None:
    r, g, b = _load_saved(Image.new("RGB", (20, 10), (0, 128, 0)), tmp_path, f"x.{fmt.lower()}", fmt).getpixel((5, 5))  # type: ignore[misc]
    assert abs(r) < 8 and abs(g - 128) < 8 and b < 8


def test_animated_gif_gives_first_frame(tmp_path: Path) -> None:
    frames = [Image.new("RGB", (12, 12), c) for c in ((255, 0, 0), (0, 0, 255))]
    path = tmp_path / "anim.gif"
    frames[0].save(path, "GIF", save_all=True, append_images=frames[1:])
    assert load_image(path).getpixel((6, 6)) == (255, 0, 0)


@pytest.mark.skipif(not features.check("webp"), reason="this Pillow has no WebP support")
def test_webp(tmp_path: Path) -> None:
    out = _load_saved(Image.new("RGBA", (12, 10), (0, 0, 0, 0)), tmp_path, "x.webp", "WEBP", lossless=True)
    assert out.getpixel((3, 3)) == (255, 255, 255)


def test_exif_orientation_applied(tmp_path: Path) -> None:
    img = Image.new("RGB", (30, 10), (0, 0, 200))
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    out = load_image(_save(img, tmp_path / "rot.jpg", "JPEG", exif=exif.tobytes()))
    assert out.size == (10, 30)


def test_bytes_and_path_agree(tmp_path: Path) -> None:
    path = _save(_noise(), tmp_path / "n.png", "PNG")
    a, b = load_image(path), load_image(path.read_bytes())
    assert np.array_equal(np.asarray(a), np.asarray(b))
    assert np.array_equal(np.asarray(load_image(encode_png(a))), np.asarray(a))
    assert load_image(str(path)).size == (64, 48)


def test_returned_image_is_detached_from_the_file(tmp_path: Path) -> None:
    path = _save(_noise(), tmp_path / "d.png", "PNG")
    img = load_image(path)
    path.unlink()
    assert img.getpixel((0, 0)) is not None
