"""Policy actors: the trainable agents as Ray actors that sample GRPO groups and take weights from the learner.

A ``PolicyActor`` hosts one LM agent (``agents.lm.policy.LMThinker`` / ``LMDecomposer``) built from the pipeline
config, like ``orchestration.actors.AgentActor``, and adds what training needs:

- ``sample(states, n, ...)``: ``n`` completions per state in one batched generation call, returned as the parsed
  agent outputs plus a :class:`~orchestration.grpo.samples.SampledGroups` (token ids, masks, the sampler's
  log-probs as numpy arrays) for the learner;
- ``act_batch(states)``: the agent's ordinary behaviour (its own temperature), for episodes in which it is not the
  agent being grouped (an upstream thinker while the decomposer trains, reflection rounds);
- ``set_weights(ref, version)``: load the learner's new parameters (a ``ray.put`` of the state dict, fetched
  once per actor), or with LoRA only the adapter (:class:`~orchestration.grpo.lora.AdapterWeights`, injected into
  the actor's model the first time); :func:`learner_payloads` takes them from the learners;
- ``get_rng_state`` / ``set_rng_state``: the sampler's ``torch.Generator``, so a resumed run samples what the
  uninterrupted run would have;
- ``placement()``: its node, placement group and assigned resources (``train.placement``, :mod:`.placement`);
- ``call(method, min_version, ...)`` / ``ping()``: how :class:`orchestration.grpo.pool.PolicyPool` calls it - a
  method runs only when the actor's weights are at least ``min_version`` (a restarted actor is re-synced first).
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import ray

from agents.base import AgentOutput, EpisodeState
from orchestration.grpo.pool import round_robin_shards
from orchestration.grpo.samples import SampledGroups


@ray.remote
class PolicyActor:
    """One LM agent that samples groups and accepts weight syncs."""

    def __init__(self, agent_cls: type, kwargs: dict[str, Any], threads: int | None = None) -> None:
        import torch

        if threads:
            torch.set_num_threads(int(threads))
        self.agent = agent_cls(**kwargs)
        self.version = 0

    def sample(self, states: Sequence[EpisodeState], n: int, temperature: float, top_p: float,
               max_new_tokens: int, greedy_per_prompt: int = 0) -> tuple[list[AgentOutput], SampledGroups]:
        """``n`` completions per state (state-major rows), as parsed outputs and a :class:`SampledGroups` sampled
        with this actor's weights version."""
        # Only an agent that can decode a greedy member is asked to (the transformers LM agents).
        extra = {"greedy_per_prompt": int(greedy_per_prompt)} if greedy_per_prompt else {}
        previous_top_p = self.agent.top_p
        self.agent.top_p = float(top_p)
        try:
            outputs, gen = self.agent.sample(list(states), num_return_sequences=n, temperature=temperature,
                                             max_new_tokens=max_new_tokens, **extra)
        finally:
            self.agent.top_p = previous_top_p
        image_inputs = None
        if hasattr(gen, "images"):  # a VLM policy: its prompts' image inputs, per row, for the learner's forward pass
            from orchestration.grpo.multimodal import prompt_input_columns

            image_inputs = prompt_input_columns(self.agent.processor, gen)
        return outputs, SampledGroups.from_generation(gen, [self.agent.prompt(s) for s in states], self.version,
                                                      image_inputs)

    def act_batch(self, states: Sequence[EpisodeState]) -> list[AgentOutput]:
        return self.agent.act_batch(list(states))

    def call(self, method: str, min_version: int, *args: Any) -> tuple[int, int, Any]:
        """``(version, pid, method(*args))``, or ``(version, pid, None)`` without running it when this actor's
        weights are older than ``min_version`` (a restarted actor: see :mod:`orchestration.grpo.pool`)."""
        import os

        if self.version < min_version:
            return self.version, os.getpid(), None
        return self.version, os.getpid(), getattr(self, method)(*args)

    def ping(self) -> int:
        import os

        return os.getpid()

    def set_weights(self, weights: Any, version: int) -> int:
        import torch

        from orchestration.grpo.lora import AdapterWeights, load_adapter

        if isinstance(weights, AdapterWeights):
            model = getattr(self.agent, "model", None)
            if not isinstance(model, torch.nn.Module):
                raise RuntimeError(f"{type(self.agent).__name__} holds no transformers model to put a LoRA adapter into "
                                   "(a vLLM engine?); train it without train.agents.<agent>.lora")
            load_adapter(model, weights)  # in place: the agent's generate sees the adapter
        else:
            state = {k: torch.as_tensor(v) for k, v in weights.items()}
            self.agent.set_weights(state)
        self.version = int(version)
        return self.version

    def get_weights(self) -> dict[str, Any]:
        return self.agent.get_weights()

    def get_rng_state(self) -> Any:
        return self.agent.generator.get_state()

    def set_rng_state(self, state: Any) -> None:
        self.agent.generator.set_state(state)

    def describe(self) -> dict[str, Any]:
        return {**self.agent.describe(), "weights_version": self.version}

    def placement(self) -> dict[str, Any]:
        """Where this actor runs: its node, its placement group (None outside one) and the resources Ray gave it."""
        context = ray.get_runtime_context()
        return {"node": context.get_node_id(), "placement_group": context.get_placement_group_id(),
                "resources": context.get_assigned_resources()}


