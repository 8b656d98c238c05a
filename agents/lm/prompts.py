"""Prompts and SFT targets for the language-model roles: pure functions of text (plus perception, for scene text).

A prompt holds what the agent may know: the user's instruction and a text rendering of what perception sees in the
source image (``envs.canvas.perception.describe``), never the generator's scene or ground truth; then, when the
graph provides them, the thinker's plan and the verifier's feedback. The completion starts right after the prompt
and follows the tagged format of :mod:`rewards.parsing`:

- decomposer: ``<think>2 edits</think><answer>\\n<action>…</action><subject> …</subject><target> …</target>…\\n</answer>``
- thinker: ``<think>spatial request, 2 steps</think><answer>\\nthe explicit instruction\\n</answer>``, or with a
  reasoning trace the decomposer's think (``<think>2 edits; the lowest shape = medium purple hexagon</think>``)

The SFT data is built from the *same* perception the policy runs on at inference (``scene_text(task.source_png)``),
so training and inference prompts come from one distribution.
"""

from __future__ import annotations

import random
import re
from typing import Any, Literal, Mapping, Sequence, get_args

from rewards.parsing import format_components, format_tagged

__all__ = [
    "LM_ROLES",
    "build_prompt",
    "scene_text",
    "reasoning_think",
    "thinker_think",
    "answer_components",
    "sft_target",
    "sft_example",
]

#: The roles this backend implements.
LM_ROLES: tuple[str, ...] = ("thinker", "decomposer")

#: The first line of a prompt: which task this is. Kept to a couple of tokens because every token of every prompt
#: costs SFT and sampling time, and a tiny model learns the task from the data, not from a description of it.
_TASKS: dict[str, str] = {"thinker": "rewrite", "decomposer": "decompose"}

#: An opening subject/target tag followed by a member (not by its closing tag).
_OPEN_FIELD = re.compile(r"<(subject|target)>(?=[^<])")


def _check_role(role: str) -> None:
    if role not in LM_ROLES:
        raise ValueError(f"role {role!r} has no language-model prompt; use one of {', '.join(LM_ROLES)}")


def _one_line(text: str) -> str:
    # A field is one line: the model then always sees "\n<field>:" as the field boundary.
    return " ".join(text.split())


def build_prompt(role: str, instruction: str, scene_text: str, plan: str | None = None, feedback: str | None = None) -> str:
    """The prompt for ``role``; the completion starts right after it (with ``<think>``).

    Args:
        role: ``"thinker"`` or ``"decomposer"``.
        instruction: the user's request, as written.
        scene_text: what perception sees in the source image (:func:`scene_text`).
        plan: the thinker's plan, for a decomposer that runs after a thinker.
        feedback: verifier feedback from the previous round (reflection), if any.

    >>> print(build_prompt("decomposer", "Make the star red.", "background: white; objects: small blue star at top (0.50, 0.20)"))
    task: decompose
    scene: background: white; objects: small blue star at top (0.50, 0.20)
    request: Make the star red.
    <BLANKLINE>
    """
    _check_role(role)
    lines = [f"task: {_TASKS[role]}", f"scene: {_one_line(scene_text)}", f"request: {_one_line(instruction)}"]
    if plan is not None:
        lines.append(f"plan: {_one_line(plan)}")
    if feedback:
        lines.append(f"feedback: {_one_line(feedback)}")
    return "\n".join(lines) + "\n"


def scene_text(png: bytes) -> str:
    """``describe(perceive(image))`` for a PNG-encoded image: the scene as the agents see it (the perception is
    `agents.canvas_paint.perceive_png`'s, shared with the rule agents and the judge in this process)."""
    # Imported here: perception pulls in scikit-image and scipy, which prompt building for given text does not need.
    from agents.canvas_paint import perceive_png
    from envs.canvas.perception import describe

    return describe(perceive_png(png))


def reasoning_think(n_components: int, notes: Sequence[str] = (), scans: Sequence[str] = ()) -> str:
    """The think of a decomposer SFT target, and of a thinker's with a reasoning trace (the thinker resolves the same
    references before it writes its plan): how many edits there are, then (for a reasoning trace) what each
    indirect reference or knowledge phrase of the request names (:attr:`envs.task.EditTask.reasoning`); with
    ``scans`` (:attr:`envs.task.EditTask.reasoning_scans`, one per note) each note first walks the scene object by
    object ("<phrase>: <scan> = <objects>"), so the decision of which objects a reference names is made one object
    at a time before the note lists them.

    >>> reasoning_think(1), reasoning_think(3)
    ('1 edit', '3 edits')
    >>> reasoning_think(2, ["the lowest shape = medium purple hexagon"])
    '2 edits; the lowest shape = medium purple hexagon'
    >>> reasoning_think(1, ["the red shape = small red star"], ["large blue circle no, small red star yes"])
    '1 edit; the red shape: large blue circle no, small red star yes = small red star'
    """
    if scans and len(scans) != len(notes):
        raise ValueError(f"{len(scans)} scans for {len(notes)} notes; a task's reasoning_scans has one per note")
    parts = []
    for k, note in enumerate(notes):
        phrase, sep, meaning = note.partition(" = ")
        scan = scans[k] if scans else ""
        parts.append(_one_line(f"{phrase}: {scan} = {meaning}" if scan and sep else note))
    count = f"{n_components} edit" + ("" if n_components == 1 else "s")
    return "; ".join([count, *parts])


