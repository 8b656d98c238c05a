"""GRPO on a VLM policy: one iteration of the real algorithm on a tiny LLaVA decomposer (backend ``vlm``) that sees
the Canvas source image. The learner's batch carries the prompts' image inputs, its forward pass puts the image
tokens in the prompt and reproduces the sampler's log-probs, the loss covers completion tokens only, and the update
reaches the policy actor."""

from __future__ import annotations

import numpy as np
import pytest
import ray
import torch

from orchestration.config import load_config
from orchestration.grpo.config import build_grpo_config
from orchestration.grpo.module import VLMModule


@pytest.fixture(scope="module")
def vlm_path(tmp_path_factory):
    from agents.vlm.tiny import save_tiny_vlm

    return save_tiny_vlm(tmp_path_factory.mktemp("vlm") / "tiny-llava")


def test_one_grpo_iteration_on_a_tiny_vlm_decomposer(ray_cluster, vlm_path, tmp_path):
    from agents.vlm.model import load_chat_model
    from agents.vlm.tiny import IMAGE_TOKEN
    from orchestration.grpo.checkpoint import save_policies

    pipeline = load_config("imageedit_r1", [
        "agents.decomposer={backend: vlm, model: %s, options: {device: cpu}}" % vlm_path,
        "rewards.decomposer=[{name: toy_e}]",  # dense (tests/orchestration/grpo/conftest.py): groups never tie
        "image_size=64",
        *[f"train.{k}={v}" for k, v in {"group_size": 4, "tasks_per_iteration": 2, "max_new_tokens": 8, "train_tasks": 10,
                                         "lr": 0.01, "sampler_threads": 1, "seed": 0, "rollout_samples": 2}.items()],
    ])
    config = build_grpo_config(pipeline)
    assert list(config.resolved_trainable()) == ["decomposer"]  # a vlm decomposer trains by default
    algo = config.build_algo()
    try:
        module = algo.learner_group._learner.module["decomposer"]
        assert isinstance(module, VLMModule) and module.placeholder_ids
        start = {k: v.detach().clone() for k, v in module.model.state_dict().items()}
        seen: dict[str, object] = {}
        update = algo._update

        def spy(batches):  # the learner batch, and the learner's log-probs before the update
            cols = batches["decomposer"]
            with torch.no_grad():
                seen["logp"] = module.forward_train({k: torch.as_tensor(v) for k, v in cols.items()})["logp"]
            seen["cols"] = cols
            return update(batches)

        algo._update = spy
        result = algo.train()
        grpo, learner = result["grpo"], result["learners"]["decomposer"]
        cols = seen["cols"]
        n = len(cols["advantages"])
        assert grpo["decomposer/trained_completions"] == n > 0

        # Image inputs travel with the batch: one 16x16 image per row, the prompt's own.
        assert cols["mm.pixel_values"].shape == (n, 1, 3, 16, 16) and (cols["mm_len.pixel_values"] == 1).all()
        assert cols["mm.pixel_values"].std() > 0
        image_id = module.tokenizer.tokenizer.convert_tokens_to_ids(IMAGE_TOKEN)
        prompt_ids, prompt_mask = cols["prompt_ids"], cols["prompt_mask"]
        completion_ids, completion_mask = cols["completion_ids"], cols["completion_mask"]
        is_image = prompt_ids == image_id
        assert (is_image.sum(1) == 4).all() and (prompt_mask[is_image] == 1).all()  # 4 image tokens, attended to

        # The loss mask covers completion tokens only: over [prompt | completion] it is 0 on every prompt and image
        # token, and on the completion it is the sampled tokens (a prefix ending at eos or the token budget).
        loss_mask = np.concatenate([np.zeros_like(prompt_mask), completion_mask], axis=1)
        full_ids = np.concatenate([prompt_ids, completion_ids], axis=1)
        assert loss_mask[:, :prompt_ids.shape[1]].sum() == 0 and loss_mask[full_ids == image_id].sum() == 0
        lengths = completion_mask.sum(1)
        assert all((row[:k] == 1).all() and (row[k:] == 0).all() for row, k in zip(completion_mask, lengths))
        assert (lengths >= 1).all() and completion_mask.shape[1] <= 8  # max_new_tokens
        assert not (completion_ids[completion_mask == 1] == image_id).any()  # placeholders are never sampled

        # The learner's recomputation (image tokens in the prompt) matches the sampler's old log-probs: ratio 1.
        recomputed = seen["logp"].numpy()
        gap = float(np.abs(recomputed - cols["old_logp"])[completion_mask == 1].max())
        print(f"max |old_logp - recomputed| = {gap:.2e}; ratio_mean = {learner['ratio_mean']:.6f}; kl_old = {learner['kl_old']:.2e}")
        assert gap < 1e-4 and (recomputed[completion_mask == 0] == 0).all()
        assert abs(learner["ratio_mean"] - 1) < 1e-4 and learner["clip_fraction"] == 0

        # The update changed the weights, and the actor now holds exactly the learner's.
        trained = module.model.state_dict()
        assert any(not torch.equal(start[k], trained[k]) for k in start)
        assert grpo["weights_version"] == 2  # synced once at the start, once after the update
        actor = ray.get(algo.policy_actors["decomposer"][0].get_weights.remote())
        assert set(actor) == set(trained) and all(torch.equal(actor[k], trained[k]) for k in trained)

        # A checkpoint's policy folder (model + processor) loads back as a VLM.
        saved = save_policies(algo, tmp_path / "policies")["decomposer"]
        chat = load_chat_model(saved, device="cpu", dtype="float32")
        assert chat.is_vlm and torch.equal(chat.model.state_dict()["lm_head.weight"], trained["lm_head.weight"])
    finally:
        algo.stop()


def test_config_trains_a_vlm_thinker_or_decomposer_with_transformers_generation(vlm_path):
    pipeline = load_config("imageedit_r1", ["agents.decomposer={backend: vlm, model: %s}" % vlm_path,
                                            "agents.sorter={backend: vlm, model: %s}" % vlm_path])
    config = build_grpo_config(pipeline)
    assert list(config.resolved_trainable()) == ["decomposer"] and not config.grpo_errors()  # the sorter is not a policy
    assert config.module_spec("decomposer").module_class is VLMModule
    errors = build_grpo_config(pipeline).editing(trainable_agents={"sorter": {"rewards": [["toy_e", 1.0]]}}).grpo_errors()
    assert any("agent 'sorter' (backend 'vlm') cannot be trained" in e for e in errors), errors

    # Sampled by vLLM, it trains only with the rollout correction (vLLM's log-probs are not the learner's).
    vllm = load_config("imageedit_r1", ["agents.decomposer={backend: vlm, model: %s, options: {engine: vllm}}" % vlm_path])
    assert any("samples with vLLM" in e for e in build_grpo_config(vllm).grpo_errors())
    corrected = build_grpo_config(load_config("imageedit_r1", [
        "agents.decomposer={backend: vlm, model: %s, options: {engine: vllm}}" % vlm_path, "train.tis_cap=2.0"]))
    assert list(corrected.resolved_trainable()) == ["decomposer"] and not corrected.grpo_errors()
