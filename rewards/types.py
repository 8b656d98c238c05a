"""The one data type every reward shares: an edit component ``(action, subject, target)``.

A component is what the decomposer emits per sub-request, e.g. ``recolor / the red circle, the green star / blue``.
``subject`` and ``target`` are *sets* of referring expressions or values (ImageEdit-R1: "coat and hair -> scarlet,
copper red"); they are stored as tuples so that a :class:`Component` is hashable and keeps the order it was written
in, but every reward treats them as sets.

Public functions accept either a :class:`Component` or a plain mapping
``{"action": str, "subject": list[str] | str, "target": list[str] | str}``; :func:`as_component` converts.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Union

__all__ = ["Component", "ComponentLike", "as_component", "as_components"]

_FIELDS = ("action", "subject", "target")


@dataclass(frozen=True)
class Component:
    """One edit component.

    Attributes:
        action: the edit verb, e.g. ``"recolor"``. Must be a ``str`` (may be empty only in hand-built objects; the
            parser never produces an empty action).
        subject: tuple of ``str`` members, e.g. ``("the red circle", "the green star")``. May be empty.
        target: tuple of ``str`` members, e.g. ``("blue",)``. Empty for actions without a target (``remove``).

    The constructor checks types and raises ``ValueError`` rather than guessing: pass tuples, or build from a mapping
    with :func:`as_component`.

    >>> Component("recolor", ("the red circle",), ("blue",))
    Component(action='recolor', subject=('the red circle',), target=('blue',))
    >>> Component("remove", ("the square",)).target
    ()
    """

    action: str
    subject: tuple[str, ...] = ()
    target: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.action, str):
            raise ValueError(f"Component.action must be a str, got {type(self.action).__name__}: {self.action!r}")
        for name in ("subject", "target"):
            value = getattr(self, name)
            if not isinstance(value, tuple) or not all(isinstance(m, str) for m in value):
                raise ValueError(
                    f"Component.{name} must be a tuple of str, got {value!r}; "
                    f"use as_component({{'action': ..., '{name}': ...}}) to convert a str or a list"
                )

    def as_dict(self) -> dict[str, Any]:
        """Plain-data form: ``{"action": str, "subject": list[str], "target": list[str]}``.

        >>> Component("move", ("the star",), ("left",)).as_dict()
        {'action': 'move', 'subject': ['the star'], 'target': ['left']}
        """
        return {"action": self.action, "subject": list(self.subject), "target": list(self.target)}


ComponentLike = Union[Component, Mapping[str, Any]]
"""A :class:`Component` or a mapping with keys ``action`` (required), ``subject`` and ``target`` (optional)."""


def _members(value: Any, field: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    elif isinstance(value, (set, frozenset)):
        value = sorted(value, key=str)  # sets have no order; sort so the Component is deterministic
    elif not isinstance(value, Sequence) or isinstance(value, (bytes, bytearray)):
        raise ValueError(f"component field {field!r} must be a str or a list of str, got {type(value).__name__}")
    members: list[str] = []
    for member in value:
        if not isinstance(member, str):
            raise ValueError(
                f"component field {field!r} must contain only str members, got {type(member).__name__}: {member!r}"
            )
        member = member.strip()
        if member:
            members.append(member)
    return tuple(members)


def as_component(x: ComponentLike) -> Component:
    """Convert a component-like value to a :class:`Component`.

    Args:
        x: a :class:`Component` (returned unchanged) or a mapping with keys ``action`` (``str``, required) and
            optionally ``subject`` / ``target`` (``str`` = one member, or a list/tuple/set of ``str``, sets sorted;
            ``None`` or a missing key = no members). Members are stripped; blank members are dropped (they carry no
            content).

    Returns:
        A :class:`Component`.

    Raises:
        ValueError: on a missing ``action``, an unknown key (typos such as ``"subjet"`` would otherwise be lost
            silently), or a value of the wrong type.

    >>> as_component({"action": "recolor", "subject": ["the red circle", " the star "], "target": "blue"})
    Component(action='recolor', subject=('the red circle', 'the star'), target=('blue',))
    >>> as_component({"action": "remove", "subject": "the square"})
    Component(action='remove', subject=('the square',), target=())
    """
    if isinstance(x, Component):
        return x
    if not isinstance(x, Mapping):
        raise ValueError(
            f"expected a Component or a mapping with keys {_FIELDS}, got {type(x).__name__}: {x!r:.80}"
        )
    unknown = sorted(str(k) for k in x if k not in _FIELDS)
    if unknown:
        raise ValueError(f"component mapping has unknown keys {unknown}; allowed keys are {list(_FIELDS)}")
    if "action" not in x:
        raise ValueError(f"component mapping is missing 'action': {dict(x)!r:.80}")
    action = x["action"]
    if not isinstance(action, str):
        raise ValueError(f"component 'action' must be a str, got {type(action).__name__}: {action!r}")
    return Component(action.strip(), _members(x.get("subject"), "subject"), _members(x.get("target"), "target"))


def as_components(xs: Iterable[ComponentLike]) -> tuple[Component, ...]:
    """Convert a sequence of component-like values (see :func:`as_component`).

    Raises ``ValueError`` if ``xs`` is a single component or mapping rather than a sequence of them (a common slip).

    >>> as_components([{"action": "add", "subject": "a star"}])
    (Component(action='add', subject=('a star',), target=()),)
    """
    if isinstance(xs, (Component, Mapping, str)):
        raise ValueError(f"expected a sequence of components, got a single {type(xs).__name__}; wrap it in a list")
    try:
        items = list(xs)
    except TypeError as err:
        raise ValueError(f"expected a sequence of components, got {type(xs).__name__}") from err
    return tuple(as_component(x) for x in items)
