"""Tiny chat models built from a config, for tests and smoke scripts: a LLaVA-architecture VLM, a Llama chat LM, and
an in-memory Qwen2.5-VL (3-D rotary positions, image grids: the architecture family of the real pipelines' VLMs).

Nothing is downloaded: the tokenizer is trained on a few strings with :func:`agents.lm.tokenizer.train_tokenizer`,
the vision tower is a CLIP encoder of a 16x16 image, and both models have tens of thousands of parameters. They are
saved with ``save_pretrained`` so that they load through exactly the path a user's checkpoint takes
(``AutoModelForImageTextToText`` / ``AutoProcessor`` or ``AutoModelForCausalLM`` / ``AutoTokenizer``). Untrained,
they write noise: that is what the parsers' "never raise" promise is tested against.

The tiny Qwen2.5-VL is not saved: ``Qwen2_5_VLProcessor``'s video half needs torchvision, which the CPU suite does
not install, so :class:`MiniQwenProcessor` stands in for it on images (only the LLaVA one needs no extra package).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch

__all__ = ["CHAT_TEMPLATE", "IMAGE_TOKEN", "QWEN_VISION_TOKENS", "MiniQwenProcessor", "save_tiny_vlm", "save_tiny_chat_lm",
           "tiny_qwen2_5_vl", "tiny_tokenizer"]

IMAGE_TOKEN = "<image>"
QWEN_VISION_TOKENS = ("<|vision_start|>", "<|vision_end|>", "<|image_pad|>", "<|video_pad|>")

#: A minimal chat template: ``<|role|>`` headers, text content, and ``<image>`` where a message has an image entry.
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|' + message['role'] + '|>\n' }}"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for part in message['content'] %}"
    "{% if part['type'] == 'image' %}{{ '<image>' }}{% elif part['type'] == 'text' %}{{ part['text'] }}{% endif %}"
    "{% endfor %}{% endif %}"
    "{{ '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% endif %}"
)

_TEXTS = (
    "Make the red car blue. Remove the small tree. Is the sky unchanged? yes no",
    "<|system|> <|user|> <|assistant|> Rewrite the instruction. List the edits. Order the edits.",
    "Instruction following: 4. Appearance consistency: 3. Visual quality: 5.",
)


def tiny_tokenizer(texts: Iterable[str] = _TEXTS, vocab_size: int = 320, image_token: bool = True) -> Any:
    """A byte-level BPE tokenizer trained on ``texts`` with the chat template set (and ``<image>`` as a special
    token when ``image_token``)."""
    from tokenizers import AddedToken

    from agents.lm.tokenizer import train_tokenizer

    tokenizer = train_tokenizer(list(texts) * 4, vocab_size=vocab_size, model_max_length=4096)
    if image_token:
        tokenizer.add_tokens([AddedToken(IMAGE_TOKEN, special=True, normalized=False)], special_tokens=True)
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def save_tiny_vlm(path: str | Path, *, seed: int = 0, image_size: int = 16, hidden_size: int = 32) -> Path:
    """Build and save a tiny LLaVA (CLIP vision tower + Llama decoder) with its ``LlavaProcessor``.

    The processor resizes every image to ``image_size`` x ``image_size``; with patch size 8 an image costs 4 tokens.
    """
    from transformers import CLIPVisionConfig, LlamaConfig, LlavaConfig, LlavaForConditionalGeneration, LlavaProcessor
    from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

    path = Path(path)
    tokenizer = tiny_tokenizer()
    image_processor = CLIPImageProcessorPil(size={"shortest_edge": image_size}, crop_size={"height": image_size, "width": image_size})
    processor = LlavaProcessor(image_processor=image_processor, tokenizer=tokenizer, patch_size=8,
                               vision_feature_select_strategy="default", num_additional_image_tokens=1,
                               chat_template=CHAT_TEMPLATE, image_token=IMAGE_TOKEN)
    vision = CLIPVisionConfig(image_size=image_size, patch_size=8, hidden_size=16, intermediate_size=32,
                              num_hidden_layers=1, num_attention_heads=2, projection_dim=16)
    text = LlamaConfig(vocab_size=len(tokenizer), hidden_size=hidden_size, intermediate_size=2 * hidden_size,
                       num_hidden_layers=2, num_attention_heads=2, max_position_embeddings=1024,
                       pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id,
                       eos_token_id=tokenizer.eos_token_id, tie_word_embeddings=True)
    config = LlavaConfig(vision_config=vision, text_config=text, image_token_id=tokenizer.convert_tokens_to_ids(IMAGE_TOKEN),
                         vision_feature_layer=-1, vision_feature_select_strategy="default")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = LlavaForConditionalGeneration(config)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    path.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(path)
    processor.save_pretrained(path)
    return path


def save_tiny_chat_lm(path: str | Path, *, seed: int = 0, hidden_size: int = 32) -> Path:
    """Build and save a tiny Llama causal LM whose tokenizer has :data:`CHAT_TEMPLATE` (a text-only chat model)."""
    from agents.lm.model import build_model, save_policy, tiny_causal_lm_config

    tokenizer = tiny_tokenizer(image_token=False)
    model = build_model(tokenizer, tiny_causal_lm_config(len(tokenizer), hidden_size=hidden_size, num_hidden_layers=2,
                                                         num_attention_heads=2, max_position_embeddings=1024), seed=seed)
    return save_policy(model, tokenizer, path)


class MiniQwenProcessor:
    """What ``Qwen2_5_VLProcessor`` does for images, without its video half (which needs torchvision): expands each
    ``<|image_pad|>`` to the image's merged patch count and returns ``pixel_values`` ``[patches, D]``,
    ``image_grid_thw`` ``[images, 3]`` and ``mm_token_type_ids``.

    ``min_pixels`` / ``max_pixels`` bound each resized image (multiples of 28 px a side); equal values give every
    image the same grid, different ones let the grid follow the image's shape.
    """

    def __init__(self, tokenizer: Any, min_pixels: int = 56 * 56, max_pixels: int = 56 * 56) -> None:
        from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

        self.tokenizer = tokenizer
        self.image_processor = Qwen2VLImageProcessorPil(min_pixels=min_pixels, max_pixels=max_pixels, patch_size=14,
                                                        merge_size=2, temporal_patch_size=2)
        self.image_token_id = tokenizer.convert_tokens_to_ids("<|image_pad|>")
        self.chat_template = tokenizer.chat_template

    def apply_chat_template(self, *args: Any, **kwargs: Any) -> Any:
        return self.tokenizer.apply_chat_template(*args, **kwargs)

    def __call__(self, text: list[str], images: list[Any] | None = None, padding: bool = True, return_tensors: str = "pt",
                 add_special_tokens: bool = True) -> Any:
        from transformers import BatchFeature

        out: dict[str, Any] = {}
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


def tiny_qwen2_5_vl(*, seed: int = 0, min_pixels: int = 56 * 56, max_pixels: int = 56 * 56) -> tuple[Any, MiniQwenProcessor]:
    """An untrained Qwen2.5-VL (one vision block, two decoder layers) in eval mode, with a :class:`MiniQwenProcessor`
    whose chat template writes ``<|vision_start|><|image_pad|><|vision_end|>`` for each image."""
    from tokenizers import AddedToken
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

    tok = tiny_tokenizer(image_token=False)
    tok.add_tokens([AddedToken(t, special=True, normalized=False) for t in QWEN_VISION_TOKENS], special_tokens=True)
    tok.chat_template = CHAT_TEMPLATE.replace("{{ '<image>' }}", "{{ '<|vision_start|><|image_pad|><|vision_end|>' }}")
    ids = {t: tok.convert_tokens_to_ids(t) for t in QWEN_VISION_TOKENS}
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
        torch.manual_seed(seed)
        model = Qwen2_5_VLForConditionalGeneration(config).eval()
    return model, MiniQwenProcessor(tok, min_pixels=min_pixels, max_pixels=max_pixels)
