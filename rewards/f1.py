"""Structured F1 between predicted and ground-truth edit components (ImageEdit-R1's decomposer reward).

ImageEdit-R1 rewards the decomposer with set-based F1 on ``action``, ``subject`` and ``target`` ("F1 per field, not
exact match"); the summaries we have do not say how sets from several components are combined. Two definitions are
offered; both normalise every member first (:mod:`rewards.text`: case, articles, whitespace, plurals, synonyms).

``mode="pooled"`` (default; the paper's wording): for each field, pool the members of all predicted components into
one set ``P`` and all ground-truth members into ``T`` (an action is a one-member set), and take
``F1 = 2|P ∩ T| / (|P| + |T|)``. Components are therefore matched by field sets, never by position. Cheap and
forgiving: it cannot tell *which* subject went with which action, and duplicates collapse.

``mode="matched"`` (stricter): pair predicted with ground-truth components one-to-one so that the summed
per-component similarity (mean of the three per-field set F1s) is maximal (Hungarian algorithm, exact), then per
field ``F1 = 2 S / (n_pred + n_truth)`` where ``S`` sums that field's set F1 over the matched pairs (soft F1:
precision ``S / n_pred``, recall ``S / n_truth``). Unmatched components score 0, so a repeated or missing component
costs reward, and a subject only counts with its own action.

In both modes ``overall`` is the mean of the three field F1s.

Edge cases (both modes): both component lists empty -> every score 1.0 (nothing to find, nothing wrong); exactly one
empty -> every score 0.0. Within a field (pooled) or a pair of components (matched): both member sets empty ->
1.0 (e.g. ``remove`` has no target on either side), exactly one empty -> 0.0. Members that normalise to nothing
(``"the"``) are dropped.

Properties: every score lies in [0, 1]; scores do not depend on the order of components or members; swapping
``predicted`` and ``truth`` leaves the pooled scores and the matched ``overall`` unchanged (with several optimal
matchings the matched per-field split can depend on order; ``overall`` cannot).
"""

from __future__ import annotations

import math
from collections.abc import Collection, Hashable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass

from rewards.text import _Prepared, normalize_members, normalize_phrase, prepare_synonyms
from rewards.types import Component, ComponentLike, as_components

__all__ = ["F1Result", "FIELDS", "MODES", "set_f1", "structured_f1", "component_scores", "max_weight_assignment"]

FIELDS = ("action", "subject", "target")
MODES = ("pooled", "matched")


@dataclass(frozen=True)
class F1Result:
    """Per-field and overall F1, each a ``float`` in ``[0, 1]``.

    >>> F1Result(1.0, 0.5, 0.0, 0.5).as_dict()
    {'action': 1.0, 'subject': 0.5, 'target': 0.0, 'overall': 0.5}
    """

    action: float
    subject: float
    target: float
    overall: float

    def as_dict(self) -> dict[str, float]:
        """``{"action", "subject", "target", "overall"}`` as a plain dict (for logging)."""
        return asdict(self)


def set_f1(predicted: Collection[Hashable], truth: Collection[Hashable]) -> float:
    """F1 between two sets: ``2|P ∩ T| / (|P| + |T|)``; both empty -> 1.0, exactly one empty -> 0.0.

    Duplicates in the inputs collapse (they are sets).

    >>> set_f1({"red", "blue"}, {"red"}), set_f1(set(), set()), set_f1({"red"}, set())
    (0.6666666666666666, 1.0, 0.0)
    """
    p, t = set(predicted), set(truth)
    if not p and not t:
        return 1.0
    if not p or not t:
        return 0.0
    return 2 * len(p & t) / (len(p) + len(t))


def _field_sets(comp: Component, prepared: _Prepared) -> tuple[frozenset[str], frozenset[str], frozenset[str]]:
    action = normalize_phrase(comp.action, _prepared=prepared)
    return (
        frozenset({action}) if action else frozenset(),
        normalize_members(comp.subject, _prepared=prepared),
        normalize_members(comp.target, _prepared=prepared),
    )


def max_weight_assignment(weights: Sequence[Sequence[float]]) -> list[tuple[int, int]]:
    """Exact maximum-weight assignment for a non-empty n x m matrix (every row of the smaller side matched).

    Hungarian algorithm with potentials, O(n^2 m). Returns ``(row, col)`` pairs.

    >>> sorted(max_weight_assignment([[1.0, 0.9], [0.95, 0.0]]))
    [(0, 1), (1, 0)]
    """
    n, m = len(weights), len(weights[0])
    if n > m:
        return [(r, c) for c, r in max_weight_assignment([list(col) for col in zip(*weights)])]
    cost = [[-w for w in row] for row in weights]
    u = [0.0] * (n + 1)
    v = [0.0] * (m + 1)
    p = [0] * (m + 1)
    way = [0] * (m + 1)
    for i in range(1, n + 1):
        p[0] = i
        j0 = 0
        minv = [math.inf] * (m + 1)
        used = [False] * (m + 1)
        while True:
            used[j0] = True
            i0, delta, j1 = p[j0], math.inf, 0
            for j in range(1, m + 1):
                if not used[j]:
                    cur = cost[i0 - 1][j - 1] - u[i0] - v[j]
                    if cur < minv[j]:
                        minv[j], way[j] = cur, j0
                    if minv[j] < delta:
                        delta, j1 = minv[j], j
            for j in range(m + 1):
                if used[j]:
                    u[p[j]] += delta
                    v[j] -= delta
                else:
                    minv[j] -= delta
            j0 = j1
            if p[j0] == 0:
                break
        while j0:
            j1 = way[j0]
            p[j0] = p[j1]
            j0 = j1
    return [(p[j] - 1, j - 1) for j in range(1, m + 1) if p[j]]


