"""Rollouts: groups of G adjacent rows, rewards equal to the EditingEnv's, advantages, zero-variance groups."""

from __future__ import annotations

import numpy as np
import pytest

from envs.canvas.generator import generate_tasks
from orchestration.env_factory import make_editing_env
from orchestration.graph import build_graph
from orchestration.grpo.algorithm import compute_advantages, module_batch
from orchestration.grpo.rollout import EpisodeRunner, GroupRollouts, LocalNode, collect_groups
from orchestration.grpo.samples import SampledGroups
from orchestration.pipeline import agent_kwargs


@pytest.fixture(scope="module")
def tasks():
    return list(generate_tasks(3, seed=2, split="train"))


def _runner(pipeline):
    graph = build_graph(pipeline)
    agents = {n: graph.classes[n](**agent_kwargs(pipeline.agents[n], pipeline)) for n in graph.order}
    return EpisodeRunner(graph, {n: LocalNode(a) for n, a in agents.items()}), agents


def _local_sampler(agent):
    def sample(states, n):
        outputs, gen = agent.sample(states, num_return_sequences=n, temperature=1.0, max_new_tokens=12)
        return outputs, SampledGroups.from_generation(gen, [agent.prompt(s) for s in states])
    return sample


def test_groups_are_adjacent_and_rewards_match_the_environment(make_pipeline, tasks):
    pipeline = make_pipeline(overrides=["rewards.decomposer=[{name: format, weight: 0.2}, {name: f1, weight: 1.0}, {name: toy_e, weight: 0.5}]"])
    runner, agents = _runner(pipeline)
    rollouts = collect_groups(runner, "decomposer", tasks, _local_sampler(agents["decomposer"]), 3,
                              [("format", 0.2), ("f1", 1.0), ("toy_e", 0.5)], tag="0/")
    assert len(rollouts.episodes) == 9 and rollouts.samples.completion_ids.shape[0] == 9
    assert rollouts.group_ids == [f"0/decomposer/{t.task_id}" for t in tasks for _ in range(3)]
    assert [e.task.task_id for e in rollouts.episodes] == [t.task_id for t in tasks for _ in range(3)]
    assert rollouts.ok.all() and rollouts.reward_matrix.shape == (9, 3)
    assert all(e.state.verdict is not None for e in rollouts.episodes)  # finished through sorter, editor, verifier
    # The environment, stepped with the same completion, gives the same (weighted) reward.
    env = make_editing_env(pipeline, tasks, agents=agents)
    for row in (0, 4, 8):
        env.reset(options={"task_index": row // 3})
        _, rewards, terminated, _, _ = env.step({"decomposer": rollouts.samples.texts[row]})
        assert terminated["__all__"]
        assert rewards["decomposer"] == pytest.approx(rollouts.rewards[row])


def _fake_rollouts(matrix, groups, weights):
    matrix = np.asarray(matrix, dtype=float)
    n = len(matrix)
    samples = SampledGroups(prompt_ids=np.array([[0, 0, 5, 6]] * n), prompt_mask=np.array([[0, 0, 1, 1]] * n),
                            completion_ids=np.array([[7, 8, 0]] * n), completion_mask=np.array([[1, 1, 0]] * n),
                            old_logp=np.full((n, 3), -1.0, dtype=np.float32), finished=np.ones(n, dtype=bool),
                            texts=("ab",) * n, prompts=("p",), kept=(0,), versions=(0,), tokens=2 * n)

    class E:  # a finished episode
        error = None
    return GroupRollouts("a", [E() for _ in range(n)], list(groups), [f"r{j}" for j in range(matrix.shape[1])],
                         np.asarray(weights, dtype=float), matrix, samples)


def test_grpo_advantages_and_zero_variance_groups():
    rollouts = _fake_rollouts([[1.0], [0.0], [0.5], [0.5]], ["a", "a", "b", "b"], [1.0])
    adv, zero = compute_advantages(rollouts, "grpo", "group", 1e-6)
    assert zero == {"b"}
    assert adv.round(3).tolist() == [0.707, -0.707, 0.0, 0.0]
    batch = module_batch(rollouts.samples, adv, np.array([0, 1]))
    # all-padding columns trimmed: prompts lose their two left pad columns, completions their right one
    assert batch["prompt_ids"].tolist() == [[5, 6], [5, 6]] and batch["completion_mask"].tolist() == [[1, 1], [1, 1]]
    assert batch["old_logp"].shape == (2, 2) and batch["advantages"].dtype == np.float32


def test_failed_episodes_are_left_out_of_their_group():
    rollouts = _fake_rollouts([[1.0], [0.0], [np.nan]], ["a", "a", "a"], [1.0])
    adv, zero = compute_advantages(rollouts, "grpo", "none", 1e-6)
    assert adv.tolist() == [0.5, -0.5, 0.0] and zero == set()


def test_dual_atomic_and_ucpg_use_every_term():
    matrix = [[1.0, 0.0], [0.0, 0.0], [1.0, 10.0], [1.0, 10.0]]
    rollouts = _fake_rollouts(matrix, ["g"] * 4, [0.5, 0.5])
    dual, zero = compute_advantages(rollouts, "dual_atomic", "group", 1e-6)
    assert dual.round(3).tolist() == [-0.183, -1.183, 0.683, 0.683] and zero == set()
    ucpg, _ = compute_advantages(_fake_rollouts([[1, 1], [2, 0], [2, 2], [0, 0]], ["g"] * 4, [1, 1]), "ucpg", "group", 1e-6)
    assert ucpg.round(3).tolist() == [0.0, 0.0, 1.225, -1.225]
    # a group is zero-variance only when every term is constant in it
    _, zero = compute_advantages(_fake_rollouts([[1, 0], [1, 1], [0, 0], [0, 0]], ["a", "a", "b", "b"], [1, 1]), "dual_atomic", "group", 1e-6)
    assert zero == {"b"}


def test_reflection_reruns_from_the_target(make_pipeline, tasks):
    pipeline = make_pipeline("thinkrl_edit")
    runner, _ = _runner(pipeline)
    episodes = runner.run(tasks[:2])
    for e in episodes:
        assert e.error is None
        if e.state.round > 0:  # the untrained thinker fails; the verifier's feedback started another round
            assert e.state.history and e.state.feedback
    assert any(e.state.round == 1 for e in episodes)
