"""Where the learners and the policy actors run on a cluster: the ``train.placement`` setting and the Ray placement
groups that apply it.

Off by default (``train.placement: null``): RLlib puts its learner actors and Ray the policy actors wherever there is
room, as before. Set, two placement groups are reserved before anything is started in them:

- the learners' (``num_learners >= 1``): one bundle per learner, of the resources RLlib's ``LearnerGroup`` gives each
  learner actor (``num_cpus_per_learner``, ``num_gpus_per_learner`` - 1 with ``learner.device: cuda`` -,
  ``custom_resources_per_learner``), with ``learner_strategy``. It goes to RLlib through its own hook,
  ``AlgorithmConfig.build_learner_group(placement_group=...)``: RLlib's backend executor (Ray Train's) creates the
  learner actors in it and removes it when the learner group shuts down. ``Algorithm.setup`` passes no group there
  outside Tune, which is why :class:`~.config.GRPOConfig` does. With ``num_learners: 0`` the learner is the
  ``editrl train`` process itself and nothing is reserved for it.
- the policy actors': one bundle per actor (its agent's ``num_cpus`` / ``num_gpus``), agents in graph order and
  replicas in order, with ``strategy``; each actor is started in its own bundle (``PlacementGroupSchedulingStrategy``
  with its bundle index). ``colocate`` adds a label selector on Ray's built-in ``ray.io/node-id`` label to every
  bundle: on a node that holds a learner (true) or on none of them (false). :class:`~.algorithm.GRPO` removes the
  group when it stops.

A group not placed within ``timeout_s`` is removed (a pending group would take the resources later, unseen) and the
error names what was asked and what the cluster has free.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

#: Ray's placement strategies (``ray.util.placement_group``).
Strategy = Literal["PACK", "SPREAD", "STRICT_PACK", "STRICT_SPREAD"]

#: The label every Ray node carries with its node id (``ray.util.placement_group.NODE_ID_LABEL_KEY``).
NODE_ID_LABEL = "ray.io/node-id"


class PlacementError(RuntimeError):
    """A placement group the cluster did not place in time."""


class PlacementSettings(BaseModel):
    """Where the learners and the policy actors run: Ray placement groups, reserved before they start."""

    model_config = ConfigDict(extra="forbid")

    strategy: Strategy = Field(default="PACK", description=(
        "Ray placement strategy of the policy actors' group (one bundle per actor, of its agent's `num_cpus` and "
        "`num_gpus`). PACK: as few nodes as possible (Ray's default). SPREAD: over as many nodes as possible. "
        "STRICT_PACK: all on one node. STRICT_SPREAD: each on a node of its own (needs as many nodes as actors)."))
    learner_strategy: Strategy = Field(default="PACK", description=(
        "Ray placement strategy of the learners' group (`num_learners` >= 1: one bundle per learner of RLlib's "
        "resources per learner, a GPU each with `learner.device: cuda`). PACK, as Ray Train places its workers: "
        "DDP's gradient all-reduce is fastest within a node. STRICT_SPREAD puts each learner on a node of its own. "
        "Without effect with `num_learners: 0` (the learner is the `editrl train` process)."))
    colocate: bool | None = Field(default=None, description=(
        "true: every policy actor on a node that holds a learner (the `editrl train` process's node with "
        "`num_learners: 0`, the head node under `ray job submit`), so weight syncs stay in the node. false: on none "
        "of them, so sampling and updates do not share GPUs or cores. null: wherever `strategy` puts them."))
    timeout_s: float = Field(default=100.0, gt=0, description=(
        "How long to wait for each group to be placed before failing with what was asked and what the cluster has "
        "free. 100 s, Ray Train's own wait: a fixed cluster places a group at once or never, an autoscaling one "
        "may need minutes to add nodes (raise it there)."))


def actor_resources(agents: Mapping[str, Any], nodes: Iterable[str]) -> dict[str, tuple[float, float, int]]:
    """``{node: (num_cpus, num_gpus, replicas)}`` of the policy actors of ``nodes`` (the trained agents, in the order
    their bundles take), from the pipeline's agent configs ``agents``."""
    return {node: (agents[node].num_cpus, agents[node].num_gpus, agents[node].replicas) for node in nodes if node in agents}


