"""Gradient accumulation that gives the update of the whole minibatch: how to split it, and how to weigh each part.

A minibatch's loss is an aggregate over its rows (:func:`.core.aggregate`). Summing the losses of micro-batches
would count each micro-batch as much as the whole; averaging them would weigh a micro-batch of short completions as
much as one of long ones under ``token-mean``. Each micro-batch's loss (aggregated within it, as the loss
functions do) is weighted by its share of what the aggregate divides by:

- ``token-mean``: its share of the real (mask) tokens - sum_k (n_k / n) * (S_k / n_k) = S / n;
- ``seq-mean-token-mean`` and ``seq-mean-token-sum-norm``: its share of the rows (each row's own term does not
  depend on the other rows).

So the weighted sum of the micro-batch losses, and its gradient, equal the whole minibatch's up to float rounding
(``tests/orchestration/grpo/test_accumulate.py``). A policy loss registered with another aggregation needs its own
weights.
"""

from __future__ import annotations

import torch

from orchestration.grpo.core import AggMode


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
