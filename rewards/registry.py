"""Reward registry: configs name rewards by string (``rewards: [format, f1]``), code looks them up here.

Every registered reward has one signature, ``fn(ctx: RewardContext) -> float``: the caller fills the fields of a
:class:`RewardContext` it has, and a reward whose inputs are missing raises ``ValueError`` naming the field. The
built-in rewards (:mod:`rewards.builtin`) are registered when :mod:`rewards` is imported: ``format``,
``format_partial``, ``f1``, ``f1_matched``, ``checklist``, ``success``, ``preservation``.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any, TypeVar

from numpy.typing import ArrayLike

from rewards.types import ComponentLike

__all__ = ["RewardContext", "RewardFn", "register_reward", "get_reward", "available_rewards"]


@dataclass(frozen=True)
class RewardContext:
    """Everything a reward may need about one sample, as plain data. Every field is optional.

    Attributes:
        completion: raw LM text of the agent being scored.
        kind: what ``completion`` should contain: ``"components"`` (decomposer) or ``"plan"`` (thinker).
        predicted_components: components already parsed/produced (used by ``f1`` in preference to ``completion``).
        truth_components: ground-truth components.
        checklist_answers: the verifier's ``"yes"``/``"no"``/``"unknown"``/``None`` per checklist item.
        checklist_expected: expected ``"yes"``/``"no"`` per item.
        checklist_groups: optional group name per item (``"keep"``, ``"follow"``, ``"quality"``).
        checklist_weights: optional ``{group: weight}``.
        source_image, edited_image: ``H x W x C`` images (``uint8`` or float in ``[0, 1]``).
        change_mask: ``H x W`` bool, True where the edit is expected to change the image.
        source_scene: the source image's world state as Canvas scene JSON (grounded rewards resolve subjects on it).
        reference_checks: the task's machine-checkable reference checklist, ``{"check": spec, "expected": "yes"/"no"}``
            per item (``envs.canvas.checks``), for rewards that answer it on something other than the edited image.
        truth_order: a valid execution order of ``truth_components`` (indices), for grounded rewards.
        synonyms: optional synonym map for F1 normalisation.
        allowed_actions: optional set of valid action words for the format schema.

    >>> ctx = RewardContext(completion="<think></think><answer>make it blue</answer>", kind="plan")
    >>> ctx.require("completion", "format")[:7]
    '<think>'
    """

    completion: str | None = None
    kind: str = "components"
    predicted_components: Sequence[ComponentLike] | None = None
    truth_components: Sequence[ComponentLike] | None = None
    checklist_answers: Sequence[str | None] | None = None
    checklist_expected: Sequence[str] | None = None
    checklist_groups: Sequence[str] | None = None
    checklist_weights: Mapping[str, float] | None = None
    source_image: ArrayLike | None = None
    edited_image: ArrayLike | None = None
    change_mask: ArrayLike | None = None
    source_scene: str | None = None
    reference_checks: Sequence[Mapping[str, Any]] | None = None
    truth_order: Sequence[int] | None = None
    synonyms: Mapping[str, str] | None = None
    allowed_actions: Collection[str] | None = None

    def require(self, field: str, reward: str) -> Any:
        """The value of ``field``, or ``ValueError`` naming the field and the reward that needs it."""
        if field not in {f.name for f in fields(self)}:
            raise ValueError(f"RewardContext has no field {field!r}")
        value = getattr(self, field)
        if value is None:
            raise ValueError(f"reward {reward!r} needs RewardContext.{field}, which is missing (None); set it")
        return value


RewardFn = Callable[[RewardContext], float]
_F = TypeVar("_F", bound=RewardFn)
_REGISTRY: dict[str, RewardFn] = {}


def register_reward(name: str, *, overwrite: bool = False) -> Callable[[_F], _F]:
    """Decorator registering ``fn(ctx: RewardContext) -> float`` under ``name``.

    Args:
        name: non-empty string used in configs.
        overwrite: replace an existing reward of that name instead of raising.

    Returns:
        The decorator; it returns the function unchanged.

    Raises:
        ValueError: on a blank name, a name already registered (unless ``overwrite``), or a non-callable.

    >>> @register_reward("always_one_example")
    ... def always_one(ctx: RewardContext) -> float:
    ...     return 1.0
    >>> get_reward("always_one_example")(RewardContext())
    1.0
    >>> _ = _REGISTRY.pop("always_one_example")  # keep the doctest side-effect free
    """
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"reward name must be a non-empty str, got {name!r}")

    def decorator(fn: _F) -> _F:
        if not callable(fn):
            raise ValueError(f"register_reward({name!r}) must decorate a callable, got {type(fn).__name__}")
        if name in _REGISTRY and not overwrite and _REGISTRY[name] is not fn:
            raise ValueError(f"a reward named {name!r} is already registered; pick another name or pass overwrite=True")
        _REGISTRY[name] = fn
        return fn

    return decorator


def get_reward(name: str) -> RewardFn:
    """The reward registered under ``name``.

    Raises:
        ValueError: for an unknown name, listing the known ones.

    >>> get_reward("format")(RewardContext(completion="no tags at all"))
    0.0
    """
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown reward {name!r}; known rewards: {', '.join(available_rewards())}") from None


def available_rewards() -> tuple[str, ...]:
    """Names of all registered rewards, sorted.

    >>> {"format", "f1", "checklist", "preservation"} <= set(available_rewards())
    True
    """
    return tuple(sorted(_REGISTRY))
