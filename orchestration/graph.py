"""The agent graph: which agents run, in what order, and the bounded reflection edge (networkx).

`build_graph(config)` validates everything a pipeline needs before any actor starts, and names the node at fault:
unknown agents, cycles (other than the bounded reflection, which is not an edge of the DAG), a reflection edge that
does not point back upstream, unmet inputs (e.g. a sorter with no decomposer before it), and constructor arguments
(`options`, `model`) the agent's class does not take - else a misspelt option is a TypeError inside an actor, after
Ray has started.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass

import networkx as nx

from agents.base import INPUTS, PROVIDES
from envs.engine import EpisodeEngine, Reflection
from agents.registry import resolve_agent_class
from orchestration.config import AgentConfig, ConfigError, PipelineConfig, nearest_hint


@dataclass(frozen=True)
class AgentGraph:
    """A validated pipeline graph. `order` is the execution order (a topological sort)."""

    graph: nx.DiGraph
    order: tuple[str, ...]
    roles: dict[str, str]
    classes: dict[str, type]
    reflection_source: str | None
    reflection_target: str | None
    max_rounds: int

    def nodes_from(self, start: str) -> tuple[str, ...]:
        """`start` and every node after it in execution order (what a reflection round re-runs)."""
        return self.engine.nodes_from(start)

    @property
    def engine(self) -> EpisodeEngine:
        """The episode engine over this graph (`envs.engine`): how every runner steps an episode through it."""
        reflection = None
        if self.reflection_source is not None and self.reflection_target is not None:
            reflection = Reflection(self.reflection_source, self.reflection_target, self.max_rounds)
        return EpisodeEngine(self.order, self.roles, reflection)


def build_graph(config: PipelineConfig, resolve_classes: bool = True) -> AgentGraph:
    g = config.graph
    graph = nx.DiGraph()
    for node in g.nodes:
        if node not in config.agents:
            raise ConfigError(f"graph.nodes: unknown agent {node!r}; define it under agents or remove it (known: {', '.join(config.agents)})")
        if node in graph:
            raise ConfigError(f"graph.nodes: agent {node!r} is listed twice")
        graph.add_node(node)
    edges = g.edges if g.edges is not None else list(zip(g.nodes, g.nodes[1:]))
    for a, b in edges:
        for end in (a, b):
            if end not in graph:
                raise ConfigError(f"graph.edges: edge {a!r} -> {b!r} names {end!r}, which is not in graph.nodes")
        graph.add_edge(a, b)
    try:
        cycle = nx.find_cycle(graph)
    except nx.NetworkXNoCycle:
        cycle = None
    if cycle:
        path = " -> ".join([u for u, _ in cycle] + [cycle[0][0]])
        raise ConfigError(f"graph.edges: cycle {path}; only the bounded reflection may loop: use graph.reflection instead of an edge back")
    order = tuple(nx.lexicographical_topological_sort(graph, key=g.nodes.index))
    roles = {n: config.agents[n].role for n in order}

    # Unmet inputs: each node needs one of its role's input fields from an ancestor (the instruction is free).
    for node in order:
        available = {"instruction"} | {PROVIDES[roles[a]] for a in nx.ancestors(graph, node)}
        needed = INPUTS[roles[node]]
        if not available & set(needed):
            providers = [r for r, f in PROVIDES.items() if f in needed]
            raise ConfigError(f"agent {node!r} ({roles[node]}) needs {' or '.join(needed)} from an upstream agent; add a {' or '.join(providers)} before it")

    source = target = None
    rounds = 0
    if g.reflection is not None:
        source, target, rounds = g.reflection.source, g.reflection.target, g.reflection.max_rounds
        for name, end in (("source", source), ("target", target)):
            if end not in graph:
                raise ConfigError(f"graph.reflection.{name}: {end!r} is not in graph.nodes")
        if roles[source] != "verifier":
            raise ConfigError(f"graph.reflection.source: {source!r} is a {roles[source]}; reflection starts from a verifier")
        if target not in nx.ancestors(graph, source):
            raise ConfigError(f"graph.reflection.target: {target!r} must come before {source!r} so the loop is a bounded re-run, not a cycle")

    classes: dict[str, type] = {}
    if resolve_classes:
        for node in order:
            agent = config.agents[node]
            try:
                classes[node] = resolve_agent_class(node, roles[node], agent.backend, agent.cls)
            except ValueError as err:
                raise ConfigError(f"agents.{node}: {err}") from None
            check_constructor_arguments(node, agent, classes[node])
    return AgentGraph(graph, order, roles, classes, source, target, rounds)


def constructor_parameters(cls: type) -> tuple[str, ...] | None:
    """The keyword arguments ``cls(...)`` takes, or None when it takes any (``**kwargs``) or has no readable signature.

    >>> class A:
    ...     def __init__(self, mode: str = "x", *, depth: int = 1) -> None: ...
    >>> class B(A):
    ...     def __init__(self, **kwargs) -> None: ...
    >>> constructor_parameters(A), constructor_parameters(B), constructor_parameters(object)
    (('mode', 'depth'), None, ())
    """
    try:
        params = inspect.signature(cls).parameters.values()
    except (TypeError, ValueError):  # a class implemented in C, say: let its constructor be the judge
        return None
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return None
    return tuple(p.name for p in params if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY))


def check_constructor_arguments(node: str, agent: AgentConfig, cls: type) -> None:
    """ConfigError unless ``cls`` takes every key of ``agents.<node>.options`` (and ``model`` when the config sets
    it), naming each key it does not take, the nearest one it does, and all of them."""
    accepted = constructor_parameters(cls)
    if accepted is None:
        return
    what = cls.__qualname__ + (f" (backend {agent.backend!r})" if agent.cls is None else "")
    unknown = [key for key in agent.options if key not in accepted]
    problems = []
    if unknown and not accepted:  # typically options written for another backend, left by --set NODE.backend=...
        problems.append(f"agents.{node}.options: {what} takes no options, but the config gives {', '.join(unknown)}; "
                        f"clear them (--set {node}.options={{}})" + (f", or replace the whole node: --set '{node}={{backend: "
                        f"{agent.backend}}}'" if agent.cls is None else ""))
    else:
        problems += [f"agents.{node}.options.{key}: {what} has no option {key!r}" + nearest_hint(key, accepted, "options")
                     for key in unknown]
    if agent.model is not None and "model" not in accepted:
        problems.append(f"agents.{node}.model: {what} loads no model; remove it (--set {node}.model=null)")
    if problems:
        raise ConfigError("; ".join(problems))
