"""The ``train.gcpo`` section: what turns a pipeline's training run into GCPO on its reasoning verifier.

Everything GCPO shares with GRPO - group size, temperature, completion length, learning rate, clip range, loss
aggregation, advantage scaling, KL, epochs, learners, checkpoints, time budget - is the GRPO setting of the same name
in ``train:`` (:class:`orchestration.grpo.config.GRPOSettings`): one definition each. This section holds only what
GCPO adds: where the preference pairs are, how many an iteration draws, and the credit of a tie.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["GCPOSection", "gcpo_errors", "gcpo_trainable"]


class GCPOSection(BaseModel):
    """``train.gcpo``: train the pipeline's LM verifier with GCPO on preference pairs (docs/verifier.md)."""

    model_config = ConfigDict(extra="forbid")

    pairs: str = Field(description=(
        "Preference pairs, a Parquet file in the format of `envs.preferences` (`python -m orchestration.gcpo pairs` "
        "writes Canvas ones). Read when the run starts."))
    pairs_per_iteration: int = Field(default=4, ge=1, description=(
        "Pairs drawn per iteration (without replacement within it). Each pair is judged `group_size` times on each "
        "side, so an iteration samples pairs_per_iteration * 2 * group_size judgements of up to `max_new_tokens`."))
    tie_credit: float = Field(default=0.5, ge=0, le=1, description=(
        "Credit of a judgement that ties with one of the opposite side (`rewards.gcpo_rewards`)."))


def _lm_verifier(agent: Any) -> bool:
    return agent.role == "verifier" and agent.backend == "transformers"


def gcpo_trainable(pipeline: Any) -> list[str]:
    """The agents GCPO trains when ``train.agents`` is not set: the LM verifiers (role verifier, backend
    transformers) of ``pipeline`` (a :class:`orchestration.config.PipelineConfig`)."""
    return [node for node, agent in pipeline.agents.items() if _lm_verifier(agent)]


def gcpo_errors(pipeline: Any, trainable: dict[str, dict[str, Any]], settings: dict[str, Any]) -> list[str]:
    """What stops a GCPO run of ``pipeline`` (a :class:`orchestration.config.PipelineConfig`) with the trained nodes
    ``trainable`` and the GRPO settings ``settings`` (a ``GRPOConfig``'s values), one message each."""
    errors = []
    if len(trainable) != 1:
        errors.append(f"train.gcpo trains one verifier; train.agents names {len(trainable)} agents "
                      f"({', '.join(trainable) or 'none'}): name the verifier node only")
    for node in trainable:
        agent = pipeline.agents.get(node)
        if agent is not None and not _lm_verifier(agent):
            errors.append(f"train.gcpo trains an LM verifier (role verifier, backend transformers); agent {node!r} is "
                          f"role {agent.role!r}, backend {agent.backend!r}")
        if trainable[node].get("rewards"):
            errors.append(f"train.agents.{node}.rewards: a GCPO verifier is rewarded by how its judgements rank against "
                          "the opposite side of each pair, not by reward terms; remove them")
    unsupported = {"max_staleness": 0, "greedy_member": False, "component_credit": 0.0, "trace_credit": 0.0,
                   "scan_credit": 0.0, "difficulty_filter": None}
    for name, value in unsupported.items():
        if settings.get(name, value) != value:
            errors.append(f"train.{name}={settings[name]!r} is a GRPO-only setting; GCPO needs {value!r}")
    return errors
