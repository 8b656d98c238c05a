"""Perception: pixels -> objects (shape, colour, size, position), by image analysis alone.

`perceive` never sees the scene that made the image; it reads pixels with numpy, scipy and scikit-image. The Canvas
verifier answers its checklist from this, and the language-model agents read `describe(perceive(image))`.

How it works, and why each step is the way it is:

1. **Background.** Objects keep a margin from the border (`vocab.BORDER_MARGIN`), so the most common colour on the
   image border is the background; its name is the nearest named background.
2. **Foreground.** Every object colour is saturated or dark and every background is light, so an object pixel is far
   (in RGB) from the background. Anti-aliased edge pixels are blends ``b + a (c - b)`` of background ``b`` and object
   colour ``c`` with coverage ``a``; a distance threshold keeps the pixels with enough coverage.
3. **Objects.** 8-connected components of the foreground (`skimage.measure.label`). Objects never come closer than
   `vocab.MIN_GAP` (about 4 px at 128 px), so two objects never share a component; blobs whose total coverage is far
   below the smallest object's area are noise (counted in `Perception.spurious`; JPEG ringing lands here). If an
   edit did make two objects of different colours touch, the blob is split by colour (see `_analyse_blob`).
4. **Colour.** The palette colour whose background-to-colour segment best explains the blob's pixels (smallest mean
   distance of each pixel to the segment). Unlike the median of interior pixels this uses the anti-aliased edge too,
   which matters for small stars whose arms have almost no interior.
5. **Coverage.** Knowing ``b`` and ``c``, each pixel's coverage is its projection onto the segment. Summing coverage
   gives sub-pixel area and centroid. Every shape is a regular polygon (or star, or circle) so its area centroid *is*
   its circumcentre: the centroid is the centre, with no per-shape correction.
6. **Shape and size.** The coverage patch is compared (L1) with the exact coverage of each of the 6 shapes x 3 sizes
   drawn at that centre the way the renderer draws them (Pillow polygon at 4x, box-filtered); the closest candidate
   wins. Templates are cached by image width and quarter-pixel offset, so after warm-up a match is one vectorised
   subtraction. This is robust where hand-made features (corner counts, solidity) wobble at a 7 px radius. When no
   named scale fits (a padded, cropped or rescaled image), each shape is also fitted at the radius its area implies
   and the size is the nearest named one.

Triangles and stars need no centroid correction: both are regular (rotationally symmetric) figures, whose area
centroid is their circumcentre. Only their *bounding-box* centre is off (a triangle pointing up has its circumcentre
at y0 + r, not at the middle of its box), which is why the centre comes from coverage, not from the box.

Accuracy (`benchmarks/perception.py`, 2,000 random scenes): every object right at 128 and 256 px, also after a
JPEG round trip at quality 95; exact from 64 px up. Below ~64 px small objects blur into their neighbours.

Images wider than `_MAX_WORK_WIDTH` are box-downscaled first: perception at ~256 px is already exact, and the cost of
labelling and templates then stays bounded.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageDraw
from scipy import ndimage
from scipy.optimize import linear_sum_assignment
from skimage.measure import label as _label

from envs.canvas.render import STAR_INNER_RATIO, shape_polygon
from envs.canvas.vocab import BACKGROUNDS, COLORS, SHAPES, SIZE_ORDER, SIZES, region_of

__all__ = [
    "PerceivedObject",
    "Perception",
    "PerceptionScore",
    "compare_to_scene",
    "describe",
    "described_objects",
    "perceive",
]

#: Smallest image side `perceive` accepts; the renderer's own minimum.
MIN_SIDE = 16

#: RGB distance from the background above which a pixel belongs to an object. The closest object/background pair
#: (pink on light gray) is ~120 apart, so 48 keeps pixels with >= 40% coverage (the coverage of fainter edge pixels
#: is still counted, see `_fit_object`), and it stays above JPEG ringing: at quality 85 a threshold of 24 let
#: through ~2 noise blobs per image, 48 none.
_FG_THRESHOLD = 48.0

#: A blob whose summed coverage is below this fraction of the smallest object's area is noise. The smallest object
#: (a small triangle) covers 1.3 r^2; JPEG ringing or stray pixels cover a few pixels.
_MIN_AREA_FRACTION = 0.35

#: Wider images are box-downscaled to `_WORK_WIDTH` before analysis (see module docstring).
_MAX_WORK_WIDTH = 384
_WORK_WIDTH = 256

#: Supersampling used for templates; equals the renderer's default so that templates reproduce it exactly.
_SUPERSAMPLE = 4

_BG_NAMES: tuple[str, ...] = tuple(BACKGROUNDS)
_BG_RGB: NDArray[np.float32] = np.array([BACKGROUNDS[n] for n in _BG_NAMES], dtype=np.float32)
_COLOR_NAMES: tuple[str, ...] = tuple(COLORS)
_COLOR_RGB: NDArray[np.float32] = np.array([COLORS[n] for n in _COLOR_NAMES], dtype=np.float32)
#: Candidate (shape, size) pairs, in the order of the template stack.
_CANDIDATES: tuple[tuple[str, str], ...] = tuple((s, z) for s in SHAPES for z in SIZE_ORDER)
#: Area of each shape with circumradius 1 (the star's inner radius is `render.STAR_INNER_RATIO`).
_AREA_FACTOR: dict[str, float] = {
    "circle": math.pi,
    "square": 2.0,
    "diamond": 2.0,
    "triangle": 3 * math.sqrt(3) / 4,
    "hexagon": 3 * math.sqrt(3) / 2,
    "star": 5 * STAR_INNER_RATIO * math.sin(math.radians(36)),
}
_SMALLEST_AREA_FACTOR = min(_AREA_FACTOR.values())
#: Template radii are quantised to steps of 1.5% (log scale): fine enough that the template fits, coarse enough that
#: the template cache stays small.
_RADIUS_STEP = 0.015
#: The scale-free fit is tried when the best named candidate leaves more than this fraction of the area unexplained
#: (clean Canvas renders: under 0.11 at 128 px, under 0.06 at 256 px; it is cheap, so the gate is low) ...
_FIT_TOLERANCE = 0.02
#: ... and wins only when its error is below this fraction of the named fit's: the named scales are a strong prior
#: (at 5 px radius a small circle and a small hexagon differ by a fraction of a pixel, but not in area). On Canvas
#: images, clean or JPEG, the scale-free fit is rarely below half the named fit's error (and then, at 256 px, names
#: the same shape and size); on rescaled images it is typically below 0.15 of it.
_RESCALED_GAIN = 0.5


@dataclass(frozen=True)
class PerceivedObject:
    """One object seen in an image.

    `x`, `y` are the centre as fractions of the width and height (the same convention as scene objects); `bbox` is
    ``(x0, y0, x1, y1)`` of the fitted shape, also as fractions of the width and height.
    """

    shape: str
    color: str
    size: str
    x: float
    y: float
    bbox: tuple[float, float, float, float]

    @property
    def region(self) -> str:
        """Name of the 3x3-grid region that holds the centre."""
        return region_of(self.x, self.y)

    def to_dict(self) -> dict[str, Any]:
        """JSON form: the scene object's keys (less the id) plus the bbox.

        >>> PerceivedObject("star", "red", "small", 0.25, 0.5, (0.2, 0.45, 0.3, 0.55)).to_dict()
        {'shape': 'star', 'color': 'red', 'size': 'small', 'x': 0.25, 'y': 0.5, 'bbox': [0.2, 0.45, 0.3, 0.55]}
        """
        return {
            "shape": self.shape,
            "color": self.color,
            "size": self.size,
            "x": round(self.x, 4),
            "y": round(self.y, 4),
            "bbox": [round(v, 4) for v in self.bbox],
        }


@dataclass(frozen=True)
class Perception:
    """What `perceive` saw: the background's name, the objects, and how many blobs were rejected as noise."""

    background: str
    objects: tuple[PerceivedObject, ...] = field(default_factory=tuple)
    spurious: int = 0

    def to_dict(self) -> dict[str, Any]:
        """JSON form.

        >>> Perception("white").to_dict()
        {'background': 'white', 'objects': [], 'spurious': 0}
        """
        return {"background": self.background, "objects": [o.to_dict() for o in self.objects], "spurious": self.spurious}


