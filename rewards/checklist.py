"""Checklist reward: the fraction of yes/no checklist items the verifier answered as expected.

DDA-Thinker's cognitive reward and ThinkRL-Edit's reasoning reward are "the fraction of yes over N questions"; here
each item carries its expected answer (so "is the square gone?" can expect "no" when phrased the other way), which
reduces to the papers' definition when every item expects "yes". Edit-R1 groups checks by principle (keep / follow /
quality); ``groups`` and ``weights`` cover that.

Policies the papers leave open, fixed here:

- **Unknown answers** (``None`` or ``"unknown"``: the verifier could not tell), parameter ``unknown``:
  ``"fail"`` (default) scores the item 0, so a verifier that cannot see never earns reward; ``"skip"`` leaves the
  item out of its group's denominator; ``"half"`` scores it 0.5.
- **Groups**: an item's score is 1 if answered as expected, else 0; a group's score is the mean over its counted
  items; the reward is the weighted mean of the group scores, over the groups that have at least one counted item
  (weights are renormalised over those). Without ``groups`` all items form one group.
- If nothing is counted (every item unknown under ``"skip"``) the reward is 0.0: nothing verified earns nothing.
- Answers and expectations are compared case-insensitively after stripping whitespace.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

__all__ = ["checklist_reward", "UNKNOWN_POLICIES"]

UNKNOWN_POLICIES = ("fail", "skip", "half")
_ANSWERS = ("yes", "no", "unknown")


def _norm_answer(value: object, index: int, what: str, allowed: tuple[str, ...]) -> str:
    if value is None and "unknown" in allowed:
        return "unknown"
    if not isinstance(value, str) or value.strip().lower() not in allowed:
        or_none = " or None" if "unknown" in allowed else ""
        raise ValueError(f"{what}[{index}] must be one of {list(allowed)}{or_none}, got {value!r}")
    return value.strip().lower()


def checklist_reward(
    answers: Sequence[str | None],
    expected: Sequence[str],
    weights: Mapping[str, float] | None = None,
    *,
    groups: Sequence[str] | None = None,
    unknown: str = "fail",
) -> float:
    """Fraction of checklist items answered as expected, optionally as a weighted mean over groups.

    Args:
        answers: length-``N`` sequence of ``"yes"``, ``"no"``, ``"unknown"`` or ``None`` (the verifier's verdicts).
        expected: length-``N`` sequence of ``"yes"`` / ``"no"``.
        weights: optional ``{group: weight >= 0}``; requires ``groups`` and must name every group present. Groups
            absent from this checklist are ignored. Default (with ``groups``): equal weight per group.
        groups: optional length-``N`` sequence of group names (e.g. ``"keep"``, ``"follow"``, ``"quality"``).
        unknown: policy for unknown answers: ``"fail"`` (score 0), ``"skip"`` (not counted) or ``"half"`` (0.5).

    Returns:
        ``float`` in ``[0, 1]``.

    Raises:
        ValueError: on an empty checklist, mismatched lengths, an answer or expectation outside the allowed values,
            an unknown policy, ``weights`` without ``groups``, a group missing from ``weights``, or a negative,
            non-finite or all-zero weight.

    >>> checklist_reward(["yes", "no", None, "yes"], ["yes", "yes", "yes", "yes"])
    0.5
    >>> checklist_reward(["yes", "no", None, "yes"], ["yes", "yes", "yes", "yes"], unknown="skip")
    0.6666666666666666
    >>> checklist_reward(["yes", "no", "yes"], ["yes", "yes", "yes"],
    ...                  {"keep": 3.0, "follow": 1.0}, groups=["keep", "follow", "follow"])
    0.875
    """
    if unknown not in UNKNOWN_POLICIES:
        raise ValueError(f"unknown must be one of {UNKNOWN_POLICIES}, got {unknown!r}")
    if isinstance(answers, str) or isinstance(expected, str):
        raise ValueError("answers and expected must be sequences of answers, not a single str; wrap it in a list")
    answers, expected = list(answers), list(expected)
    if len(answers) != len(expected):
        raise ValueError(f"answers has {len(answers)} items but expected has {len(expected)}; they must match")
    if not answers:
        raise ValueError("empty checklist: there is nothing to score; give at least one item")
    got = [_norm_answer(a, i, "answers", _ANSWERS) for i, a in enumerate(answers)]
    want = [_norm_answer(e, i, "expected", ("yes", "no")) for i, e in enumerate(expected)]

    if groups is None:
        if weights is not None:
            raise ValueError("weights are per group: pass groups=[group of each item] together with weights")
        item_groups = [""] * len(got)
    else:
        if isinstance(groups, str):
            raise ValueError("groups must be a sequence with one group name per item, not a single str")
        item_groups = list(groups)
        if len(item_groups) != len(got):
            raise ValueError(f"groups has {len(item_groups)} items but answers has {len(got)}; they must match")
        for i, g in enumerate(item_groups):
            if not isinstance(g, str):
                raise ValueError(f"groups[{i}] must be a str group name, got {g!r}")

    present = list(dict.fromkeys(item_groups))
    if weights is None:
        group_weight = {g: 1.0 for g in present}
    else:
        missing = [g for g in present if g not in weights]
        if missing:
            raise ValueError(f"weights has no entry for groups {missing}; known: {sorted(weights)}")
        group_weight = {}
        for g in present:
            w = weights[g]
            if isinstance(w, bool) or not isinstance(w, (int, float)) or not math.isfinite(w) or w < 0:
                raise ValueError(f"weight of group {g!r} must be a finite number >= 0, got {w!r}")
            group_weight[g] = float(w)
        if not any(group_weight.values()):
            raise ValueError(f"all group weights are zero for groups {present}; give at least one a positive weight")

    totals: dict[str, list[float]] = {g: [] for g in present}
    for answer, exp, g in zip(got, want, item_groups):
        if answer == "unknown":
            if unknown == "skip":
                continue
            totals[g].append(0.5 if unknown == "half" else 0.0)
        else:
            totals[g].append(1.0 if answer == exp else 0.0)

    counted = [g for g in present if totals[g] and group_weight[g] > 0]
    if not counted:
        return 0.0
    weight_sum = math.fsum(group_weight[g] for g in counted)
    reward = math.fsum(group_weight[g] * (math.fsum(totals[g]) / len(totals[g])) for g in counted) / weight_sum
    return min(1.0, max(0.0, reward))
