"""Auxiliary SFT examples that train, one at a time, the small skills a reasoning scan chains: reading an object's
coordinate from the scene text, comparing two values, and walking the scene's objects in order.

A reasoning scan writes each object's coordinate next to its description ("large purple triangle 0.31 no"), which is
a lookup: the number that follows *that* description in the scene text. Trained only inside scans, which walk the
scene in its own order, the tiny thinker never learned it (it wrote region-like values, 0.33 or 0.67, near the
object's region); asked directly for the coordinates of objects named in a random order, it learns the lookup within
a thousand steps, and the skill carries over to the scans. Asked for both coordinates at once it learns the lookup
about twice as fast as asked for one, but then reads the height only as "the number after the one just copied",
which a scan of heights never writes: so the examples ask for the width, the height or both, a third each.

A compare scan also compares each value with the last best's ("0.31 vs 0.11 more", `envs.canvas.reasoning.
compare_scan`) and must walk every object before it stops: comparisons of values drawn from the scene and lists of
its objects in order are the other two kinds of lookup (:func:`scene_lookup_example` draws among the three).
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from agents.lm.prompts import build_prompt

__all__ = ["LOOKUP_REQUESTS", "LOOKUP_KINDS", "scene_centres", "coordinate_lookup_example", "comparison_example",
           "order_list_example", "scene_lookup_example", "lookup_examples"]

#: The request of a lookup example per kind (a coordinate asked, a comparison, a list); no editing request starts
#: this way.
LOOKUP_REQUESTS = {"x": "Read how far right these are: {names}.", "y": "Read how far down these are: {names}.",
                   "xy": "Read the centres of: {names}.", "compare": "Compare: {pairs}.",
                   "list": "List the objects in order."}

#: How often each kind of lookup is drawn (:func:`scene_lookup_example`): coordinates, the skill learned last, half.
LOOKUP_KINDS = {"coordinates": 0.5, "comparison": 0.3, "list": 0.2}

def scene_centres(scene: str) -> list[tuple[str, str, str]]:
    """``(description, x, y)`` of each object of a scene text, in its order, coordinates as written.

    >>> scene_centres("background: cream; objects: small red circle at top left (0.15, 0.18); large blue star at centre (0.50, 0.47)")
    [('small red circle', '0.15', '0.18'), ('large blue star', '0.50', '0.47')]
    >>> scene_centres("background: white; objects: none")
    []
    """
    from envs.canvas.perception import described_objects

    return [(name, x, y) for name, _region, x, y in described_objects(scene)]


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


def comparison_example(role: str, scene: str, rng: random.Random) -> tuple[str, str] | None:
    """A ``(prompt, target)`` pair that asks how two to six pairs of values compare, written as a compare scan
    writes them ("0.61 vs 0.85 less"); the values are ``scene``'s coordinates and a few others, some pairs size words.
    None for a scene without objects.

    >>> scene = "background: cream; objects: small red circle at top left (0.15, 0.18); large blue star at centre (0.50, 0.47)"
    >>> prompt, target = comparison_example("thinker", scene, random.Random(7))
    >>> print(prompt.splitlines()[-1])
    request: Compare: large with small, 0.15 with 0.47.
    >>> target
    '<think>large vs small more, 0.15 vs 0.47 less</think>'
    """
    from envs.canvas.reasoning import value_relation
    from envs.canvas.vocab import SIZE_ORDER

    objects = scene_centres(scene)
    if not objects:
        return None
    values = [v for _, x, y in objects for v in (x, y)] + [f"{rng.randrange(100) / 100:.2f}" for _ in range(4)]
    pairs = [(rng.choice(SIZE_ORDER), rng.choice(SIZE_ORDER)) if rng.random() < 0.15 else
             (rng.choice(values), rng.choice(values)) for _ in range(rng.randint(2, 6))]
    request = LOOKUP_REQUESTS["compare"].format(pairs=", ".join(f"{a} with {b}" for a, b in pairs))
    answer = ", ".join(f"{a} vs {b} {value_relation(a, b)}" for a, b in pairs)
    return build_prompt(role, request, scene), f"<think>{answer}</think>"


def order_list_example(role: str, scene: str) -> tuple[str, str] | None:
    """A ``(prompt, target)`` pair that asks for ``scene``'s objects in the order of its text, which is the order a
    scan walks them; None for a scene without objects.

    >>> scene = "background: cream; objects: small red circle at top left (0.15, 0.18); large blue star at centre (0.50, 0.47)"
    >>> order_list_example("thinker", scene)[1]
    '<think>small red circle, large blue star</think>'
    """
    objects = scene_centres(scene)
    if not objects:
        return None
    return build_prompt(role, LOOKUP_REQUESTS["list"], scene), f"<think>{', '.join(name for name, _, _ in objects)}</think>"


def scene_lookup_example(role: str, scene: str, rng: random.Random) -> tuple[str, str] | None:
    """One lookup example of a kind drawn by :data:`LOOKUP_KINDS`: coordinates (:func:`coordinate_lookup_example`),
    a comparison (:func:`comparison_example`) or the objects in order (:func:`order_list_example`).

    >>> scene = "background: cream; objects: small red circle at top left (0.15, 0.18); large blue star at centre (0.50, 0.47)"
    >>> [scene_lookup_example("thinker", scene, random.Random(seed))[0].splitlines()[-1] for seed in (0, 3, 6)]
    ['request: List the objects in order.', 'request: Read the centres of: large blue star.', 'request: Compare: large with large, 0.62 with 0.62.']
    """
    draw = rng.random()
    if draw < LOOKUP_KINDS["coordinates"]:
        return coordinate_lookup_example(role, scene, rng)
    if draw < LOOKUP_KINDS["coordinates"] + LOOKUP_KINDS["comparison"]:
        return comparison_example(role, scene, rng)
    return order_list_example(role, scene)


def lookup_examples(role: str, scenes: Sequence[str], per_scene: int, seed: int = 0) -> list[tuple[str, str]]:
    """``per_scene`` lookup examples (:func:`scene_lookup_example`) for each scene text that has one.

    >>> scene = "background: cream; objects: small red circle at top left (0.15, 0.18); large blue star at centre (0.50, 0.47)"
    >>> len(lookup_examples("thinker", [scene, "background: white; objects: none"], per_scene=3))
    3
    """
    rng = random.Random(f"{seed}:lookups")
    found = (scene_lookup_example(role, scene, rng) for scene in scenes for _ in range(per_scene))
    return [example for example in found if example is not None]