# ---------------------------------------------------------------------------------------------------------------
# perceive
# ---------------------------------------------------------------------------------------------------------------


#: Most blobs analysed in one image (the largest ones); see `perceive`.
_MAX_BLOBS = 24


def perceive(image: Image.Image | NDArray[np.uint8]) -> Perception:
    """Find the background and every object in `image` (a PIL image or an RGB uint8 array of shape H x W x 3).

    Any size of at least 16 px a side is accepted, square or not (results are exact from 64 px up); sizes are
    judged against the width, as in the scene, and x, y are fractions of the width and height. Objects come
    sorted top to bottom, then left to right. Raises ValueError (or TypeError) for input that is not an image.

    >>> from envs.canvas.render import render
    >>> from envs.canvas.scene import CanvasObject, Scene
    >>> scene = Scene("cream", (CanvasObject("star", "blue", "large", 0.5, 0.5), CanvasObject("circle", "red", "small", 0.15, 0.2)))
    >>> p = perceive(render(scene))
    >>> p.background, [(o.size, o.color, o.shape, round(o.x, 2), round(o.y, 2)) for o in p.objects]
    ('cream', [('small', 'red', 'circle', 0.15, 0.2), ('large', 'blue', 'star', 0.5, 0.5)])
    """
    rgb = _as_rgb_array(image)
    orig_h, orig_w = rgb.shape[:2]
    if orig_w > _MAX_WORK_WIDTH:
        # Box filtering averages coverage exactly like the renderer's own anti-aliasing, so a downscaled render is
        # (up to rounding) the render at the smaller size. Fractions are unchanged because the aspect is kept.
        work_h = max(MIN_SIDE, round(orig_h * _WORK_WIDTH / orig_w))
        rgb = np.asarray(Image.fromarray(rgb).resize((_WORK_WIDTH, work_h), Image.Resampling.BOX))
    h, w = rgb.shape[:2]

    bg_rgb = _border_mode(rgb)
    background = _BG_NAMES[int(np.argmin(((_BG_RGB - bg_rgb) ** 2).sum(axis=1)))]

    # Image minus background, with the background tiled along each row: numpy broadcasts a length-3 vector over
    # the last axis several times slower than a full row (this and the sum below were half the run time).
    diff = (rgb.reshape(h, w * 3).astype(np.float32) - np.tile(bg_rgb, w)).reshape(h, w, 3)
    sq = diff * diff
    fg = (sq[..., 0] + sq[..., 1] + sq[..., 2]) > _FG_THRESHOLD**2
    labels = _label(fg, connectivity=2)
    if labels.max() == 0:
        return Perception(background, (), 0)

    dirs = _COLOR_RGB - bg_rgb
    min_area = _MIN_AREA_FRACTION * _SMALLEST_AREA_FACTOR * (SIZES[SIZE_ORDER[0]] * w) ** 2
    # A blob's coverage is at most its pixel count plus 0.4 (the threshold's coverage) for each of the <= 8 ring
    # pixels per blob pixel, so under 4.2x its pixel count: blobs of fewer than min_area / 5 pixels are noise without
    # a closer look, which keeps speckled images fast.
    counts = np.bincount(labels.ravel())
    candidates = np.flatnonzero(counts[1:] * 5 >= min_area) + 1
    spurious = int(labels.max()) - len(candidates)
    if len(candidates) > _MAX_BLOBS:
        # A Canvas image holds at most 6 objects; thousands of blobs mean noise or a photograph. Looking closer
        # at only the largest few keeps perception's cost bounded on any input (a served request must not spend
        # seconds here); the rest count as spurious.
        keep = candidates[np.argsort(counts[candidates], kind="stable")[::-1][:_MAX_BLOBS]]
        spurious += len(candidates) - len(keep)
        candidates = np.sort(keep)
    slices = ndimage.find_objects(labels)
    objects: list[PerceivedObject] = []
    for k in candidates:
        sl = slices[k - 1]
        for obj in _analyse_blob(diff, labels, int(k), sl, dirs, w, h, min_area):
            if obj is None:
                spurious += 1
            else:
                objects.append(obj)
    objects.sort(key=lambda o: (round(o.y, 2), round(o.x, 2)))
    return Perception(background, tuple(objects), spurious)


