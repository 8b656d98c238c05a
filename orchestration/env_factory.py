"""Building an `envs.EditingEnv` from a pipeline config (and registering it with RLlib by name)."""

from __future__ import annotations

from typing import Any, Sequence

from envs.editing_env import EditingEnv, NodeSpec
from envs.task import EditTask
from orchestration.config import PipelineConfig, load_config
from orchestration.graph import build_graph
from orchestration.pipeline import agent_kwargs


def default_trainable(config: PipelineConfig) -> list[str]:
    """Nodes whose backend is a text policy (`Capabilities.text_policy`): those are the policies RL trains by default."""
    return [name for name, agent in config.agents.items() if agent.capabilities.text_policy]


def make_editing_env(config: PipelineConfig, tasks: Sequence[EditTask], trainable: Sequence[str] | None = None,
                     agents: dict[str, Any] | None = None, max_turns: int = 32) -> EditingEnv:
    """An EditingEnv over `tasks` whose dynamics are the config's non-trainable agents (built here unless given)."""
    graph = build_graph(config)
    trainable = list(trainable) if trainable is not None else default_trainable(config)
    unknown = [t for t in trainable if t not in graph.order]
    if unknown:
        raise ValueError(f"trainable node(s) {unknown} are not in the graph {list(graph.order)}")
    built = dict(agents or {})
    nodes = []
    for name in graph.order:
        agent = built.get(name) or graph.classes[name](**agent_kwargs(config.agents[name], config))
        nodes.append(NodeSpec(name, graph.roles[name], agent, name in trainable))
    rewards = {name: [(t.name, t.weight) for t in config.rewards.get(name, [])] for name in trainable}
    return EditingEnv(nodes, tasks, rewards, reflection=graph.engine.reflection, max_turns=max_turns, seed=config.seed)


def rllib_env_creator(env_config: dict[str, Any]) -> EditingEnv:
    """For `ray.tune.register_env("editrl-editing", rllib_env_creator)`: env_config has `config` (path or dict),
    `data` (a Parquet file), optional `limit`, `trainable` and `overrides`."""
    from envs.datasets import load_tasks

    config = load_config(env_config["config"], env_config.get("overrides", ()))
    tasks = load_tasks(env_config["data"], limit=env_config.get("limit"))
    return make_editing_env(config, tasks, env_config.get("trainable"))
