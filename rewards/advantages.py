"""Group math: GRPO normalisation, reward combiners, UCPG and GCPO. Pure numpy, shapes documented.

Notation: ``N`` samples in a batch, made of groups (one group = the ``G`` samples drawn for one prompt), ``K`` reward
dimensions. ``group_ids`` is a length-``N`` sequence of hashable labels; samples with equal labels form a group.

Choices the papers leave open, fixed here (see each function for details):

- :func:`group_normalize` uses the sample standard deviation (``ddof=1``) by default, like TRL and verl
  (``torch.std`` is unbiased); a group of one sample, or one whose rewards are all equal, gets advantage exactly 0
  (verl instead passes a singleton's raw reward through).
- :func:`dual_atomic_advantages` (DDA-Thinker): each reward is normalised within its group on its own, then the
  advantages are combined with weights (default: equal weights ``1/K``, so the scale matches one reward).
- :func:`ucpg_advantages` (ThinkRL-Edit): "consistent order across all reward dimensions" is made pairwise: two
  chains conflict iff one dimension ranks them one way and another dimension the other way (a tie on a dimension
  never conflicts). Two chains are compatible iff one weakly dominates the other, and weak dominance is transitive,
  so a largest pairwise-compatible subset is a longest chain of the dominance preorder: it is found exactly by
  dynamic programming in ``O(G^2 K)`` (no exponential clique search needed, any ``G``). Among several largest
  subsets the one with the largest total rank (sum over dimensions of each member's average rank among all ``G``
  chains) wins, then the lexicographically smallest sorted index list. Kept chains are ranked by the sum of their
  per-dimension average ranks within the subset (average ranks again for ties; inside a consistent subset only
  chains with identical scores tie), and the advantage is the standardised rank (mean 0, population std 1; all 0 if
  every kept chain ties). Chains outside the subset get advantage 0.
- :func:`gcpo_rewards` (Edit-R1): a preferred-side candidate earns the fraction of rejected-side candidates it scores
  strictly above, a rejected-side candidate the fraction of preferred-side candidates it scores strictly below; a
  tie earns ``tie_credit`` (default 0.5, so both sides' mean reward equals the AUC).
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "group_normalize",
    "weighted_sum",
    "dual_atomic_advantages",
    "average_ranks",
    "ucpg_subset",
    "ucpg_subset_sizes",
    "ucpg_advantages",
    "gcpo_rewards",
    "GCPORewards",
]

FloatArray = NDArray[np.float64]


def _finite_array(values: ArrayLike, name: str, ndim: int) -> FloatArray:
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name} must be numeric, got {type(values).__name__}: {err}") from err
    if arr.ndim != ndim:
        hint = " (for one reward dimension, reshape to (N, 1))" if ndim == 2 and arr.ndim == 1 else ""
        raise ValueError(f"{name} must be {ndim}-D, got shape {arr.shape}{hint}")
    if arr.shape[0] == 0:
        raise ValueError(f"{name} is empty; a group needs at least one sample")
    if ndim == 2 and arr.shape[1] == 0:
        raise ValueError(f"{name} has no reward dimensions (shape {arr.shape}); give at least one column")
    bad = ~np.isfinite(arr)
    if bad.any():
        where = np.argwhere(bad)[0].tolist()
        raise ValueError(f"{name} contains NaN or inf (first at index {where}); score every sample with a finite value")
    return arr


def _group_codes(group_ids: Sequence[Hashable] | ArrayLike | None, n: int) -> tuple[NDArray[np.intp], int]:
    """Map labels to codes 0..n_groups-1 in order of first appearance."""
    if group_ids is None:
        return np.zeros(n, dtype=np.intp), 1
    if isinstance(group_ids, str):
        raise ValueError("group_ids must be a sequence with one label per sample, not a single str")
    labels = list(np.asarray(group_ids).tolist()) if isinstance(group_ids, np.ndarray) else list(group_ids)
    if len(labels) != n:
        raise ValueError(f"group_ids has {len(labels)} labels but there are {n} samples; give one label per sample")
    codes: dict[Hashable, int] = {}
    try:
        out = np.fromiter((codes.setdefault(g, len(codes)) for g in labels), dtype=np.intp, count=n)
    except TypeError as err:
        raise ValueError(f"group_ids must be hashable labels: {err}") from err
    return out, len(codes)


def group_normalize(
    rewards: ArrayLike,
    group_ids: Sequence[Hashable] | ArrayLike | None = None,
    *,
    scale_by_std: bool = True,
    eps: float = 1e-6,
    ddof: int = 1,
) -> FloatArray:
    """GRPO advantages: ``A_i = (r_i - mean_g) / (std_g + eps)`` within each group ``g``.

    Args:
        rewards: ``[N]`` finite floats.
        group_ids: ``[N]`` hashable labels (``None``: all samples form one group).
        scale_by_std: divide by the group std (``False`` = Dr.GRPO, centring only).
        eps: added to the std (verl 1e-6, TRL 1e-4).
        ddof: 1 = sample std (TRL, verl), 0 = population std.

    Returns:
        ``[N]`` float64 advantages. Groups whose rewards are all equal (including groups of one) get exactly 0.

    Raises:
        ValueError: on empty input, NaN/inf, wrong shape, mismatched ``group_ids`` length, ``eps < 0`` or ``ddof``
            not in {0, 1}.

    >>> group_normalize([1.0, 0.0, 1.0, 0.0, 0.5, 0.5], ["a", "a", "a", "a", "b", "b"]).round(3).tolist()
    [0.866, -0.866, 0.866, -0.866, 0.0, 0.0]
    >>> group_normalize([1.0, 0.0, 3.0], scale_by_std=False).round(3).tolist()
    [-0.333, -1.333, 1.667]
    """
    r = _finite_array(rewards, "rewards", 1)
    if not (eps >= 0 and np.isfinite(eps)):
        raise ValueError(f"eps must be a finite number >= 0, got {eps!r}")
    if ddof not in (0, 1):
        raise ValueError(f"ddof must be 0 (population std) or 1 (sample std), got {ddof!r}")
    codes, n_groups = _group_codes(group_ids, len(r))
    counts = np.bincount(codes, minlength=n_groups).astype(np.float64)
    means = np.bincount(codes, weights=r, minlength=n_groups) / counts
    centred = r - means[codes]
    lo = np.full(n_groups, np.inf)
    hi = np.full(n_groups, -np.inf)
    np.minimum.at(lo, codes, r)
    np.maximum.at(hi, codes, r)
    constant = (lo == hi)[codes]
    if not scale_by_std:
        return np.where(constant, 0.0, centred)
    ss = np.bincount(codes, weights=centred**2, minlength=n_groups)
    std = np.sqrt(ss / np.maximum(counts - ddof, 1.0))
    # constant groups (and groups of one) are set to exactly 0; elsewhere std > 0, so eps = 0 is safe
    return np.divide(centred, std[codes] + eps, out=np.zeros_like(centred), where=~constant)


def weighted_sum(
    rewards: Mapping[str, float | ArrayLike] | ArrayLike, weights: Mapping[str, float] | ArrayLike
) -> float | FloatArray:
    """``sum_k w_k * r_k``: the plain (non-normalised) fusion of several rewards.

    Args:
        rewards: either ``{name: float or [N] array}`` with ``weights`` ``{name: float}`` naming exactly the same
            rewards, or an array ``[K]`` / ``[N, K]`` with ``weights`` ``[K]``.
        weights: see ``rewards``. Weights may be any finite numbers; they are not renormalised.

    Returns:
        ``float`` for scalar rewards / a ``[K]`` array, ``[N]`` float64 array otherwise.

    Raises:
        ValueError: on NaN/inf, mismatched names or lengths, or empty input.

    >>> weighted_sum({"f1": 0.5, "format": 1.0}, {"f1": 1.0, "format": 0.5})
    1.0
    >>> weighted_sum([[1.0, 0.0], [0.5, 0.5]], [0.25, 0.75]).tolist()
    [0.25, 0.5]
    """
    if isinstance(rewards, Mapping):
        if not isinstance(weights, Mapping):
            raise ValueError("rewards is a mapping, so weights must be a mapping {reward name: weight}")
        if set(rewards) != set(weights):
            raise ValueError(
                "rewards and weights must name the same rewards: missing weights for "
                f"{sorted(set(rewards) - set(weights))}, weights without a reward {sorted(set(weights) - set(rewards))}"
            )
        if not rewards:
            raise ValueError("rewards is empty; give at least one reward")
        names = list(rewards)
        shapes = {k: np.shape(rewards[k]) for k in names}
        if len(set(shapes.values())) != 1 or len(shapes[names[0]]) > 1:
            raise ValueError(f"every reward must be a float or an [N] array with the same N, got shapes {shapes}")
        columns = np.stack([np.asarray(rewards[k], dtype=np.float64) for k in names], axis=-1)
        return weighted_sum(columns, [weights[k] for k in names])
    r = np.asarray(rewards, dtype=np.float64)
    if r.ndim not in (1, 2):
        raise ValueError(f"rewards must be [K] or [N, K], got shape {r.shape}")
    matrix = _finite_array(r.reshape(1, -1) if r.ndim == 1 else r, "rewards", 2)
    w = _finite_array(weights, "weights", 1)
    if matrix.shape[1] != len(w):
        raise ValueError(f"rewards has {matrix.shape[1]} columns but weights has {len(w)} entries; they must match")
    out = matrix @ w
    return float(out[0]) if r.ndim == 1 else out


def dual_atomic_advantages(
    reward_matrix: ArrayLike,
    group_ids: Sequence[Hashable] | ArrayLike | None = None,
    weights: ArrayLike | None = None,
    *,
    scale_by_std: bool = True,
    eps: float = 1e-6,
    ddof: int = 1,
) -> FloatArray:
    """DDA-Thinker's decoupled rewards: normalise each reward in its own group, then combine the advantages.

    ``A_i = sum_k w_k * group_normalize(R[:, k], group_ids)_i``. Unlike normalising ``R @ w``, a reward with a large
    spread cannot drown out one with a small spread.

    Args:
        reward_matrix: ``[N, K]`` finite rewards (e.g. K=2: cognitive, visual).
        group_ids: ``[N]`` labels, or ``None`` for one group.
        weights: ``[K]`` finite weights; default ``1/K`` each.
        scale_by_std, eps, ddof: as in :func:`group_normalize`, applied per reward.

    Returns:
        ``[N]`` float64 advantages.

    Raises:
        ValueError: on NaN/inf, wrong shapes, or a weights length other than ``K``.

    >>> R = [[1.0, 0.0], [0.0, 0.0], [1.0, 10.0], [1.0, 10.0]]
    >>> dual_atomic_advantages(R).round(3).tolist()
    [-0.183, -1.183, 0.683, 0.683]
    """
    matrix = _finite_array(reward_matrix, "reward_matrix", 2)
    k = matrix.shape[1]
    w = np.full(k, 1.0 / k) if weights is None else _finite_array(weights, "weights", 1)
    if len(w) != k:
        raise ValueError(f"weights has {len(w)} entries but reward_matrix has {k} columns; they must match")
    out = np.zeros(matrix.shape[0])
    for col in range(k):
        out += w[col] * group_normalize(matrix[:, col], group_ids, scale_by_std=scale_by_std, eps=eps, ddof=ddof)
    return out


def average_ranks(values: ArrayLike) -> FloatArray:
    """1-based ranks, ascending; tied values share the average of their ranks.

    >>> average_ranks([0.3, 0.1, 0.3, 0.9]).tolist()
    [2.5, 1.0, 2.5, 4.0]
    """
    x = _finite_array(values, "values", 1)
    order = np.argsort(x, kind="stable")
    sorted_x = x[order]
    ranks = np.empty(len(x))
    start = 0
    for end in range(1, len(x) + 1):
        if end == len(x) or sorted_x[end] != sorted_x[start]:
            ranks[order[start:end]] = (start + 1 + end) / 2.0
            start = end
    return ranks


def ucpg_subset(scores: ArrayLike) -> NDArray[np.bool_]:
    """The chains UCPG keeps: a largest subset in which no two reward dimensions order any pair oppositely.

    Exact for any ``G`` (``O(G^2 K)``): the subset is a longest chain of the weak-dominance preorder (see the module
    docstring for why, and for the deterministic choice among several largest subsets).

    Args:
        scores: ``[G, K]`` finite scores of ``G`` chains on ``K`` reward dimensions.

    Returns:
        ``[G]`` bool mask of the kept chains (at least one is always kept).

    Raises:
        ValueError: on NaN/inf, an empty group, or a shape other than ``[G, K]``.

    >>> ucpg_subset([[1, 1], [2, 0], [2, 2], [0, 0]]).tolist()
    [True, False, True, True]
    """
    s = _finite_array(scores, "scores", 2)
    g, k = s.shape
    # tie-break key: total doubled average rank over all G chains (integers, so comparisons are exact)
    rank2 = [int(v) for v in np.sum([2 * average_ranks(s[:, d]) for d in range(k)], axis=0)]
    dominated = np.all(s[:, None, :] <= s[None, :, :], axis=2)  # dominated[p, q]: s[p] <= s[q] on every dimension
    # lexicographic order of the score vectors (then index) is a linear extension of weak dominance
    order = np.lexsort((np.arange(g),) + tuple(s[:, d] for d in reversed(range(k)))).tolist()
    best: dict[int, tuple[int, int, tuple[int, ...]]] = {}
    for position, q in enumerate(order):
        length, total, members = 1, rank2[q], (q,)
        for p in order[:position]:
            if not dominated[p, q]:
                continue
            p_len, p_total, p_members = best[p]
            cand_len, cand_total = p_len + 1, p_total + rank2[q]
            if (cand_len, cand_total) < (length, total):
                continue
            cand_members = tuple(sorted(p_members + (q,)))
            if (cand_len, cand_total) > (length, total) or cand_members < members:
                length, total, members = cand_len, cand_total, cand_members
        best[q] = (length, total, members)
    winner = max(best.values(), key=lambda b: (b[0], b[1], tuple(-i for i in b[2])))
    mask = np.zeros(g, dtype=bool)
    mask[list(winner[2])] = True
    return mask


def _ucpg_one_group(s: FloatArray) -> FloatArray:
    kept = ucpg_subset(s)
    out = np.zeros(len(s))
    sub = s[kept]
    rank_sum = np.sum([average_ranks(sub[:, d]) for d in range(sub.shape[1])], axis=0)
    ranks = average_ranks(rank_sum)
    std = ranks.std()
    if std > 0:
        out[kept] = (ranks - ranks.mean()) / std
    return out


def ucpg_advantages(scores: ArrayLike, group_ids: Sequence[Hashable] | ArrayLike | None = None) -> FloatArray:
    """ThinkRL-Edit's Unbiased Chain Preference Grouping: advantages from a consistent ranking across dimensions.

    Per group: keep the largest order-consistent subset (:func:`ucpg_subset`), rank the kept chains by the sum of
    their per-dimension average ranks, and standardise the ranks (mean 0, population std 1); chains outside the
    subset, and groups whose kept chains all tie, get 0.

    Args:
        scores: ``[N, K]`` finite scores (``N = G`` for one group).
        group_ids: ``[N]`` labels, or ``None`` for one group.

    Returns:
        ``[N]`` float64 advantages.

    Raises:
        ValueError: on NaN/inf, an empty group, a wrong shape or mismatched ``group_ids``.

    >>> ucpg_advantages([[1, 1], [2, 0], [2, 2], [0, 0]]).round(3).tolist()
    [0.0, 0.0, 1.225, -1.225]
    """
    s = _finite_array(scores, "scores", 2)
    codes, n_groups = _group_codes(group_ids, len(s))
    out = np.zeros(len(s))
    for code in range(n_groups):
        idx = np.flatnonzero(codes == code)
        out[idx] = _ucpg_one_group(s[idx])
    return out


def ucpg_subset_sizes(scores: ArrayLike, group_ids: Sequence[Hashable] | ArrayLike | None = None) -> list[tuple[int, int]]:
    """``(kept, group size)`` per group: how many chains :func:`ucpg_subset` keeps, in order of first appearance.

    How often the consistent subset is smaller than the group says how often the reward dimensions disagree on
    some pair of chains (and UCPG leaves those chains without advantage).

    >>> ucpg_subset_sizes([[1, 1], [2, 0], [2, 2], [0, 0], [1, 1], [2, 2]], ["a"] * 4 + ["b"] * 2)
    [(3, 4), (2, 2)]
    """
    s = _finite_array(scores, "scores", 2)
    codes, n_groups = _group_codes(group_ids, len(s))
    return [(int(ucpg_subset(s[codes == code]).sum()), int((codes == code).sum())) for code in range(n_groups)]


class GCPORewards(NamedTuple):
    """Per-candidate rewards from :func:`gcpo_rewards`: ``preferred`` ``[P]`` and ``rejected`` ``[R]``."""

    preferred: FloatArray
    rejected: FloatArray


def gcpo_rewards(preferred_scores: ArrayLike, rejected_scores: ArrayLike, *, tie_credit: float = 0.5) -> GCPORewards:
    """Edit-R1's GCPO rewards for a reward model's scores of a preferred and a rejected edit.

    Each preferred-side candidate (one sampled judgement of the preferred image) is rewarded with the fraction of
    rejected-side candidates it scores strictly above; each rejected-side candidate with the fraction of
    preferred-side candidates it scores strictly below. A tie counts ``tie_credit``.

    Args:
        preferred_scores: ``[P]`` finite scores, ``P >= 1``.
        rejected_scores: ``[R]`` finite scores, ``R >= 1``.
        tie_credit: credit for a tie, in ``[0, 1]`` (0.5 keeps the two sides' mean rewards equal).

    Returns:
        :class:`GCPORewards` ``(preferred [P], rejected [R])``, values in ``[0, 1]``.

    Raises:
        ValueError: on an empty side, NaN/inf, a non-1-D input, or ``tie_credit`` outside ``[0, 1]``.

    >>> gcpo_rewards([8.0, 5.0], [6.0, 5.0, 2.0])
    GCPORewards(preferred=array([1. , 0.5]), rejected=array([0.5 , 0.75, 1.  ]))
    """
    if not (0.0 <= tie_credit <= 1.0):
        raise ValueError(f"tie_credit must lie in [0, 1], got {tie_credit!r}")
    p = _finite_array(preferred_scores, "preferred_scores", 1)
    r = _finite_array(rejected_scores, "rejected_scores", 1)
    # credit[i, j]: preferred i scores above rejected j, which is also rejected j scoring below preferred i
    credit = (p[:, None] > r[None, :]) + tie_credit * (p[:, None] == r[None, :])
    return GCPORewards(preferred=credit.mean(axis=1), rejected=credit.mean(axis=0))