def _as_rgb_array(image: Image.Image | NDArray[np.uint8]) -> NDArray[np.uint8]:
    if isinstance(image, Image.Image):
        if image.mode != "RGB":
            # Alpha, palettes and odd modes are `envs.image_io.load_image`'s business; here a plain conversion.
            image = image.convert("RGB")
        arr = np.asarray(image)
    elif isinstance(image, np.ndarray):
        arr = image
        if arr.ndim != 3 or arr.shape[2] != 3:
            raise ValueError(f"perceive needs an H x W x 3 RGB array, got shape {arr.shape}; drop alpha or convert first")
        if arr.dtype != np.uint8:
            raise ValueError(f"perceive needs a uint8 array, got {arr.dtype}; scale to 0..255 and cast to uint8")
    else:
        raise TypeError(f"perceive needs a PIL image or a numpy array, got {type(image).__name__}")
    if min(arr.shape[:2]) < MIN_SIDE:
        raise ValueError(f"image is {arr.shape[1]}x{arr.shape[0]} pixels; perceive needs at least {MIN_SIDE}x{MIN_SIDE}")
    return np.ascontiguousarray(arr)


def _border_mode(rgb: NDArray[np.uint8]) -> NDArray[np.float32]:
    """Most common colour on the 1-pixel border (exact for renders; the mode survives JPEG's flat-area coding)."""
    border = np.concatenate([rgb[0], rgb[-1], rgb[1:-1, 0], rgb[1:-1, -1]]).astype(np.int32)
    packed = (border[:, 0] << 16) | (border[:, 1] << 8) | border[:, 2]
    values, counts = np.unique(packed, return_counts=True)
    v = int(values[np.argmax(counts)])
    return np.array([(v >> 16) & 255, (v >> 8) & 255, v & 255], dtype=np.float32)


