"""Pipeline configuration: pydantic models for the YAML files in `configs/`, loading, and `--set` overrides.

Every field is documented; unknown keys are rejected with their dotted path ("agents.editor.modee: extra inputs
are not permitted"), so a typo never silently falls back to a default. `load_config` reads YAML, applies
`--set dotted.key=value` overrides (YAML-typed values; `editor.backend=x` is shorthand for
`agents.editor.backend=x`), validates, and checks the agent graph - and each agent's `options` against its class's
constructor - before any actor starts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, Sequence

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

import configs as _configs_pkg
from agents.registry import PLAIN, Capabilities, builtin_capabilities


class ConfigError(ValueError):
    """A configuration problem; the message names the key and says what to change."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", protected_namespaces=())


class AgentConfig(_Strict):
    """One agent node of the pipeline."""

    role: Literal["thinker", "decomposer", "sorter", "editor", "verifier"] | None = Field(
        default=None, description="Role of the agent; defaults to the node name when that is a role name.")
    backend: str = Field(default="rule", description=(
        "Built-in backend: rule (deterministic baselines), canvas (pixel editor / perceiving verifier), "
        "transformers (a tagged-format causal LM policy), vlm (a chat LM or VLM with its processor), vllm (GPU "
        "generation), diffusers (an editing pipeline). "
        "Ignored when `cls` is set."))
    cls: str | None = Field(default=None, description=(
        "Plug-in agent: an import path 'package.module:Class' or the name of an entry point in the "
        "'editrl.agents' group. Imported only when a config names it."))
    model: str | None = Field(default=None, description="Model name or local path for model backends (from_pretrained).")
    options: dict[str, Any] = Field(default_factory=dict, description=(
        "Keyword arguments for the agent's constructor, checked against its signature when the config loads (a class "
        "taking **kwargs accepts any); switching `backend` with --set keeps them, so replace the whole node instead: "
        "--set 'editor={backend: canvas}'."))
    num_cpus: float = Field(default=0.0, ge=0, description=(
        "CPUs reserved per actor. 0 (the default) lets a whole pipeline fit on a 2-core machine - agents of one "
        "episode run one after another, so they rarely compete; reserve 1 for agents that run concurrently and are "
        "CPU-bound, so that Ray spreads them over cores and nodes."))
    num_gpus: float = Field(default=0.0, ge=0, description="GPUs per actor; fractional values share a GPU between actors.")
    replicas: int = Field(default=1, ge=1, le=64, description="Actors in this agent's pool; calls go to the least busy one.")
    max_batch_size: int = Field(default=16, ge=1, description="Most concurrent requests one actor batches into one act_batch call.")
    batch_wait_ms: float = Field(default=5.0, ge=0, description="How long an actor waits to fill a batch; small, since generation dominates.")
    max_restarts: int = Field(default=2, ge=-1, description=(
        "Ray restarts after an actor dies (-1: forever). GRPO's policy actors use it too; a restarted one gets the "
        "current weights before it samples again (orchestration/grpo/pool.py)."))
    timeout_s: float | None = Field(default=None, gt=0, description=(
        "Per-call timeout; a call past it marks the episode failed instead of hanging. In GRPO rollouts it bounds "
        "each in-process agent's call on one episode: the episode ends with error 'timeout: ...', gets no reward, and "
        "its group is trained as train.failed_episodes says (policy actors: train.sample_timeout_s)."))

    @property
    def capabilities(self) -> Capabilities:
        """What the orchestration may do with this agent, as `agents.registry.BUILTIN` declares for its built-in
        backend. A plug-in (`cls`) gets none: nothing is known about what its class loads or offers."""
        if self.cls is not None:
            return PLAIN
        return builtin_capabilities(self.role or "", self.backend)


class ReflectionConfig(_Strict):
    """ThinkRL-Edit reflection: after the verifier, failed items go back to an earlier agent for another round."""

    source: str = Field(default="verifier", description="The verifier node whose feedback triggers reflection.")
    target: str = Field(default="thinker", description="The node that re-plans with the feedback; every node after it runs again.")
    max_rounds: int = Field(default=1, ge=1, le=8, description="Bound on extra rounds; each costs a full re-plan and re-edit.")


