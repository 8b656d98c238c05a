"""Sampling and teacher forcing on a tiny Qwen2.5-VL (3-D rotary positions, image grids): the architecture family
of the real pipelines' VLMs. Its processor's video half needs torchvision, which the CPU suite does not install, so
the test uses a small stand-in that does what ``Qwen2_5_VLProcessor`` does for images
(:class:`agents.vlm.tiny.MiniQwenProcessor`)."""

from __future__ import annotations

import torch
from PIL import Image

from agents.vlm.generation import completion_logprobs, generate_chat, placeholder_ids
from agents.vlm.tiny import tiny_qwen2_5_vl


def test_qwen2_5_vl_logprobs_survive_teacher_forcing():
    model, processor = tiny_qwen2_5_vl()
    ids = {t: processor.tokenizer.convert_tokens_to_ids(t) for t in ("<|image_pad|>", "<|video_pad|>")}
    assert placeholder_ids(model, processor) == sorted({ids["<|image_pad|>"], ids["<|video_pad|>"]})
    messages = lambda text: [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": text}]}]  # noqa: E731
    prompts = [processor.apply_chat_template(messages(t), add_generation_prompt=True, tokenize=False)
               for t in ["Is it red?", "Make the red car blue and remove the small tree, please."]]
    images = [[Image.new("RGB", (60, 50), (255, 0, 0))], [Image.new("RGB", (50, 60), (0, 0, 255))]]
    out = generate_chat(model, processor, prompts, images, max_new_tokens=10, num_return_sequences=2, seed=1)
    assert out.completion_ids.shape[0] == 4 and out.prompt_mask[0].sum() < out.prompt_mask[2].sum()  # left padding
    assert torch.allclose(completion_logprobs(model, processor, out), out.logprobs, atol=1e-4)
    assert torch.allclose(completion_logprobs(model, processor, out, rows=[3, 0]), out.logprobs[[3, 0]], atol=1e-4)
