"""Scores for the notes of a decomposer's reasoning trace: each "<phrase> = <what it names>".

A decomposer trained with a reasoning trace decides which object an indirect reference names *in its think*
("3 edits; the lowest shape = medium purple hexagon") and then copies that object into its answer. Credit given only
to the answer's lines lands on the copy, not on the decision: a wrong note copied faithfully is punished on the
copying tokens. These pure functions score each part of the think against the task's own trace
(:attr:`envs.task.EditTask.reasoning`), so the tokens where the decision is made can carry its credit.

The think is split on ``;``: the first part is the edit count (it shows in the answer's number of lines, so it is
not scored here), each later part one note. A note's score is the set F1 of the objects it lists (normalised descriptions) against the truth note it is matched with, one to one by
maximum total score (notes may come in any order); a note matched with nothing scores 0.

A scan note ("<phrase>: <entry>, <entry>, ... = <objects>", ``train.sft.scan``) also decides object by object: each
entry ("large blue star 0.20 no") is scored against the entry at the same place in the truth scan of the note with
the same phrase (:func:`scan_scores`), so credit can land on the one object the policy misjudged.
"""

from __future__ import annotations

from typing import Sequence

from rewards.f1 import max_weight_assignment, set_f1

__all__ = ["THINK_SEPARATOR", "SCAN_START", "SCAN_END", "SCAN_SEPARATOR", "split_think", "note_members", "trace_scores",
           "scan_entries", "scan_scores"]

#: What separates the parts of a decomposer's think (``agents.lm.prompts.reasoning_think`` writes it).
THINK_SEPARATOR = ";"
#: Where a scan note's entries begin and end, and what separates them ("<phrase>: <entry>, <entry> = <objects>").
SCAN_START, SCAN_END, SCAN_SEPARATOR = ":", " =", ","


def split_think(think: str) -> list[str]:
    """The parts of a think: the edit count first, then one part per note.

    >>> split_think("2 edits; the lowest shape = medium purple hexagon")
    ['2 edits', ' the lowest shape = medium purple hexagon']
    """
    return think.split(THINK_SEPARATOR)


def note_members(note: str) -> frozenset[str] | None:
    """The normalised descriptions a note lists after ``=``; None when the part is not a note.

    >>> sorted(note_members("all stars = large green star,  Medium orange star"))
    ['large green star', 'medium orange star']
    >>> note_members("3 edits") is None
    True
    """
    if "=" not in note:
        return None
    listed = note.split("=", 1)[1]
    return frozenset(" ".join(m.lower().split()) for m in listed.split(",") if m.strip())


def trace_scores(think: str, truth_notes: Sequence[str]) -> list[float]:
    """One score in ``[0, 1]`` per note of ``think`` (the parts after the first, :func:`split_think`), in order: the
    set F1 of its members against the truth note it is matched with (``truth_notes`` as
    :attr:`envs.task.EditTask.reasoning`); 0 for a part that is not a note or is matched with nothing.

    >>> trace_scores("2 edits; the lowest shape = medium purple hexagon", ["the lowest shape = medium purple hexagon"])
    [1.0]
    >>> trace_scores("1 edit; all stars = large green star", ["all stars = large green star, medium orange star"])
    [0.6666666666666666]
    >>> trace_scores("1 edit; the star = small red star", [])  # a note the request does not need
    [0.0]
    >>> trace_scores("3 edits", ["the lowest shape = medium purple hexagon"])  # no note: nothing to score
    []
    """
    predicted = [note_members(p) for p in split_think(think)[1:]]
    truth = [note_members(n) or frozenset() for n in truth_notes]
    scores = [0.0] * len(predicted)
    if predicted and truth:
        weights = [[set_f1(p, t) if p is not None else 0.0 for t in truth] for p in predicted]
        for row, col in max_weight_assignment(weights):
            scores[row] = weights[row][col]
    return scores


def _normal(text: str) -> str:
    return " ".join(text.lower().split())


def scan_entries(note: str) -> tuple[str, list[str]] | None:
    """``(phrase, entries)`` of a scan note, normalised; None when the note has no scan.

    >>> scan_entries(" the red shape: Large blue star no,  small red star yes = small red star")
    ('the red shape', ['large blue star no', 'small red star yes'])
    >>> scan_entries("the red shape = small red star") is None
    True
    """
    head, sep, _ = note.partition(SCAN_END)
    phrase, colon, scan = head.partition(SCAN_START)
    if not sep or not colon:
        return None
    return _normal(phrase), [_normal(e) for e in scan.split(SCAN_SEPARATOR)]


def _entry_key(entry: str) -> str:
    """An entry's object and verdict ("large blue star no"), without the working between them. A number is the
    policy's working (a coordinate it copied or a distance it estimated) whose truth comes from the exact scene,
    which perception rounds slightly differently; compared values ("blue vs red") only restate the object and the
    phrase. Neither is graded, so a policy trained on scans with or without them gets the same credit.

    >>> _entry_key("large blue star 0.2 no"), _entry_key("large blue star blue vs red no"), _entry_key("star yes")
    ('large blue star no', 'large blue star no', 'star yes')
    """
    words = [w for w in entry.split() if not w.replace(".", "", 1).isdigit()]
    return " ".join(words[:3] + words[-1:]) if len(words) > 4 else " ".join(words)