_DILATE = np.ones((3, 3), dtype=bool)
#: A pixel is "solid" when the colour that explains it best covers it at least this much, and explains it to within
#: this RGB distance; only solid pixels vote on whether a blob holds several colours (edge blends, and JPEG's chroma
#: bleeding at edges, are ambiguous between colours).
_SOLID_COVERAGE = 0.8
_SOLID_RESIDUAL = 20.0
#: A second colour must hold this share of a blob's solid pixels (and half the smallest object's area) before the
#: blob is split: JPEG noise or a few odd pixels do not split an object.
_SPLIT_SHARE = 0.1


def _analyse_blob(
    diff: NDArray[np.float32],
    labels: NDArray[np.integer[Any]],
    k: int,
    sl: tuple[slice, slice],
    dirs: NDArray[np.float32],
    w: int,
    h: int,
    min_area: float,
) -> list[PerceivedObject | None]:
    """The object(s) in component `k` (bounding slices `sl`); None for each part that is noise.

    Normally one object. Two objects of different colours that touch (an edit that broke the gap rule) share a
    component; they are split by colour rather than reported as one odd shape.
    `diff` is the image minus the background colour; `dirs[i]` is palette colour i minus the background.
    """
    # One pixel of margin: the dilation in `_fit_object` picks up edge pixels whose coverage fell under threshold.
    y0, y1 = max(sl[0].start - 1, 0), min(sl[0].stop + 1, h)
    x0, x1 = max(sl[1].start - 1, 0), min(sl[1].stop + 1, w)
    lab = labels[y0:y1, x0:x1]
    own = lab == k
    # Pixels of another component are never within one pixel of ours (MIN_GAP), but keep them out of our coverage
    # anyway, so a scene that breaks the gap rule degrades rather than mixes two objects.
    blocked = (lab != 0) & ~own
    d = diff[y0:y1, x0:x1]

    # Colour (module docstring, step 4): distance of each pixel to each background->colour segment.
    pix = d[own]  # (n, 3)
    norm2 = (dirs * dirs).sum(axis=1)  # (9,)
    dots = pix @ dirs.T  # (n, 9)
    t = np.clip(dots / norm2, 0.0, 1.0)  # coverage if the blob had colour i
    # |p - t d|^2 expanded, so no (n, 9, 3) temporary is built.
    resid = np.sqrt(np.maximum((pix * pix).sum(axis=1)[:, None] - 2.0 * t * dots + t * t * norm2, 0.0))
    ci = int(np.argmin(resid.mean(axis=0)))

    # More than one colour among the solid (high-coverage) pixels means touching objects. Blends along the seam
    # between two objects are neither colour; they are dropped, and show up at most as small rejected parts.
    per_pixel = np.argmin(resid, axis=1)
    rows = np.arange(len(pix))
    solid = (t[rows, per_pixel] > _SOLID_COVERAGE) & (resid[rows, per_pixel] < _SOLID_RESIDUAL)
    shares = np.bincount(per_pixel[solid], minlength=len(dirs))
    major = np.flatnonzero(shares >= max(_SPLIT_SHARE * int(solid.sum()), min_area / 2))
    if len(major) <= 1:
        return [_fit_object(d, own, blocked, ci, dirs, norm2, x0, y0, w, h, min_area)]
    results: list[PerceivedObject | None] = []
    assigned = np.zeros_like(own)
    for c in major:
        assigned[own] = per_pixel == c
        parts, n_parts = _label(assigned, connectivity=2, return_num=True)
        sizes = np.bincount(parts.ravel())
        # Specks left by the split are noise without a closer look (same bound as in `perceive`), and at most the
        # _MAX_BLOBS largest parts are fitted, so a noisy image cannot cost a fit per pixel cluster.
        big = np.flatnonzero(sizes[1:] * 5 >= min_area) + 1
        big = big[np.argsort(sizes[big], kind="stable")[::-1][:_MAX_BLOBS]]
        results.extend([None] * (n_parts - len(big)))
        for j in sorted(big):
            part = parts == j
            results.append(_fit_object(d, part, blocked | (own & ~part), int(c), dirs, norm2, x0, y0, w, h, min_area))
    return results


