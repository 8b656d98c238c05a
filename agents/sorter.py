"""Rule-based sorter: orders the decomposer's components and writes one explicit sub-request per component.

`RuleSorter` reads `state.decomposition` (components in written order) and the text they came from
(`state.plan.text` if there is a plan, else `state.instruction`), and orders the components with two sources of
precedence:

1. **Order words** (hard): `canvas_language.parse_text` gives the text's clauses and the pairs the wording orders
   (joiners and FORWARD / REVERSED connectives; BOTH pairs are free). Components are aligned with clauses by
   position when the counts and actions agree, else one by one by action and subject/target overlap; constraints
   between aligned components are kept.
2. **Dependencies** (soft): a component whose subject names an attribute value that another component sets runs
   after it ("make the circle blue" before "move the blue circle"; "add a small red star" before "remove the small
   red star"). An edge is added only if it does not contradict the order words (no cycle).

The order is a topological sort of those edges that otherwise keeps the wording's execution order (then the
written order). Each sub-request is the component's EXPLICIT clause (`canvas_language.to_explicit_clause`).
The sorter does not look at the image: ordering is a matter of the text.
"""

from __future__ import annotations

import heapq
from typing import Any, Iterable, Sequence

from agents.base import Agent, EpisodeState, SubRequests
from agents.canvas_language import normalise, parse_text, to_explicit_clause
from envs.canvas.refer import parse_description
from envs.canvas.vocab import REGIONS
from rewards.types import Component, as_component

__all__ = ["RuleSorter", "dependency_edges", "dependency_order", "topological_order"]


def _as_component(c: Any) -> Component | None:
    if c is None:
        return None
    if isinstance(c, Component):
        return c
    if hasattr(c, "action") and hasattr(c, "subject"):
        return as_component({"action": c.action, "subject": list(c.subject), "target": list(getattr(c, "target", []))})
    return as_component(c)


def _sets(comp: Component) -> dict[str, str] | None:
    """The attribute values a component sets: {'color': 'blue'}; for add, every attribute of the new object."""
    action = comp.action.strip().lower()
    target = normalise(comp.target[0]) if comp.target else ""
    if action == "recolor":
        return {"color": target}
    if action == "resize":
        return {"size": target}
    if action == "reshape":
        return {"shape": target}
    if action == "move" and target in REGIONS:
        return {"region": target}
    if action == "add" and comp.subject:
        desc = parse_description(comp.subject[0])
        if desc is not None:
            return {k: v for k, v in (("shape", desc.shape), ("color", desc.color), ("size", desc.size)) if v}
    return None


def _reads(comp: Component) -> list[dict[str, str]]:
    """The attribute values each subject description names."""
    if comp.action.strip().lower() in ("add", "background"):
        return []
    out = []
    for text in comp.subject:
        desc = parse_description(text)
        if desc is not None:
            out.append({k: v for k, v in (("shape", desc.shape), ("color", desc.color), ("size", desc.size), ("region", desc.region)) if v})
    return out


def dependency_edges(components: Sequence[Any]) -> list[tuple[int, int]]:
    """Edges (i, j): component j names, in a subject, an attribute value that component i sets, so i runs first.

    For `add`, j must name the new object by attributes it has (every named attribute matches); for the other
    actions, j must name the value set by i.

    >>> dependency_edges([{"action": "move", "subject": ["the blue circle"], "target": ["top"]},
    ...                   {"action": "recolor", "subject": ["the circle"], "target": ["blue"]}])
    [(1, 0)]
    """
    comps = [_as_component(c) for c in components]
    edges = []
    for i, a in enumerate(comps):
        sets = _sets(a) if a is not None else None
        if not sets:
            continue
        for j, b in enumerate(comps):
            if i == j or b is None:
                continue
            for named in _reads(b):
                if a.action.strip().lower() == "add":  # type: ignore[union-attr]
                    hit = named.keys() - {"region"} and all(sets.get(k) == v for k, v in named.items() if k != "region")
                else:
                    hit = any(named.get(k) == v for k, v in sets.items())
                if hit:
                    edges.append((i, j))
                    break
    return edges


