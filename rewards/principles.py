"""Parser, writer and score of a reasoning verifier's completion: Edit-R1's principles, each checked with a reason.

The format::

    <think>3 principles</think><answer>
    follow: Is the circle now green? saw small green circle; yes
    follow: Is there still a small red circle in the top left? not seen; no (expected no)
    keep: Is the star unchanged? saw large red star; no
    </answer>

One line per principle: ``<kind>: <question>? [<reason>; ]<answer>[ (expected <yes|no>)]``, where ``kind`` is one
of :data:`PRINCIPLES` (Edit-R1's keep / follow / quality), the reason (optional) says what the verifier saw,
``answer`` is its yes/no verdict on what it saw, and the expected answer is "yes" unless written. A principle
*holds* when the answer is the expected one; the verifier's score is the share of principles that hold
(:func:`principle_score`).

Why the reason comes before the answer: a language model writes left to right, so the answer it writes after the
reason is conditioned on what it has just copied from the edited scene (a chain of thought in one line); written
the other way round, the answer is a guess the reason then explains. The answer-first order
(``<question>? <answer>[ (expected ...)]; <reason>``) is still read.

Why the expected answer is part of the line: some checks are stated the way a wrong edit would satisfy them ("is
there still a red circle?", expected no), so that a verifier answering "yes" to everything does not pass.

:func:`parse_principles` never raises on any ``str``: it runs on raw LM output. A line that does not follow the
format is reported in ``malformed`` and skipped, so one broken line does not lose the others.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from rewards.parsing import format_tagged, parse_tagged

__all__ = ["PRINCIPLES", "Principle", "ParsedPrinciples", "parse_principles", "format_principle", "format_principles",
           "principle_score"]

#: Edit-R1's principle kinds: keep (what the instruction did not touch is unchanged), follow (the request was carried
#: out), quality (the image itself is sound).
PRINCIPLES: tuple[str, ...] = ("keep", "follow", "quality")

_REASON_FIRST = re.compile(
    r"^(?P<kind>keep|follow|quality)\s*:\s*(?P<question>[^;]*?\?)\s*(?:(?P<reason>[^;]*?)\s*;\s*)?(?P<answer>yes|no)"
    r"(?:\s*\(expected (?P<expected>yes|no)\))?\s*$"
)
_ANSWER_FIRST = re.compile(
    r"^(?P<kind>keep|follow|quality)\s*:\s*(?P<question>[^;]*?\?)\s*(?P<answer>yes|no)"
    r"(?:\s*\(expected (?P<expected>yes|no)\))?\s*(?:;\s*(?P<reason>.*))?$"
)
_SNIPPET = 40


@dataclass(frozen=True)
class Principle:
    """One checked principle: its kind, the yes/no question, what the verifier saw, what a correct edit gives, why."""

    kind: Literal["keep", "follow", "quality"]
    question: str
    answer: Literal["yes", "no"]
    expected: Literal["yes", "no"] = "yes"
    reason: str = ""

    @property
    def holds(self) -> bool:
        """The verdict: the answer is the one a correct edit gives."""
        return self.answer == self.expected


@dataclass(frozen=True)
class ParsedPrinciples:
    """Result of :func:`parse_principles`.

    Attributes:
        principles: the well-formed lines, in order.
        malformed: one short diagnostic per line that is not a principle.
        envelope_ok: the completion had a clean ``<think>…</think><answer>…</answer>`` envelope.
    """

    principles: tuple[Principle, ...]
    malformed: tuple[str, ...]
    envelope_ok: bool

    @property
    def well_formed(self) -> bool:
        """A clean envelope, at least one principle, and no malformed line."""
        return self.envelope_ok and bool(self.principles) and not self.malformed


def _snippet(text: str) -> str:
    text = " ".join(text.split())
    return repr(text if len(text) <= _SNIPPET else text[: _SNIPPET - 1] + "…")


def parse_principles(text: str) -> ParsedPrinciples:
    """The principles of a verifier completion; never raises.

    Without a clean envelope the lines of the whole text are read (a pretrained model's plain list still counts,
    and ``envelope_ok`` says it was not clean).

    >>> p = parse_principles("<think>2 principles</think><answer>\\nfollow: Is the star red? saw small red star; yes\\n"
    ...                      "keep: Is there still a circle? yes (expected no); saw circle\\n</answer>")
    >>> [(x.kind, x.answer, x.expected, x.holds, x.reason) for x in p.principles], p.well_formed
    ([('follow', 'yes', 'yes', True, 'saw small red star'), ('keep', 'yes', 'no', False, 'saw circle')], True)
    >>> parse_principles("follow: broken line").malformed
    ("'follow: broken line'",)
    """
    if not isinstance(text, str):
        return ParsedPrinciples((), (f"not text: {type(text).__name__}",), False)
    envelope = parse_tagged(text)
    envelope_ok = envelope.answer is not None and envelope.well_formed
    body = envelope.answer if envelope.answer is not None else text
    principles: list[Principle] = []
    malformed: list[str] = []
    for raw in body.splitlines():
        line = " ".join(raw.split())
        if not line or (envelope.answer is None and line.startswith("<")):
            continue
        match = _REASON_FIRST.match(line) or _ANSWER_FIRST.match(line)
        if match is None:
            malformed.append(_snippet(line))
            continue
        principles.append(Principle(
            kind=match["kind"],  # type: ignore[arg-type]
            question=" ".join(match["question"].split()),
            answer=match["answer"],  # type: ignore[arg-type]
            expected=match["expected"] or "yes",  # type: ignore[arg-type]
            reason=(match["reason"] or "").strip(),
        ))
    return ParsedPrinciples(tuple(principles), tuple(malformed), envelope_ok)


def format_principle(principle: Principle) -> str:
    """One line of the format; raises ``ValueError`` on a field that would not parse back.

    >>> format_principle(Principle("keep", "Is the star unchanged?", "no", "yes", "saw large red star"))
    'keep: Is the star unchanged? saw large red star; no'
    >>> format_principle(Principle("follow", "Is the star gone?", "no", "no"))
    'follow: Is the star gone? no (expected no)'
    """
    question = " ".join(principle.question.split())
    if principle.kind not in PRINCIPLES:
        raise ValueError(f"principle kind {principle.kind!r} is not one of {', '.join(PRINCIPLES)}")
    if not question.endswith("?") or ";" in question:
        raise ValueError(f"question {question!r} must end with '?' and hold no ';'")
    if principle.answer not in ("yes", "no") or principle.expected not in ("yes", "no"):
        raise ValueError(f"answer and expected must be 'yes' or 'no', got {principle.answer!r}, {principle.expected!r}")
    reason = " ".join(principle.reason.split())
    if any(mark in reason for mark in "<>;") or reason in ("yes", "no"):
        raise ValueError(f"reason {reason!r} may not hold '<', '>' or ';' nor be a bare yes/no")
    expected = "" if principle.expected == "yes" else f" (expected {principle.expected})"
    return f"{principle.kind}: {question} " + (f"{reason}; " if reason else "") + f"{principle.answer}{expected}"


def format_principles(principles: Iterable[Principle]) -> str:
    """A whole completion: ``<think>N principles</think><answer>`` and one line per principle.

    >>> print(format_principles([Principle("follow", "Is the star red?", "yes", reason="saw small red star")]))
    <think>1 principle</think><answer>
    follow: Is the star red? saw small red star; yes
    </answer>
    """
    lines = [format_principle(p) for p in principles]
    count = f"{len(lines)} principle" + ("" if len(lines) == 1 else "s")
    return format_tagged(count, "\n".join(lines))


def principle_score(principles: Iterable[Principle]) -> float:
    """The verifier's score: the share of principles that hold; 0 when there is none (nothing checked is no
    evidence of a good edit).

    >>> principle_score([Principle("follow", "a?", "yes"), Principle("keep", "b?", "no")]), principle_score([])
    (0.5, 0.0)
    """
    items = list(principles)
    return sum(p.holds for p in items) / len(items) if items else 0.0