def start_policy_actors(agent_cls: type, kwargs: dict[str, Any], replicas: int, *, num_cpus: float = 0.0,
                        num_gpus: float = 0.0, seed: int = 0, threads: int | None = None, max_restarts: int = 0,
                        scheduling: Sequence[Any] | None = None) -> list[Any]:
    """``replicas`` policy actors; replica ``i`` seeds its sampler with ``seed + i`` (distinct, reproducible).

    Ray restarts a dead actor up to ``max_restarts`` times (the agent config's); it never retries a call by itself
    (``max_task_retries=0``): :class:`orchestration.grpo.pool.PolicyPool` retries and counts, so that no task is
    sampled twice unseen. ``scheduling``: one Ray scheduling strategy per replica (its placement-group bundle,
    :func:`orchestration.grpo.placement.place_policy_actors`); None: Ray's default. A restarted actor comes back
    in its bundle.
    """
    if scheduling is not None and len(scheduling) != replicas:
        raise ValueError(f"{len(scheduling)} scheduling strategies for {replicas} policy actors")
    actors = []
    for i in range(replicas):
        actor_kwargs = {**kwargs, "seed": int(seed) + i}
        options = dict(num_cpus=num_cpus, num_gpus=num_gpus, max_restarts=max_restarts, max_task_retries=0)
        if scheduling is not None:
            options["scheduling_strategy"] = scheduling[i]
        actors.append(PolicyActor.options(**options).remote(agent_cls, actor_kwargs, threads))
    return actors


def learner_payloads(learner_group: Any, nodes: Sequence[str], merged: Sequence[str] = ()) -> dict[str, Any]:
    """Each trained module's :meth:`~orchestration.grpo.module.CausalLMModule.sync_payload` (the state dict, or only
    the LoRA adapter; base + adapter merged for the ``merged`` nodes), taken from the first learner: one copy crosses
    the network."""
    return on_first_learner(learner_group, lambda learner: {
        node: learner.module[node].unwrapped().sync_payload(merged=node in merged) for node in nodes}, "take weights from")


def learner_logprobs(learner_group: Any, columns: dict[str, dict[str, np.ndarray]], chunk: int | None = None
                     ) -> dict[str, np.ndarray]:
    """Each module's :meth:`~orchestration.grpo.module.CausalLMModule.learner_logprobs` of its batch ``columns``,
    computed on the first learner."""
    return on_first_learner(learner_group, lambda learner: {
        node: learner.module[node].unwrapped().learner_logprobs(cols, chunk) for node, cols in columns.items()},
        "compute log-probs with")


def on_first_learner(learner_group: Any, fn: Any, what: str) -> Any:
    """``fn(learner)`` run on the first learner only - the learners hold the same weights after every update - and
    its result; ``what`` says what for, in the error when the group has no learner."""
    def call(learner: Any) -> Any:
        return fn(learner) if first_learner() else None

    for result in learner_group.foreach_learner(call):  # RLlib's RemoteCallResults, one per learner
        if not result.ok:
            raise result.get()
        if result.get() is not None:
            return result.get()
    raise RuntimeError(f"the learner group has no learner to {what}")


