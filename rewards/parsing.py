"""Parser and writer for the tagged output format of the language-model agents.

The format (decomposer)::

    <think>free reasoning text</think><answer>
    <action>recolor</action><subject>the red circle, the green star</subject><target>blue</target>
    <action>remove</action><subject>the small square</subject><target></target>
    </answer>

and (thinker / planner) ``<think>…</think><answer>free text plan</answer>``.

Rules, as the parser enforces them:

- Envelope: exactly one ``<think>``, ``</think>``, ``<answer>``, ``</answer>`` each, in that order; only whitespace
  outside the two blocks (leading/trailing whitespace and whitespace between the blocks is allowed). Tags are
  case-sensitive. The think text may be empty.
- Component: ``<action>…</action><subject>…</subject><target>…</target>`` in that order, optional whitespace between
  the three tags and between components. Field text may not contain ``<`` or ``>``. Set members are separated by
  commas; members are stripped and blank members dropped. The action must be non-blank; an empty target (``remove``)
  or subject is allowed here (the schema check in :func:`rewards.formatting.format_reward` may be stricter).
- Anything else inside ``<answer>`` (stray text, a half-written component) is a *malformed chunk*: it is reported
  in ``malformed`` and skipped, so one bad line does not lose the good components around it.

:func:`parse_tagged` and :func:`parse_components` never raise on any ``str``: they are run on raw LM output.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import NamedTuple

from rewards.types import Component, ComponentLike, as_components

__all__ = ["ParsedOutput", "ParsedComponents", "parse_tagged", "parse_components", "format_components", "format_tagged"]

_ENVELOPE_TAGS = ("<think>", "</think>", "<answer>", "</answer>")
_COMPONENT = re.compile(
    r"<action>([^<>]*)</action>\s*<subject>([^<>]*)</subject>\s*<target>([^<>]*)</target>"
)
_SNIPPET = 40


def _snippet(text: str) -> str:
    text = " ".join(text.split())
    return repr(text if len(text) <= _SNIPPET else text[: _SNIPPET - 1] + "…")


class ParsedComponents(NamedTuple):
    """Result of :func:`parse_components`: the well-formed components and one diagnostic per malformed chunk."""

    components: tuple[Component, ...]
    malformed: tuple[str, ...]


@dataclass(frozen=True)
class ParsedOutput:
    """Result of :func:`parse_tagged`.

    Attributes:
        think: text inside ``<think>…</think>``, or ``None`` if there is no such block.
        answer: text inside ``<answer>…</answer>`` (to the end of the text if ``</answer>`` is missing), or ``None``.
        well_formed: the think/answer envelope follows the format exactly (``envelope_errors`` is empty).
        components: the well-formed components found in the answer, in order.
        malformed: diagnostics for chunks of the answer that are not well-formed components (meaningless for a
            free-text plan, where the whole answer is "malformed" as components).
        envelope_errors: diagnostics for the envelope; empty iff ``well_formed``.
    """

    think: str | None
    answer: str | None
    well_formed: bool
    components: tuple[Component, ...]
    malformed: tuple[str, ...]
    envelope_errors: tuple[str, ...]

    @property
    def components_well_formed(self) -> bool:
        """Envelope well formed, at least one component, and no malformed chunk in the answer."""
        return self.well_formed and bool(self.components) and not self.malformed


def _split_members(field: str) -> tuple[str, ...]:
    return tuple(m for m in (part.strip() for part in field.split(",")) if m)


def parse_components(answer_text: str) -> ParsedComponents:
    """Parse the components of an answer block.

    Args:
        answer_text: the text inside ``<answer>…</answer>`` (any ``str``; never raises on one).

    Returns:
        ``ParsedComponents(components, malformed)``: ``components`` is a tuple of :class:`Component` in written
        order; ``malformed`` a tuple of human-readable diagnostics, one per chunk that could not be parsed.

    Raises:
        ValueError: only if ``answer_text`` is not a ``str``.

    >>> parsed = parse_components(
    ...     "<action>recolor</action><subject>the red circle, the star</subject><target>blue</target>\\n"
    ...     "<action>remove</action><subject>the square</subject><target></target> oops"
    ... )
    >>> [c.action for c in parsed.components], parsed.components[0].subject
    (['recolor', 'remove'], ('the red circle', 'the star'))
    >>> parsed.malformed
    ("unparsed text at offset 159: 'oops'",)
    """
    if not isinstance(answer_text, str):
        raise ValueError(f"parse_components expects a str, got {type(answer_text).__name__}")
    components: list[Component] = []
    malformed: list[str] = []

    def gap(start: int, end: int) -> None:
        chunk = answer_text[start:end]
        if chunk.strip():
            offset = start + (len(chunk) - len(chunk.lstrip()))
            if "<action>" in chunk or "<subject>" in chunk or "<target>" in chunk:
                malformed.append(
                    f"incomplete component at offset {offset} (expected "
                    f"<action>…</action><subject>…</subject><target>…</target>): {_snippet(chunk)}"
                )
            else:
                malformed.append(f"unparsed text at offset {offset}: {_snippet(chunk)}")

    position = 0
    for match in _COMPONENT.finditer(answer_text):
        gap(position, match.start())
        position = match.end()
        action = match.group(1).strip()
        if not action:
            malformed.append(f"component at offset {match.start()} has an empty <action>: {_snippet(match.group(0))}")
            continue
        components.append(Component(action, _split_members(match.group(2)), _split_members(match.group(3))))
    gap(position, len(answer_text))
    return ParsedComponents(tuple(components), tuple(malformed))


def _find_after(text: str, tag: str, start: int) -> int:
    return text.find(tag, start) if start >= 0 else -1


def parse_tagged(text: str) -> ParsedOutput:
    """Parse a full agent output ``<think>…</think><answer>…</answer>``.

    Never raises on a ``str``: a broken envelope is reported in ``envelope_errors`` and the think/answer text is
    still extracted leniently (first ``<think>`` to the next ``</think>``; first ``<answer>`` after it to the next
    ``</answer>``, or to the end of the text if unclosed), so callers can still read a nearly-right output.

    Args:
        text: raw LM output.

    Returns:
        :class:`ParsedOutput`.

    Raises:
        ValueError: only if ``text`` is not a ``str``.

    >>> out = parse_tagged("<think>two edits</think><answer>"
    ...                    "<action>recolor</action><subject>the circle</subject><target>blue</target></answer>")
    >>> out.well_formed, out.think, out.components[0].target
    (True, 'two edits', ('blue',))
    >>> bad = parse_tagged("<answer>make it blue</answer>")
    >>> bad.well_formed, bad.answer
    (False, 'make it blue')
    >>> bad.envelope_errors[0]
    'tag <think> appears 0 times, expected exactly once'
    """
    if not isinstance(text, str):
        raise ValueError(f"parse_tagged expects a str, got {type(text).__name__}")
    errors: list[str] = []
    counts = {tag: text.count(tag) for tag in _ENVELOPE_TAGS}
    for tag, count in counts.items():
        if count != 1:
            errors.append(f"tag {tag} appears {count} times, expected exactly once")

    think_open = text.find("<think>")
    think_close = _find_after(text, "</think>", think_open)
    think = text[think_open + len("<think>") : think_close] if think_open >= 0 and think_close >= 0 else None

    answer_from = think_close + len("</think>") if think_close >= 0 else 0
    answer_open = text.find("<answer>", answer_from)
    if answer_open < 0:
        answer_open = text.find("<answer>")
    answer: str | None = None
    answer_close = -1
    if answer_open >= 0:
        body_start = answer_open + len("<answer>")
        answer_close = text.find("</answer>", body_start)
        answer = text[body_start:answer_close] if answer_close >= 0 else text[body_start:]

    if not errors:
        positions = [text.find(tag) for tag in _ENVELOPE_TAGS]
        if positions != sorted(positions):
            errors.append("tags out of order: expected <think>…</think> then <answer>…</answer>")
        else:
            outside = [
                text[: positions[0]],
                text[positions[1] + len("</think>") : positions[2]],
                text[positions[3] + len("</answer>") :],
            ]
            for where, chunk in zip(("before <think>", "between </think> and <answer>", "after </answer>"), outside):
                if chunk.strip():
                    errors.append(f"text {where}: {_snippet(chunk)}")

    if answer is None:
        parsed = ParsedComponents((), ())
    else:
        parsed = parse_components(answer)
    return ParsedOutput(
        think=think,
        answer=answer,
        well_formed=not errors,
        components=parsed.components,
        malformed=parsed.malformed,
        envelope_errors=tuple(errors),
    )


def _check_field(text: str, what: str) -> str:
    if any(ch in text for ch in "<>,"):
        raise ValueError(f"{what} {text!r} contains ',', '<' or '>', which the tagged format cannot represent")
    return text.strip()


def format_components(components: Iterable[ComponentLike]) -> str:
    """Write components in the canonical tagged form (the body of ``<answer>…</answer>``), one per line.

    ``parse_components(format_components(cs)).components`` gives back ``cs`` (with members stripped).

    Args:
        components: a sequence of :class:`Component` or component mappings.

    Returns:
        ``str``, one ``<action>…</action><subject>…</subject><target>…</target>`` line per component, members
        joined by ``", "``.

    Raises:
        ValueError: if an action is blank, or any action or member contains ``,``, ``<`` or ``>`` (the result could
            not be parsed back).

    >>> print(format_components([{"action": "recolor", "subject": ["the circle", "the star"], "target": "blue"},
    ...                          {"action": "remove", "subject": "the square"}]))
    <action>recolor</action><subject>the circle, the star</subject><target>blue</target>
    <action>remove</action><subject>the square</subject><target></target>
    """
    lines = []
    for comp in as_components(components):
        action = _check_field(comp.action, "action")
        if not action:
            raise ValueError(f"cannot format a component with a blank action: {comp!r}")
        subject = ", ".join(m for m in (_check_field(s, "subject member") for s in comp.subject) if m)
        target = ", ".join(m for m in (_check_field(t, "target member") for t in comp.target) if m)
        lines.append(f"<action>{action}</action><subject>{subject}</subject><target>{target}</target>")
    return "\n".join(lines)


def format_tagged(think: str, answer: str) -> str:
    """Write a full output ``<think>{think}</think><answer>\\n{answer}\\n</answer>`` (e.g. for SFT targets).

    Raises ``ValueError`` if ``think`` or ``answer`` contains one of the envelope tags.

    >>> text = format_tagged("one edit", format_components([{"action": "add", "subject": "a star"}]))
    >>> parse_tagged(text).components_well_formed
    True
    """
    for name, value in (("think", think), ("answer", answer)):
        if not isinstance(value, str):
            raise ValueError(f"{name} must be a str, got {type(value).__name__}")
        for tag in _ENVELOPE_TAGS:
            if tag in value:
                raise ValueError(f"{name} text contains the envelope tag {tag}; remove it")
    return f"<think>{think}</think><answer>\n{answer}\n</answer>"
