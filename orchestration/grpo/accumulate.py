"""Gradient accumulation that gives the update of the whole minibatch: how to split it, and how to weigh each part.

A minibatch's loss is an aggregate over its rows (:func:`.core.aggregate`). Summing the losses of micro-batches
would count each micro-batch as much as the whole; averaging them would weigh a micro-batch of short completions as
much as one of long ones under ``token-mean``. Each micro-batch's loss (aggregated within it, as the loss
functions do) is weighted by its share of what the aggregate divides by:

- ``token-mean``: its share of the real (mask) tokens - sum_k (n_k / n) * (S_k / n_k) = S / n;
- ``seq-mean-token-mean`` and ``seq-mean-token-sum-norm``: its share of the rows (each row's own term does not
  depend on the other rows).

So the weighted sum of the micro-batch losses, and its gradient, equal the whole minibatch's up to float rounding
(``tests/orchestration/grpo/test_precision.py``). A policy loss registered with another aggregation needs its own
weights.

Several learners (``num_learners >= 2``) are the same sum across processes: RLlib's LearnerGroup gives each learner
a contiguous shard of the minibatch and its DDP averages their gradients, so learner ``k`` weighs its loss by
``K * share_k`` (its share of the minibatch's tokens or rows, times the K the average divides by). A learner sees
only its shard, so the minibatch's total travels with it as a column (:data:`LOSS_TOTAL`, :func:`with_loss_total`).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from orchestration.grpo.core import AggMode

#: Batch column (float, one value repeated on every row) holding what the whole minibatch's loss divides by.
LOSS_TOTAL = "loss_total"


def micro_slices(rows: int, size: int | None) -> list[slice]:
    """Consecutive slices of at most ``size`` rows covering ``rows`` (one slice when ``size`` is None or larger).

    >>> micro_slices(5, 2)
    [slice(0, 2, None), slice(2, 4, None), slice(4, 5, None)]
    >>> micro_slices(3, None)
    [slice(0, 3, None)]
    """
    if size is None or size >= rows:
        return [slice(0, rows)]
    return [slice(start, min(start + size, rows)) for start in range(0, rows, size)]


def loss_total(mask: np.ndarray | torch.Tensor, agg: AggMode) -> float:
    """What a minibatch's aggregate divides by: its real tokens (``token-mean``) or its rows (the sequence means).

    >>> loss_total(np.array([[1, 1, 0], [1, 0, 0]]), "token-mean"), loss_total(np.array([[1, 1, 0], [1, 0, 0]]), "seq-mean-token-mean")
    (3.0, 2.0)
    """
    if agg == "token-mean":
        return float(mask.sum())
    if agg in ("seq-mean-token-mean", "seq-mean-token-sum-norm"):
        return float(mask.shape[0])
    raise ValueError(f"several learners do not know how to weigh aggregation {agg!r}")


def with_loss_total(columns: dict[str, np.ndarray], agg: AggMode) -> dict[str, np.ndarray]:
    """``columns`` of one module's minibatch plus :data:`LOSS_TOTAL` (the minibatch's :func:`loss_total` on every
    row), so that each learner can weigh its shard."""
    rows = len(columns["completion_mask"])
    return {**columns, LOSS_TOTAL: np.full(rows, loss_total(columns["completion_mask"], agg), dtype=np.float32)}


def shard_scale(shard_mask: torch.Tensor, minibatch_total: float, agg: AggMode, num_learners: int) -> float:
    """The factor on a learner's shard loss that makes DDP's average of the K learners' gradients the gradient of
    the whole minibatch: ``K * loss_total(shard) / minibatch_total``.

    >>> shard_scale(torch.ones(2, 3), 12.0, "token-mean", 2)
    1.0
    """
    if minibatch_total <= 0:
        return 0.0
    return num_learners * loss_total(shard_mask, agg) / minibatch_total


def shards_all_filled(rows: int, num_learners: int) -> bool:
    """Whether RLlib's sharding (contiguous slices of ceil(rows / K)) gives every learner at least one row: a learner
    with an empty shard would skip the backward its DDP peers wait for.

    >>> shards_all_filled(3, 2), shards_all_filled(4, 3), shards_all_filled(5, 3)
    (True, False, True)
    """
    if num_learners <= 1:
        return rows > 0
    return math.ceil(rows / num_learners) * (num_learners - 1) < rows


def micro_weights(mask: torch.Tensor, slices: list[slice], agg: AggMode) -> list[float]:
    """The weight of each micro-batch's loss (``mask`` [N, T] of the whole minibatch) so that their weighted sum is
    the minibatch's loss under ``agg``; the weights sum to 1 (all zero when the minibatch has no real token).

    >>> m = torch.tensor([[1, 1, 1], [1, 0, 0], [1, 1, 0]])
    >>> [round(w, 4) for w in micro_weights(m, [slice(0, 1), slice(1, 3)], "token-mean")]
    [0.5, 0.5]
    >>> [round(w, 4) for w in micro_weights(m, [slice(0, 1), slice(1, 3)], "seq-mean-token-mean")]
    [0.3333, 0.6667]
    """
    rows = int(mask.shape[0])
    if agg == "token-mean":
        total = float(mask.sum())
        return [float(mask[s].sum()) / total if total > 0 else 0.0 for s in slices]
    if agg in ("seq-mean-token-mean", "seq-mean-token-sum-norm"):
        return [(s.stop - s.start) / rows if rows else 0.0 for s in slices]
    raise ValueError(f"gradient accumulation does not know how to weigh aggregation {agg!r}")