def structured_f1(
    predicted: Iterable[ComponentLike],
    truth: Iterable[ComponentLike],
    *,
    synonyms: Mapping[str, str] | None = None,
    mode: str = "pooled",
) -> F1Result:
    """Set-based F1 per field (action, subject, target) and overall; see the module docstring for definitions.

    Args:
        predicted: sequence of :class:`Component` or mappings ``{"action", "subject", "target"}`` (length ``n``).
        truth: the ground-truth components, same types (length ``m``).
        synonyms: optional ``{word_or_phrase: replacement}`` applied to both sides, e.g. ``{"crimson": "red"}``.
        mode: ``"pooled"`` (pool each field's members over components) or ``"matched"`` (one-to-one component
            matching).

    Returns:
        :class:`F1Result` with ``action``, ``subject``, ``target`` and ``overall`` (mean of the three) in ``[0, 1]``.

    Raises:
        ValueError: on an unknown ``mode`` or a malformed component (see :func:`rewards.types.as_component`).

    >>> truth = [{"action": "recolor", "subject": ["the red circle", "the star"], "target": "blue"},
    ...          {"action": "remove", "subject": "the square", "target": []}]
    >>> pred = [{"action": "Recolor", "subject": ["red circles"], "target": "Blue"}]
    >>> r = structured_f1(pred, truth)
    >>> round(r.action, 3), r.subject, r.target, round(r.overall, 3)
    (0.667, 0.5, 1.0, 0.722)
    >>> structured_f1(pred, truth, mode="matched").target
    0.6666666666666666
    >>> structured_f1([], []).overall, structured_f1(pred, []).overall
    (1.0, 0.0)
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    pred = as_components(predicted)
    true = as_components(truth)
    if not pred and not true:
        return F1Result(1.0, 1.0, 1.0, 1.0)
    if not pred or not true:
        return F1Result(0.0, 0.0, 0.0, 0.0)
    prepared = prepare_synonyms(synonyms)
    pred_sets = [_field_sets(c, prepared) for c in pred]
    true_sets = [_field_sets(c, prepared) for c in true]

    if mode == "pooled":
        scores = [
            set_f1(frozenset().union(*(s[f] for s in pred_sets)), frozenset().union(*(s[f] for s in true_sets)))
            for f in range(3)
        ]
    else:
        pair = [[[set_f1(p[f], t[f]) for f in range(3)] for t in true_sets] for p in pred_sets]
        matching = max_weight_assignment([[sum(fs) for fs in row] for row in pair])
        denominator = len(pred_sets) + len(true_sets)
        scores = [2 * math.fsum(pair[i][j][f] for i, j in matching) / denominator for f in range(3)]
        scores = [min(1.0, s) for s in scores]
    return F1Result(scores[0], scores[1], scores[2], sum(scores) / 3)


def component_scores(
    predicted: Iterable[ComponentLike],
    truth: Iterable[ComponentLike],
    *,
    synonyms: Mapping[str, str] | None = None,
) -> list[float]:
    """One score in ``[0, 1]`` per predicted component, in order: its similarity (mean of the three field set F1s)
    to the ground-truth component it is matched with one-to-one (as in ``mode="matched"``), 0 when unmatched.

    What per-component credit in GRPO needs: which of a completion's lines were right, not only how right the whole
    completion was.

    >>> truth = [{"action": "recolor", "subject": "the star", "target": "blue"}, {"action": "remove", "subject": "the square"}]
    >>> component_scores([{"action": "remove", "subject": "the square"},
    ...                   {"action": "recolor", "subject": "the circle", "target": "blue"},
    ...                   {"action": "add", "subject": "a star", "target": "top"}], truth)
    [1.0, 0.6666666666666666, 0.0]
    >>> component_scores([], truth), component_scores([{"action": "add", "subject": "a star"}], [])
    ([], [0.0])
    """
    pred = as_components(predicted)
    true = as_components(truth)
    if not pred or not true:
        return [0.0] * len(pred)
    prepared = prepare_synonyms(synonyms)
    pred_sets = [_field_sets(c, prepared) for c in pred]
    true_sets = [_field_sets(c, prepared) for c in true]
    similarity = [[sum(set_f1(p[f], t[f]) for f in range(3)) / 3 for t in true_sets] for p in pred_sets]
    scores = [0.0] * len(pred)
    for i, j in max_weight_assignment(similarity):
        scores[i] = similarity[i][j]
    return scores
