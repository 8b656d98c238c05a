"""The chat-model agents on a tiny LLaVA and a tiny Llama chat LM, built from configs and loaded from disk."""

from __future__ import annotations

import pytest
import torch

from agents.base import Decomposition, EpisodeState, Plan, SubRequests, Verdict
from agents.vlm.model import load_chat_model
from agents.vlm.policy import VLMDecomposer, VLMSorter, VLMThinker, VLMVerifier
from envs.task import ComponentSpec

SHORT = {"device": "cpu", "max_new_tokens": 8}


def test_checkpoints_load_through_the_auto_classes(vlm_path, lm_path):
    vlm = load_chat_model(vlm_path, device="cpu")
    assert vlm.is_vlm and type(vlm.model).__name__ == "LlavaForConditionalGeneration"
    assert type(vlm.processor).__name__ == "LlavaProcessor" and vlm.tokenizer.padding_side == "left"
    lm = load_chat_model(lm_path, device="cpu")
    assert not lm.is_vlm and type(lm.model).__name__ == "LlamaForCausalLM"


def test_a_checkpoint_without_chat_template_is_refused_with_the_fix(tmp_path):
    from agents.lm.model import build_model, save_policy, tiny_causal_lm_config
    from agents.vlm.tiny import tiny_tokenizer

    tok = tiny_tokenizer(image_token=False)
    tok.chat_template = None
    save_policy(build_model(tok, tiny_causal_lm_config(len(tok), hidden_size=16, num_hidden_layers=1, num_attention_heads=2)), tok, tmp_path / "m")
    with pytest.raises(ValueError, match="no chat template"):
        VLMThinker(str(tmp_path / "m"), device="cpu")


@pytest.mark.parametrize("which", ["vlm", "lm"])
def test_thinker_and_decomposer_act_on_noise_without_raising(which, vlm_path, lm_path, state):
    path = str(vlm_path if which == "vlm" else lm_path)
    plan = VLMThinker(path, **SHORT).act(state)
    assert isinstance(plan, Plan) and isinstance(plan.text, str) and plan.raw is not None
    decomposition = VLMDecomposer(path, **SHORT).act(state.model_copy(update={"plan": plan}))
    assert isinstance(decomposition, Decomposition) and decomposition.well_formed is False


def test_vlm_prompt_carries_the_image_and_the_request(vlm_path, state):
    thinker = VLMThinker(str(vlm_path), **SHORT)
    prompt, images = thinker.inputs(state.model_copy(update={"feedback": "Failed: Is the star red?"}))
    assert prompt.count("<image>") == 1 and len(images) == 1
    assert state.instruction.split()[0] in prompt and "Failed: Is the star red?" in prompt
    assert prompt.endswith("<|assistant|>\n")


def test_text_only_model_gets_perception_text_when_asked(lm_path, state):
    plain = VLMThinker(str(lm_path), **SHORT)
    described = VLMThinker(str(lm_path), scene_text=True, **SHORT)
    assert "<image>" not in plain.prompt(state) and "as perceived" not in plain.prompt(state)
    assert "The image (as perceived): background:" in described.prompt(state)


def test_sorter_returns_every_component_once_even_from_noise(vlm_path, state):
    comps = [ComponentSpec(action="recolor", subject=["the red circle"], target=["blue"]),
             ComponentSpec(action="remove", subject=["the star"], target=[])]
    sorter = VLMSorter(str(vlm_path), **SHORT)
    with_comps = state.model_copy(update={"decomposition": Decomposition(components=comps)})
    out = sorter.act(with_comps)
    assert isinstance(out, SubRequests) and sorted(out.order) == [0, 1] and len(out.items) == 2
    # A well-formed answer decides the order and the wording; missing components are appended.
    parsed = sorter.parse("<answer>\n2: remove the star first\n</answer>", with_comps)
    assert parsed.order == [1, 0] and parsed.items == ["remove the star first", "make the red circle blue"]
    assert sorter.act(state) == SubRequests()  # nothing to order: no generation


