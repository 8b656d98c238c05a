"""Format reward: does an LM output follow the tagged format (see :mod:`rewards.parsing`) and its schema?

ImageEdit-R1 rewards the decomposer for format as well as for F1; DDA-Thinker and ThinkRL-Edit require
``<think>…</think><answer>…</answer>``. The papers do not define the check precisely; this module does:

- ``kind="plan"``: 1.0 iff the envelope is well formed and the answer is not blank (the think text may be empty).
- ``kind="components"`` (binary): 1.0 iff the envelope is well formed, the answer holds at least one component,
  there is no malformed chunk, and every component passes the schema: the action is one word (letters, digits,
  ``_`` or ``-``), lowercase-insensitively in ``allowed_actions`` if given, and the subject is non-empty if
  ``require_subject``.
- ``kind="components", partial=True``: 0.0 if the envelope is broken, else
  ``(# components passing the schema) / (# components + # malformed chunks)`` (0.0 when both are zero).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from rewards.parsing import parse_tagged
from rewards.types import Component

__all__ = ["format_reward", "component_schema_errors", "KINDS"]

KINDS = ("components", "plan")
_ACTION_WORD = re.compile(r"[a-z0-9_-]+")


def component_schema_errors(
    component: Component, *, allowed_actions: Iterable[str] | None = None, require_subject: bool = False
) -> list[str]:
    """Schema problems of one parsed component (empty list = valid).

    >>> component_schema_errors(Component("paint it", ("the circle",)), allowed_actions={"recolor"})
    ["action 'paint it' is not a single word", "action 'paint it' is not one of ['recolor']"]
    """
    errors = []
    action = component.action.strip().lower()
    if not action:
        errors.append("action is blank")
    elif not _ACTION_WORD.fullmatch(action):
        errors.append(f"action {component.action!r} is not a single word")
    if allowed_actions is not None:
        allowed = {a.strip().lower() for a in allowed_actions}
        if action not in allowed:
            errors.append(f"action {component.action!r} is not one of {sorted(allowed)}")
    if require_subject and not component.subject:
        errors.append(f"component {component.action!r} has no subject")
    return errors


def format_reward(
    completion: str,
    *,
    kind: str = "components",
    partial: bool = False,
    allowed_actions: Iterable[str] | None = None,
    require_subject: bool = False,
) -> float:
    """Score the format of one LM output.

    Args:
        completion: raw LM text (``str``); any string is accepted.
        kind: ``"components"`` (decomposer: the answer is a list of components) or ``"plan"`` (thinker: the answer
            is free text).
        partial: components only: give credit per well-formed component instead of all-or-nothing.
        allowed_actions: optional set of action words (e.g. Canvas's ``{"add", "remove", "recolor", "move",
            "resize", "reshape", "background"}``); ``None`` accepts any single non-blank word.
        require_subject: components only: every component must name at least one subject.

    Returns:
        ``float`` in ``[0, 1]``: 0.0 or 1.0 unless ``partial``.

    Raises:
        ValueError: if ``completion`` is not a ``str`` or ``kind`` is unknown.

    >>> good = ("<think>one edit</think><answer>"
    ...         "<action>recolor</action><subject>the circle</subject><target>blue</target></answer>")
    >>> format_reward(good), format_reward(good, allowed_actions={"remove"})
    (1.0, 0.0)
    >>> half = good.replace("</answer>", "<action>move</action><subject>x</subject></answer>")
    >>> format_reward(half), format_reward(half, partial=True)
    (0.0, 0.5)
    >>> format_reward("<think></think><answer>Make the circle blue.</answer>", kind="plan")
    1.0
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    if not isinstance(completion, str):
        raise ValueError(f"completion must be a str, got {type(completion).__name__}")
    allowed = None if allowed_actions is None else frozenset(allowed_actions)
    parsed = parse_tagged(completion)
    if not parsed.well_formed:
        return 0.0
    if kind == "plan":
        return 1.0 if parsed.answer is not None and parsed.answer.strip() else 0.0
    valid = sum(
        not component_schema_errors(c, allowed_actions=allowed, require_subject=require_subject)
        for c in parsed.components
    )
    total = len(parsed.components) + len(parsed.malformed)
    if partial:
        return valid / total if total else 0.0
    return 1.0 if total > 0 and valid == total else 0.0