def topological_order(n: int, hard: Iterable[tuple[int, int]], soft: Iterable[tuple[int, int]], priority: Sequence[float]) -> list[int]:
    """A topological order of 0..n-1 under the `hard` edges plus every `soft` edge that keeps the graph acyclic
    (tried in the given order); ties go to the lowest `priority`. A cycle among hard edges is broken by dropping
    the offending edges, never by failing.

    >>> topological_order(3, hard=[(2, 0)], soft=[(0, 2), (1, 0)], priority=[0, 1, 2])
    [1, 2, 0]
    """
    succ: dict[int, set[int]] = {i: set() for i in range(n)}

    def reaches(src: int, dst: int) -> bool:
        stack, seen = [src], {src}
        while stack:
            u = stack.pop()
            if u == dst:
                return True
            for v in succ[u] - seen:
                seen.add(v)
                stack.append(v)
        return False

    for i, j in list(hard) + list(soft):
        if 0 <= i < n and 0 <= j < n and i != j and j not in succ[i] and not reaches(j, i):
            succ[i].add(j)
    indegree = [0] * n
    for i in range(n):
        for j in succ[i]:
            indegree[j] += 1
    ready = [(priority[i], i) for i in range(n) if indegree[i] == 0]
    heapq.heapify(ready)
    order = []
    while ready:
        _, i = heapq.heappop(ready)
        order.append(i)
        for j in succ[i]:
            indegree[j] -= 1
            if indegree[j] == 0:
                heapq.heappush(ready, (priority[j], j))
    return order


def dependency_order(components: Sequence[Any]) -> list[int]:
    """Order by the dependency heuristic alone, otherwise as listed."""
    return topological_order(len(components), [], dependency_edges(components), list(range(len(components))))


def _similarity(comp: Component, parsed: Any) -> float:
    if parsed is None or comp.action.strip().lower() != parsed.action:
        return 0.0
    pc = parsed.component()
    subj = {normalise(s) for s in comp.subject} & {normalise(s) for s in pc.subject}
    tgt = {normalise(t) for t in comp.target} & {normalise(t) for t in pc.target}
    return 1.0 + len(subj) + len(tgt)


def align(components: Sequence[Component], clauses: Sequence[Any]) -> dict[int, int]:
    """Map component index -> written clause index: by position when counts and actions agree, else greedily by
    similarity (same action required)."""
    written = sorted(clauses, key=lambda c: c.written)
    if len(written) == len(components) and all(c.parsed is not None and c.parsed.action == comp.action.strip().lower()
                                                 for c, comp in zip(written, components)):
        return {i: c.written for i, c in enumerate(written)}
    pairs = sorted(((_similarity(comp, c.parsed), i, c.written) for i, comp in enumerate(components) for c in written), reverse=True)
    mapping: dict[int, int] = {}
    used: set[int] = set()
    for score, i, w in pairs:
        if score > 0 and i not in mapping and w not in used:
            mapping[i] = w
            used.add(w)
    return mapping


class RuleSorter(Agent):
    """Orders components by the order words and a dependency heuristic (module docstring)."""

    role = "sorter"
    backend = "rule"

    def act(self, state: EpisodeState) -> SubRequests:
        if state.decomposition is None:
            raise ValueError("the rule sorter needs state.decomposition; put a decomposer before it in the graph")
        comps = [_as_component(c) for c in state.decomposition.components]
        n = len(comps)
        if n == 0:
            return SubRequests(items=[], order=[])
        text = state.plan.text if state.plan is not None else state.instruction
        parsed = parse_text(text)
        mapping = align(comps, parsed.clauses)  # type: ignore[arg-type]
        to_component = {w: i for i, w in mapping.items()}
        hard = [(to_component[a], to_component[b]) for a, b in parsed.constraints if a in to_component and b in to_component]
        step_of = {c.written: c.step for c in parsed.clauses}
        # Aligned components keep the wording's execution position; others follow in the order listed.
        priority = [float(step_of[mapping[i]]) if i in mapping else n + i for i in range(n)]
        order = topological_order(n, hard, dependency_edges(comps), priority)
        return SubRequests(items=[to_explicit_clause(comps[i]) for i in order], order=order)
