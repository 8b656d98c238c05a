"""GRPO math as pure, typed, shape-documented functions (in the manner of verl's `core_algos.py`).

Shapes: B = completions in the batch, T = completion tokens (right-padded), `mask` [B, T] is 1 on real completion
tokens and 0 on padding (prompt tokens never appear here: the learner passes completion log-probs only).

Where TRL and verl differ, and what the defaults take (every choice is a field of `GRPOConfig`):

| choice | TRL | verl | default here | why |
|---|---|---|---|---|
| advantage std | on (`scale_rewards="group"`), Dr.GRPO off | on (`norm_adv_by_std_in_grpo`) | on ("group") | small groups of sparse rewards need the scale |
| std estimator | sample (torch.std) | sample (torch.std) | sample (ddof=1) | both peers agree |
| eps | 1e-4 | 1e-6 | 1e-6 | groups with zero variance are dropped before the loss anyway |
| zero-variance groups | kept (advantage 0) | kept (advantage 0) | dropped and counted | they carry no signal and dilute token-mean losses |
| clip range | eps 0.2, `epsilon_high` optional | clip_ratio_low/high 0.2/0.2 (DAPO 0.28 high) | 0.2 / 0.28 | DAPO's clip-higher keeps low-probability tokens explorable |
| KL | beta 0 by default (no ref model) | k3 ("low_var_kl") in the loss, 0.001 | beta 0 (ref model not loaded); k3 when > 0 | the ref model costs memory; k3 is unbiased and >= 0 |
| loss aggregation | "dapo" global token mean (>= 0.20) / "grpo" seq-mean-token-mean | token-mean | token-mean | no length bias between short and long completions of a group |
| Dr.GRPO norm | "dr_grpo": sum / (B * max_completion_length) | seq-mean-token-sum-norm (constant L) | available | unbiased per-token weight |

Departure from both peers (opt-in, `component_credit > 0`): per-component credit. A decomposer's completion is a
list of component lines; with a sequence-level advantage every token of a four-line completion shares the blame for
the one wrong subject. :func:`component_token_advantages` adds, on each line's tokens, that line's score centred
and scaled within its group, so the right lines of a failed completion are not pushed down with the wrong one.

Advantage estimators and policy losses are registries, as rewards are (:func:`register_advantage`,
:func:`register_policy_loss`): a config names one (``train.agents.<agent>.advantage``, ``train.policy_loss``), the
algorithm and the learner look it up here, and a user's own is one decorated function.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Literal, Protocol, Sequence, TypeVar, get_args

import numpy as np
import torch

from rewards import dual_atomic_advantages, group_normalize, ucpg_advantages

# The choices of the loss and advantage settings, defined once: the config's fields are typed with these, and its
# error messages list their values.
AggMode = Literal["token-mean", "seq-mean-token-mean", "seq-mean-token-sum-norm"]
KLKind = Literal["k1", "k2", "k3"]
ScaleMode = Literal["group", "batch", "none"]
GroupIds = Sequence[object] | np.ndarray | torch.Tensor  # [B] group of each completion


# -- registries ----------------------------------------------------------------------------------------------------

_T = TypeVar("_T")


def _check_name(what: str, name: str) -> None:
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"{what} name must be a non-empty str, got {name!r}")


def _register(registry: dict[str, _T], what: str, name: str, entry: _T, overwrite: bool) -> None:
    if name in registry and not overwrite:
        raise ValueError(f"a {what} named {name!r} is already registered; pick another name or pass overwrite=True")
    registry[name] = entry


def _lookup(registry: dict[str, _T], what: str, name: str) -> _T:
    try:
        return registry[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown {what} {name!r}; known: {', '.join(registry)}") from None


class AdvantageFn(Protocol):
    """``fn(rewards [B, K], weights [K], group_ids [B], *, scale, eps, greedy) -> advantages [B]``.

    ``rewards`` holds one column per reward term of the finished completions (failed ones are left out before the
    call), ``weights`` the terms' weights; ``greedy`` ([B] bool, the rows that are their group's greedy completion)
    is None unless the estimator was registered with ``greedy_baseline=True`` and ``baseline: greedy`` is set.
    """

    def __call__(self, rewards: np.ndarray, weights: np.ndarray, group_ids: list[object], *, scale: ScaleMode,
                 eps: float, greedy: np.ndarray | None) -> np.ndarray: ...


@dataclass(frozen=True)
class AdvantageEstimator:
    """A registered advantage estimator, with what the config checks and the zero-variance count need to know.

    Attributes:
        name: the name configs use (``train.agents.<agent>.advantage``).
        fn: the estimator (:class:`AdvantageFn`).
        per_term: a group carries signal while any one reward term varies in it (an estimator that reads the terms
            separately); otherwise only while the weighted sum does.
        min_terms: reward terms the estimator needs (a config with fewer is refused).
        greedy_baseline: it accepts ``greedy`` (``baseline: greedy``); a config asking another estimator for it is
            refused.
    """

    name: str
    fn: AdvantageFn
    per_term: bool = False
    min_terms: int = 1
    greedy_baseline: bool = False

    def groups_without_signal(self, rewards: np.ndarray, weights: np.ndarray, group_ids: GroupIds) -> set[object]:
        """The groups whose rewards cannot move this estimator's advantages (all equal, as it reads them).

        >>> R = np.array([[1.0, 0.0], [0.0, 1.0]])  # the terms differ, their sum does not
        >>> get_advantage("grpo").groups_without_signal(R, np.ones(2), ["a", "a"])
        {'a'}
        >>> get_advantage("dual_atomic").groups_without_signal(R, np.ones(2), ["a", "a"])
        set()
        """
        rewards = np.asarray(rewards, dtype=np.float64)
        if not self.per_term:
            return zero_variance_groups(rewards @ np.asarray(weights, dtype=np.float64), group_ids)
        return set.intersection(*(zero_variance_groups(rewards[:, j], group_ids) for j in range(rewards.shape[1])))


class PolicyLossFn(Protocol):
    """``fn(logp, old_logp, advantages, mask, *, clip_low, clip_high, agg, norm_length) -> (loss, metrics)``.

    ``logp``, ``old_logp`` and ``mask`` are [B, T]; ``advantages`` [B] or [B, T]; the loss is a scalar tensor and
    ``metrics`` plain floats, each logged per module under its name.
    """

    def __call__(self, logp: torch.Tensor, old_logp: torch.Tensor, advantages: torch.Tensor, mask: torch.Tensor, *,
                 clip_low: float, clip_high: float, agg: AggMode,
                 norm_length: int | None) -> tuple[torch.Tensor, dict[str, float]]: ...


_ADVANTAGES: dict[str, AdvantageEstimator] = {}
_POLICY_LOSSES: dict[str, PolicyLossFn] = {}
_A = TypeVar("_A", bound=AdvantageFn)
_L = TypeVar("_L", bound=PolicyLossFn)


def register_advantage(name: str, *, per_term: bool = False, min_terms: int = 1, greedy_baseline: bool = False,
                       overwrite: bool = False) -> Callable[[_A], _A]:
    """Decorator registering an advantage estimator (:class:`AdvantageFn`) under ``name``; see
    :class:`AdvantageEstimator` for the options.

    Raises:
        ValueError: on a blank name or one already registered (unless ``overwrite``).

    >>> @register_advantage("centred_example")
    ... def centred(rewards, weights, group_ids, *, scale, eps, greedy):
    ...     return group_advantages(rewards @ weights, group_ids, scale="none", eps=eps)
    >>> get_advantage("centred_example").fn(np.array([[1.0], [0.0]]), np.ones(1), ["g", "g"], scale="group",
    ...                                     eps=1e-6, greedy=None).tolist()
    [0.5, -0.5]
    >>> _ = _ADVANTAGES.pop("centred_example")  # keep the doctest side-effect free
    """
    _check_name("advantage estimator", name)

    def decorator(fn: _A) -> _A:
        if not callable(fn):
            raise ValueError(f"register_advantage({name!r}) must decorate a callable, got {type(fn).__name__}")
        entry = AdvantageEstimator(name, fn, per_term=per_term, min_terms=int(min_terms), greedy_baseline=greedy_baseline)
        _register(_ADVANTAGES, "advantage estimator", name, entry, overwrite)
        return fn

    return decorator


def get_advantage(name: str) -> AdvantageEstimator:
    """The advantage estimator registered under ``name``; ValueError listing the known ones for another.

    >>> get_advantage("grpo").greedy_baseline, get_advantage("dual_atomic").min_terms
    (True, 2)
    """
    return _lookup(_ADVANTAGES, "advantage estimator", name)


def available_advantages() -> tuple[str, ...]:
    """Names of the registered advantage estimators, built-ins first.

    >>> available_advantages()[:3]
    ('grpo', 'dual_atomic', 'ucpg')
    """
    return tuple(_ADVANTAGES)


def register_policy_loss(name: str, *, overwrite: bool = False) -> Callable[[_L], _L]:
    """Decorator registering a policy loss (:class:`PolicyLossFn`) under ``name``, for ``train.policy_loss``.

    Raises:
        ValueError: on a blank name or one already registered (unless ``overwrite``).
    """
    _check_name("policy loss", name)

    def decorator(fn: _L) -> _L:
        if not callable(fn):
            raise ValueError(f"register_policy_loss({name!r}) must decorate a callable, got {type(fn).__name__}")
        _register(_POLICY_LOSSES, "policy loss", name, fn, overwrite)
        return fn

    return decorator


def get_policy_loss(name: str) -> PolicyLossFn:
    """The policy loss registered under ``name``; ValueError listing the known ones for another.

    >>> get_policy_loss("clip") is policy_loss
    True
    """
    return _lookup(_POLICY_LOSSES, "policy loss", name)


def available_policy_losses() -> tuple[str, ...]:
    """Names of the registered policy losses, built-ins first."""
    return tuple(_POLICY_LOSSES)


def group_labels(group_ids: GroupIds) -> list[object]:
    """``group_ids`` as a list of plain Python labels.

    Iterating a tensor yields 0-d tensors, which hash by identity: every completion would be its own group and every
    advantage 0, with no error. verl passes its group index as an array or tensor, so arrays, tensors and lists
    of their scalars all come down to Python scalars here.

    >>> group_labels(torch.tensor([3, 3, 4])), group_labels(np.array(["a", "b"])), group_labels([np.int64(1), 2])
    ([3, 3, 4], ['a', 'b'], [1, 2])
    """
    if isinstance(group_ids, str):
        raise ValueError("group_ids must be a sequence with one label per completion, not a single str")
    if isinstance(group_ids, (np.ndarray, torch.Tensor)):
        if group_ids.ndim != 1:
            raise ValueError(f"group_ids must be 1-D (one label per completion), got shape {tuple(group_ids.shape)}")
        return group_ids.tolist()
    return [g.tolist() if isinstance(g, (np.generic, np.ndarray, torch.Tensor)) else g for g in group_ids]


def _check_scale(scale: str) -> None:
    if scale not in get_args(ScaleMode):
        raise ValueError(f"scale must be one of {', '.join(get_args(ScaleMode))}, got {scale!r}")


def group_advantages(rewards: Sequence[float] | np.ndarray, group_ids: GroupIds, scale: ScaleMode = "group",
                     eps: float = 1e-6) -> np.ndarray:
    """Per-completion advantages [B]: rewards centred within their group, then scaled.

    scale="group": divide by the group's sample std (GRPO); "batch": by the std of the centred rewards over the
    whole batch (Lite PPO / TRL `scale_rewards="batch"`); "none": centring only (Dr.GRPO).

    >>> group_advantages([1.0, 0.0, 1.0, 1.0], ["a", "a", "b", "b"], scale="none").tolist()
    [0.5, -0.5, 0.0, 0.0]
    >>> group_advantages([2.0, 0.0], ["a", "a"]).round(3).tolist()
    [0.707, -0.707]
    """
    _check_scale(scale)
    group_ids = group_labels(group_ids)
    centred = group_normalize(rewards, group_ids, scale_by_std=False, eps=eps)
    if scale == "group":
        return group_normalize(rewards, group_ids, scale_by_std=True, eps=eps)
    if scale == "batch":
        std = float(np.std(centred, ddof=1)) if len(centred) > 1 else 0.0
        return centred / (std + eps) if std > 0 else centred * 0.0
    return centred


def greedy_baseline_advantages(rewards: Sequence[float] | np.ndarray, group_ids: GroupIds,
                               greedy: Sequence[bool] | np.ndarray, scale: ScaleMode = "group",
                               eps: float = 1e-6) -> np.ndarray:
    """Self-critical advantages [B]: each reward minus its group's greedy completion's reward, then scaled.

    The baseline is what greedy decoding - the way the policy is judged - already earns on that task, so a group
    whose greedy completion fails pushes up every sample that succeeds, and a group whose greedy completion
    succeeds only pushes down the samples that do worse (Rennie et al. 2017, "Self-critical sequence training").
    A group without a greedy row (its episode failed) falls back to the group mean. scale: as
    :func:`group_advantages` ("group": the group's reward std; "batch": the std of the centred rewards; "none").

    >>> greedy_baseline_advantages([0.0, 1.0, 0.0, 1.0, 1.0, 0.0], list("aaabbb"), [1, 0, 0, 1, 0, 0], scale="none").tolist()
    [0.0, 1.0, 0.0, 0.0, 0.0, -1.0]
    """
    _check_scale(scale)
    r = np.asarray(rewards, dtype=np.float64)
    is_greedy = np.asarray(greedy, dtype=bool)
    group_ids = group_labels(group_ids)
    if r.ndim != 1 or is_greedy.shape != r.shape or len(group_ids) != len(r):
        raise ValueError(f"rewards, group_ids and greedy must have one entry per completion, got {r.shape}, "
                         f"{len(group_ids)} and {is_greedy.shape}")
    rows: dict[object, list[int]] = {}
    for i, g in enumerate(group_ids):
        rows.setdefault(g, []).append(i)
    out = np.zeros_like(r)
    for members in rows.values():
        values = r[members]
        if values.max() == values.min():
            continue
        marked = [i for i in members if is_greedy[i]]
        base = float(r[marked].mean()) if marked else float(values.mean())
        centred = values - base
        if scale == "group":
            centred = centred / (float(np.std(values, ddof=1)) + eps)
        out[members] = centred
    if scale == "batch":
        nonzero = out[out != 0]
        std = float(np.std(out, ddof=1)) if len(out) > 1 and len(nonzero) else 0.0
        out = out / (std + eps) if std > 0 else out * 0.0
    return out


def component_token_advantages(seq_adv: np.ndarray, token_line: np.ndarray, line_scores: Sequence[Sequence[float] | None],
                               group_ids: GroupIds, weight: float, eps: float = 1e-6) -> np.ndarray:
    """Token-level advantages [B, T]: the sequence advantage on every token, plus ``weight`` times the line's
    score normalised within its group on the tokens of each component line.

    Args:
        seq_adv: [B] sequence advantages (e.g. :func:`group_advantages`).
        token_line: [B, T] index of the component line each completion token belongs to; -1 outside every line (the
            reasoning, the envelope, padding).
        line_scores: per completion, one score per line (e.g. :func:`rewards.component_scores`); None for a
            completion whose lines could not be aligned with its tokens (it keeps the sequence advantage only).
        group_ids: [B] group of each completion; a line's score is centred on the mean of every line score in the
            group and divided by their std (+ eps); with one distinct score in a group the line term is 0.
        weight: scale of the line term (0 gives back ``seq_adv`` on every token).

    >>> adv = component_token_advantages(np.array([0.5, -0.5]), np.array([[-1, 0, 0, 1], [-1, 0, 1, -1]]),
    ...                                  [[1.0, 1.0], [1.0, 0.0]], ["g", "g"], weight=1.0)
    >>> (adv.round(2) + 0.0).tolist()  # line scores 1, 1 | 1, 0: mean 0.75, std 0.5
    [[0.5, 1.0, 1.0, 1.0], [-0.5, 0.0, -2.0, -0.5]]
    """
    seq_adv = np.asarray(seq_adv, dtype=np.float64)
    token_line = np.asarray(token_line)
    if token_line.ndim != 2 or token_line.shape[0] != seq_adv.shape[0] or len(line_scores) != seq_adv.shape[0]:
        raise ValueError(f"token_line must be [B, T] and line_scores have B entries for B={seq_adv.shape[0]}, got "
                         f"{token_line.shape} and {len(line_scores)}")
    out = np.repeat(seq_adv[:, None], token_line.shape[1], axis=1)
    if weight == 0:
        return out
    group_ids = group_labels(group_ids)
    pooled: dict[object, list[float]] = {}
    for scores, group in zip(line_scores, group_ids):
        if scores is not None:
            pooled.setdefault(group, []).extend(float(x) for x in scores)
    stats = {g: (float(np.mean(v)), float(np.std(v, ddof=1)) if len(v) > 1 else 0.0) for g, v in pooled.items()}
    for row, (scores, group) in enumerate(zip(line_scores, group_ids)):
        if not scores:
            continue
        mean, std = stats[group]
        if std == 0:
            continue
        for line, score in enumerate(scores):
            out[row, token_line[row] == line] += weight * (float(score) - mean) / (std + eps)
    return out


def zero_variance_groups(rewards: Sequence[float] | np.ndarray, group_ids: GroupIds) -> set[object]:
    """Group ids whose rewards are all equal: they produce zero advantage and no gradient.

    >>> sorted(zero_variance_groups([1, 1, 0, 1], ["a", "a", "b", "b"]))
    ['a']
    """
    seen: dict[object, list[float]] = {}
    for r, g in zip(rewards, group_labels(group_ids)):
        seen.setdefault(g, []).append(float(r))
    return {g for g, values in seen.items() if max(values) - min(values) == 0.0}


# -- built-in advantage estimators ---------------------------------------------------------------------------------


@register_advantage("grpo", greedy_baseline=True)
def grpo_estimator(rewards: np.ndarray, weights: np.ndarray, group_ids: list[object], *, scale: ScaleMode = "group",
                   eps: float = 1e-6, greedy: np.ndarray | None = None) -> np.ndarray:
    """GRPO: the weighted sum of the terms normalised in its group (:func:`group_advantages`), or with ``greedy``
    compared with the group's greedy completion (:func:`greedy_baseline_advantages`).

    >>> grpo_estimator(np.array([[1.0, 0.0], [0.0, 0.0]]), np.array([1.0, 1.0]), ["a", "a"], scale="none").tolist()
    [0.5, -0.5]
    """
    totals = np.asarray(rewards, dtype=np.float64) @ np.asarray(weights, dtype=np.float64)
    if greedy is None:
        return group_advantages(totals, group_ids, scale=scale, eps=eps)
    return greedy_baseline_advantages(totals, group_ids, greedy, scale=scale, eps=eps)


@register_advantage("dual_atomic", per_term=True, min_terms=2)
def dual_atomic_estimator(rewards: np.ndarray, weights: np.ndarray, group_ids: list[object], *,
                          scale: ScaleMode = "group", eps: float = 1e-6,
                          greedy: np.ndarray | None = None) -> np.ndarray:
    """DDA-Thinker: each term normalised in its own group, the advantages combined with the term weights
    (:func:`rewards.dual_atomic_advantages`); ``scale`` "none" centres only, "group" and "batch" divide by each term's
    group std."""
    return dual_atomic_advantages(rewards, group_ids, weights, scale_by_std=scale != "none", eps=eps)


@register_advantage("ucpg", per_term=True)
def ucpg_estimator(rewards: np.ndarray, weights: np.ndarray, group_ids: list[object], *, scale: ScaleMode = "group",
                   eps: float = 1e-6, greedy: np.ndarray | None = None) -> np.ndarray:
    """ThinkRL-Edit: standardised ranks over the order-consistent subset of the group across the terms
    (:func:`rewards.ucpg_advantages`); weights, ``scale`` and ``eps`` do not apply."""
    return ucpg_advantages(rewards, group_ids)


def aggregate(values: torch.Tensor, mask: torch.Tensor, mode: AggMode = "token-mean", norm_length: int | None = None) -> torch.Tensor:
    """Reduce per-token values [B, T] to a scalar under `mask` [B, T].

    - token-mean: sum over all real tokens / number of real tokens (each token weighs the same);
    - seq-mean-token-mean: mean over each sequence's tokens, then over sequences (each sequence weighs the same);
    - seq-mean-token-sum-norm (Dr.GRPO): sum over each sequence / `norm_length` (a constant, default T), mean over
      sequences - no length normalisation bias.

    >>> v = torch.tensor([[1.0, 1.0, 1.0], [4.0, 0.0, 0.0]]); m = torch.tensor([[1.0, 1.0, 1.0], [1.0, 0.0, 0.0]])
    >>> [round(aggregate(v, m, k).item(), 4) for k in ("token-mean", "seq-mean-token-mean", "seq-mean-token-sum-norm")]
    [1.75, 2.5, 1.1667]
    """
    if values.shape != mask.shape:
        raise ValueError(f"values {tuple(values.shape)} and mask {tuple(mask.shape)} must have the same shape")
    mask = mask.to(values.dtype)
    if mode == "token-mean":
        return (values * mask).sum() / mask.sum().clamp(min=1.0)
    if mode == "seq-mean-token-mean":
        per_seq = (values * mask).sum(-1) / mask.sum(-1).clamp(min=1.0)
        return per_seq.mean()
    if mode == "seq-mean-token-sum-norm":
        length = float(norm_length if norm_length is not None else values.shape[-1])
        return ((values * mask).sum(-1) / length).mean()
    raise ValueError(f"unknown aggregation {mode!r}; use one of {', '.join(get_args(AggMode))}")


@register_policy_loss("clip")
def policy_loss(logp: torch.Tensor, old_logp: torch.Tensor, advantages: torch.Tensor, mask: torch.Tensor,
                clip_low: float = 0.2, clip_high: float = 0.28, agg: AggMode = "token-mean",
                norm_length: int | None = None) -> tuple[torch.Tensor, dict[str, float]]:
    """Clipped surrogate: loss = agg(-min(rho * A, clip(rho, 1 - clip_low, 1 + clip_high) * A)).

    Args: logp, old_logp, mask [B, T]; advantages [B] (broadcast over tokens) or [B, T] (one per token).
    Returns the scalar loss and metrics: clip_fraction (share of real tokens where the clipped term was chosen
    and differs), ratio_mean.

    >>> lp = torch.log(torch.tensor([[0.5, 0.5]])); old = torch.log(torch.tensor([[0.25, 0.5]]))
    >>> loss, m = policy_loss(lp, old, torch.tensor([1.0]), torch.ones(1, 2), 0.2, 0.2)
    >>> round(loss.item(), 4), m["clip_fraction"]  # token 1: rho=2 clipped to 1.2; token 2: rho=1
    (-1.1, 0.5)
    """
    if not (logp.shape == old_logp.shape == mask.shape):
        raise ValueError(f"logp {tuple(logp.shape)}, old_logp {tuple(old_logp.shape)} and mask {tuple(mask.shape)} must match")
    if not (advantages.dim() == 1 and advantages.shape[0] == logp.shape[0]) and advantages.shape != logp.shape:
        raise ValueError(f"advantages must be [B]={logp.shape[0]} or [B, T]={tuple(logp.shape)}, got {tuple(advantages.shape)}")
    if clip_low < 0 or clip_high < 0:
        raise ValueError("clip ranges must be >= 0")
    ratio = torch.exp(logp - old_logp)
    adv = (advantages[:, None] if advantages.dim() == 1 else advantages).to(logp.dtype)
    unclipped = ratio * adv
    clipped = torch.clamp(ratio, 1.0 - clip_low, 1.0 + clip_high) * adv
    per_token = -torch.minimum(unclipped, clipped)
    loss = aggregate(per_token, mask, agg, norm_length)
    with torch.no_grad():
        m = mask.to(logp.dtype)
        was_clipped = (clipped < unclipped).to(logp.dtype)
        metrics = {
            "clip_fraction": float((was_clipped * m).sum() / m.sum().clamp(min=1.0)),
            "ratio_mean": float((ratio * m).sum() / m.sum().clamp(min=1.0)),
        }
    return loss, metrics


def truncated_importance_weights(learner_logp: np.ndarray, sampler_logp: np.ndarray, mask: np.ndarray, cap: float
                                 ) -> tuple[np.ndarray, dict[str, float]]:
    """Truncated importance sampling (TIS) between the engine that sampled and the learner: per completion token,
    ``w = min(pi_learner(y) / pi_sampler(y), cap)`` (0 on padding), and how far the two were apart.

    When another engine samples (vLLM's kernels, another precision), its log-probs of the same weights differ from
    the learner's, and the policy gradient on its samples is biased; weighting each token's term by this ratio,
    truncated at ``cap`` to bound the variance, corrects it (Yao et al. 2025, "Your efficient RL framework secretly
    brings you off-policy RL training"; verl's ``rollout_is``). Metrics: ``weight_mean`` (over real tokens),
    ``truncated_share`` (tokens whose ratio exceeded ``cap``), ``kl`` (k3 estimate of KL(sampler || learner) per
    token).

    >>> w, m = truncated_importance_weights(np.log([[0.5, 0.5, 1.0]]), np.log([[0.5, 0.1, 1.0]]), np.array([[1, 1, 0]]), 2.0)
    >>> w.tolist(), m["truncated_share"], m["weight_mean"]
    ([[1.0, 2.0, 0.0]], 0.5, 1.5)
    """
    if not (learner_logp.shape == sampler_logp.shape == mask.shape):
        raise ValueError(f"learner_logp {learner_logp.shape}, sampler_logp {sampler_logp.shape} and mask {mask.shape} must match")
    if cap <= 0:
        raise ValueError(f"cap must be > 0, got {cap}")
    real = mask.astype(bool)
    diff = np.where(real, learner_logp.astype(np.float64) - sampler_logp.astype(np.float64), 0.0)
    ratio = np.exp(np.minimum(diff, 50.0))  # past e^50 it is truncated anyway: no overflow
    weights = np.where(real, np.minimum(ratio, cap), 0.0)
    if not real.any():
        return weights, {"weight_mean": 1.0, "truncated_share": 0.0, "kl": 0.0}
    return weights, {"weight_mean": float(weights[real].mean()), "truncated_share": float((ratio[real] > cap).mean()),
                     "kl": float((ratio[real] - 1.0 - diff[real]).mean())}


def kl_penalty(logp: torch.Tensor, ref_logp: torch.Tensor, kind: KLKind = "k3") -> torch.Tensor:
    """Per-token KL estimate [B, T] of the policy from the reference (Schulman's estimators).

    k1 = logp - ref_logp; k2 = 0.5 (logp - ref_logp)^2; k3 = exp(ref - logp) - (ref - logp) - 1 (>= 0, unbiased).

    >>> lp, ref = torch.tensor([[0.0]]), torch.tensor([[-1.0]])
    >>> [round(kl_penalty(lp, ref, k).item(), 4) for k in ("k1", "k2", "k3")]
    [1.0, 0.5, 0.3679]
    """
    if logp.shape != ref_logp.shape:
        raise ValueError(f"logp {tuple(logp.shape)} and ref_logp {tuple(ref_logp.shape)} must match")
    delta = ref_logp - logp
    if kind == "k1":
        return -delta
    if kind == "k2":
        return 0.5 * delta.pow(2)
    if kind == "k3":
        return torch.exp(delta) - delta - 1.0
    raise ValueError(f"unknown KL estimator {kind!r}; use one of {', '.join(get_args(KLKind))}")


def entropy_from_logits(logits: torch.Tensor) -> torch.Tensor:
    """Per-position entropy [..., ] of the categorical distribution given by `logits` [..., V].

    >>> round(entropy_from_logits(torch.zeros(1, 4)).item(), 4)  # uniform over 4: ln 4
    1.3863
    """
    logp = torch.log_softmax(logits.float(), dim=-1)
    return -(logp.exp() * logp).sum(-1)