def _fit_object(
    d: NDArray[np.float32],
    mask: NDArray[np.bool_],
    blocked: NDArray[np.bool_],
    ci: int,
    dirs: NDArray[np.float32],
    norm2: NDArray[np.float32],
    x0: int,
    y0: int,
    w: int,
    h: int,
    min_area: float,
) -> PerceivedObject | None:
    """Centre, shape and size of the object of colour `ci` whose above-threshold pixels are `mask` (in a crop whose
    top-left pixel is (x0, y0)), or None when its coverage is too small to be an object."""
    # Coverage of every pixel near the blob under the chosen colour (step 5).
    region = ndimage.binary_dilation(mask, _DILATE) & ~blocked
    alpha = np.clip(d @ dirs[ci] / norm2[ci], 0.0, 1.0) * region
    area = float(alpha.sum())
    if area < min_area:
        return None
    ys, xs = np.indices(alpha.shape, dtype=np.float32)
    # Pixel (i, j) covers [j, j+1) x [i, i+1) in the scene's coordinates, so its centre is at j + 0.5.
    cx = float((alpha * xs).sum()) / area + x0 + 0.5
    cy = float((alpha * ys).sum()) / area + y0 + 0.5

    # Shape and size (step 6). First the 18 named candidates, exact for images at the Canvas's own scale.
    qx, qy = round(cx * _SUPERSAMPLE), round(cy * _SUPERSAMPLE)
    ix, fx = divmod(qx, _SUPERSAMPLE)
    iy, fy = divmod(qy, _SUPERSAMPLE)
    templates, half = _templates(w, fx, fy)
    win = _window(alpha, x0, y0, ix - half, iy - half, templates.shape[1])
    errors = np.abs(templates - win).sum(axis=(1, 2)) + (area - float(win.sum()))
    best = int(np.argmin(errors))
    shape, size = _CANDIDATES[best]
    r = SIZES[size] * w
    if errors[best] > _FIT_TOLERANCE * area:
        # Perhaps the blob is at none of the named scales (a padded, cropped or rescaled image): fit each shape at
        # the radius its area implies, and take that only when clearly better (see _RESCALED_GAIN).
        best_err = math.inf
        free_shape, free_r = shape, r
        for s in SHAPES:
            rbin = round(math.log(math.sqrt(area / _AREA_FACTOR[s])) / _RADIUS_STEP)
            template, half = _template(s, rbin, fx, fy)
            win = _window(alpha, x0, y0, ix - half, iy - half, template.shape[0])
            err = float(np.abs(template - win).sum()) + (area - float(win.sum()))
            if err < best_err:
                best_err, free_shape, free_r = err, s, math.exp(rbin * _RADIUS_STEP)
        if best_err < _RESCALED_GAIN * float(errors[best]):
            shape, r = free_shape, free_r
            # Sizes are spaced geometrically (~1.4x apart), so compare log-radii.
            size = min(SIZES, key=lambda z: abs(math.log(r / (SIZES[z] * w))))

    if shape == "circle":
        bx0, by0, bx1, by1 = cx - r, cy - r, cx + r, cy + r
    else:
        pts = np.array(shape_polygon(shape, cx, cy, r))
        bx0, by0 = pts.min(axis=0)
        bx1, by1 = pts.max(axis=0)
    bbox = (_clip01(bx0 / w), _clip01(by0 / h), _clip01(bx1 / w), _clip01(by1 / h))
    return PerceivedObject(shape, _COLOR_NAMES[ci], size, _clip01(cx / w), _clip01(cy / h), bbox)