class GraphConfig(_Strict):
    """Which agents take part and in what order: a directed acyclic graph plus an optional reflection edge."""

    nodes: list[str] = Field(description="Agent names, each a key of `agents`.")
    edges: list[tuple[str, str]] | None = Field(default=None, description="Directed edges; default: a chain in the order of `nodes`.")
    reflection: ReflectionConfig | None = Field(default=None, description="Bounded reflection edge; None disables reflection.")


class RewardTerm(_Strict):
    name: str = Field(description="Registered reward name (rewards.available_rewards()).")
    weight: float = Field(default=1.0, description="Weight in the weighted sum.")


class PipelineConfig(_Strict):
    """A whole pipeline: the agents, the graph, and the rewards each trainable agent is scored with."""

    name: str = Field(description="Short name, used in output paths and traces.")
    description: str = Field(default="", description="What this pipeline reproduces.")
    agents: dict[str, AgentConfig] = Field(description="Agent nodes by name.")
    graph: GraphConfig = Field(description="Order of the agents and the reflection edge.")
    rewards: dict[str, list[RewardTerm]] = Field(default_factory=dict, description="Reward terms per agent name, for the environment and the learner.")
    image_size: int = Field(default=128, ge=16, le=4096, description="Canvas image size for generated data.")
    seed: int = Field(default=0, description="Seed for sampling agents and data.")
    train: dict[str, Any] | None = Field(default=None, description="Training section, validated by the trainer.")

    @model_validator(mode="after")
    def _roles(self) -> "PipelineConfig":
        for name, agent in self.agents.items():
            if agent.role is None:
                if name not in ("thinker", "decomposer", "sorter", "editor", "verifier"):
                    raise ValueError(f"agents.{name}.role is missing; set it to thinker, decomposer, sorter, editor or verifier")
                agent.role = name  # type: ignore[assignment]
        return self


