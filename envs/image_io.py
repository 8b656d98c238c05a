"""Loading images from files, bytes and base64 text into RGB, with errors that say what to change.

Used by the CLI (image paths) and the Serve endpoint (uploads and base64 JSON fields), so every bad input ends in one
exception type, `ImageInputError` (a `ValueError`), whose message names the source, the problem and the fix; never
a Pillow traceback.

Valid but unusual images are converted rather than refused: alpha is composited on white (how a viewer shows it),
16-bit and 32-bit greyscale are scaled to 8 bits (Pillow's own ``convert("RGB")`` would clip them to white), palettes
with transparency go through RGBA, CMYK through Pillow's conversion, animations give their first frame, and the EXIF
orientation is applied so that the pixels are the ones a person sees.

Safety: the header's width x height is checked against `max_pixels` *before* any pixel is decoded (Pillow parses
only the header in `Image.open`), so a small file that declares a huge image costs nothing. The whole image is then
decoded with `load()`, so truncated files fail here, not later inside perception. `ImageFile.LOAD_TRUNCATED_IMAGES`
is deliberately left alone.
"""

from __future__ import annotations

import base64
import binascii
import io
import os
import re
import warnings
from pathlib import Path
from typing import IO

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

__all__ = ["ImageInputError", "decode_base64_image", "encode_png", "load_image"]

#: Default pixel limit: 16 MP is a 4000x4000 photo; far above anything the Canvas needs, far below a memory problem.
DEFAULT_MAX_PIXELS = 16_000_000

_BYTES_NAME = "image bytes"
_BASE64_NAME = "base64 image"
_BASE64_STRICT = re.compile(r"^[A-Za-z0-9+/]*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$")
_DATA_URL = re.compile(r"^data:(?P<mime>[^;,]*)(?P<params>(;[^;,]*)*),", re.IGNORECASE)


class ImageInputError(ValueError):
    """An image could not be used; the message names the source, the problem and what to change."""


def load_image(
    source: str | os.PathLike[str] | bytes | bytearray | memoryview,
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    max_bytes: int | None = None,
    min_side: int = 8,
) -> Image.Image:
    """Load an image file (path) or encoded image (bytes) as a fully decoded RGB image.

    Raises `ImageInputError` for a missing path, a directory, an empty file, data that is not an image, a truncated
    image, an image smaller than `min_side` on either side, one with more than `max_pixels` pixels (checked from the
    header, before decoding), or a file larger than `max_bytes` (when given).

    >>> img = load_image(encode_png(Image.new("RGBA", (10, 8), (255, 0, 0, 0))))
    >>> img.mode, img.size, img.getpixel((0, 0))
    ('RGB', (10, 8), (255, 255, 255))
    >>> try:
    ...     load_image(b"hello")
    ... except ImageInputError as err:
    ...     print(err)
    image bytes: not a recognised image format (PNG, JPEG, BMP, GIF, WebP, TIFF, ...); pass an image file, not text or another kind of file
    """
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        _check_bytes(data, _BYTES_NAME, max_bytes)
        return _decode(io.BytesIO(data), _BYTES_NAME, max_pixels=max_pixels, min_side=min_side)
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        name = str(path)
        try:
            if not path.exists():
                raise ImageInputError(f"{name}: no such file; check the path (relative paths start at {Path.cwd()})")
            if path.is_dir():
                raise ImageInputError(f"{name}: is a directory; pass the path of an image file inside it")
            n_bytes = path.stat().st_size
            if n_bytes == 0:
                raise ImageInputError(f"{name}: file is empty (0 bytes); pass a complete image file")
            if max_bytes is not None and n_bytes > max_bytes:
                raise ImageInputError(
                    f"{name}: file is {n_bytes:,} bytes, more than max_bytes={max_bytes:,}; "
                    "compress or downscale the image, or raise max_bytes"
                )
            with path.open("rb") as fh:
                return _decode(fh, name, max_pixels=max_pixels, min_side=min_side)
        except ImageInputError:
            raise
        except (OSError, ValueError) as err:  # permission denied, a NUL in the path, a special file, ...
            raise ImageInputError(f"{name}: cannot read the file ({err}); check that it is a readable image file") from None
    raise TypeError(f"load_image needs a path or bytes, got {type(source).__name__}")


