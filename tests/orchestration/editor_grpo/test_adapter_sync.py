"""Trained adapters reach the inference editor: DiffusersEditor loads save_adapter's folder."""

from __future__ import annotations

import pytest
import torch
from PIL import Image

from orchestration.editor_grpo.config import EditorGRPOConfig
from orchestration.editor_grpo.rewards import EditorTask
from orchestration.editor_grpo.trainer import EditorGRPOTrainer


def test_editor_loads_the_trained_adapters(tiny_pix2pix_path, tmp_path):
    from peft.utils import get_peft_model_state_dict

    from agents.diffusers_editor import DiffusersEditor

    config = EditorGRPOConfig(model=str(tiny_pix2pix_path), num_steps=2, group_size=2, lora_rank=2, lr=1e-2,
                              rewards=[{"name": "colour_share"}], target_colour=(255, 0, 0), soft_colour=True,
                              colour_tolerance=1.0, sampler={"guidance_scale": 3.0})
    trainer = EditorGRPOTrainer(config)
    trainer.run_iteration([EditorTask(prompt="make it red", image=Image.new("RGB", (32, 32), (90, 90, 90)))])
    folder = trainer.save_adapter(tmp_path / "adapter")
    editor = DiffusersEditor(str(tiny_pix2pix_path), num_inference_steps=2, device="cpu", lora=str(folder))
    loaded = get_peft_model_state_dict(editor.pipeline.unet, adapter_name="grpo")
    trained = trainer.adapter_state()
    assert loaded.keys() == trained.keys()
    assert all(torch.allclose(loaded[k].float(), trained[k].float()) for k in trained)
    editor.load_adapter(str(folder))  # replacing works too (a later sync)
    assert editor.describe()["lora"] == str(folder)
    with pytest.raises(ValueError, match="does not exist"):
        editor.load_adapter(str(tmp_path / "missing"))
