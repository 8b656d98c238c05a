"""Scores for the notes of a decomposer's reasoning trace: each "<phrase> = <what it names>".

A decomposer trained with a reasoning trace decides which object an indirect reference names *in its think*
("3 edits; the lowest shape = medium purple hexagon") and then copies that object into its answer. Credit given only
to the answer's lines lands on the copy, not on the decision: a wrong note copied faithfully is punished on the
copying tokens. These pure functions score each part of the think against the task's own trace
(:attr:`envs.task.EditTask.reasoning`), so the tokens where the decision is made can carry its credit.

The think is split on ``;``: the first part is the edit count (it shows in the answer's number of lines, so it is
not scored here), each later part one note. A note's score is the set F1 of the objects it lists (normalised descriptions) against the truth note it is matched with, one to one by
maximum total score (notes may come in any order); a note matched with nothing scores 0.
"""

from __future__ import annotations

from typing import Sequence

from rewards.f1 import max_weight_assignment, set_f1

__all__ = ["THINK_SEPARATOR", "split_think", "note_members", "trace_scores"]

#: What separates the parts of a decomposer's think (``agents.lm.prompts.decomposer_think`` writes it).
THINK_SEPARATOR = ";"


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