def decode_base64_image(
    text: str | bytes,
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    max_bytes: int | None = None,
    min_side: int = 8,
) -> Image.Image:
    """Decode a base64-encoded image (optionally a ``data:image/...;base64,`` URL) to RGB, as `load_image` does.

    Decoding is strict (standard alphabet, correct padding); whitespace such as MIME line breaks is ignored.
    `max_bytes` limits the decoded size and is checked before decoding.

    >>> png = base64.b64encode(encode_png(Image.new("RGB", (8, 8), (0, 0, 255)))).decode()
    >>> decode_base64_image("data:image/png;base64," + png).getpixel((3, 3))
    (0, 0, 255)
    >>> try:
    ...     decode_base64_image("not base64!")
    ... except ImageInputError as err:
    ...     print(str(err).split(";")[0])
    base64 image: not valid base64 (character '!' is not in the base64 alphabet)
    """
    name = _BASE64_NAME
    if isinstance(text, bytes):
        try:
            text = text.decode("ascii")
        except UnicodeDecodeError:
            raise ImageInputError(
                f"{name}: contains non-ASCII bytes; send base64 text, or pass raw image bytes to load_image"
            ) from None
    if not isinstance(text, str):
        raise TypeError(f"decode_base64_image needs str or bytes, got {type(text).__name__}")
    text = text.strip()
    match = _DATA_URL.match(text)
    if match:
        mime = match.group("mime").strip().lower()
        params = [p.strip().lower() for p in match.group("params").split(";") if p.strip()]
        if mime and not mime.startswith("image/"):
            raise ImageInputError(f"{name}: data URL has media type {mime!r}; send an image (data:image/png;base64,...)")
        if "base64" not in params:
            raise ImageInputError(f"{name}: data URL is not base64-encoded; use the form data:image/png;base64,<data>")
        text = text[match.end() :]
    elif text[:5].lower() == "data:":
        raise ImageInputError(f"{name}: malformed data URL; use the form data:image/png;base64,<data>")
    payload = "".join(text.split())  # drop MIME line breaks and stray spaces, which are not data
    if not payload:
        raise ImageInputError(f"{name}: is empty; send the image file's bytes base64-encoded")
    if max_bytes is not None and len(payload) // 4 * 3 > max_bytes + 2:
        raise ImageInputError(
            f"{name}: decodes to about {len(payload) // 4 * 3:,} bytes, more than max_bytes={max_bytes:,}; "
            "compress or downscale the image"
        )
    # binascii accepts surplus '=' ("YWJj===") even with validate=True; strict means the RFC 4648 form exactly.
    if len(payload) % 4 or not _BASE64_STRICT.match(payload):
        bad = next((c for c in payload if not (c.isascii() and (c.isalnum() or c in "+/="))), None)
        problem = (
            f"character {bad!r} is not in the base64 alphabet"
            if bad is not None
            else "wrong length or '=' padding (the text must be a multiple of 4 characters, '=' only at the end)"
        )
        raise ImageInputError(
            f"{name}: not valid base64 ({problem}); send the file's bytes base64-encoded with the standard alphabet "
            "(A-Z a-z 0-9 + /) and '=' padding, optionally after a 'data:image/png;base64,' prefix"
        )
    try:
        data = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError) as err:
        raise ImageInputError(
            f"{name}: not valid base64 ({err}); send the file's bytes base64-encoded with the standard alphabet "
            "(A-Z a-z 0-9 + /) and '=' padding, optionally after a 'data:image/png;base64,' prefix"
        ) from None
    _check_bytes(data, name, max_bytes)
    return _decode(io.BytesIO(data), name, max_pixels=max_pixels, min_side=min_side)


def encode_png(image: Image.Image | np.ndarray) -> bytes:
    """PNG bytes of `image` (a PIL image, or a uint8 array H x W or H x W x 3/4): lossless, so perception of the
    decoded image equals perception of the original.

    >>> encode_png(Image.new("RGB", (8, 8)))[:8]
    b'\\x89PNG\\r\\n\\x1a\\n'
    """
    if isinstance(image, np.ndarray):
        image = Image.fromarray(image)
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


# ---------------------------------------------------------------------------------------------------------------


def _check_bytes(data: bytes, name: str, max_bytes: int | None) -> None:
    if not data:
        raise ImageInputError(f"{name}: empty (0 bytes); send a complete image file")
    if max_bytes is not None and len(data) > max_bytes:
        raise ImageInputError(
            f"{name}: {len(data):,} bytes, more than max_bytes={max_bytes:,}; compress or downscale the image"
        )