def test_verifier_answers_the_reference_checklist(vlm_path, edited_state):
    verifier = VLMVerifier(str(vlm_path), answer_tokens=4, **SHORT)
    verdict = verifier.act(edited_state)
    assert isinstance(verdict, Verdict)
    assert [i.question for i in verdict.items] == [c.question for c in edited_state.checklist]
    assert [i.expected for i in verdict.items] == [c.expected for c in edited_state.checklist]
    assert all(i.answer in ("yes", "no", "unknown") for i in verdict.items) and 0.0 <= verdict.score <= 1.0
    assert verdict.passed == all(i.passed for i in verdict.items)


def test_verifier_writes_its_own_checklist_and_survives_noise(vlm_path, edited_state):
    verifier = VLMVerifier(str(vlm_path), use_reference=False, answer_tokens=4, **SHORT)
    verdict = verifier.act(edited_state)
    # Noise holds no question: the fallback asks about the instruction itself, plus the keep question.
    assert verdict.items[0].question.startswith("Was the instruction")
    assert verdict.items[-1].question == VLMVerifier.KEEP_QUESTION and verdict.items[-1].group == "keep"
    assert verdict.score == 0.0 and not verdict.passed and "Failed:" in verdict.feedback


def test_verifier_batches_episodes(vlm_path, edited_state):
    verifier = VLMVerifier(str(vlm_path), answer_tokens=4, batch_size=3, **SHORT)
    verdicts = verifier.act_batch([edited_state, edited_state.model_copy(update={"checklist": None})])
    assert len(verdicts[0].items) == len(edited_state.checklist) and len(verdicts[1].items) >= 2


def test_score_mode_reads_one_item_per_dimension(vlm_path, edited_state, monkeypatch):
    verifier = VLMVerifier(str(vlm_path), mode="score", dimensions=["instruction", "consistency", "quality", "knowledge"], **SHORT)
    verdict = verifier.act(edited_state)
    assert len(verdict.items) == 4 and all(i.answer == "unknown" for i in verdict.items) and verdict.score == 0.0
    monkeypatch.setattr(verifier, "_texts", lambda requests, n: ["Instruction following: 5\nAppearance consistency: 3/5\n"
                                                                 "Visual quality: 4 out of 5\nKnowledge plausibility: 5"])
    verdict = verifier.act(edited_state)
    assert [i.answer for i in verdict.items] == ["yes", "no", "yes", "yes"]
    assert verdict.score == pytest.approx((1 + 0.5 + 0.75 + 1) / 4) and "Appearance consistency" in verdict.feedback


def test_verifier_refuses_what_it_cannot_do(vlm_path, lm_path, state):
    with pytest.raises(ValueError, match="cannot see the edited image"):
        VLMVerifier(str(lm_path), **SHORT)
    with pytest.raises(ValueError, match="unknown score dimension"):
        VLMVerifier(str(vlm_path), mode="score", dimensions=["beauty"], **SHORT)
    with pytest.raises(ValueError, match="needs state.edit"):
        VLMVerifier(str(vlm_path), **SHORT).act(state)


def test_text_only_verifier_with_scene_text_works(lm_path, edited_state):
    verdict = VLMVerifier(str(lm_path), scene_text=True, answer_tokens=4, **SHORT).act(edited_state)
    assert len(verdict.items) == len(edited_state.checklist)


# -- the learner's interface ----------------------------------------------------------------------------------------


def _states(state: EpisodeState) -> list[EpisodeState]:
    return [state, state.model_copy(update={"instruction": "Make it blue.", "source_png": state.source_png})]


