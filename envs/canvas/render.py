"""Rendering a scene to pixels, anti-aliased by supersampling.

Shapes are drawn at `supersample` times the target size and reduced with a box filter, which gives each edge pixel
the exact coverage fraction: that is the anti-aliasing, and it is deterministic.
"""

from __future__ import annotations

import math

from PIL import Image, ImageDraw

from envs.canvas.scene import CanvasObject, Scene
from envs.canvas.vocab import BACKGROUNDS, COLORS

DEFAULT_SIZE = 128

#: Star inner radius as a fraction of the outer radius; 0.5 keeps small stars recognisable at 128 px.
STAR_INNER_RATIO = 0.5


def shape_polygon(shape: str, cx: float, cy: float, r: float) -> list[tuple[float, float]]:
    """Vertices (pixel coordinates) of a polygonal shape with circumradius `r` centred at (cx, cy).

    Orientation is fixed: triangle and star point up, square is axis-aligned, diamond is a square turned 45 degrees,
    hexagon has flat top and bottom.

    >>> len(shape_polygon("star", 0, 0, 1)), len(shape_polygon("hexagon", 0, 0, 1))
    (10, 6)
    """
    def ring(n: int, start_deg: float, radius: float) -> list[tuple[float, float]]:
        return [
            (cx + radius * math.cos(math.radians(start_deg + 360 * k / n)), cy + radius * math.sin(math.radians(start_deg + 360 * k / n)))
            for k in range(n)
        ]

    if shape == "square":
        return ring(4, 45, r)
    if shape == "diamond":
        return ring(4, -90, r)
    if shape == "triangle":
        return ring(3, -90, r)
    if shape == "hexagon":
        return ring(6, 0, r)
    if shape == "star":
        outer = ring(5, -90, r)
        inner = ring(5, -90 + 36, r * STAR_INNER_RATIO)
        return [p for pair in zip(outer, inner) for p in pair]
    raise ValueError(f"{shape!r} is not a polygonal shape")


def draw_object(draw: ImageDraw.ImageDraw, obj: CanvasObject, width: int) -> None:
    cx, cy, r = obj.x * width, obj.y * width, obj.radius * width
    fill = COLORS[obj.color]
    if obj.shape == "circle":
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=fill)
    else:
        draw.polygon(shape_polygon(obj.shape, cx, cy, r), fill=fill)


def render(scene: Scene, size: int = DEFAULT_SIZE, supersample: int = 4) -> Image.Image:
    """Render `scene` to an RGB image of `size` x `size` pixels.

    >>> from envs.canvas.scene import CanvasObject, Scene
    >>> img = render(Scene("white", (CanvasObject("circle", "red", "large", 0.5, 0.5),)), size=64)
    >>> img.size, img.getpixel((32, 32)), img.getpixel((0, 0))
    ((64, 64), (220, 38, 38), (255, 255, 255))
    """
    if size < 16:
        raise ValueError(f"render size must be at least 16 px, got {size}")
    big = size * supersample
    image = Image.new("RGB", (big, big), BACKGROUNDS[scene.background])
    draw = ImageDraw.Draw(image)
    for obj in scene.objects:
        draw_object(draw, obj, big)
    return image.resize((size, size), Image.Resampling.BOX) if supersample > 1 else image