def thinker_think(category: str, n_steps: int) -> str:
    """The short reasoning of a thinker SFT target: the kind of request and how many steps it has.

    >>> thinker_think("spatial", 2)
    'spatial request, 2 steps'
    """
    return f"{category} request, {n_steps} step" + ("" if n_steps == 1 else "s")


def answer_components(components: Any) -> str:
    """The answer body of a decomposer SFT target: :func:`rewards.parsing.format_components`, with one space after
    ``<subject>`` and ``<target>`` when they are not empty.

    Why the space: a byte-level BPE token carries its leading space, so "blue" after ``<target>`` and " blue" in
    the request are *different* tokens; a tiny model would have to learn, word by word, that one stands for the
    other before it can copy. With the space the field holds the very tokens of the request, and copying is
    learnt once (one A/B, 2-layer model, 1000 SFT steps: test-split target F1 0.27 -> 0.33). The parser strips
    members, so the parsed components are exactly the canonical ones.

    >>> print(answer_components([{"action": "recolor", "subject": ["the star", "the circle"], "target": ["blue"]},
    ...                          {"action": "remove", "subject": ["the square"], "target": []}]))
    <action>recolor</action><subject> the star, the circle</subject><target> blue</target>
    <action>remove</action><subject> the square</subject><target></target>
    """
    canonical = format_components(components)  # validates the fields (no ',', '<', '>')
    return _OPEN_FIELD.sub(r"<\1> ", canonical)


def _with_note_subjects(task: Any, share: float, readable: bool = False) -> list[dict[str, Any]]:
    """The task's components, each whose objects a reasoning note lists written with the note's full descriptions
    (:func:`envs.canvas.grounding.note_subjects`; with ``readable``, a note's phrase the editor reads as written stays
    as written) with probability ``share``, drawn per component from the task id so that the same task always gets
    the same target."""
    comps = [c.model_dump() for c in task.components]
    if share <= 0 or not task.reasoning or not task.source_scene:
        return comps
    from envs.canvas.grounding import note_subjects
    from envs.canvas.scene import Scene
    from rewards.types import as_components

    rng = random.Random(f"{task.task_id}:note-subjects")
    written = note_subjects(Scene.from_json(task.source_scene), as_components(comps), task.order, task.reasoning,
                            readable=readable)
    for comp, subjects in zip(comps, written):
        if rng.random() < share and subjects is not None:
            comp["subject"] = list(subjects)
    return comps


#: How a reasoning note's working can be written: the scan of per-object verdicts (:func:`envs.canvas.reasoning.
#: reference_scan`), the running best of a superlative (:func:`envs.canvas.reasoning.running_scan`), the same with
#: each decision written out (:func:`envs.canvas.reasoning.compare_scan`), the competing objects top to bottom of a
#: superlative of height (:func:`envs.canvas.reasoning.order_scan`), or none (the note alone).
ScanForm = Literal["verdicts", "running", "compare", "order", "none"]
SCAN_FORMS: tuple[str, ...] = get_args(ScanForm)


def note_scans(task: Any, forms: Mapping[str, float] | None) -> list[str]:
    """The working written before each note of ``task``'s reasoning: per note, one of the ``forms`` (weights over
    :data:`SCAN_FORMS`) that the note has, drawn from the task id so that the same task always gets the same target;
    ``None`` is every note's verdict scan. A note without a scan (a knowledge value) gets none whatever is drawn, and
    "running" and "compare" apply to superlatives of one value only, "order" to superlatives of height only (the
    others draw among the remaining forms).
    """
    if forms is None:
        return list(task.reasoning_scans)
    unknown = sorted(set(forms) - set(SCAN_FORMS))
    if unknown:
        raise ValueError(f"unknown scan form(s) {', '.join(unknown)}; choose from {', '.join(SCAN_FORMS)}")
    running = list(task.reasoning_running_scans) or [""] * len(task.reasoning_scans)
    ordered = list(task.reasoning_order_scans) or [""] * len(task.reasoning_scans)
    compared = list(task.reasoning_compare_scans) or [""] * len(task.reasoning_scans)
    rng = random.Random(f"{task.task_id}:scan-forms")
    out = []
    for verdicts, best, order, compare in zip(task.reasoning_scans, running, ordered, compared):
        written = {"verdicts": verdicts, "running": best, "compare": compare, "order": order, "none": ""}
        choices = [(form, weight) for form, weight in forms.items() if weight > 0 and (form == "none" or written[form])]
        if not verdicts or not choices:
            out.append("")
            continue
        form = rng.choices([f for f, _ in choices], weights=[w for _, w in choices])[0]
        out.append(written[form])
    return out