def _clip01(v: float) -> float:
    return float(min(max(v, 0.0), 1.0))


def _window(alpha: NDArray[np.float32], ax0: int, ay0: int, wx0: int, wy0: int, size: int) -> NDArray[np.float32]:
    """The part of `alpha` (whose top-left pixel is (ax0, ay0) in the image) that falls in the size x size window
    whose top-left pixel is (wx0, wy0); zeros elsewhere."""
    out = np.zeros((size, size), dtype=np.float32)
    # Overlap in image coordinates.
    ox0, oy0 = max(ax0, wx0), max(ay0, wy0)
    ox1, oy1 = min(ax0 + alpha.shape[1], wx0 + size), min(ay0 + alpha.shape[0], wy0 + size)
    if ox1 > ox0 and oy1 > oy0:
        out[oy0 - wy0 : oy1 - wy0, ox0 - wx0 : ox1 - wx0] = alpha[oy0 - ay0 : oy1 - ay0, ox0 - ax0 : ox1 - ax0]
    return out


@lru_cache(maxsize=256)
def _templates(width: int, fx: int, fy: int) -> tuple[NDArray[np.float32], int]:
    """Coverage of each of the 18 candidates in a square window, drawn exactly as `render` draws them.

    The candidate's centre is at window pixel coordinates ``(half + fx/4, half + fy/4)``; returns the stack
    (18, side, side) and `half`. Cached by (width, quarter-pixel offset): 16 entries per image width.
    """
    ss = _SUPERSAMPLE
    half = math.ceil(max(SIZES.values()) * width) + 2
    side = 2 * half + 1
    cx, cy = (half + fx / ss) * ss, (half + fy / ss) * ss
    stack = np.empty((len(_CANDIDATES), side, side), dtype=np.float32)
    for i, (shape, size) in enumerate(_CANDIDATES):
        big = Image.new("L", (side * ss, side * ss), 0)
        draw = ImageDraw.Draw(big)
        r = SIZES[size] * width * ss
        if shape == "circle":
            draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=255)
        else:
            draw.polygon(shape_polygon(shape, cx, cy, r), fill=255)
        stack[i] = np.asarray(big.resize((side, side), Image.Resampling.BOX), dtype=np.float32) / 255.0
    stack.flags.writeable = False
    return stack, half


