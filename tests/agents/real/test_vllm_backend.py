"""The vLLM backend: on a machine without vLLM or a GPU every entry point fails fast with the fix in the message;
with both, a tiny model generates and takes new weights (benchmarks/gpu_smoke.py does more)."""

from __future__ import annotations

import pytest
import torch

from agents.registry import resolve_agent_class
from agents.vllm_backend import VLLM_MISSING, VLLMDecomposer, VLLMEngine, VLLMThinker, vllm_available

AVAILABLE, WHY = vllm_available()


def test_registry_names_the_vllm_policies():
    assert resolve_agent_class("thinker", "thinker", "vllm", None) is VLLMThinker
    assert resolve_agent_class("decomposer", "decomposer", "vllm", None) is VLLMDecomposer
    assert VLLMThinker.backend == "vllm" and VLLMThinker.role == "thinker"


@pytest.mark.skipif(AVAILABLE, reason="vLLM and a GPU are present: the GPU test below runs instead")
def test_without_vllm_or_gpu_every_entry_point_says_what_to_install(lm_path, vlm_path):
    from agents.vlm.policy import VLMThinker

    assert "pip install 'editrl[vllm]'" in VLLM_MISSING and WHY
    for build in (lambda: VLLMEngine.check_available(), lambda: VLLMEngine(str(lm_path)),
                  lambda: VLLMThinker(str(lm_path)), lambda: VLLMDecomposer(model=str(lm_path)),
                  lambda: VLMThinker(str(vlm_path), engine="vllm")):
        with pytest.raises(RuntimeError, match=r"vLLM backend needs the 'vllm' extra and a CUDA GPU"):
            build()


def test_a_vllm_older_than_the_floor_is_named_with_the_version_to_install(monkeypatch):
    """vLLM before 0.10.2 returns log-probs of another distribution than the learner's: refused by version."""
    import importlib.metadata
    import importlib.util

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: object() if name == "vllm" else real_find_spec(name, *a))
    monkeypatch.setattr(importlib.metadata, "version", lambda name: "0.9.2" if name == "vllm" else "0")
    ok, why = vllm_available()
    assert not ok and "vLLM 0.9.2 is installed; 0.10.2 or newer is needed" in why


@pytest.mark.skipif(not AVAILABLE, reason=f"GPU path skipped: {WHY}")
def test_vllm_generates_and_syncs_weights(lm_path, state):  # pragma: no cover - GPU only
    thinker = VLLMThinker(str(lm_path), max_new_tokens=8, gpu_memory_utilization=0.2)
    outputs, batch = thinker.sample([state, state], num_return_sequences=2)
    assert len(outputs) == 4 and batch.completion_ids.shape == batch.logprobs.shape
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(str(lm_path))
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(0.5)
    thinker.set_weights(model.state_dict())
    assert thinker.engine.weight_version == 1
