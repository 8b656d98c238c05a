"""Parsers for the free text of chat models (pure functions of text; they never raise on a ``str``).

A pretrained VLM rarely follows a format exactly, and an untrained one writes noise, so every parser here is
lenient and reports what it could not read instead of raising:

- :func:`answer_text`: the part of a completion that holds the answer (the ``<answer>`` block, else the text
  without any ``<think>`` block).
- :func:`parse_plan_text`: a plan from ``<answer>…</answer>``, ThinkRL-Edit's ``{"Rewrited": …}`` JSON, or plain text.
- :func:`parse_yes_no`: ``"yes"`` / ``"no"`` / ``"unknown"`` from an answer such as "Yes.", "**No**, the car is red",
  "Answer: yes" or ``{"answer": "no"}``; several conflicting verdicts give ``"unknown"``.
- :func:`parse_questions`: yes/no questions, one per line, with bullets and numbering removed.
- :func:`parse_order`: the sorter's numbered lines (``2: make the car blue``).
- :func:`parse_scores`: 1-5 scores per named dimension (JSON, ``name: 4``, ``Name - 4/5``, ``4 out of 5``), as
  KRIS-Bench and RISEBench judges write them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any, Literal

__all__ = [
    "answer_text",
    "parse_plan_text",
    "parse_yes_no",
    "parse_questions",
    "parse_order",
    "parse_scores",
    "json_objects",
]

_THINK_BLOCK = re.compile(r"<think>.*?(?:</think>|$)", re.DOTALL)
_ANSWER_BLOCK = re.compile(r"<answer>(.*?)(?:</answer>|$)", re.DOTALL)
_TAGS = re.compile(r"</?(?:think|answer|action|subject|target)>")
_WORD = re.compile(r"[a-z]+")
_LEADING_VERDICT = re.compile(r"^\W*(yes|yeah|yep|true|correct|no|nope|false|incorrect)\b\W*?(?:[.,;:!)\]]|$)")
_YES = {"yes", "yeah", "yep", "true", "correct"}
_NO = {"no", "nope", "false", "incorrect"}
_BULLET = re.compile(r"^\s*(?:[-*•·]+|\(?[0-9]{1,3}[.):]|\(?[a-z][.)]|q[0-9]{0,3}\s*[:.)]|question\s*[0-9]*\s*[:.)])\s*", re.IGNORECASE)
_ORDER_LINE = re.compile(r"^\s*(?:[-*•]\s*)?(?:step\s*)?[\[(#]?\s*([0-9]{1,3})\s*[\])]?\s*(?:[:.)\-–—]|=>|->)\s*(.*)$", re.IGNORECASE)
_PLAN_KEYS = ("rewrited", "rewritten", "rewrite", "plan", "instruction", "answer")


def answer_text(text: str) -> str:
    """The answer part of a completion: the first ``<answer>`` block (to the end if unclosed), else the text with
    ``<think>`` blocks removed; stripped.

    >>> answer_text("<think>hmm</think><answer> Yes </answer>")
    'Yes'
    >>> answer_text("<think>unclosed reasoning")
    ''
    >>> answer_text("plain")
    'plain'
    """
    if not isinstance(text, str):
        return ""
    match = _ANSWER_BLOCK.search(text)
    if match:
        return match.group(1).strip()
    return _THINK_BLOCK.sub(" ", text).strip()


def json_objects(text: str) -> list[Any]:
    """Every JSON object or array that parses inside ``text`` (e.g. in a ```json fence), outermost first.

    >>> json_objects('noise {"a": 1} more [2, 3]')
    [{'a': 1}, [2, 3]]
    """
    found: list[Any] = []
    if not isinstance(text, str):
        return found
    decoder = json.JSONDecoder()
    i = 0
    while i < len(text):
        if text[i] in "{[":
            try:
                value, end = decoder.raw_decode(text, i)
            except ValueError:
                i += 1
                continue
            found.append(value)
            i = end
        else:
            i += 1
    return found


def _normalise_key(key: str) -> str:
    return re.sub(r"[^a-z]", "", str(key).lower())


def parse_plan_text(text: str) -> str:
    """The plan in a thinker completion, as one line: the ``<answer>`` block, else a JSON value under
    ``Rewrited`` / ``rewritten`` / ``plan`` / ``instruction`` (ThinkRL-Edit), else the text without think blocks and
    tags. Never raises.

    >>> parse_plan_text('<think>x</think><answer>Make the car blue.</answer>')
    'Make the car blue.'
    >>> parse_plan_text('Sure! {"Rewrited": "Paint the car blue."}')
    'Paint the car blue.'
    >>> parse_plan_text("Paint the\\ncar blue.")
    'Paint the car blue.'
    """
    if not isinstance(text, str):
        return ""
    if _ANSWER_BLOCK.search(text) is None:
        for obj in json_objects(text):
            if isinstance(obj, Mapping):
                for key, value in obj.items():
                    if _normalise_key(key) in _PLAN_KEYS and isinstance(value, str) and value.strip():
                        return " ".join(value.split())
    body = _TAGS.sub(" ", answer_text(text))
    return " ".join(body.split())


def _verdict_word(word: str) -> str | None:
    if word in _YES:
        return "yes"
    if word in _NO:
        return "no"
    return None


def parse_yes_no(text: str) -> Literal["yes", "no", "unknown"]:
    """A yes/no verdict from free text; ``"unknown"`` when there is none or it is contradictory.

    Rules: look at :func:`answer_text`; a JSON ``{"answer": ...}`` (or ``label``/``verdict``) decides; else a leading
    verdict word followed by punctuation or the end ("No, ...", "Yes."); else the single kind of verdict word
    (yes/no/true/false/correct/incorrect, ...) the text contains.

    >>> [parse_yes_no(t) for t in ["Yes.", "**No**, the car is still red.", "Answer: yes", "The answer is no."]]
    ['yes', 'no', 'yes', 'no']
    >>> [parse_yes_no(t) for t in ['{"answer": "No"}', "yes and no", "", "eyes nothing", "<think>no</think>yes"]]
    ['no', 'unknown', 'unknown', 'unknown', 'yes']
    """
    body = answer_text(text)
    for obj in json_objects(body):
        if isinstance(obj, Mapping):
            for key, value in obj.items():
                if _normalise_key(key) in ("answer", "label", "verdict", "result"):
                    word = _verdict_word(str(value).strip().lower()) if not isinstance(value, bool) else ("yes" if value else "no")
                    if word is not None:
                        return word  # type: ignore[return-value]
    lead = _LEADING_VERDICT.match(body.lower())
    if lead:
        return _verdict_word(lead.group(1))  # type: ignore[return-value]
    words = _WORD.findall(body.lower())
    kinds = {v for v in (_verdict_word(w) for w in words) if v is not None}
    return kinds.pop() if len(kinds) == 1 else "unknown"  # type: ignore[return-value]


def parse_questions(text: str, max_items: int = 8) -> list[str]:
    """Yes/no questions, one per line (or several per line), bullets and numbering removed, duplicates dropped.

    A question must end with ``?`` and have at least three words.

    >>> parse_questions("Questions:\\n1. Is the car blue?\\n- Is the sky unchanged? Is the tree still there?\\n2) ok?")
    ['Is the car blue?', 'Is the sky unchanged?', 'Is the tree still there?']
    >>> parse_questions("garbage")
    []
    """
    if not isinstance(text, str):
        return []
    body = _TAGS.sub("\n", answer_text(text))
    out: list[str] = []
    seen: set[str] = set()
    for line in body.splitlines():
        line = _BULLET.sub("", line.strip()).strip().strip('"').strip()
        for piece in re.findall(r"[^?]*\?", line):
            question = _BULLET.sub("", piece.strip()).strip()
            key = " ".join(question.lower().split())
            if len(question.split()) < 3 or key in seen:
                continue
            seen.add(key)
            out.append(" ".join(question.split()))
            if len(out) >= max_items:
                return out
    return out


def parse_order(text: str, n_items: int) -> list[tuple[int, str]]:
    """The sorter's lines ``<number><sep> <request>`` as ``(index, request)`` pairs, 0-based, in the order written.

    Numbers outside ``1..n_items`` and repeats are ignored; the request text may be empty (the caller fills it in).

    >>> parse_order("<answer>\\n2: move the star left\\n1. make the car blue\\n7: nonsense\\n2: again\\n</answer>", 3)
    [(1, 'move the star left'), (0, 'make the car blue')]
    >>> parse_order("no numbers here", 2)
    []
    """
    if not isinstance(text, str) or n_items < 1:
        return []
    out: list[tuple[int, str]] = []
    used: set[int] = set()
    for line in _TAGS.sub("\n", answer_text(text)).splitlines():
        match = _ORDER_LINE.match(line)
        if not match:
            continue
        index = int(match.group(1)) - 1
        if not 0 <= index < n_items or index in used:
            continue
        used.add(index)
        out.append((index, " ".join(match.group(2).split()).strip(" \"'")))
    return out


def _score_value(value: Any) -> int | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    if number != number or not 1 <= number <= 5:  # NaN or out of range
        return None
    return int(round(number))


def parse_scores(text: str, dimensions: Mapping[str, Sequence[str]]) -> dict[str, int | None]:
    """1-5 scores for each dimension; ``None`` where the text gives none (or one outside 1..5).

    Args:
        text: the judge's completion.
        dimensions: dimension name -> aliases (lower-case words that may name it in the text, e.g.
            ``{"instruction": ["instruction", "reasoning"]}``).

    JSON objects are read first (a key matches a dimension when it contains one of its aliases); then, per
    dimension, the first ``<alias> ... <score>`` within the same line (``Instruction following: 4``,
    ``Consistency - 3/5``, ``quality score is 5 out of 5``).

    >>> dims = {"instruction": ["instruction"], "consistency": ["consistency"], "quality": ["quality", "plausibility"]}
    >>> parse_scores("Instruction following: 4/5\\nAppearance consistency - 2\\nVisual plausibility: 5 out of 5", dims)
    {'instruction': 4, 'consistency': 2, 'quality': 5}
    >>> parse_scores('{"instruction_score": 3, "quality": 9}', dims)
    {'instruction': 3, 'consistency': None, 'quality': None}
    >>> parse_scores("nonsense 12", dims)
    {'instruction': None, 'consistency': None, 'quality': None}
    """
    scores: dict[str, int | None] = {name: None for name in dimensions}
    if not isinstance(text, str):
        return scores
    body = answer_text(text) or text
    for obj in json_objects(body):
        if not isinstance(obj, Mapping):
            continue
        for key, value in obj.items():
            norm = _normalise_key(key)
            for name, aliases in dimensions.items():
                if scores[name] is None and any(_normalise_key(a) in norm for a in aliases):
                    if isinstance(value, Mapping):  # {"instruction": {"score": 4, "reason": ...}}
                        value = next((v for k, v in value.items() if "score" in _normalise_key(k)), None)
                    scores[name] = _score_value(value)
    lowered = body.lower()
    for name, aliases in dimensions.items():
        if scores[name] is not None:
            continue
        for alias in aliases:
            pattern = re.escape(alias.lower()) + r"[^\n0-9]{0,40}?([0-9]+(?:\.[0-9]+)?)"
            match = re.search(pattern, lowered)
            if match:
                scores[name] = _score_value(match.group(1))
                break
    return scores
