"""Train-only rewordings of one-step requests: sentence shapes people use that the generator's templates lack.

People name the value an edit replaces ("change the circle from red to blue", "a cream background instead of
white"), state the current state first ("the star is in the top left at the moment, put it in the centre"), wonder
("what if the triangle was a hexagon") or write a terse arrow ("the square: red -> blue"). The generator's template
tables hold none of these; adding them there would change which templates each split draws and so the held-out test
split itself. These shapes are therefore applied to *train* tasks only, when SFT data is made
(``train.sft.rewordings``): the test split, and every figure measured on it, stays as it is, and the shapes are new
to a model judged on held-out wording.

Only one-step direct requests are reworded (an explicit subject, an explicit value): the new sentence states the same
edit, so the task's ground truth is unchanged. :func:`reword` is pure: the same task and draw give the same text.
"""

from __future__ import annotations

import random
from typing import Final

from envs.canvas.refer import resolve
from envs.canvas.scene import Scene
from envs.canvas.templates import BACKGROUND_WORDS, REGION_PHRASES, SIZE_WORDS
from envs.task import EditTask

#: Per action, sentences that state one edit. Slots: ``{subj}`` the explicit subject, ``{value}`` the new value as
#: written (colour, size word, region phrase, shape with article, background word; for add the region), ``{old}``
#: the value it replaces (same kind), ``{where}`` the subject's region phrase, ``{obj}`` the object an add draws.
REWORDINGS: Final[dict[str, tuple[str, ...]]] = {
    "recolor": (
        "change {subj} from {old} to {value}",
        "make {subj} {value} instead of {old}",
        "{subj} is {old} right now, make it {value}",
        "{subj} should be {value}, not {old}",
        "{subj} looks too {old}, go with {value}",
        "I'd prefer {subj} in {value} rather than {old}",
        "{subj} would look nicer in {value}",
        "what if {subj} was {value}",
        "{subj}: {old} -> {value}",
        "turn {subj} from {old} to {value}",
    ),
    "move": (
        "move {subj} from {old} to {value}",
        "{subj} is in {old} at the moment, put it in {value} instead",
        "{subj} should be in {value}, not {old}",
        "what if {subj} was in {value}",
        "take {subj} out of {old} and put it in {value}",
        "{subj} in {old} would look better in {value}",
    ),
    "resize": (
        "change {subj} from {old} to {value}",
        "make {subj} {value} instead of {old}",
        "{subj} is {old} now, make it {value}",
        "{subj} should be {value}, not {old}",
        "what if {subj} was {value}",
        "{subj} in {value} rather than {old}, please",
    ),
    "reshape": (
        "change {subj} from {old} to {value}",
        "make {subj} {value} instead of {old}",
        "replace {subj} with {value}",
        "what if {subj} was {value}",
        "{subj} should be {value}, not {old}",
        "I want {value} instead of {subj}",
        "{subj} is {old} now, turn it into {value}",
    ),
    "background": (
        "change the background from {old} to {value}",
        "swap the {old} background for {value}",
        "the {old} background is too plain, go with {value}",
        "the background should be {value}, not {old}",
        "what if the background was {value}",
        "I'd love a {value} background instead of {old}",
        "the {old} background is kinda harsh, can it be {value}?",
    ),
    "remove": (
        "{subj} shouldn't be in the picture",
        "I don't want {subj} anymore, take it out",
        "{subj} in {where} has to go",
        "take {subj} out of the picture",
        "what if {subj} was gone",
        "{subj} in {where} shouldn't be there",
    ),
    "add": (
        "{value} is empty, add {obj} there",
        "I want one more shape: {obj} in {value}",
        "put in {obj}, {value}",
        "what if there was {obj} in {value}",
        "{value} could use {obj}",
    ),
}

#: How a reworded sentence is dressed: typed into a chat box, often lower case and without a full stop.
DRESS: Final[tuple[str, ...]] = ("{c}", "{c}.", "{c}, please", "hmm, {c}", "{c} thanks", "{c}!")


def _size_word(size: str, rng: random.Random) -> str:
    return rng.choice(SIZE_WORDS[size]) if rng.random() < 0.4 else size


def _shape_np(shape: str) -> str:
    return f"an {shape}" if shape[0] in "aeiou" else f"a {shape}"


def reword(task: EditTask, rng: random.Random) -> str | None:
    """``task``'s request in one of :data:`REWORDINGS`, or None when it is not a one-step direct request of the
    Canvas world (or its subject does not name one object of its source scene).

    >>> from envs.canvas.generator import generate_tasks
    >>> task = next(t for t in generate_tasks(300, seed=0) if t.n_steps == 1 and t.category == "direct" and t.components[0].action == "recolor")
    >>> text = reword(task, random.Random(0))
    >>> task.components[0].target[0] in text and text != task.instruction
    True
    """
    if task.n_steps != 1 or task.category != "direct" or not task.components or task.source_scene is None:
        return None
    comp = task.components[0]
    scene = Scene.from_json(task.source_scene)
    slots: dict[str, str] = {}
    if comp.action == "background":
        slots = {"value": rng.choice(BACKGROUND_WORDS[comp.target[0]]), "old": rng.choice(BACKGROUND_WORDS[scene.background])}
    elif comp.action == "add":
        obj = comp.subject[0].split()  # "a small red star"
        if len(obj) != 4:
            return None
        slots = {"obj": f"a {_size_word(obj[1], rng)} {obj[2]} {obj[3]}", "value": rng.choice(REGION_PHRASES[comp.target[0]])}
    else:
        if len(comp.subject) != 1:
            return None
        found = resolve(comp.subject[0], scene.objects)
        if len(found) != 1:
            return None
        obj = found[0]
        slots = {"subj": comp.subject[0], "where": rng.choice(REGION_PHRASES[obj.region])}
        if comp.action == "recolor":
            slots.update(value=comp.target[0], old=obj.color)
        elif comp.action == "move":
            slots.update(value=rng.choice(REGION_PHRASES[comp.target[0]]), old=slots["where"])
        elif comp.action == "resize":
            slots.update(value=_size_word(comp.target[0], rng), old=_size_word(obj.size, rng))
        elif comp.action == "reshape":
            slots.update(value=_shape_np(comp.target[0]), old=_shape_np(obj.shape))
        elif comp.action != "remove":
            return None
    templates = REWORDINGS[comp.action]
    if "old" in slots and "subj" in slots:
        # "change the red circle from red to blue" says the old value twice: only shapes without it then
        said = slots["old"].split()[-1] in slots["subj"].split()
        templates = tuple(t for t in templates if not (said and "{old}" in t)) or templates
    text = rng.choice(templates).format(**slots)
    return rng.choice(DRESS).format(c=text)


def reworded_task(task: EditTask, share: float) -> EditTask | None:
    """``task`` with its request in a train-only sentence shape (:func:`reword`) with probability ``share``, drawn
    from its id so that the same task always gets the same answer; None when not drawn or not rewordable. The ground
    truth is the task's own: only the request's text changes.
    """
    if share <= 0:
        return None
    rng = random.Random(f"{task.task_id}:reword")
    if rng.random() >= share:
        return None
    text = reword(task, rng)
    if text is None:
        return None
    return task.model_copy(update={"instruction": text})
