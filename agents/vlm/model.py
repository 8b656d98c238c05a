"""Loading a chat model for the VLM agents: a VLM with its processor, or a causal LM with its tokenizer.

One rule decides which: a checkpoint whose ``config.model_type`` is in transformers' image-text-to-text mapping
(LLaVA, Qwen2-VL / Qwen2.5-VL, Gemma 3, Idefics, ...) is loaded with ``AutoModelForImageTextToText`` and
``AutoProcessor`` and sees the images; any other checkpoint with ``AutoModelForCausalLM`` and ``AutoTokenizer`` and
works on text only. Either way the prompt is written with the checkpoint's own chat template; a checkpoint without
one is refused with a message that says how to add one (the tagged-format LM agents of :mod:`agents.lm` need none).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

__all__ = ["ChatModel", "load_chat_model", "resolve_device", "resolve_dtype", "is_vlm_checkpoint", "tokenizer_of"]

_DTYPES = {"float32": torch.float32, "fp32": torch.float32, "float16": torch.float16, "fp16": torch.float16,
           "bfloat16": torch.bfloat16, "bf16": torch.bfloat16}


@dataclass
class ChatModel:
    """A loaded chat model.

    Attributes:
        model: the ``PreTrainedModel`` in eval mode.
        processor: the ``ProcessorMixin`` of a VLM, or the tokenizer of a causal LM (both have
            ``apply_chat_template`` and are called on text to encode it).
        is_vlm: True when the model takes images.
        name: the path or hub name it was loaded from.
    """

    model: Any
    processor: Any
    is_vlm: bool
    name: str

    @property
    def tokenizer(self) -> Any:
        return tokenizer_of(self.processor)


def tokenizer_of(processor: Any) -> Any:
    """The tokenizer inside a processor (or the tokenizer itself)."""
    return getattr(processor, "tokenizer", None) or processor


def resolve_device(device: str | None) -> str:
    """``"auto"`` (or None) -> ``"cuda"`` when a GPU is visible, else ``"cpu"``; anything else as given."""
    if device in (None, "auto"):
        return "cuda" if torch.cuda.is_available() else "cpu"
    return str(device)


def resolve_dtype(dtype: str | torch.dtype | None, device: str) -> torch.dtype | str:
    """A torch dtype from a config string. ``"auto"`` (or None): bfloat16 on a GPU, float32 on a CPU (half precision
    on a CPU is slow and its log-probs are too coarse for a learner).

    >>> resolve_dtype("bf16", "cpu"), resolve_dtype("auto", "cpu")
    (torch.bfloat16, torch.float32)
    """
    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype in (None, "auto"):
        return torch.bfloat16 if str(device).startswith("cuda") else torch.float32
    key = str(dtype).lower().replace("torch.", "")
    if key not in _DTYPES:
        raise ValueError(f"dtype {dtype!r} is not one of {', '.join(sorted(_DTYPES))} or 'auto'")
    return _DTYPES[key]


def is_vlm_checkpoint(path_or_name: str | Path) -> bool:
    """True when the checkpoint's architecture is an image-text-to-text model (reads only its config)."""
    from transformers import AutoConfig
    from transformers.models.auto.modeling_auto import MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES

    config = AutoConfig.from_pretrained(str(path_or_name))
    return config.model_type in MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES


def load_chat_processor(path_or_name: str | Path, is_vlm: bool) -> Any:
    """The processor (VLM) or tokenizer (LM), padding on the left with a pad token, with a chat template."""
    from transformers import AutoProcessor, AutoTokenizer

    processor = AutoProcessor.from_pretrained(str(path_or_name)) if is_vlm else AutoTokenizer.from_pretrained(str(path_or_name))
    tokenizer = tokenizer_of(processor)
    tokenizer.padding_side = "left"  # prompts in a batch must end at the same column
    if tokenizer.pad_token is None:
        if tokenizer.eos_token is None:
            raise ValueError(f"tokenizer of {path_or_name} has neither a pad nor an eos token; set tokenizer.pad_token before batching")
        tokenizer.pad_token = tokenizer.eos_token
    if not (getattr(processor, "chat_template", None) or getattr(tokenizer, "chat_template", None)):
        raise ValueError(
            f"{path_or_name} has no chat template; the VLM agents write their prompts with one. Save one with the "
            "checkpoint (tokenizer.chat_template = '...'; save_pretrained) or use backend 'transformers' for the "
            "tagged-format LM agents")
    return processor


def load_chat_model(path_or_name: str | Path, device: str = "cpu", dtype: str | torch.dtype = "auto", **model_kwargs: Any) -> ChatModel:
    """Load a VLM (with its processor) or a causal LM (with its tokenizer) by local path or hub name.

    Args:
        path_or_name: a directory written by ``save_pretrained`` (model and processor/tokenizer), or a hub name.
        device: ``"cpu"``, ``"cuda"``, ``"cuda:1"`` or ``"auto"``.
        dtype: ``"float32"``, ``"bfloat16"``, ``"float16"`` or ``"auto"`` (see :func:`resolve_dtype`).
        **model_kwargs: passed to ``from_pretrained`` (e.g. ``attn_implementation="sdpa"``).
    """
    from transformers import AutoModelForCausalLM, AutoModelForImageTextToText

    device = resolve_device(device)
    torch_dtype = resolve_dtype(dtype, device)
    from agents.weights import require_safetensors

    require_safetensors(path_or_name)  # never unpickle a .bin (agents/weights.py)
    vlm = is_vlm_checkpoint(path_or_name)
    processor = load_chat_processor(path_or_name, vlm)
    auto = AutoModelForImageTextToText if vlm else AutoModelForCausalLM
    model = auto.from_pretrained(str(path_or_name), dtype=torch_dtype, **{**model_kwargs, "use_safetensors": True})
    model.to(device)
    model.eval()
    tokenizer = tokenizer_of(processor)
    gen = getattr(model, "generation_config", None)
    if gen is not None and gen.pad_token_id is None:
        gen.pad_token_id = tokenizer.pad_token_id
    return ChatModel(model=model, processor=processor, is_vlm=vlm, name=str(path_or_name))
