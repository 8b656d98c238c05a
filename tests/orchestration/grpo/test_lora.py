"""LoRA on the learner: the setting is validated, only the adapter trains, syncs, is saved and restored, the
reference is the model with the adapter off, and the saved adapter loads with PEFT and merges for serving."""

from __future__ import annotations

import pytest
import torch

from agents.lm.generation import sequence_logprobs
from agents.lm.model import load_policy
from orchestration.config import ConfigError
from orchestration.grpo.actors import payload_nbytes
from orchestration.grpo.config import build_grpo_config, train_section
from orchestration.grpo.lora import AdapterWeights, LoraSettings, load_adapter, merge_adapter, trainable_parameters
from orchestration.grpo.module import PLACEHOLDER_SPACE, CausalLMModule

LORA = {"r": 4, "alpha": 8, "target_modules": ["q_proj", "v_proj"]}


def _module(path, **cfg):
    return CausalLMModule(observation_space=PLACEHOLDER_SPACE, action_space=PLACEHOLDER_SPACE,
                          model_config={"model": str(path), **cfg})


def _batch(tokenizer, n: int = 4):
    torch.manual_seed(0)
    prompts = tokenizer(["task: decompose\nrequest: make the star red\n", "hi there"], return_tensors="pt", padding=True)
    rows = torch.arange(n) % 2
    completion = torch.randint(5, len(tokenizer), (n, 6))
    return {"prompt_ids": prompts["input_ids"][rows], "prompt_mask": prompts["attention_mask"][rows],
            "completion_ids": completion, "completion_mask": torch.ones_like(completion)}


def _perturb_adapter(module) -> None:
    with torch.no_grad():
        for p in module.parameters():
            if p.requires_grad:
                p.add_(0.1 * torch.randn_like(p))


def test_lora_setting_is_validated_with_the_field_named(make_pipeline):
    with pytest.raises(ConfigError, match=r"train\.agents\.decomposer\.lora\.rank.*Extra inputs"):
        train_section(make_pipeline(train={"agents": {"decomposer": {"lora": {"rank": 4}}}}))
    with pytest.raises(ConfigError, match=r"train\.agents\.decomposer\.lora\.r:.*greater than or equal to 1"):
        train_section(make_pipeline(train={"agents": {"decomposer": {"lora": {"r": 0}}}}))
    with pytest.raises(ConfigError, match=r"lora\.target_modules.*at least one non-empty module name"):
        train_section(make_pipeline(train={"agents": {"decomposer": {"lora": {"target_modules": []}}}}))
    assert LoraSettings().dropout == 0.0 and all(f.description for f in LoraSettings.model_fields.values())
    # Set through GRPOConfig by hand, a bad value is one validate() error naming the field.
    pipeline = make_pipeline(train={"agents": {"decomposer": {"lora": LORA}}})
    config = build_grpo_config(pipeline)
    config.trainable_agents["decomposer"]["lora"] = {"r": -1}
    with pytest.raises(ValueError, match=r"train\.agents\.decomposer\.lora\.r=-1"):
        config.validate()


def test_without_lora_the_recorded_settings_are_unchanged(make_pipeline):
    # No `lora` key in train.agents: a checkpoint written before LoRA existed resumes without a difference.
    config = build_grpo_config(make_pipeline(train={"agents": {"decomposer": {}}}))
    assert config.trainable_agents == {"decomposer": {"rewards": None, "advantage": "grpo"}}
    assert config.module_spec("decomposer").model_config["lora"] is None


def test_only_the_adapter_trains_and_is_in_the_state(tiny_policies):
    module = _module(tiny_policies["decomposer"], lora=LORA)
    trainable = {n for n, p in module.named_parameters() if p.requires_grad}
    assert trainable and all(".lora_A." in n or ".lora_B." in n for n in trainable)
    assert set(module.get_state()) == trainable
    assert trainable_parameters(module) < 0.1 * sum(p.numel() for p in module.parameters())
    assert module.get_state(inference_only=True) == {}
    # Restoring an adapter state gives back the same module (the base stays the starting policy).
    _perturb_adapter(module)
    other = _module(tiny_policies["decomposer"], lora=LORA)
    other.set_state(module.get_state())
    batch = _batch(module.tokenizer)
    assert torch.allclose(other.forward_train(batch)["logp"], module.forward_train(batch)["logp"], atol=1e-6)
    with pytest.raises(ValueError, match="no adapter weights"):
        other.set_state({})


