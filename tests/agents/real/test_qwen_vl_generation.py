"""Sampling and teacher forcing on a tiny Qwen2.5-VL (3-D rotary positions, image grids): the architecture family
of the real pipelines' VLMs. Its processor's video half needs torchvision, which the CPU suite does not install, so
the test uses a small stand-in that does what ``Qwen2_5_VLProcessor`` does for images."""

from __future__ import annotations

import torch
from PIL import Image
from tokenizers import AddedToken

from agents.vlm.generation import completion_logprobs, generate_chat, placeholder_ids
from agents.vlm.tiny import CHAT_TEMPLATE, tiny_tokenizer

VISION = ["<|vision_start|>", "<|vision_end|>", "<|image_pad|>", "<|video_pad|>"]


class MiniQwenProcessor:
    """Expands each ``<|image_pad|>`` to the image's merged patch count and returns pixel_values, image_grid_thw and
    mm_token_type_ids, as ``Qwen2_5_VLProcessor`` does."""

    def __init__(self, tokenizer):
        from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

        self.tokenizer = tokenizer
        self.image_processor = Qwen2VLImageProcessorPil(min_pixels=56 * 56, max_pixels=56 * 56, patch_size=14, merge_size=2, temporal_patch_size=2)
        self.image_token_id = tokenizer.convert_tokens_to_ids("<|image_pad|>")
        self.chat_template = tokenizer.chat_template

    def apply_chat_template(self, *args, **kwargs):
        return self.tokenizer.apply_chat_template(*args, **kwargs)

    def __call__(self, text, images=None, padding=True, return_tensors="pt", add_special_tokens=True):
        from transformers import BatchFeature

        out = {}
        if images:
            pixels = self.image_processor(images=images, return_tensors="pt")
            out.update(pixels)
            counts = iter((pixels["image_grid_thw"].prod(-1) // 4).tolist())
            expanded = []
            for t in text:
                parts = t.split("<|image_pad|>")
                expanded.append(parts[0] + "".join("<|image_pad|>" * next(counts) + p for p in parts[1:]))
            text = expanded
        enc = self.tokenizer(text, padding=padding, return_tensors=return_tensors, add_special_tokens=add_special_tokens)
        out.update(enc)
        out["mm_token_type_ids"] = (enc["input_ids"] == self.image_token_id).long()
        return BatchFeature(out)


def test_qwen2_5_vl_logprobs_survive_teacher_forcing():
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

    tok = tiny_tokenizer(image_token=False)
    tok.add_tokens([AddedToken(t, special=True, normalized=False) for t in VISION], special_tokens=True)
    tok.chat_template = CHAT_TEMPLATE.replace("{{ '<image>' }}", "{{ '<|vision_start|><|image_pad|><|vision_end|>' }}")
    ids = {t: tok.convert_tokens_to_ids(t) for t in VISION}
    config = Qwen2_5_VLConfig(
        vision_config=dict(depth=1, hidden_size=16, intermediate_size=32, num_heads=2, patch_size=14, spatial_merge_size=2,
                           temporal_patch_size=2, out_hidden_size=32, fullatt_block_indexes=[0], window_size=56),
        text_config=dict(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                         num_key_value_heads=1, max_position_embeddings=1024, tie_word_embeddings=True,
                         rope_parameters={"rope_type": "default", "mrope_section": [2, 3, 3], "rope_theta": 10000.0},
                         pad_token_id=tok.pad_token_id, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id),
        image_token_id=ids["<|image_pad|>"], video_token_id=ids["<|video_pad|>"], vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"], tie_word_embeddings=True)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = Qwen2_5_VLForConditionalGeneration(config).eval()
    processor = MiniQwenProcessor(tok)
    assert placeholder_ids(model, processor) == sorted({ids["<|image_pad|>"], ids["<|video_pad|>"]})
    messages = lambda text: [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": text}]}]  # noqa: E731
    prompts = [processor.apply_chat_template(messages(t), add_generation_prompt=True, tokenize=False)
               for t in ["Is it red?", "Make the red car blue and remove the small tree, please."]]
    images = [[Image.new("RGB", (60, 50), (255, 0, 0))], [Image.new("RGB", (50, 60), (0, 0, 255))]]
    out = generate_chat(model, processor, prompts, images, max_new_tokens=10, num_return_sequences=2, seed=1)
    assert out.completion_ids.shape[0] == 4 and out.prompt_mask[0].sum() < out.prompt_mask[2].sum()  # left padding
    assert torch.allclose(completion_logprobs(model, processor, out), out.logprobs, atol=1e-4)
    assert torch.allclose(completion_logprobs(model, processor, out, rows=[3, 0]), out.logprobs[[3, 0]], atol=1e-4)