def _decode(fh: IO[bytes], name: str, *, max_pixels: int, min_side: int) -> Image.Image:
    """Open (header only), check dimensions, fully decode and convert to RGB; every failure as ImageInputError."""
    with warnings.catch_warnings():
        # Pillow warns above its own limit (Image.MAX_IMAGE_PIXELS); our max_pixels check below is the one that
        # decides, with a message that says what to change. Its hard error (twice its limit) is caught below.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            img = Image.open(fh)
        except Image.DecompressionBombError as err:
            raise ImageInputError(_bomb_message(name, err, max_pixels)) from None
        except UnidentifiedImageError:
            fh.seek(0)
            kind = _sniff(fh.read(16))
            if kind:  # Pillow says only "cannot identify"; a known signature means the file was cut or damaged
                raise ImageInputError(
                    f"{name}: starts like a {kind} file but its header is truncated or corrupt; "
                    "re-download or re-export the complete file"
                ) from None
            raise ImageInputError(
                f"{name}: not a recognised image format (PNG, JPEG, BMP, GIF, WebP, TIFF, ...); "
                "pass an image file, not text or another kind of file"
            ) from None
        except Exception as err:  # noqa: BLE001 - Pillow's header parsers raise many types on corrupt input
            raise ImageInputError(
                f"{name}: image header is truncated or corrupt ({type(err).__name__}: {err}); "
                "re-download or re-export the complete file"
            ) from None

        with img:
            width, height = img.size
            if width * height > max_pixels:
                raise ImageInputError(
                    f"{name}: image is {width}x{height} = {width * height:,} pixels, more than "
                    f"max_pixels={max_pixels:,}; downscale it (or raise max_pixels if you trust the source)"
                )
            if width < min_side or height < min_side:
                raise ImageInputError(
                    f"{name}: image is {width}x{height} pixels; need at least {min_side}x{min_side}; "
                    "pass a larger image"
                )
            try:
                img.seek(0)  # first frame of an animation (GIF, APNG, WebP)
                img.load()  # decode everything now, so truncation shows up here
            except Image.DecompressionBombError as err:  # a later frame or tile that declares more
                raise ImageInputError(_bomb_message(name, err, max_pixels)) from None
            except (OSError, SyntaxError, EOFError, ValueError, IndexError, TypeError, KeyError, ZeroDivisionError) as err:
                # OSError "image file is truncated", SyntaxError "broken PNG file", zlib errors, bad tiles, ...
                raise ImageInputError(
                    f"{name}: image data is truncated or corrupt ({type(err).__name__}: {err}); "
                    "re-download or re-export the complete file"
                ) from None
            try:
                return _to_rgb(img)
            except ImageInputError:
                raise
            except Exception as err:  # noqa: BLE001 - exotic modes or EXIF data Pillow cannot convert
                raise ImageInputError(
                    f"{name}: cannot convert colour mode {img.mode!r} to RGB ({type(err).__name__}: {err}); "
                    "re-export the image as 8-bit RGB (PNG or JPEG)"
                ) from None


_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"\xff\xd8\xff", "JPEG"),
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
    (b"BM", "BMP"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
)


def _sniff(head: bytes) -> str | None:
    """The format whose magic number `head` starts with, if any."""
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WebP"
    return next((kind for magic, kind in _SIGNATURES if head.startswith(magic)), None)


def _bomb_message(name: str, err: Exception, max_pixels: int) -> str:
    # Pillow refuses by itself above twice Image.MAX_IMAGE_PIXELS, before we see the size; say so in our terms.
    pillow_limit = Image.MAX_IMAGE_PIXELS
    limit = max_pixels if pillow_limit is None else min(max_pixels, 2 * pillow_limit)
    return (
        f"{name}: image declares too many pixels to decode safely, a possible decompression bomb ({err}); "
        f"downscale it to at most {limit:,} pixels"
    )


def _to_rgb(img: Image.Image) -> Image.Image:
    """A new, file-independent RGB image with the pixels a viewer would show."""
    try:
        oriented = ImageOps.exif_transpose(img)
    except Exception:  # noqa: BLE001 - malformed EXIF: the pixels are still good, keep them as stored
        oriented = None
    img = oriented if oriented is not None else img
    mode = img.mode
    if mode.startswith("I") or mode == "F":
        return _wide_grey_to_rgb(img)
    has_alpha = mode in ("RGBA", "LA", "PA", "RGBa", "La") or (mode in ("P", "L", "RGB", "1") and "transparency" in img.info)
    if has_alpha:
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    if mode == "RGB":
        return img.copy()  # detach from the file object
    return img.convert("RGB")  # L, 1, P, CMYK, YCbCr, LAB, HSV, ...


def _wide_grey_to_rgb(img: Image.Image) -> Image.Image:
    """16-bit ("I;16*"), 32-bit ("I") and float ("F") greyscale to 8-bit RGB by scaling, not clipping."""
    arr = np.asarray(img).astype(np.float64)
    if img.mode.startswith("I;16"):
        scale = 65535.0
    elif img.mode == "F":
        # Float images are 0..1 by convention; anything larger is taken as 0..255.
        scale = 1.0 if float(arr.max(initial=0.0)) <= 1.0 else 255.0
    else:
        # "I" holds 16-bit PNGs on older Pillow and 8-bit data from some TIFFs: use the smallest range that fits.
        top = float(arr.max(initial=0.0))
        scale = 255.0 if top <= 255 else 65535.0 if top <= 65535 else top
    grey = np.clip(np.rint(arr * (255.0 / scale)), 0, 255).astype(np.uint8)
    return Image.fromarray(np.repeat(grey[:, :, None], 3, axis=2), "RGB")