def test_reference_is_the_model_with_the_adapter_off(tiny_policies):
    module = _module(tiny_policies["decomposer"], lora=LORA, reference=True)
    assert module.has_reference and module._reference == []  # no second copy
    _perturb_adapter(module)
    batch = _batch(module.tokenizer)
    out = module.forward_train(batch)
    base, tokenizer = load_policy(tiny_policies["decomposer"])
    expected, _ = sequence_logprobs(base, batch["prompt_ids"], batch["completion_ids"], batch["prompt_mask"],
                                    batch["completion_mask"])
    assert torch.allclose(out["ref_logp"], expected, atol=1e-5)
    assert not torch.allclose(out["logp"], expected, atol=1e-3)  # the adapter does act on the policy


def test_actor_takes_only_the_adapter_and_samples_what_the_learner_computes(tiny_policies):
    module = _module(tiny_policies["decomposer"], lora=LORA)
    _perturb_adapter(module)
    payload = module.sync_payload()
    assert isinstance(payload, AdapterWeights)
    full = sum(t.numel() * t.element_size() for t in module.model.get_base_model().state_dict().values())
    assert 0 < payload_nbytes(payload) < full / 10
    actor_model, _ = load_policy(tiny_policies["decomposer"])
    same = load_adapter(actor_model, payload)
    assert same is actor_model and type(actor_model).__name__ == "LlamaForCausalLM"  # the agent's own class
    batch = _batch(module.tokenizer)
    logp, _ = sequence_logprobs(actor_model, batch["prompt_ids"], batch["completion_ids"], batch["prompt_mask"],
                                batch["completion_mask"])
    assert torch.allclose(logp, module.forward_train(batch)["logp"], atol=1e-5)
    _perturb_adapter(module)  # a second sync loads in place
    load_adapter(actor_model, module.sync_payload())
    logp, _ = sequence_logprobs(actor_model, batch["prompt_ids"], batch["completion_ids"], batch["prompt_mask"],
                                batch["completion_mask"])
    assert torch.allclose(logp, module.forward_train(batch)["logp"], atol=1e-5)


def test_saved_adapter_loads_with_peft_and_merges_for_serving(tiny_policies, tmp_path):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    module = _module(tiny_policies["decomposer"], lora=LORA)
    _perturb_adapter(module)
    module.model.save_pretrained(str(tmp_path / "adapter"))  # what checkpoint.save_policies writes
    module.tokenizer.save_pretrained(str(tmp_path / "adapter"))
    assert {"adapter_config.json", "adapter_model.safetensors"} <= {p.name for p in (tmp_path / "adapter").iterdir()}
    batch = _batch(module.tokenizer)
    expected = module.forward_train(batch)["logp"]
    base = AutoModelForCausalLM.from_pretrained(str(tiny_policies["decomposer"]))
    loaded = PeftModel.from_pretrained(base, str(tmp_path / "adapter")).eval()
    got, _ = sequence_logprobs(loaded, batch["prompt_ids"], batch["completion_ids"], batch["prompt_mask"], batch["completion_mask"])
    assert torch.allclose(got, expected, atol=1e-5)
    # The agents' own loader reads the adapter folder too (transformers loads the base it names and the adapter),
    # which is how the held-out evaluation after a LoRA run judges the trained policy.
    direct, _ = load_policy(tmp_path / "adapter")
    got, _ = sequence_logprobs(direct, batch["prompt_ids"], batch["completion_ids"], batch["prompt_mask"], batch["completion_mask"])
    assert torch.allclose(got, expected, atol=1e-5)
    from orchestration.cli import main

    assert main(["merge-lora", str(tmp_path / "adapter"), str(tmp_path / "merged")]) == 0  # merge_adapter
    merged_dir = tmp_path / "merged"
    merged, _ = load_policy(merged_dir)  # an ordinary policy folder: model and tokenizer
    assert not any("lora" in n for n in merged.state_dict())
    got, _ = sequence_logprobs(merged, batch["prompt_ids"], batch["completion_ids"], batch["prompt_mask"], batch["completion_mask"])
    assert torch.allclose(got, expected, atol=1e-4)
    with pytest.raises(FileNotFoundError, match="adapter_config.json"):
        merge_adapter(tiny_policies["decomposer"], tmp_path / "nothing")
    assert main(["merge-lora", str(tiny_policies["decomposer"]), str(tmp_path / "nothing")]) == 2  # one error line


def test_a_missing_target_module_names_the_setting(tiny_policies):
    with pytest.raises(ValueError, match=r"train\.agents\.decomposer\.lora\.target_modules:.*q_proj"):
        _module(tiny_policies["decomposer"], agent="decomposer", lora={"target_modules": ["no_such_layer"]})