def sft_target(role: str, task: Any, *, reasoning: bool = False, scan: bool = False, note_subjects: float = 0.0,
               scan_forms: Mapping[str, float] | None = None, readable_references: bool = False) -> str:
    """The completion a perfect policy writes for a generated task (an ``envs.task.EditTask`` with ground truth);
    with ``reasoning``, the think (the decomposer's, and the thinker's in the same form) also resolves the request's
    indirect references, and with ``scan`` too each reference walks the scene object by object first
    (:func:`reasoning_think`).

    ``note_subjects`` (with ``reasoning``): the share of components whose subject an indirect reference names that
    are written with the objects of the think's note ("the medium purple star") instead of the canonical shortest
    unique description ("the purple shape"); both name the same object, the first is copied from the note. For the
    thinker the plan is then written from those components in execution order, clause by clause as the task's
    explicit instruction is.

    ``scan_forms`` (with ``scan``): which working each note writes (:func:`note_scans`); None: every note's verdicts.

    ``readable_references`` (with ``note_subjects``): a reference the editor reads as written on the scene of its
    step (a region phrase: "the object in the top right") is written as the request words it, not as its object.

    Raises ``ValueError`` when the task lacks what the role's target is made of (components / explicit instruction).
    """
    _check_role(role)
    if role == "decomposer":
        if not task.components:
            raise ValueError(f"task {task.task_id} has no ground-truth components; a decomposer SFT target needs them")
        answer = answer_components(_with_note_subjects(task, note_subjects if reasoning else 0.0, readable_references))
        notes = task.reasoning if reasoning else ()
        scans = _checked_scans(task, scan_forms) if (notes and scan) else ()
        return format_tagged(reasoning_think(len(task.components), notes, scans), answer)
    if not task.explicit_instruction:
        raise ValueError(f"task {task.task_id} has no explicit_instruction; a thinker SFT target needs it")
    if not reasoning:
        return format_tagged(thinker_think(task.category, task.n_steps), _one_line(task.explicit_instruction))
    # The think is the decomposer's, so a thinker can start from a decomposer's weights and keep its working.
    think = reasoning_think(task.n_steps, task.reasoning, _checked_scans(task, scan_forms) if scan else ())
    plan = task.explicit_instruction
    if note_subjects > 0 and task.order:
        # Imported here: the clause writer pulls in the Canvas world, which building prompts from text does not need.
        from agents.canvas_language import explicit_text, to_explicit_clause

        comps = _with_note_subjects(task, note_subjects, readable_references)
        plan = explicit_text([to_explicit_clause(comps[i]) for i in task.order])
    return format_tagged(think, _one_line(plan))


def _checked_scans(task: Any, scan_forms: Mapping[str, float] | None) -> list[str]:
    scans = note_scans(task, scan_forms)
    if len(scans) != len(task.reasoning):
        raise ValueError(f"task {task.task_id} has {len(task.reasoning)} reasoning notes but {len(scans)} scans; a scan "
                         "trace needs tasks made by this generator (regenerate the task file)")
    return scans


def sft_example(role: str, task: Any, *, with_plan: bool = False, scene: str | None = None,
                reasoning: bool = False, scan: bool = False, note_subjects: float = 0.0,
                scan_forms: Mapping[str, float] | None = None, readable_references: bool = False) -> tuple[str, str]:
    """``(prompt, target)`` for one task and role.

    Args:
        role: ``"thinker"`` or ``"decomposer"``.
        task: a generated ``EditTask``.
        with_plan: for the decomposer, put the ground-truth explicit instruction in the prompt as the thinker's
            plan (teaches a decomposer that runs after a thinker to use the plan).
        scene: the scene text, if already computed (perception is the slow part of making data).
        reasoning: write the reasoning trace in the decomposer's think (:func:`sft_target`).
        scan: with ``reasoning``, each note walks the scene object by object first (:func:`sft_target`).
        note_subjects: with ``reasoning``, the share of note-named subjects written as the note writes them.
        scan_forms: with ``scan``, the weights of the forms each note's working takes (:func:`note_scans`).
        readable_references: with ``note_subjects``, references the editor reads as written stay as written.
    """
    scene = scene if scene is not None else scene_text(task.source_png)
    plan = task.explicit_instruction if (with_plan and role == "decomposer") else None
    return build_prompt(role, task.instruction, scene, plan=plan), sft_target(role, task, reasoning=reasoning, scan=scan,
                                                                            note_subjects=note_subjects, scan_forms=scan_forms,
                                                                            readable_references=readable_references)
