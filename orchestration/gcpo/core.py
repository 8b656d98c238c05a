"""GCPO's reward for a group of verifications, as pure numpy: scores in, rewards and groups out.

For one preference pair, the verifier judges the preferred edit ``G`` times and the rejected edit ``G`` times (a
group of verifications per candidate). Each judgement is rewarded by how it ranks against the *opposite* side
(:func:`rewards.gcpo_rewards`): a judgement of the preferred edit earns the share of the rejected edit's judgements it
scores above, and the other way round. The policy gradient then compares each judgement with the others of its own
group (GRPO's group normalisation, :func:`orchestration.grpo.core.group_advantages`, group = one pair and side).

Departure from the paper (as far as it is known second-hand): a judgement that lists no readable principle, or has
malformed lines, earns 0 whatever its score. Without this gate the rejected side would be rewarded for noise: an
empty judgement scores 0, which is below every judgement of the preferred edit.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from rewards import gcpo_rewards

__all__ = ["gcpo_pair_rewards", "pair_group_ids", "judgement_rewards"]


def gcpo_pair_rewards(preferred_scores: ArrayLike, rejected_scores: ArrayLike, preferred_valid: ArrayLike,
                      rejected_valid: ArrayLike, *, tie_credit: float = 0.5) -> NDArray[np.float64]:
    """Rewards ``[P, 2, G]`` (side 0: the preferred edit's judgements, side 1: the rejected edit's).

    Args:
        preferred_scores, rejected_scores: ``[P, G]`` the verifier's scores of each judgement.
        preferred_valid, rejected_valid: ``[P, G]`` bool, whether each judgement was well formed (else reward 0).
        tie_credit: credit for a tie (:func:`rewards.gcpo_rewards`).

    >>> gcpo_pair_rewards([[1.0, 0.5]], [[0.5, 0.0]], [[True, True]], [[True, False]]).tolist()
    [[[1.0, 0.75], [0.75, 0.0]]]
    """
    pref = np.asarray(preferred_scores, dtype=np.float64)
    rej = np.asarray(rejected_scores, dtype=np.float64)
    if pref.ndim != 2 or pref.shape != rej.shape:
        raise ValueError(f"preferred and rejected scores must both be [P, G], got {pref.shape} and {rej.shape}")
    pv, rv = np.asarray(preferred_valid, dtype=bool), np.asarray(rejected_valid, dtype=bool)
    if pv.shape != pref.shape or rv.shape != rej.shape:
        raise ValueError(f"validity masks must be [P, G]={pref.shape}, got {pv.shape} and {rv.shape}")
    out = np.zeros((pref.shape[0], 2, pref.shape[1]))
    for p in range(pref.shape[0]):
        r = gcpo_rewards(pref[p], rej[p], tie_credit=tie_credit)
        out[p, 0], out[p, 1] = r.preferred * pv[p], r.rejected * rv[p]
    return out


def pair_group_ids(n_pairs: int, group_size: int) -> list[tuple[int, int]]:
    """The group of each judgement in ``[P, 2, G]`` order, flattened: ``(pair, side)``.

    >>> pair_group_ids(1, 2)
    [(0, 0), (0, 0), (0, 1), (0, 1)]
    """
    return [(p, s) for p in range(n_pairs) for s in range(2) for _ in range(group_size)]


def judgement_rewards(texts: list[str], n_pairs: int, group_size: int, *, tie_credit: float = 0.5
                      ) -> tuple[NDArray[np.float64], NDArray[np.bool_], NDArray[np.float64]]:
    """Scores, well-formedness and GCPO rewards, each ``[P, 2, G]``, of the judgements ``texts`` in
    :func:`pair_group_ids` order (pair-major, the preferred side first, ``group_size`` judgements per side).

    A judgement's score is the share of its principles that hold (:func:`rewards.principles.principle_score`).

    >>> holds = "<think>1 principles</think><answer>\\nfollow: Is it red? saw red; yes\\n</answer>"
    >>> fails = holds.replace("saw red; yes", "saw blue; no")
    >>> scores, valid, rewards = judgement_rewards([holds, fails, "noise", fails], 1, 2)
    >>> scores.tolist(), valid.tolist(), rewards.tolist()
    ([[[1.0, 0.0], [0.0, 0.0]]], [[[True, True], [False, True]]], [[[1.0, 0.5], [0.0, 0.75]]])
    """
    from rewards.principles import parse_principles, principle_score

    if len(texts) != n_pairs * 2 * group_size:
        raise ValueError(f"{len(texts)} judgements for {n_pairs} pairs of 2 x {group_size}")
    parsed = [parse_principles(text) for text in texts]
    scores = np.array([principle_score(p.principles) for p in parsed], dtype=np.float64).reshape(n_pairs, 2, group_size)
    valid = np.array([p.well_formed for p in parsed], dtype=bool).reshape(n_pairs, 2, group_size)
    rewards = gcpo_pair_rewards(scores[:, 0], scores[:, 1], valid[:, 0], valid[:, 1], tie_credit=tie_credit)
    return scores, valid, rewards