def config_path(name_or_path: str | Path) -> Path:
    """A config file by path, or by bare name from the packaged `configs/` folder ('canvas_rule')."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    packaged = Path(_configs_pkg.__file__).parent / (path.name if path.suffix else f"{path.name}.yaml")
    if packaged.is_file() and len(path.parts) == 1:
        return packaged
    raise ConfigError(f"config file {str(name_or_path)!r} not found; pass a path to a YAML file or one of: {', '.join(available_configs())}")


def available_configs() -> list[str]:
    return sorted(p.stem for p in Path(_configs_pkg.__file__).parent.glob("*.yaml"))


def parse_override(text: str) -> tuple[list[str], Any]:
    """'agents.editor.options.mode=multi_turn' -> (['agents', 'editor', 'options', 'mode'], 'multi_turn')."""
    if "=" not in text:
        raise ConfigError(f"override {text!r} must look like dotted.key=value")
    key, raw = text.split("=", 1)
    parts = [p for p in key.strip().split(".") if p]
    if not parts:
        raise ConfigError(f"override {text!r} has an empty key")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    return parts, value


def apply_overrides(data: dict[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    for text in overrides:
        parts, value = parse_override(text)
        if parts[0] not in PipelineConfig.model_fields and parts[0] in data.get("agents", {}):
            parts = ["agents"] + parts  # shorthand: editor.backend=... means agents.editor.backend=...
        node: Any = data
        for i, part in enumerate(parts[:-1]):
            if not isinstance(node, dict):
                raise ConfigError(f"override {text!r}: {'.'.join(parts[:i])} is not a mapping")
            node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"override {text!r}: {'.'.join(parts[:-1])} is not a mapping")
        node[parts[-1]] = value
    return data


def _model_at(loc: Sequence[Any], root: type[BaseModel]) -> type[BaseModel] | None:
    """The pydantic model under `root` that holds the last key of `loc` (a validation error's location), or None."""
    import types
    import typing

    current: Any = root
    for part in loc[:-1]:
        if isinstance(current, type) and issubclass(current, BaseModel):
            field = current.model_fields.get(str(part))
            if field is None:
                return None
            current = field.annotation
        elif typing.get_origin(current) is dict:
            current = typing.get_args(current)[1]  # `part` is a key of the mapping
        elif typing.get_origin(current) is list:
            current = typing.get_args(current)[0]  # `part` is an index
        else:
            return None
        args = [a for a in typing.get_args(current) if a is not type(None)]
        if typing.get_origin(current) in (typing.Union, types.UnionType) and len(args) == 1:
            current = args[0]  # Optional[X] -> X
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def nearest_hint(name: str, known: Sequence[str], what: str = "keys") -> str:
    """What to write instead of the unknown `name`: the nearest of `known`, when one is close, and all of them.

    >>> nearest_hint("modee", ["mode", "max_requests_per_call"], "options")
    " (did you mean 'mode'? known options: mode, max_requests_per_call)"
    >>> nearest_hint("zzz", ["mode"])
    ' (known keys: mode)'
    """
    import difflib

    near = difflib.get_close_matches(name, list(known), n=1)
    return (f" (did you mean {near[0]!r}? " if near else " (") + f"known {what}: {', '.join(known) or 'none'})"


def validation_messages(err: ValidationError, root: type[BaseModel]) -> list[str]:
    """One `dotted.key: problem` per error of validating `root`; an unknown key also names the nearest known key
    and every key accepted there, so the message says what to write instead."""
    lines = []
    for e in err.errors():
        path = ".".join(str(p) for p in e["loc"]) or "(top level)"
        line = f"{path}: {e['msg']}"
        holder = _model_at(e["loc"], root) if e.get("type") == "extra_forbidden" else None
        if holder is not None:
            line += nearest_hint(str(e["loc"][-1]), list(holder.model_fields))
        lines.append(line)
    return lines


def _format_validation_error(err: ValidationError, source: str) -> str:
    return f"invalid config {source}: " + "; ".join(validation_messages(err, PipelineConfig))


def load_config(name_or_path: str | Path | dict[str, Any], overrides: Sequence[str] = (), check_graph: bool = True) -> PipelineConfig:
    """Read, override, validate. Raises ConfigError naming the file and key."""
    if isinstance(name_or_path, dict):
        data, source = dict(name_or_path), "(dict)"
    else:
        path = config_path(name_or_path)
        source = str(path)
        try:
            data = yaml.safe_load(path.read_text())
        except yaml.YAMLError as err:
            raise ConfigError(f"{path}: not valid YAML ({err})") from None
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: the top level must be a mapping with agents and graph")
    data = apply_overrides(data, overrides)
    try:
        config = PipelineConfig.model_validate(data)
    except ValidationError as err:
        raise ConfigError(_format_validation_error(err, source)) from None
    if check_graph:
        from orchestration.graph import build_graph

        build_graph(config)
    return config


def looks_local(model: str) -> bool:
    """Whether `model` can only be a local path (a hub id is `name` or `org/name`, never more).

    >>> [looks_local(m) for m in ["runs/sft/thinker", "./m", "/abs/m", "~/m", "gpt2", "Qwen/Qwen2.5-VL-7B-Instruct"]]
    [True, True, True, True, False, False]
    """
    parts = Path(model).parts
    return model.startswith((".", "/", "~", "\\")) or len(parts) > 2


def check_model_paths(config: PipelineConfig, base: Path | None = None) -> None:
    """Every model-backed agent of the graph names a model folder that exists, or a hub id; else ConfigError naming
    the key and the fix. Called before any actor starts (`editrl edit/eval`, `editrl serve`), so a missing checkpoint
    is one clear line instead of a loader traceback from inside an actor. Not part of `load_config`: the training
    command loads configs whose model folders SFT has yet to write."""
    base = Path.cwd() if base is None else base
    for node in config.graph.nodes:
        agent = config.agents.get(node)
        if agent is None or not agent.capabilities.needs_model:
            continue
        model = agent.model if agent.model is not None else agent.options.get("model")
        if model is None:
            raise ConfigError(f"agents.{node}.model is not set, and backend {agent.backend!r} needs one; set it to a "
                              f"saved model folder or a hub id (--set {node}.model=PATH), or use a rule agent: --set '{node}={{backend: rule}}'")
        if not isinstance(model, str):
            continue  # an object handed over in code, not a path
        path = Path(model).expanduser()
        path = path if path.is_absolute() else base / path
        if path.is_dir():
            continue
        if path.exists():
            raise ConfigError(f"agents.{node}.model: {model!r} is a file; point it at the model's folder (the one "
                              "holding config.json)")
        if looks_local(model):
            raise ConfigError(f"agents.{node}.model: folder {model!r} does not exist (looked in {path.parent}); train "
                              f"it first (editrl sft --config {config.name}), point it at a saved model folder "
                              f"(--set {node}.model=PATH), or run without it (--set '{node}={{backend: rule}}')")
