"""The real-model pipelines train with LoRA on a bfloat16 GPU learner, and say what hardware that takes."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from orchestration.config import load_config
from orchestration.grpo.config import build_grpo_config, train_section

REAL = sorted((Path(__file__).parents[3] / "configs" / "real").glob("*.yaml"))


@pytest.mark.parametrize("path", REAL, ids=lambda p: p.stem)
def test_real_pipelines_train_a_lora_adapter_on_a_gpu_learner(path):
    text = path.read_text()
    assert "Hardware to train" in text and "ESTIMATES" in text  # estimates say so until a GPU run measures them
    config = load_config(path)
    section = train_section(config)
    assert section.agents and all(spec.lora is not None for spec in section.agents.values())
    assert (section.learner.device, section.learner.dtype) == ("cuda", "bfloat16")
    grpo = build_grpo_config(config, section)
    assert grpo.num_gpus_per_learner == 1
    if not torch.cuda.is_available():  # here: refused before any actor starts, with what to change
        assert any("no CUDA GPU" in e for e in grpo.grpo_errors())