@lru_cache(maxsize=4096)
def _template(shape: str, rbin: int, fx: int, fy: int) -> tuple[NDArray[np.float32], int]:
    """Coverage of `shape` with radius ``exp(rbin * _RADIUS_STEP)`` px, drawn exactly as `render` draws it, in a
    square window whose pixel (half, half) holds the centre at quarter-pixel offset (fx/4, fy/4). Returns
    (window, half). Cached: on Canvas images radii fall in a few bins, so nearly every call is a cache hit."""
    ss = _SUPERSAMPLE
    r = math.exp(rbin * _RADIUS_STEP)
    half = math.ceil(r) + 2
    side = 2 * half + 1
    cx, cy, rs = (half + fx / ss) * ss, (half + fy / ss) * ss, r * ss
    big = Image.new("L", (side * ss, side * ss), 0)
    draw = ImageDraw.Draw(big)
    if shape == "circle":
        draw.ellipse([cx - rs, cy - rs, cx + rs, cy + rs], fill=255)
    else:
        draw.polygon(shape_polygon(shape, cx, cy, rs), fill=255)
    out = np.asarray(big.resize((side, side), Image.Resampling.BOX), dtype=np.float32) / 255.0
    out.flags.writeable = False
    return out, half


# ---------------------------------------------------------------------------------------------------------------
# text rendering for prompts
# ---------------------------------------------------------------------------------------------------------------


def describe(perception: Perception) -> str:
    """A compact, deterministic text rendering of `perception` for language-model prompts.

    Objects are listed top to bottom, then left to right (by coordinates rounded to 2 decimals, so that sub-pixel
    jitter does not reorder them), each with its region and centre.

    >>> p = Perception("cream", (
    ...     PerceivedObject("star", "blue", "large", 0.5, 0.471, (0.39, 0.36, 0.61, 0.56)),
    ...     PerceivedObject("circle", "red", "small", 0.15, 0.18, (0.1, 0.13, 0.2, 0.23)),
    ... ))
    >>> describe(p)
    'background: cream; objects: small red circle at top left (0.15, 0.18); large blue star at centre (0.50, 0.47)'
    >>> describe(Perception("white"))
    'background: white; objects: none'
    """
    ordered = sorted(perception.objects, key=lambda o: (round(o.y, 2), round(o.x, 2), o.shape, o.color, o.size))
    parts = [f"{o.size} {o.color} {o.shape} at {region_of(o.x, o.y)} ({o.x:.2f}, {o.y:.2f})" for o in ordered]
    return f"background: {perception.background}; objects: {'; '.join(parts) if parts else 'none'}"