def actor_bundle(node: str, num_cpus: float, num_gpus: float) -> dict[str, float]:
    """The bundle one policy actor of agent ``node`` is started in: its agent's reserved resources.

    >>> actor_bundle("decomposer", 1.0, 0.5)
    {'CPU': 1.0, 'GPU': 0.5}
    >>> actor_bundle("decomposer", 0.0, 1.0)
    {'GPU': 1.0}
    """
    bundle = {name: float(value) for name, value in (("CPU", num_cpus), ("GPU", num_gpus)) if value > 0}
    if not bundle:  # Ray refuses a bundle of zeros: there would be nothing to reserve
        raise ValueError(f"train.placement: a policy actor of agents.{node} reserves no resources (num_cpus 0, num_gpus "
                         f"0), so no bundle can hold it; set agents.{node}.num_cpus (e.g. 1) or agents.{node}.num_gpus")
    return bundle


def learner_bundle(num_cpus_per_learner: float | str, num_gpus_per_learner: float,
                   custom_resources: dict[str, float] | None = None) -> dict[str, float]:
    """The bundle of one learner actor: the resources RLlib's ``LearnerGroup`` asks for it (``num_cpus_per_learner``
    "auto" is 1 CPU for a CPU learner and none beside a GPU, as there).

    >>> learner_bundle("auto", 0)
    {'CPU': 1.0}
    >>> learner_bundle("auto", 1)
    {'GPU': 1.0}
    """
    cpus = (1 if num_gpus_per_learner == 0 else 0) if num_cpus_per_learner == "auto" else num_cpus_per_learner
    resources = {"CPU": float(cpus), "GPU": float(max(0, num_gpus_per_learner)), **(custom_resources or {})}
    bundle = {name: float(value) for name, value in resources.items() if value > 0}
    if not bundle:
        raise ValueError("train.placement: a learner that reserves no resources (num_cpus_per_learner 0, no GPU) cannot "
                         "be given a bundle; leave num_cpus_per_learner at 'auto' or give it a CPU")
    return bundle


def node_selector(learner_nodes: Sequence[str], colocate: bool | None) -> dict[str, str] | None:
    """The label selector that keeps a policy actor's bundle on (``colocate`` true) or off (false) the learners' nodes.

    >>> node_selector(["n1"], True)
    {'ray.io/node-id': 'n1'}
    >>> node_selector(["n2", "n1", "n1"], False)
    {'ray.io/node-id': '!in(n1, n2)'}
    >>> node_selector(["n1"], None) is None
    True
    """
    if colocate is None:
        return None
    nodes = sorted(set(learner_nodes))
    value = nodes[0] if len(nodes) == 1 else f"in({', '.join(nodes)})"
    return {NODE_ID_LABEL: value if colocate else f"!{value}"}


def placement_errors(settings: PlacementSettings, actors: dict[str, tuple[float, float, int]], num_learners: int) -> list[str]:
    """What makes a placement impossible before the cluster is asked, one message each. ``actors``: ``{node:
    (num_cpus, num_gpus, replicas)}`` of the trained agents.

    >>> placement_errors(PlacementSettings(strategy="STRICT_SPREAD", colocate=True), {"decomposer": (1, 0, 2)}, 0)[0][:60]
    'train.placement: strategy STRICT_SPREAD puts each of the 2 p'
    """
    errors = []
    for node, (cpus, gpus, _) in actors.items():
        try:
            actor_bundle(node, cpus, gpus)
        except ValueError as err:
            errors.append(str(err))
    count = sum(replicas for _, _, replicas in actors.values())
    if settings.colocate and settings.strategy == "STRICT_SPREAD" and count > 1 and num_learners <= 1:
        errors.append(f"train.placement: strategy STRICT_SPREAD puts each of the {count} policy actors on a node of its "
                      "own, and colocate: true puts them all on the one learner's node; use strategy PACK, or colocate "
                      "null")
    return errors


