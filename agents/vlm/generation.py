"""Sampling from a chat model (VLM or LM) with the log-prob of every sampled token, and the teacher-forced log-probs
of the same completions: what a GRPO learner needs from a multimodal policy.

The conventions are those of :mod:`agents.lm.generation`, so a learner treats both alike:

- prompts left-padded, completions right-padded; rows ``N = len(prompts) * num_return_sequences``, each prompt's
  group in adjacent rows;
- log-probs of ``softmax(logits / temperature)`` over the full vocabulary (no top-p truncation), 0 where masked;
- a completion ends with its first eos, which is part of it (mask 1);
- the checkpoint's own sampling defaults that reshape the distribution (Qwen2.5-VL-Instruct ships
  ``repetition_penalty: 1.05``, ``top_k: 1``; others set min-p or n-gram bans) are neutralized for the call, so the
  tokens are drawn from exactly the distribution whose log-probs are returned;
- image/video placeholder tokens are never sampled (their logits are -inf when sampling *and* in the log-probs):
  a placeholder in a completion would have no image features behind it, and the teacher-forced forward pass would
  fail ("image features and image tokens do not match") or silently differ from the sampling pass.

Why ``model.generate`` and not the hand-written loop of the LM backend: multimodal models differ in how images enter
the forward pass (pixel values, grid sizes, 3-D rotary positions in Qwen2-VL); ``generate`` knows each model's rules.
The raw logits come back with ``output_logits=True``; the log-probs are computed from them here.

Teacher forcing (:func:`completion_logprobs`) re-encodes the prompts and images with the processor (deterministic,
and cheap next to the forward pass), appends the completions, and computes the positions with the model's own
``_prepare_position_ids_for_generation`` when it has one, the rule ``generate`` used; so sampled and recomputed
log-probs agree to float precision (tested), which GRPO's ratio needs.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from agents.lm.generation import GenerationOutput

__all__ = ["VLMGenerationOutput", "encode_prompts", "generate_chat", "teacher_forced_logits", "completion_logprobs",
           "eos_ids", "placeholder_ids"]


@dataclass(frozen=True)
class VLMGenerationOutput(GenerationOutput):
    """:class:`agents.lm.generation.GenerationOutput` plus what teacher forcing needs to rebuild the inputs.

    Attributes:
        prompts: the chat-templated prompt text of each *unique* prompt (``prompt_index`` points into it).
        images: the images of each unique prompt, in the order of its image placeholders (empty for text-only).
        temperature: the sampling temperature the log-probs were computed at.
    """

    prompts: list[str]
    images: list[list[Any]]
    temperature: float


def eos_ids(tokenizer: Any, model: Any = None) -> list[int]:
    """The token ids that end a completion: the tokenizer's eos and the generation config's (chat models often stop
    on several, e.g. ``<|im_end|>`` and ``<|endoftext|>``)."""
    ids: list[Any] = [tokenizer.eos_token_id]
    gen = getattr(model, "generation_config", None)
    extra = getattr(gen, "eos_token_id", None)
    ids.extend(extra if isinstance(extra, (list, tuple)) else [extra])
    out = sorted({int(i) for i in ids if i is not None})
    if not out:
        raise ValueError("no eos token: the tokenizer and generation config define none")
    return out


#: Generation-config fields that change the sampling distribution, and their neutral values.
_NEUTRAL = {"repetition_penalty": 1.0, "encoder_repetition_penalty": 1.0, "no_repeat_ngram_size": 0, "typical_p": 1.0,
            "min_p": 0.0, "epsilon_cutoff": 0.0, "eta_cutoff": 0.0, "min_new_tokens": 0, "min_length": 0}


def _neutral_overrides(model: Any) -> dict[str, Any]:
    gen = getattr(model, "generation_config", None)
    return {k: v for k, v in _NEUTRAL.items() if getattr(gen, k, None) not in (None, v)}


def placeholder_ids(model: Any, processor: Any) -> list[int]:
    """Token ids that stand for image or video features (``<image>``, ``<|image_pad|>``, ...): never sampled."""
    ids: set[int] = set()
    for owner in (getattr(model, "config", None), processor):
        for attr in ("image_token_id", "image_token_index", "video_token_id", "video_token_index"):
            value = getattr(owner, attr, None)
            if isinstance(value, int) and value >= 0:
                ids.add(value)
    return sorted(ids)


def _masked_logprobs(logits: Tensor, temperature: float, banned: Sequence[int]) -> Tensor:
    scaled = logits.float() / temperature
    if banned:
        scaled[..., list(banned)] = float("-inf")
    return torch.log_softmax(scaled, dim=-1)


def encode_prompts(processor: Any, prompts: Sequence[str], images: Sequence[Sequence[Any]] | None, device: Any) -> dict[str, Tensor]:
    """Tokenize chat-templated prompts (left-padded) together with their images.

    ``add_special_tokens`` is off when the template already wrote the bos token, so it is never doubled.
    """
    tokenizer = getattr(processor, "tokenizer", None) or processor
    bos = tokenizer.bos_token
    add_special = not (bos and all(p.startswith(bos) for p in prompts))
    side = tokenizer.padding_side
    tokenizer.padding_side = "left"
    try:
        flat = [img for row in (images or []) for img in row]
        if flat:
            enc = processor(text=list(prompts), images=flat, padding=True, return_tensors="pt", add_special_tokens=add_special)
        else:
            enc = tokenizer(list(prompts), padding=True, return_tensors="pt", add_special_tokens=add_special)
    finally:
        tokenizer.padding_side = side
    return {k: v.to(device) if isinstance(v, Tensor) else v for k, v in dict(enc).items()}


def _model_device(model: Any) -> torch.device:
    return next(model.parameters()).device


@torch.no_grad()
def generate_chat(
    model: Any,
    processor: Any,
    prompts: Sequence[str],
    images: Sequence[Sequence[Any]] | None = None,
    *,
    max_new_tokens: int = 256,
    do_sample: bool = True,
    temperature: float = 1.0,
    top_p: float = 1.0,
    num_return_sequences: int = 1,
    seed: int | None = None,
) -> VLMGenerationOutput:
    """Sample completions for chat-templated prompts (and their images) with ``model.generate``.

    Args:
        model: an image-text-to-text model or a causal LM, in eval mode.
        processor: its processor (VLM) or tokenizer (LM).
        prompts: chat-templated prompt texts, one image placeholder per image.
        images: per prompt, its PIL images (``None`` or empty lists for text only).
        max_new_tokens: the longest completion, eos included.
        do_sample: sample (True) or decode greedily (False; the temperature is then 1).
        temperature: sampling temperature (> 0 when sampling).
        top_p: nucleus threshold in (0, 1].
        num_return_sequences: completions per prompt (a GRPO group).
        seed: seeds the sampling RNG for this call (the global RNG state is restored afterwards).
    """
    if not prompts:
        raise ValueError("prompts is empty; pass at least one prompt")
    if images is not None and len(images) != len(prompts):
        raise ValueError(f"got {len(images)} image lists for {len(prompts)} prompts; pass one (possibly empty) list per prompt")
    if do_sample and not temperature > 0:
        raise ValueError(f"temperature must be > 0 when sampling, got {temperature}")
    if not 0 < top_p <= 1:
        raise ValueError(f"top_p must be in (0, 1], got {top_p}")
    temperature = float(temperature) if do_sample else 1.0
    tokenizer = getattr(processor, "tokenizer", None) or processor
    device = _model_device(model)
    enc = encode_prompts(processor, prompts, images, device)
    eos = eos_ids(tokenizer, model)
    banned = placeholder_ids(model, processor)
    pad_id = int(tokenizer.pad_token_id)
    kwargs: dict[str, Any] = dict(
        max_new_tokens=max_new_tokens, do_sample=do_sample, num_return_sequences=num_return_sequences,
        output_logits=True, return_dict_in_generate=True, pad_token_id=pad_id, eos_token_id=eos,
        suppress_tokens=banned or None, **_neutral_overrides(model),
    )
    if do_sample:
        kwargs.update(temperature=temperature, top_p=top_p, top_k=0)
    else:
        kwargs.update(temperature=None, top_p=None, top_k=None)
    devices = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        if seed is not None:
            torch.manual_seed(int(seed))
        out = model.generate(**enc, **kwargs)
    n_prompt = enc["input_ids"].shape[1]
    sequences = out.sequences[:, n_prompt:]
    n, steps = sequences.shape
    logps = torch.zeros((n, steps), dtype=torch.float32, device=sequences.device)
    for t, logits in enumerate(out.logits[:steps]):
        logp = _masked_logprobs(logits, temperature, banned)
        logps[:, t] = logp.gather(1, sequences[:, t : t + 1].to(logp.device)).squeeze(1).to(logps.device)
    # The mask runs to the first eos, inclusive; what generate wrote after it is padding.
    is_eos = torch.isin(sequences, torch.tensor(eos, device=sequences.device))
    after_eos = (is_eos.long().cumsum(-1) - is_eos.long()) > 0
    mask = (~after_eos).long()
    finished = is_eos.any(-1)
    completion_ids = sequences.masked_fill(after_eos, pad_id)
    logps = logps * mask
    lengths = mask.sum(-1).tolist()
    texts = tokenizer.batch_decode(
        [row[: length - int(done)] for row, length, done in zip(completion_ids.tolist(), lengths, finished.tolist())],
        skip_special_tokens=True,
    )
    rep = num_return_sequences
    return VLMGenerationOutput(
        prompt_ids=enc["input_ids"].repeat_interleave(rep, dim=0),
        prompt_mask=enc["attention_mask"].repeat_interleave(rep, dim=0),
        completion_ids=completion_ids,
        completion_mask=mask,
        logprobs=logps,
        finished=finished,
        prompt_index=torch.arange(len(prompts), device=sequences.device).repeat_interleave(rep),
        texts=texts,
        prompts=list(prompts),
        images=[list(row) for row in images] if images is not None else [[] for _ in prompts],
        temperature=temperature,
    )


def teacher_forced_logits(model: Any, prompt_inputs: dict[str, Any], completion_ids: Tensor, completion_mask: Tensor) -> Tensor:
    """Raw logits ``[N, T, V]`` that predict each completion token, with the prompt (and its images) in front.

    Args:
        model: the VLM or chat LM.
        prompt_inputs: the processor's output for the prompts: ``input_ids`` and ``attention_mask`` (left-padded),
            the image inputs (``pixel_values``, ``image_grid_thw``, ``image_sizes``, ...) and per-token side inputs
            of the prompt's shape (``mm_token_type_ids``, ...), which are extended with 0 over the completion (text).
        completion_ids: long ``[N, T]``, right-padded.
        completion_mask: ``[N, T]``, 1 on completion tokens.

    Positions come from the model's own ``_prepare_position_ids_for_generation`` when it has one (the rule
    ``generate`` used, e.g. Qwen2-VL's 3-D rotary positions), so the logits are those the sampler saw.
    """
    enc = dict(prompt_inputs)
    prompt_ids, prompt_mask = enc.pop("input_ids"), enc.pop("attention_mask")
    n_prompt, steps = prompt_ids.shape[1], completion_ids.shape[1]
    input_ids = torch.cat([prompt_ids, completion_ids.to(prompt_ids.dtype)], dim=1)
    attention = torch.cat([prompt_mask, completion_mask.to(prompt_mask.dtype)], dim=1)
    extra: dict[str, Any] = {}
    for key, value in enc.items():
        # Per-token side inputs (token_type_ids, mm_token_type_ids, ...) cover the prompt; completions are text (0).
        if isinstance(value, Tensor) and value.dim() == 2 and value.shape == prompt_ids.shape:
            value = torch.cat([value, torch.zeros((value.shape[0], steps), dtype=value.dtype, device=value.device)], dim=1)
        extra[key] = value
    forward_params = inspect.signature(model.forward).parameters
    if "position_ids" in forward_params and hasattr(model, "_prepare_position_ids_for_generation"):
        extra["position_ids"] = model._prepare_position_ids_for_generation(
            input_ids, {"input_ids": input_ids, "attention_mask": attention, **extra})
    if "logits_to_keep" in forward_params:
        extra["logits_to_keep"] = steps + 1
        return model(input_ids=input_ids, attention_mask=attention, **extra).logits[:, :steps]
    return model(input_ids=input_ids, attention_mask=attention, **extra).logits[:, n_prompt - 1 : n_prompt - 1 + steps]


def completion_logprobs(
    model: Any,
    processor: Any,
    batch: VLMGenerationOutput,
    rows: Sequence[int] | Tensor | None = None,
    *,
    temperature: float | None = None,
) -> Tensor:
    """Teacher-forced log-probs of ``batch``'s completions (rows ``rows``, default all), with gradients unless the
    caller disables them.

    Returns:
        float32 ``[len(rows), T]``: the log-prob of each completion token under ``softmax(logits / temperature)``,
        0 where ``batch.completion_mask`` is 0. ``T`` is ``batch.completion_ids.shape[1]``. The loss of a learner
        goes on these positions only (the completion), never on the prompt.
    """
    device = _model_device(model)
    if rows is None:
        rows = list(range(batch.completion_ids.shape[0]))
    rows = [int(r) for r in (rows.tolist() if isinstance(rows, Tensor) else rows)]
    if not rows:
        raise ValueError("rows is empty")
    temp = float(batch.temperature if temperature is None else temperature)
    prompt_of = [int(batch.prompt_index[r]) for r in rows]
    enc = encode_prompts(processor, [batch.prompts[i] for i in prompt_of],
                         [batch.images[i] for i in prompt_of] if any(batch.images) else None, device)
    completion = batch.completion_ids[rows].to(device)
    cmask = batch.completion_mask[rows].to(device)
    logits = teacher_forced_logits(model, enc, completion, cmask)
    logp = _masked_logprobs(logits, temp, placeholder_ids(model, processor)).gather(2, completion.unsqueeze(-1)).squeeze(-1)
    return logp * cmask