#: One object of :func:`describe`'s text: "<size> <colour> <shape> at <region> (<x>, <y>)" (every vocabulary word
#: of size, colour and shape is one word).
_DESCRIBED_OBJECT = re.compile(r"(\w+ \w+ \w+) at ([a-z ]+?) \((\d\.\d\d), (\d\.\d\d)\)")


def described_objects(text: str) -> list[tuple[str, str, str, str]]:
    """:func:`describe` read back, for its objects: ``(size colour shape, region, x, y)`` of each, in its order,
    coordinates as written. Prompt builders that quote or compare a scene's objects read them here.

    >>> described_objects("background: cream; objects: small red circle at top left (0.15, 0.18); large blue star at centre (0.50, 0.47)")
    [('small red circle', 'top left', '0.15', '0.18'), ('large blue star', 'centre', '0.50', '0.47')]
    >>> described_objects("background: white; objects: none")
    []
    """
    return _DESCRIBED_OBJECT.findall(text)


# ---------------------------------------------------------------------------------------------------------------
# scoring against a known scene (benchmarks, tests, verifier calibration; perceive itself never sees the scene)
# ---------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PerceptionScore:
    """How one perception compares with the scene that made the image.

    True and perceived objects are paired one-to-one by centre distance (Hungarian assignment); pairs further apart
    than the gate are not paired. A paired object is `matched` when shape, colour and size agree and the centres are
    within the tolerance. `spurious` counts perceived objects paired with nothing, `missed` true objects paired with
    nothing; `rejected` is the perception's own count of blobs it dropped as noise.
    """

    objects: int
    matched: int
    shape_errors: int
    color_errors: int
    size_errors: int
    centre_errors: int
    spurious: int
    missed: int
    rejected: int
    background_ok: bool
    max_centre_error: float

    @property
    def perfect(self) -> bool:
        return self.matched == self.objects and self.spurious == 0 and self.background_ok


def compare_to_scene(perception: Perception, scene: Any, *, tol: float = 0.03, gate: float = 0.1) -> PerceptionScore:
    """Score `perception` against `scene` (an `envs.canvas.scene.Scene`, or anything with `.background` and
    `.objects` whose items have shape, color, size, x, y). `tol` and `gate` are fractions of the image side; the
    Canvas is square, so x and y distances are on the same scale.

    >>> from envs.canvas.render import render
    >>> from envs.canvas.scene import CanvasObject, Scene
    >>> scene = Scene("white", (CanvasObject("hexagon", "green", "medium", 0.3, 0.7),))
    >>> score = compare_to_scene(perceive(render(scene)), scene)
    >>> score.matched, score.spurious, score.missed, score.perfect
    (1, 0, 0, True)
    """
    truth = list(scene.objects)
    seen = list(perception.objects)
    pairs: list[tuple[int, int, float]] = []
    if truth and seen:
        cost = np.array([[math.hypot(t.x - s.x, t.y - s.y) for s in seen] for t in truth])
        rows, cols = linear_sum_assignment(cost)
        pairs = [(int(i), int(j), float(cost[i, j])) for i, j in zip(rows, cols) if cost[i, j] <= gate]
    shape_err = color_err = size_err = centre_err = matched = 0
    for i, j, dist in pairs:
        t, s = truth[i], seen[j]
        ok_shape, ok_color, ok_size, ok_centre = t.shape == s.shape, t.color == s.color, t.size == s.size, dist <= tol
        shape_err += not ok_shape
        color_err += not ok_color
        size_err += not ok_size
        centre_err += not ok_centre
        matched += ok_shape and ok_color and ok_size and ok_centre
    return PerceptionScore(
        objects=len(truth),
        matched=matched,
        shape_errors=shape_err,
        color_errors=color_err,
        size_errors=size_err,
        centre_errors=centre_err,
        spurious=len(seen) - len(pairs),
        missed=len(truth) - len(pairs),
        rejected=perception.spurious,
        background_ok=perception.background == scene.background,
        max_centre_error=max((d for _, _, d in pairs), default=0.0),
    )
