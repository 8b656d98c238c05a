"""Several learners through RLlib's LearnerGroup: two CPU learners (DDP over gloo) take the step one learner takes on
the same batch - the same loss and the same updated weights, within float tolerance."""

from __future__ import annotations

import numpy as np
import pytest
import ray
from ray.rllib.policy.sample_batch import MultiAgentBatch, SampleBatch

from orchestration.grpo.accumulate import with_loss_total
from orchestration.grpo.config import build_grpo_config

from .conftest import grpo_batch



def _group(make_pipeline, learners: int, **train):
    config = build_grpo_config(make_pipeline(train={"agents": {"decomposer": {}}, **train}))
    config.learners(num_learners=learners)
    config.validate()
    return config.build_learner_group()


@pytest.mark.parametrize("agg,micro", [("token-mean", None), ("seq-mean-token-mean", 3)])
def test_two_learners_take_the_step_of_one(ray_cluster, make_pipeline, agg, micro):
    train = {"loss_agg": agg, "lr": 0.05, "clip_low": 0.05, "clip_high": 0.05,
             **({"learner": {"micro_batch_size": micro}} if micro else {})}
    one, two = _group(make_pipeline, 0, **train), _group(make_pipeline, 2, **train)
    try:
        from agents.lm.model import load_policy

        tokenizer = load_policy(make_pipeline().agents["decomposer"].model)[1]
        cols = with_loss_total(grpo_batch(tokenizer, 9), agg)  # 5 + 4 rows: shards of different token counts
        batch = MultiAgentBatch({"decomposer": SampleBatch(cols)}, env_steps=9)
        before = {k: np.array(v, copy=True) for k, v in one.get_weights(["decomposer"])["decomposer"].items()}
        results = [group.update(batch=batch) for group in (one, two)]
        a, b = one.get_weights(["decomposer"])["decomposer"], two.get_weights(["decomposer"])["decomposer"]
        assert max(float(np.abs(a[k] - before[k]).max()) for k in a) > 1e-3
        # Same weights where Adam's first step is not within rounding of a zero gradient (see test_precision).
        close = [np.isclose(a[k], b[k], atol=1e-3 * 0.05).mean() for k in a]
        assert min(close) > 0.999, min(close)
        # One result per learner; each learner's total loss is its shard's weighted K * share, so their mean is the
        # whole batch's loss (and DDP gave both learners the same gradient: the same global norm).
        losses = [float(np.mean([r["decomposer"]["total_loss"].peek() for r in result])) for result in results]
        norms = {round(float(r["decomposer"]["gradients_default_optimizer_global_norm"].peek()), 5) for r in results[1]}
        assert len(results[1]) == 2 and len(norms) == 1
        assert losses[0] == pytest.approx(losses[1], rel=1e-4, abs=1e-6), losses
    finally:
        one.shutdown()
        two.shutdown()



def test_grpo_trains_with_two_learners_from_the_train_section(ray_cluster, make_pipeline, tmp_path):
    from orchestration.grpo.checkpoint import save_checkpoint

    pipeline = make_pipeline(overrides=["rewards.decomposer=[{name: toy_e}]"],
                             train={"num_learners": 2, "agents": {"decomposer": {"lora": {"r": 4, "alpha": 8}}}})
    config = build_grpo_config(pipeline)
    assert config.num_learners == 2
    algo = config.build_algo()
    try:
        result = algo.train()
        assert result["grpo"]["decomposer/trained_completions"] > 0 and result["grpo"]["sync_bytes"] > 0
        # The actor samples with the adapter the learners hold (taken from the first learner; DDP keeps them equal).
        actor = ray.get(algo.policy_actors["decomposer"][0].get_weights.remote())
        learners = algo.learner_group.get_weights(["decomposer"])["decomposer"]
        keys = [k for k in actor if ".lora_B." in k]
        assert keys and all(np.allclose(actor[k].numpy(), learners["model.base_model.model." + k]) for k in keys)
        checkpoint = save_checkpoint(algo, tmp_path)
    finally:
        algo.stop()
    assert (checkpoint / "policies" / "decomposer" / "adapter_model.safetensors").is_file()
