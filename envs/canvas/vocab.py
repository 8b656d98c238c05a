"""The Canvas world's closed vocabulary: shapes, colours, sizes, backgrounds, regions, actions.

Everything that names a thing in the world lives here, so the generator, the renderer, perception and the agents
agree on one spelling. Values are chosen so that perception can tell them apart at 128 px: colours are far apart in
RGB, sizes differ by at least 35% in radius, and backgrounds are light while every object colour is saturated or dark.
"""

from __future__ import annotations

from typing import Final

SHAPES: Final[tuple[str, ...]] = ("circle", "square", "triangle", "star", "hexagon", "diamond")

#: Corner (vertex) counts, used by the "attribute" reasoning category ("the shape with three corners").
SHAPE_CORNERS: Final[dict[str, int]] = {
    "circle": 0,
    "square": 4,
    "triangle": 3,
    "star": 10,
    "hexagon": 6,
    "diamond": 4,
}

COLORS: Final[dict[str, tuple[int, int, int]]] = {
    "red": (220, 38, 38),
    "orange": (245, 140, 20),
    "yellow": (235, 205, 25),
    "green": (34, 150, 60),
    "blue": (37, 90, 220),
    "purple": (130, 55, 185),
    "pink": (240, 110, 190),
    "brown": (125, 75, 35),
    "black": (25, 25, 25),
}

#: Circumradius as a fraction of the image width. Sizes differ by >= 35% so area alone separates them.
SIZES: Final[dict[str, float]] = {"small": 0.055, "medium": 0.08, "large": 0.11}

#: Size order, smallest first; used by "bigger"/"smaller" and superlatives.
SIZE_ORDER: Final[tuple[str, ...]] = ("small", "medium", "large")

BACKGROUNDS: Final[dict[str, tuple[int, int, int]]] = {
    "white": (255, 255, 255),
    "cream": (250, 240, 215),
    "light blue": (215, 232, 250),
    "light gray": (225, 225, 225),
}

#: Named regions: a 3x3 grid of the canvas. The anchor is where a "move to <region>" puts an object's centre.
#: Anchors are rounded to 4 decimals, the precision of the scene JSON, so that JSON round trips are exact.
REGIONS: Final[dict[str, tuple[float, float]]] = {
    "top left": (0.1667, 0.1667),
    "top": (0.5, 0.1667),
    "top right": (0.8333, 0.1667),
    "left": (0.1667, 0.5),
    "centre": (0.5, 0.5),
    "right": (0.8333, 0.5),
    "bottom left": (0.1667, 0.8333),
    "bottom": (0.5, 0.8333),
    "bottom right": (0.8333, 0.8333),
}

ACTIONS: Final[tuple[str, ...]] = ("add", "remove", "recolor", "move", "resize", "reshape", "background")

#: Minimum empty gap between two objects, as a fraction of the width, so that they never touch after anti-aliasing.
MIN_GAP: Final[float] = 0.03

#: Objects keep this margin from the canvas border (fraction of width).
BORDER_MARGIN: Final[float] = 0.02


def region_of(x: float, y: float) -> str:
    """Name of the 3x3-grid region that contains the point (x, y), both in 0..1.

    >>> region_of(0.1, 0.1), region_of(0.5, 0.5), region_of(0.9, 0.5)
    ('top left', 'centre', 'right')
    """
    col = min(int(x * 3), 2)
    row = min(int(y * 3), 2)
    vertical = ("top", "", "bottom")[row]
    horizontal = ("left", "", "right")[col]
    name = f"{vertical} {horizontal}".strip()
    return name or "centre"
