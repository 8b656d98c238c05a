"""One GRPO iteration on tiny saved-and-reloaded pipelines: log-probs agree, only the adapters change."""

from __future__ import annotations

import pytest
import torch
from PIL import Image

from agents.diffusion.sampling import step_log_prob
from orchestration.editor_grpo.config import EditorGRPOConfig
from orchestration.editor_grpo.rewards import EditorTask
from orchestration.editor_grpo.trainer import EditorGRPOTrainer

TASK = EditorTask(prompt="make it red", image=Image.new("RGB", (32, 32), (200, 200, 200)))


def _config(path, **overrides):
    fields = dict(model=str(path), num_steps=3, group_size=3, groups_per_iteration=1, iterations=1, lr=1e-2,
                  rewards=[{"name": "colour_share"}], target_colour=(255, 0, 0), soft_colour=True,
                  colour_tolerance=1.0, lora_rank=2)
    fields.update(overrides)
    return EditorGRPOConfig(**fields)


@pytest.fixture(scope="module", params=["pix2pix", "kontext"])
def trainer(request, tiny_pix2pix_path, tiny_kontext_path):
    if request.param == "pix2pix":
        return EditorGRPOTrainer(_config(tiny_pix2pix_path, sampler={"guidance_scale": 3.0}))
    return EditorGRPOTrainer(_config(tiny_kontext_path, sampler={"max_sequence_length": 16}, train_steps=[0, 2]))


def test_recomputed_log_probs_with_adapters_match_the_sampler(trainer):
    trajectories, _ = trainer.sample([TASK])
    for step in range(trajectories[0].num_steps):
        recomputed = step_log_prob(trainer.policy, trajectories[0], step)
        assert recomputed.requires_grad
        assert torch.allclose(recomputed.detach(), trajectories[0].log_probs[step], atol=1e-5)


def test_one_iteration_changes_only_the_adapter_weights(trainer):
    frozen = {f"{name}.{k}": v.detach().clone() for name, c in trainer.pipeline.components.items()
              if isinstance(c, torch.nn.Module) for k, v in c.state_dict().items() if "lora_" not in k}
    adapters = trainer.adapter_state()
    assert adapters and all("lora" in k for k in adapters)
    metrics = trainer.run_iteration([TASK])
    assert metrics["ratio"] == pytest.approx(1.0, abs=1e-4) and metrics["grad_norm"] > 0
    after = {f"{name}.{k}": v for name, c in trainer.pipeline.components.items()
             if isinstance(c, torch.nn.Module) for k, v in c.state_dict().items() if "lora_" not in k}
    assert after.keys() == frozen.keys()
    assert all(torch.equal(frozen[k], after[k]) for k in frozen)
    changed = trainer.adapter_state()
    assert any(not torch.equal(adapters[k], changed[k]) for k in adapters)


def test_adapter_saves_and_loads_back(trainer, tmp_path):
    from safetensors.torch import load_file

    folder = trainer.save_adapter(tmp_path / "adapter")
    saved = load_file(str(folder / "pytorch_lora_weights.safetensors"))
    assert len(saved) == len(trainer.adapter_state())


def test_config_rejects_unknown_keys_and_inconsistent_fields(tiny_pix2pix_path):
    with pytest.raises(ValueError, match="Extra inputs"):
        _config(tiny_pix2pix_path, learning_rate=1.0)
    with pytest.raises(ValueError, match="needs target_colour"):
        _config(tiny_pix2pix_path, target_colour=None)
    with pytest.raises(ValueError, match="unknown reward"):
        _config(tiny_pix2pix_path, rewards=[{"name": "nope"}])
    with pytest.raises(ValueError, match="below num_steps"):
        _config(tiny_pix2pix_path, train_steps=[3])
    with pytest.raises(ValueError, match="match no module"):
        EditorGRPOTrainer(_config(tiny_pix2pix_path, lora_targets=["no_such_layer"]))
