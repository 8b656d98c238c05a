"""A VLM's image inputs as learner-batch columns, on a tiny Qwen2.5-VL (patch-level pixel values, image grids that
follow each image's shape, per-token ``mm_token_type_ids``): two actors' samples are joined, a minibatch is cut as
``module_batch`` cuts it, and the inputs rebuilt from its columns reproduce the sampler's log-probs."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image

from agents.vlm.generation import _masked_logprobs, generate_chat, placeholder_ids, teacher_forced_logits
from agents.vlm.tiny import tiny_qwen2_5_vl
from orchestration.grpo.actors import pad_left, pad_right
from orchestration.grpo.algorithm import module_batch
from orchestration.grpo.multimodal import join_columns, prompt_input_columns, prompt_inputs
from orchestration.grpo.samples import SampledGroups


def _shard(model, processor, texts, images):
    messages = lambda text: [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": text}]}]  # noqa: E731
    prompts = [processor.apply_chat_template(messages(t), add_generation_prompt=True, tokenize=False) for t in texts]
    gen = generate_chat(model, processor, prompts, images, max_new_tokens=6, num_return_sequences=2, seed=len(texts))
    arrays = {"prompt_ids": gen.prompt_ids.numpy(), "prompt_mask": gen.prompt_mask.numpy(), "completion_ids": gen.completion_ids.numpy(),
              "completion_mask": gen.completion_mask.numpy(), "logprobs": gen.logprobs.numpy()}
    return {**arrays, **prompt_input_columns(processor, gen)}


def test_image_inputs_of_different_sizes_survive_joining_and_minibatching():
    model, processor = tiny_qwen2_5_vl(min_pixels=56 * 56, max_pixels=112 * 112)
    red, tall, wide = (Image.new("RGB", size, color) for size, color in [((56, 56), (255, 0, 0)), ((56, 112), (0, 0, 255)),
                                                                       ((112, 56), (0, 255, 0))])
    a = _shard(model, processor, ["Is it red?", "Make the blue square green and move it left, please."], [[red], [tall]])
    b = _shard(model, processor, ["Remove the green one."], [[wide]])
    assert set(a) - {"prompt_ids", "prompt_mask", "completion_ids", "completion_mask", "logprobs"} == {
        "mm.pixel_values", "mm_len.pixel_values", "mm.image_grid_thw", "mm_len.image_grid_thw", "mm_tok.mm_token_type_ids"}
    assert a["mm_len.pixel_values"].tolist() == [16, 16, 32, 32] and b["mm_len.pixel_values"].tolist() == [32, 32]
    assert a["mm.image_grid_thw"][2, 0].tolist() == [1, 8, 4]  # the tall image's grid: rows differ, padding does not leak

    # Join the two actors' shards in a shuffled order, as sample_groups does, then cut a minibatch.
    rows = [4, 1, 2, 5, 0, 3]
    shards = [a, b]
    arrays = {"prompt_ids": pad_left([s["prompt_ids"] for s in shards])[rows], "prompt_mask": pad_left([s["prompt_mask"] for s in shards])[rows],
              "completion_ids": pad_right([s["completion_ids"] for s in shards])[rows],
              "completion_mask": pad_right([s["completion_mask"] for s in shards])[rows], "logprobs": pad_right([s["logprobs"] for s in shards])[rows],
              **join_columns(shards, rows)}
    assert (arrays["mm_tok.mm_token_type_ids"] == (arrays["prompt_ids"] == processor.image_token_id)).all()
    picked = np.array([0, 2, 4])  # the wide image, the tall one, the small red one
    samples = SampledGroups(prompt_ids=arrays["prompt_ids"], prompt_mask=arrays["prompt_mask"],
                            completion_ids=arrays["completion_ids"], completion_mask=arrays["completion_mask"],
                            old_logp=arrays["logprobs"], finished=np.ones(6, dtype=bool), texts=("",) * 6,
                            prompts=("a", "b", "c"), kept=(0, 1, 2), versions=(0, 0), tokens=0,
                            image_inputs=join_columns(shards, rows))
    batch = module_batch(samples, np.zeros(6), picked)
    assert batch["mm_len.pixel_values"].tolist() == [32, 32, 16] and batch["mm.pixel_values"].shape[1] == 32
    assert batch["mm_tok.mm_token_type_ids"].shape == batch["prompt_ids"].shape

    tensors = {k: torch.as_tensor(v) for k, v in batch.items()}
    inputs = prompt_inputs(tensors)
    assert inputs["pixel_values"].shape[0] == 80 and inputs["image_grid_thw"].shape == (3, 3)
    with torch.no_grad():
        logits = teacher_forced_logits(model, inputs, tensors["completion_ids"], tensors["completion_mask"])
    logp = _masked_logprobs(logits, 1.0, placeholder_ids(model, processor)).gather(2, tensors["completion_ids"][..., None]).squeeze(-1)
    logp = logp * tensors["completion_mask"]
    assert torch.allclose(logp, tensors["old_logp"], atol=1e-4), (logp - tensors["old_logp"]).abs().max()


def test_inputs_that_differ_beyond_the_first_dimension_are_refused():
    gen = SimpleNamespace(images=[[object()], [object()]], prompt_index=torch.tensor([0, 1]), prompts=["a", "b"],
                          prompt_ids=torch.tensor([[5, 6], [5, 7]]), prompt_mask=torch.ones(2, 2, dtype=torch.long))

    class Processor:  # pixel values whose tiles differ per prompt, as LLaVA-NeXT pads them
        tokenizer = SimpleNamespace(bos_token=None, padding_side="left")

        def __call__(self, text, images=None, **kwargs):
            token = 6 if text == ["a"] else 7
            return {"input_ids": torch.tensor([[5, token]]), "attention_mask": torch.ones(1, 2, dtype=torch.long),
                    "pixel_values": torch.zeros(1, token - 3, 3, 4, 4)}

    with pytest.raises(ValueError, match="pixel_values"):
        prompt_input_columns(Processor(), gen)
