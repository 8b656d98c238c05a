"""Auxiliary SFT examples that ask for objects' centres, read from the scene text in an order of the request's choosing.

A reasoning scan writes each object's coordinate next to its description ("large purple triangle 0.31 no"), which is
a lookup: the number that follows *that* description in the scene text. Trained only inside scans, which walk the
scene in its own order, the tiny thinker never learned it (it wrote region-like values, 0.33 or 0.67, near the
object's region); asked directly for the centres of objects named in a random order, it learns the lookup within a
thousand steps, and the skill carries over to the scans (docs/benchmarks/dda_thinker.md).
"""

from __future__ import annotations

import random
import re

from agents.lm.prompts import build_prompt

__all__ = ["LOOKUP_REQUEST", "scene_centres", "centre_lookup_example"]

#: The request of a lookup example; no editing request starts this way.
LOOKUP_REQUEST = "Read the centres of: {names}."

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


def centre_lookup_example(role: str, scene: str, rng: random.Random) -> tuple[str, str] | None:
    """A ``(prompt, target)`` pair for ``role`` that asks for the centres of some of ``scene``'s objects (one to all,
    in a random order) and answers them in the think, each as "<description> <x> <y>". None for a scene without
    objects or with two objects of the same description (the question would not say which).

    >>> scene = "background: cream; objects: small red circle at top left (0.15, 0.18); large blue star at centre (0.50, 0.47)"
    >>> prompt, target = centre_lookup_example("thinker", scene, random.Random(0))
    >>> print(prompt.splitlines()[-1])
    request: Read the centres of: large blue star, small red circle.
    >>> target
    '<think>large blue star 0.50 0.47, small red circle 0.15 0.18</think>'
    """
    objects = scene_centres(scene)
    names = [name for name, _, _ in objects]
    if not objects or len(set(names)) != len(names):
        return None
    asked = rng.sample(objects, rng.randint(1, len(objects)))
    request = LOOKUP_REQUEST.format(names=", ".join(name for name, _, _ in asked))
    answer = ", ".join(f"{name} {x} {y}" for name, x, y in asked)
    return build_prompt(role, request, scene), f"<think>{answer}</think>"
