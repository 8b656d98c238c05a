"""Auxiliary SFT examples that ask for one coordinate of some objects, read from the scene text in an order of the
request's choosing.

A reasoning scan writes each object's coordinate next to its description ("large purple triangle 0.31 no"), which is
a lookup: the number that follows *that* description in the scene text. Trained only inside scans, which walk the
scene in its own order, the tiny thinker never learned it (it wrote region-like values, 0.33 or 0.67, near the
object's region); asked directly for the coordinates of objects named in a random order, it learns the lookup within
a thousand steps, and the skill carries over to the scans. Asked for both coordinates at once it learns the lookup
about twice as fast as asked for one, but then reads the height only as "the number after the one just copied",
which a scan of heights never writes: so the examples ask for the width, the height or both, a third each.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence

from agents.lm.prompts import build_prompt

__all__ = ["LOOKUP_REQUESTS", "scene_centres", "coordinate_lookup_example", "lookup_examples"]

#: The request of a lookup example per coordinate asked; no editing request starts this way.
LOOKUP_REQUESTS = {"x": "Read how far right these are: {names}.", "y": "Read how far down these are: {names}.",
                   "xy": "Read the centres of: {names}."}

# One object of `envs.canvas.perception.describe`'s text: "<size> <colour> <shape> at <region> (<x>, <y>)".
_OBJECT = re.compile(r"(\w+ \w+ \w+) at [a-z ]+? \((\d\.\d\d), (\d\.\d\d)\)")


def scene_centres(scene: str) -> list[tuple[str, str, str]]:
    """``(description, x, y)`` of each object of a scene text, in its order, coordinates as written.

    >>> scene_centres("background: cream; objects: small red circle at top left (0.15, 0.18); large blue star at centre (0.50, 0.47)")
    [('small red circle', '0.15', '0.18'), ('large blue star', '0.50', '0.47')]
    >>> scene_centres("background: white; objects: none")
    []
    """
    return _OBJECT.findall(scene)


def coordinate_lookup_example(role: str, scene: str, rng: random.Random) -> tuple[str, str] | None:
    """A ``(prompt, target)`` pair for ``role`` that asks for the width, the height or both (drawn) of some of
    ``scene``'s objects (one to all, in a random order) and answers in the think, each as "<description> <value>"
    (the way a scan writes it) or "<description> <x> <y>". None for a scene without objects or with two objects of
    the same description (the question would not say which).

    >>> scene = "background: cream; objects: small red circle at top left (0.15, 0.18); large blue star at centre (0.50, 0.47)"
    >>> prompt, target = coordinate_lookup_example("thinker", scene, random.Random(0))
    >>> print(prompt.splitlines()[-1])
    request: Read how far down these are: small red circle, large blue star.
    >>> target
    '<think>small red circle 0.18, large blue star 0.47</think>'
    >>> prompt, target = coordinate_lookup_example("thinker", scene, random.Random(5))
    >>> print(prompt.splitlines()[-1])
    request: Read the centres of: large blue star, small red circle.
    >>> target
    '<think>large blue star 0.50 0.47, small red circle 0.15 0.18</think>'
    """
    objects = scene_centres(scene)
    names = [name for name, _, _ in objects]
    if not objects or len(set(names)) != len(names):
        return None
    axis = rng.choice(("x", "y", "xy"))
    asked = rng.sample(objects, rng.randint(1, len(objects)))
    request = LOOKUP_REQUESTS[axis].format(names=", ".join(name for name, _, _ in asked))
    answer = ", ".join(f"{name} {({'x': x, 'y': y, 'xy': f'{x} {y}'})[axis]}" for name, x, y in asked)
    return build_prompt(role, request, scene), f"<think>{answer}</think>"


def lookup_examples(role: str, scenes: Sequence[str], per_scene: int, seed: int = 0) -> list[tuple[str, str]]:
    """``per_scene`` lookup examples (:func:`coordinate_lookup_example`) for each scene text that has one.

    >>> scene = "background: cream; objects: small red circle at top left (0.15, 0.18); large blue star at centre (0.50, 0.47)"
    >>> len(lookup_examples("thinker", [scene, "background: white; objects: none"], per_scene=3))
    3
    """
    rng = random.Random(f"{seed}:lookups")
    found = (coordinate_lookup_example(role, scene, rng) for scene in scenes for _ in range(per_scene))
    return [example for example in found if example is not None]
