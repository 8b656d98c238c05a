"""Tiny chat models built from a config, for tests and smoke scripts: a LLaVA-architecture VLM and a Llama chat LM.

Nothing is downloaded: the tokenizer is trained on a few strings with :func:`agents.lm.tokenizer.train_tokenizer`,
the vision tower is a CLIP encoder of a 16x16 image, and both models have tens of thousands of parameters. They are
saved with ``save_pretrained`` so that they load through exactly the path a user's checkpoint takes
(``AutoModelForImageTextToText`` / ``AutoProcessor`` or ``AutoModelForCausalLM`` / ``AutoTokenizer``). Untrained,
they write noise: that is what the parsers' "never raise" promise is tested against.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch

__all__ = ["CHAT_TEMPLATE", "IMAGE_TOKEN", "save_tiny_vlm", "save_tiny_chat_lm", "tiny_tokenizer"]

IMAGE_TOKEN = "<image>"

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