def first_learner() -> bool:
    """Whether this process is the first learner (rank 0 of RLlib's DDP group, or the only learner)."""
    import torch.distributed as dist

    return not (dist.is_available() and dist.is_initialized()) or dist.get_rank() == 0


def payload_nbytes(payload: Any) -> int:
    """Bytes of tensor data in a sync payload (a state dict or :class:`~orchestration.grpo.lora.AdapterWeights`)."""
    state = getattr(payload, "state", payload)
    return int(sum(t.numel() * t.element_size() for t in state.values()))


def pad_left(arrays: Sequence[np.ndarray], value: int = 0) -> np.ndarray:
    """Stack 2-D arrays of different widths, padding on the left (prompts end at the same column).

    >>> pad_left([np.array([[1, 2]]), np.array([[3]])]).tolist()
    [[1, 2], [0, 3]]
    """
    width = max(a.shape[1] for a in arrays)
    return np.concatenate([np.pad(a, ((0, 0), (width - a.shape[1], 0)), constant_values=value) for a in arrays])


def pad_right(arrays: Sequence[np.ndarray], value: Any = 0) -> np.ndarray:
    """Stack 2-D arrays of different widths, padding on the right (completions start at the same column).

    >>> pad_right([np.array([[1, 2]]), np.array([[3]])]).tolist()
    [[1, 2], [3, 0]]
    """
    width = max(a.shape[1] for a in arrays)
    return np.concatenate([np.pad(a, ((0, 0), (0, width - a.shape[1])), constant_values=value) for a in arrays])


def sample_groups(pool: Any, states: Sequence[EpisodeState], n: int, temperature: float, top_p: float,
                  max_new_tokens: int, pad_id: int = 0,
                  greedy_per_prompt: int = 0) -> tuple[list[AgentOutput], SampledGroups]:
    """Split ``states`` over the pool's actors, sample ``n`` per state, and join the shards in the order of ``states``.

    ``pool`` is an :class:`orchestration.grpo.pool.PolicyPool`: a shard whose actor died is retried once or dropped.
    The record's ``kept`` lists the indices of the states that were sampled (all of them unless a shard was
    dropped); rows follow that order, ``n`` per kept state, so each (state, sample) appears exactly once. With
    ``greedy_per_prompt`` the first that many rows of each state's group are its greedy completion.
    """
    shards = round_robin_shards(len(states), len(pool.ready()) or 1)  # one shard per actor ready for work
    results = pool.map("sample", [[states[i] for i in shard] for shard in shards], n, temperature, top_p, max_new_tokens,
                       greedy_per_prompt)
    shards = [shard for shard, r in zip(shards, results) if r is not None]  # dropped shards leave the batch whole
    results = [r for r in results if r is not None]
    kept = sorted(i for shard in shards for i in shard)
    if not kept:
        return [], SampledGroups.empty()
    # Rows of state i in shard k: position p of i in the shard -> rows p*n .. p*n+n-1.
    where: dict[int, tuple[int, int]] = {i: (k, p) for k, shard in enumerate(shards) for p, i in enumerate(shard)}
    order = [(where[i][0], where[i][1] * n + g) for i in kept for g in range(n)]
    outputs = [results[k][0][row] for k, row in order]
    records: list[SampledGroups] = [r[1] for r in results]
    offsets = np.cumsum([0] + [len(r) for r in records])
    rows = [int(offsets[k]) + row for k, row in order]
    from orchestration.grpo.multimodal import join_columns

    return outputs, SampledGroups(
        prompt_ids=pad_left([r.prompt_ids for r in records], pad_id)[rows],
        prompt_mask=pad_left([r.prompt_mask for r in records])[rows],
        completion_ids=pad_right([r.completion_ids for r in records], pad_id)[rows],
        completion_mask=pad_right([r.completion_mask for r in records])[rows],
        old_logp=pad_right([r.old_logp for r in records])[rows],
        finished=np.concatenate([r.finished for r in records])[rows],
        texts=tuple(records[k].texts[row] for k, row in order),
        prompts=tuple(records[where[i][0]].prompts[where[i][1]] for i in kept),
        kept=tuple(kept),
        versions=tuple(v for r in records for v in r.versions),
        tokens=sum(r.tokens for r in records),
        image_inputs=join_columns([r.image_inputs for r in records], rows),  # none for a text-only policy
    )