def unplaced_message(what: str, bundles: Sequence[dict[str, float]], strategy: str, selector: dict[str, str] | None,
                     timeout_s: float, available: dict[str, float], nodes: Sequence[dict[str, Any]]) -> str:
    """The error for a group not placed in time: what was asked, and what the cluster has (free in all, and each
    node's total).

    >>> print(unplaced_message("policy actors", [{"GPU": 4.0}], "PACK", None, 1, {"CPU": 2.0, "GPU": 2.0},
    ...                        [{"NodeID": "abcdef123", "Resources": {"CPU": 2.0, "GPU": 2.0}}]))  # doctest: +NORMALIZE_WHITESPACE
    train.placement: the policy actors' placement group was not placed within 1 s: asked for 1 bundle [{'GPU': 4.0}]
    (strategy PACK, GPU 4 in all); the cluster has free CPU 2, GPU 2, on 1 node (abcdef12: CPU 2, GPU 2). Lower the
    agents' num_cpus / num_gpus or replicas (the learners': learner.device, num_learners), choose a looser strategy
    or colocate, add nodes (`ray start --address=...`), or raise train.placement.timeout_s for an autoscaler.
    """
    def shown(resources: dict[str, float]) -> str:  # CPU, GPU and custom resources; not memory, node:... or bundles'
        return ", ".join(f"{name} {value:g}" for name, value in sorted(resources.items())
                         if name not in ("memory", "object_store_memory") and ":" not in name and "_group_" not in name)

    total: dict[str, float] = {}
    for bundle in bundles:
        for name, value in bundle.items():
            total[name] = total.get(name, 0.0) + value
    where = ""
    if selector:
        value = selector[NODE_ID_LABEL]
        where = f", {'off' if value.startswith('!') else 'on'} learner node(s) {value.lstrip('!')}"
    alive = [n for n in nodes if n.get("Alive", True)]
    per_node = "; ".join(f"{str(n['NodeID'])[:8]}: {shown(n.get('Resources', {}))}" for n in alive)
    return (f"train.placement: the {what}' placement group was not placed within {timeout_s:g} s: asked for "
            f"{len(bundles)} bundle{'s' if len(bundles) != 1 else ''} {list(bundles)} (strategy {strategy}{where}, "
            f"{shown(total)} in all); the cluster has free {shown(available) or 'nothing'}, on "
            f"{len(alive)} node{'s' if len(alive) != 1 else ''} ({per_node}). Lower the agents' num_cpus / num_gpus or "
            "replicas (the learners': learner.device, num_learners), choose a looser strategy or colocate, add nodes "
            "(`ray start --address=...`), or raise train.placement.timeout_s for an autoscaler.")


def reserve(what: str, bundles: Sequence[dict[str, float]], strategy: str, timeout_s: float,
            selector: dict[str, str] | None = None) -> Any:
    """A placement group of ``bundles`` with ``strategy`` (each bundle under ``selector``), placed; else
    :class:`PlacementError` with :func:`unplaced_message`, the pending group removed."""
    import ray
    from ray.util.placement_group import placement_group, remove_placement_group

    group = placement_group(list(bundles), strategy=strategy, name=f"editrl-{what.replace(' ', '-')}",
                            bundle_label_selector=[dict(selector) for _ in bundles] if selector else None)
    ready, _ = ray.wait([group.ready()], timeout=timeout_s)
    if not ready:
        remove_placement_group(group)
        raise PlacementError(unplaced_message(what, bundles, strategy, selector, timeout_s, ray.available_resources(),
                                              ray.nodes()))
    return group


def bundle_scheduling(group: Any, index: int) -> Any:
    """Ray's scheduling strategy that starts an actor in bundle ``index`` of ``group``; its child tasks are not
    captured (a policy actor starts none that should share its bundle)."""
    from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

    return PlacementGroupSchedulingStrategy(placement_group=group, placement_group_bundle_index=index,
                                            placement_group_capture_child_tasks=False)


def learner_nodes(learner_group: Any) -> list[str]:
    """The node ids of the learners: this process's node for a local learner, each learner actor's otherwise."""
    import ray

    results = learner_group.foreach_learner(lambda _: ray.get_runtime_context().get_node_id())
    return [r.get() for r in results]


def place_policy_actors(settings: PlacementSettings, actors: dict[str, tuple[float, float, int]],
                        nodes: Sequence[str]) -> tuple[Any, dict[str, list[Any]]]:
    """The policy actors' placement group, placed, and per agent one scheduling strategy per replica (its bundle).

    ``actors``: ``{node: (num_cpus, num_gpus, replicas)}`` in the order the bundles take; ``nodes``: the learners'
    node ids (:func:`learner_nodes`), for ``colocate``.
    """
    bundles, owners = [], []
    for node, (cpus, gpus, replicas) in actors.items():
        bundles.extend(actor_bundle(node, cpus, gpus) for _ in range(replicas))
        owners.extend([node] * replicas)
    group = reserve("policy actors", bundles, settings.strategy, settings.timeout_s,
                    node_selector(nodes, settings.colocate))
    scheduling: dict[str, list[Any]] = {node: [] for node in actors}
    for index, node in enumerate(owners):
        scheduling[node].append(bundle_scheduling(group, index))
    return group, scheduling