def scan_scores(think: str, truth_notes: Sequence[str], truth_scans: Sequence[str],
                truth_running: Sequence[str] = (), truth_order: Sequence[str] = (),
                truth_compare: Sequence[str] = ()) -> list[list[float] | None]:
    """Per note of ``think`` (as :func:`trace_scores` counts them), one score per scan entry: 1.0 when the entry
    names the same object with the same verdict as the entry at the same place of the truth scan of the note with
    the same phrase (:attr:`envs.task.EditTask.reasoning_scans`; numbers are not compared), else 0.0; None for a
    note without a scan or whose phrase the truth does not have. A phrase used by several steps is matched with
    their scans in order. A note whose entries keep a running best ("... best") is scored against the running scan
    of its phrase (:attr:`envs.task.EditTask.reasoning_running_scans`, ``truth_running``) where there is one, or,
    when they also write comparisons ("... vs ..."), against its compare scan
    (:attr:`envs.task.EditTask.reasoning_compare_scans`, ``truth_compare``) where there is one; a note
    whose entries carry no verdict at all (the competing objects top to bottom), against the order scan
    (:attr:`envs.task.EditTask.reasoning_order_scans`, ``truth_order``) where there is one.

    >>> truth = ["the red shape = small red star"], ["large blue star 0.20 no, small red star 0.61 yes"]
    >>> scan_scores("1 edit; the red shape: large blue star 0.2 yes, small red star 0.60 yes = small red star", *truth)
    [[0.0, 1.0]]
    >>> scan_scores("1 edit; the red shape: large blue star no, small red star yes, small red star no = x", *truth)
    [[1.0, 1.0, 0.0]]
    >>> scan_scores("1 edit; the blue shape: large blue star yes = large blue star", *truth)
    [None]
    >>> scan_scores("2 edits; a: x no = y; a: x yes = x", ["a = y", "a = x"], ["x no", "x yes"])
    [[1.0], [1.0]]
    >>> scan_scores("1 edit; a: x 0.5 best, y 0.3 best = y", ["a = y"], ["x 0.5 no, y 0.3 yes"], ["x 0.5 best, y 0.3 no"])
    [[1.0, 0.0]]
    >>> scan_scores("1 edit; a: big red star, big blue star = big blue star", ["a = big blue star"],
    ...             ["big red star 0.2 no, big blue star 0.5 yes"], [""], ["big red star, big green star"])
    [[1.0, 0.0]]
    >>> scan_scores("1 edit; a: x 0.50 best, y 0.50 vs 0.50 same for more no, z 0.90 vs 0.50 more for more best = z",
    ...             ["a = z"], ["x 0.50 no, y 0.50 no, z 0.90 yes"], ["x 0.50 best, y 0.50 best, z 0.90 best"], [""],
    ...             ["x 0.50 best, y 0.50 vs 0.50 same for more no, z 0.90 vs 0.50 more for more best"])
    [[1.0, 1.0, 1.0]]
    """
    def keys(scan: str) -> list[str]:
        return [_entry_key(_normal(e)) for e in scan.split(SCAN_SEPARATOR)]

    # Per phrase, in step order: (verdict scan, running scan, compare scan, order scan), each the verdict scan where
    # the note has no such scan.
    by_phrase: dict[str, list[tuple[list[str], list[str], list[str], list[str]]]] = {}
    running = list(truth_running) or [""] * len(truth_scans)
    ordered = list(truth_order) or [""] * len(truth_scans)
    compared = list(truth_compare) or [""] * len(truth_scans)
    for note, scan, best, order, compare in zip(truth_notes, truth_scans, running, ordered, compared):
        if scan:
            by_phrase.setdefault(_normal(note.partition(" = ")[0]), []).append(
                (keys(scan), keys(best or scan), keys(compare or best or scan), keys(order or scan)))
    used: dict[str, int] = {}
    out: list[list[float] | None] = []
    for part in split_think(think)[1:]:
        parsed = scan_entries(part)
        if parsed is None or parsed[0] not in by_phrase:
            out.append(None)
            continue
        scans = by_phrase[parsed[0]]
        verdicts, best, compare, order = scans[min(used.get(parsed[0], 0), len(scans) - 1)]
        if any(entry.endswith(" best") for entry in parsed[1]):
            truth = compare if any(" vs " in entry for entry in parsed[1]) else best
        elif not any(entry.endswith((" yes", " no")) for entry in parsed[1]):
            truth = order
        else:
            truth = verdicts
        used[parsed[0]] = used.get(parsed[0], 0) + 1
        out.append([1.0 if k < len(truth) and _entry_key(entry) == truth[k] else 0.0 for k, entry in enumerate(parsed[1])])
    return out
