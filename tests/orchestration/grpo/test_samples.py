"""The typed record of sampled groups: made by each policy actor, joined across actors in the order of the states
(rows of a dropped shard left out, every shard's weights version kept), its rows checked. No Ray: the actor class
runs in this process behind a pool with PolicyPool's `ready`/`map`."""

from __future__ import annotations

import numpy as np
import pytest

from envs.canvas.generator import generate_tasks
from envs.editing_env import task_to_state
from orchestration.graph import build_graph
from orchestration.grpo.actors import PolicyActor, sample_groups
from orchestration.grpo.samples import SampledGroups
from orchestration.pipeline import agent_kwargs


class LocalPool:
    """Calls the actors in this process; shards listed in ``dead`` come back as None, as PolicyPool drops them."""

    def __init__(self, actors, dead=()):
        self.actors, self.dead, self.results = actors, set(dead), []

    def ready(self):
        return self.actors

    def map(self, method, shards, *args):
        self.results = [None if k in self.dead else getattr(actor, method)(shard, *args)
                        for k, (actor, shard) in enumerate(zip(self.actors, shards))]
        return self.results


@pytest.fixture(scope="module")
def actors_and_states(make_pipeline):
    pipeline = make_pipeline()
    graph = build_graph(pipeline)
    kwargs = agent_kwargs(pipeline.agents["decomposer"], pipeline)
    actors = [PolicyActor.__ray_actor_class__(graph.classes["decomposer"], {**kwargs, "seed": i}) for i in range(2)]
    actors[1].version = 3
    return actors, [task_to_state(t) for t in generate_tasks(3, seed=4, split="train")]


def test_actor_records_are_joined_in_the_order_of_the_states(actors_and_states):
    actors, states = actors_and_states
    pool = LocalPool(actors)
    outputs, samples = sample_groups(pool, states, 2, temperature=1.0, top_p=1.0, max_new_tokens=8)
    assert isinstance(samples, SampledGroups) and len(samples) == len(outputs) == 6
    assert samples.kept == (0, 1, 2) and samples.versions == (0, 3)
    assert samples.prompts == tuple(actors[0].agent.prompt(s) for s in states)
    assert samples.old_logp.dtype == np.float32 and samples.tokens == sum(r[1].tokens for r in pool.results)
    # round robin: states 0 and 2 on actor 0, state 1 on actor 1; rows follow the states, two per state
    shard0, shard1 = (r[1] for r in pool.results)
    for row, (record, source) in enumerate([(shard0, 0), (shard0, 1), (shard1, 0), (shard1, 1), (shard0, 2), (shard0, 3)]):
        n = int(record.completion_mask[source].sum())
        assert samples.texts[row] == record.texts[source]
        assert (samples.completion_ids[row, :n] == record.completion_ids[source, :n]).all()
        assert np.array_equal(samples.old_logp[row, :n], record.old_logp[source, :n])
        assert samples.completion_mask[row, n:].sum() == 0


def test_a_dropped_shard_leaves_the_others_whole(actors_and_states):
    actors, states = actors_and_states
    outputs, samples = sample_groups(LocalPool(actors, dead={1}), states, 2, temperature=1.0, top_p=1.0, max_new_tokens=8)
    assert samples.kept == (0, 2) and len(samples) == len(outputs) == 4 and samples.versions == (0,)
    _, nothing = sample_groups(LocalPool(actors, dead={0, 1}), states, 2, temperature=1.0, top_p=1.0, max_new_tokens=8)
    assert len(nothing) == 0 and nothing.kept == () and nothing.tokens == 0


def test_rows_that_disagree_are_refused():
    ids = np.ones((2, 3), np.int64)
    with pytest.raises(ValueError, match="one row per text"):
        SampledGroups(ids, ids, ids, ids, np.zeros((2, 3), np.float32), np.ones(3, bool), ("a", "b"), ("p",), (0,), (0,), 4)
    with pytest.raises(ValueError, match="matching shapes"):
        SampledGroups(ids, ids, ids, ids, np.zeros((2, 2), np.float32), np.ones(2, bool), ("a", "b"), ("p",), (0,), (0,), 4)
    with pytest.raises(ValueError, match="2 prompts for 1 kept"):
        SampledGroups(ids, ids, ids, ids, np.zeros((2, 3), np.float32), np.ones(2, bool), ("a", "b"), ("p", "q"), (0,), (0,), 4)
