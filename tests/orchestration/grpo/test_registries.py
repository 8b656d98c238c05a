"""Advantage estimators and policy losses by name: a registered one is what the algorithm and the learner use, and
the config checks read what it declares (terms it needs, greedy baseline). Unit level: no Ray."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from orchestration.grpo import core
from orchestration.grpo.algorithm import compute_advantages
from orchestration.grpo.core import (available_advantages, available_policy_losses, get_advantage, get_policy_loss,
                                     register_advantage, register_policy_loss)
from orchestration.grpo.rollout import GroupRollouts
from orchestration.grpo.samples import SampledGroups


@pytest.fixture
def registries():
    """Leave both registries as they were."""
    advantages, losses = dict(core._ADVANTAGES), dict(core._POLICY_LOSSES)
    yield
    core._ADVANTAGES.clear(), core._ADVANTAGES.update(advantages)
    core._POLICY_LOSSES.clear(), core._POLICY_LOSSES.update(losses)


def _rollouts(matrix, groups, weights):
    matrix = np.asarray(matrix, dtype=float)
    n = len(matrix)
    ids = np.array([[7, 8]] * n)
    samples = SampledGroups(prompt_ids=np.ones((n, 2), np.int64), prompt_mask=np.ones((n, 2), np.int64), completion_ids=ids,
                            completion_mask=np.ones_like(ids), old_logp=np.zeros(ids.shape, np.float32),
                            finished=np.ones(n, bool), texts=("",) * n, prompts=("p",), kept=(0,), versions=(0,), tokens=2 * n)

    class E:  # a finished episode
        error = None
    return GroupRollouts("a", [E() for _ in range(n)], list(groups), [f"r{j}" for j in range(matrix.shape[1])],
                         np.asarray(weights, dtype=float), matrix, samples)


def test_a_registered_advantage_estimator_is_used_by_the_learner(registries, make_pipeline):
    calls = []

    @register_advantage("leave_one_out")
    def leave_one_out(rewards, weights, group_ids, *, scale, eps, greedy):
        """RLOO: each reward minus the mean of the others in its group."""
        calls.append((scale, eps, greedy))
        totals = rewards @ weights
        out = np.zeros(len(totals))
        for g in set(group_ids):
            rows = [i for i, x in enumerate(group_ids) if x == g]
            for i in rows:
                out[i] = totals[i] - np.mean([totals[j] for j in rows if j != i])
        return out

    assert "leave_one_out" in available_advantages() and get_advantage("leave_one_out").fn is leave_one_out
    rollouts = _rollouts([[1.0], [0.0], [0.0], [np.nan], [0.5], [0.5]], ["a", "a", "a", "a", "b", "b"], [1.0])
    adv, zero = compute_advantages(rollouts, "leave_one_out", "none", 1e-3)
    assert adv.tolist() == [1.0, -0.5, -0.5, 0.0, 0.0, 0.0]  # the failed row is left out of its group, and gets 0
    assert zero == {"b"} and calls == [("none", 1e-3, None)]
    # a config may name it; what it declares (here: nothing special) is what the checks read
    from orchestration.grpo.config import build_grpo_config

    config = build_grpo_config(make_pipeline(train={"agents": {"decomposer": {"advantage": "leave_one_out"}}}))
    assert config.resolved_trainable()["decomposer"]["advantage"] == "leave_one_out" and config.grpo_errors() == []
    errors = config.grpo(greedy_member=True, baseline="greedy").grpo_errors()
    assert any("baseline 'greedy' applies to the 'grpo' advantage only" in e for e in errors)
    with pytest.raises(ValueError, match="baseline 'greedy' applies to the 'grpo' advantage, not 'leave_one_out'"):
        compute_advantages(rollouts, "leave_one_out", "none", 1e-3, greedy=np.zeros(6, bool))


def test_what_an_estimator_declares_is_checked(registries, make_pipeline):
    from orchestration.grpo.config import build_grpo_config

    @register_advantage("three_way", per_term=True, min_terms=3)
    def three_way(rewards, weights, group_ids, *, scale, eps, greedy):
        return np.zeros(len(rewards))

    spec = {"advantage": "three_way", "rewards": [{"name": "f1"}, {"name": "format"}]}
    errors = build_grpo_config(make_pipeline(train={"agents": {"decomposer": spec}})).grpo_errors()
    assert "train.agents.decomposer.advantage=three_way needs at least three reward terms (one group per term); it has 2" in errors
    # per_term: a group whose terms differ keeps its signal even when their weighted sum does not
    rollouts = _rollouts([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], ["a", "a"], [1.0, 1.0, 1.0])
    assert compute_advantages(rollouts, "three_way", "group", 1e-6)[1] == set()
    assert compute_advantages(rollouts, "grpo", "group", 1e-6)[1] == {"a"}


def test_unknown_and_duplicate_names_are_refused(registries):
    with pytest.raises(ValueError, match="unknown advantage estimator 'gae'; known: grpo, dual_atomic, ucpg"):
        get_advantage("gae")
    with pytest.raises(ValueError, match="unknown policy loss 'ppo2'; known: clip"):
        get_policy_loss("ppo2")
    with pytest.raises(ValueError, match="already registered"):
        register_advantage("grpo")(lambda *a, **k: None)
    with pytest.raises(ValueError, match="already registered"):
        register_policy_loss("clip")(lambda *a, **k: None)
    with pytest.raises(ValueError, match="non-empty"):
        register_policy_loss(" ")


def test_a_registered_policy_loss_is_used_by_the_learner(registries):
    from orchestration.grpo.learner import GRPOTorchLearner

    @register_policy_loss("reinforce")
    def reinforce(logp, old_logp, advantages, mask, *, clip_low, clip_high, agg, norm_length):
        """-A * log pi, no ratio and no clipping."""
        per_token = -(advantages[:, None] if advantages.dim() == 1 else advantages) * logp
        return core.aggregate(per_token, mask, agg, norm_length), {"reinforce_terms": float(mask.sum())}

    assert available_policy_losses() == ("clip", "reinforce")
    logged = {}
    learner = SimpleNamespace(metrics=SimpleNamespace(log_value=lambda key, value, reduce: logged.__setitem__(key, value)))
    config = SimpleNamespace(policy_loss="reinforce", clip_low=0.2, clip_high=0.28, loss_agg="token-mean", kl_coef=0.0,
                             max_new_tokens=4, kl_estimator="k3")
    logp = torch.log(torch.tensor([[0.5, 0.25], [0.5, 0.5]]))
    batch = {"completion_mask": torch.tensor([[1, 1], [1, 0]]), "old_logp": logp.clone(), "advantages": torch.tensor([1.0, -1.0])}
    loss = GRPOTorchLearner.compute_loss_for_module(learner, module_id="decomposer", config=config, batch=batch,
                                                    fwd_out={"logp": logp, "entropy": torch.zeros(2, 2)})
    expected = -(torch.log(torch.tensor(0.5)) + torch.log(torch.tensor(0.25)) - torch.log(torch.tensor(0.5))) / 3
    assert torch.allclose(loss, expected)
    assert logged[("decomposer", "reinforce_terms")] == 3.0 and ("decomposer", "clip_fraction") not in logged
    assert logged[("decomposer", "policy_loss")] == pytest.approx(float(expected))
    config.policy_loss = "clip"  # the default: the clipped surrogate and its metrics, as before
    loss = GRPOTorchLearner.compute_loss_for_module(learner, module_id="decomposer", config=config, batch=batch,
                                                    fwd_out={"logp": logp, "entropy": torch.zeros(2, 2)})
    assert ("decomposer", "clip_fraction") in logged and ("decomposer", "ratio_mean") in logged