def test_sample_returns_groups_with_logprobs_that_teacher_forcing_reproduces(vlm_path, state):
    thinker = VLMThinker(str(vlm_path), device="cpu", max_new_tokens=12, temperature=0.8)
    outputs, batch = thinker.sample(_states(state), num_return_sequences=3)
    assert len(outputs) == 6 and batch.prompt_index.tolist() == [0, 0, 0, 1, 1, 1]
    assert batch.prompt_ids.shape[0] == 6 and batch.completion_ids.shape == batch.logprobs.shape == batch.completion_mask.shape
    assert len(batch.prompts) == 2 and [len(i) for i in batch.images] == [1, 1] and batch.temperature == 0.8
    # Gradients flow into the policy and the log-probs match the sampling pass (GRPO's ratio starts at 1).
    new = thinker.completion_logprobs(batch)
    assert torch.allclose(new, batch.logprobs, atol=1e-4)
    assert torch.all(new[batch.completion_mask == 0] == 0)
    (new * batch.completion_mask).sum().backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in thinker.model.parameters())
    rows = thinker.completion_logprobs(batch, rows=[4, 1])
    assert torch.allclose(rows, batch.logprobs[[4, 1]], atol=1e-4)


def test_placeholder_tokens_are_never_sampled(vlm_path, state):
    thinker = VLMThinker(str(vlm_path), device="cpu", max_new_tokens=24, temperature=5.0)
    _, batch = thinker.sample([state], num_return_sequences=4)
    image_id = thinker.processor.image_token_id
    assert image_id not in batch.completion_ids[batch.completion_mask.bool()].tolist()
    assert torch.allclose(thinker.completion_logprobs(batch), batch.logprobs, atol=1e-4)


def test_completion_ends_at_eos_inclusive(lm_path, state):
    thinker = VLMThinker(str(lm_path), device="cpu", max_new_tokens=6, temperature=0.0)
    greedy_first = thinker.sample([state])[1].completion_ids[0, 0].item()
    thinker.model.generation_config.eos_token_id = [thinker.processor.eos_token_id, greedy_first]
    _, batch = thinker.sample([state])
    assert batch.finished.tolist() == [True] and batch.completion_mask[0].tolist() == [1] + [0] * (batch.completion_mask.shape[1] - 1)
    assert batch.texts == [""]


def test_seeded_sampling_and_weight_sync(vlm_path, tmp_path, state):
    from agents.vlm.tiny import save_tiny_vlm

    a = VLMThinker(str(vlm_path), **SHORT)
    b = VLMThinker(str(vlm_path), **SHORT)
    assert [p.raw for p in a.act_batch([state, state])] == [p.raw for p in b.act_batch([state, state])]
    other = VLMThinker(str(save_tiny_vlm(tmp_path / "other", seed=5)), **SHORT)
    _, batch = other.sample([state], num_return_sequences=2)
    assert not torch.allclose(a.completion_logprobs(batch), batch.logprobs, atol=1e-3)
    weights = other.get_weights()
    assert all(t.device.type == "cpu" for t in weights.values())
    a.set_weights(weights)
    assert torch.allclose(a.completion_logprobs(batch), batch.logprobs, atol=1e-4)
    with pytest.raises(RuntimeError):
        a.set_weights({"nope": torch.zeros(1)})


def test_checkpoint_sampling_defaults_do_not_bend_the_distribution(vlm_path, state):
    thinker = VLMThinker(str(vlm_path), device="cpu", max_new_tokens=12, temperature=1.0)
    # As Qwen2.5-VL-Instruct ships them: a repetition penalty and top-k 1 would make the samples off-policy.
    thinker.model.generation_config.repetition_penalty = 1.3
    thinker.model.generation_config.top_k = 1
    _, batch = thinker.sample([state], num_return_sequences=4)
    assert torch.allclose(thinker.completion_logprobs(batch), batch.logprobs, atol=1e-4)
    assert len({tuple(r) for r in batch.completion_ids.tolist()}) > 1  # top-k 1 would make the group identical
    from agents.vlm.generation import _neutral_overrides

    assert _neutral_overrides(thinker.model) == {"repetition_penalty": 1.0}
