"""The image inputs of a VLM policy's prompts as per-row batch columns, so the learner recomputes log-probs with the
image tokens in the prompt.

A VLM prompt is more than its token ids: the processor expands each image placeholder into the image's tokens
(``<image>`` x 4 for the tiny LLaVA, ``<|image_pad|>`` x patches for Qwen2-VL; those expanded ids are already in
``prompt_ids``) and returns the inputs that fill them: pixel values, grid sizes (``image_grid_thw``), image sizes,
per-token side inputs (``mm_token_type_ids``). The learner needs exactly these to run the forward pass the sampler
ran. The policy actor re-encodes each unique prompt on its own (the processor is deterministic and cheap next to
generation) and stores, per row of the batch (so that minibatching by rows keeps working):

- ``mm_tok.<key>`` ``[N, P]``: a per-token side input of the prompt, left-padded like ``prompt_ids``;
- ``mm.<key>`` ``[N, L, ...]``: a per-prompt input whose first dimension counts images or patches (``pixel_values``
  ``[images, C, H, W]`` for LLaVA, ``[patches, D]`` for Qwen2-VL; ``image_grid_thw`` ``[images, 3]``), padded to the
  longest row along ``L``, with ``mm_len.<key>`` ``[N]`` its real length.

:func:`prompt_inputs` undoes this for a minibatch: the rows' slices concatenated along the first dimension are what
the processor returns for the same prompts in one call (LLaVA, LLaVA-style, Qwen2-VL / Qwen2.5-VL processors).
Processors whose image inputs differ beyond the first dimension from prompt to prompt (LLaVA-NeXT's padded tiles,
Idefics' ``[batch, images, ...]``) are refused with an error naming the input.

Cost: a group's G rows each carry their prompt's pixels (G copies); for high-resolution images on a real model,
keep ``tasks_per_iteration * group_size`` in check or minibatch.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch

TOKEN = "mm_tok."
IMAGE = "mm."
LENGTH = "mm_len."
__all__ = ["TOKEN", "IMAGE", "LENGTH", "prompt_input_columns", "join_columns", "select_columns", "prompt_inputs",
           "is_multimodal_column"]


def is_multimodal_column(key: str) -> bool:
    return key.startswith((TOKEN, IMAGE, LENGTH))


def prompt_input_columns(processor: Any, gen: Any) -> dict[str, np.ndarray]:
    """Per-row image inputs of a :class:`agents.vlm.generation.VLMGenerationOutput` (empty when no prompt has an
    image: a text-only chat model needs nothing beyond the token ids).

    Raises:
        RuntimeError: the processor encodes a prompt alone differently from the batch the sampler used.
        ValueError: an image input that cannot be split per prompt (see the module docstring).
    """
    from agents.vlm.generation import encode_prompts

    if not any(gen.images):
        return {}
    prompt_index = [int(i) for i in gen.prompt_index.tolist()]
    width = int(gen.prompt_ids.shape[1])
    per_prompt: list[dict[str, np.ndarray]] = []
    tokens: set[str] = set()
    for i, (text, images) in enumerate(zip(gen.prompts, gen.images)):
        enc = encode_prompts(processor, [text], [images] if images else None, "cpu")
        ids = enc.pop("input_ids")
        enc.pop("attention_mask", None)
        row = prompt_index.index(i)
        sampled = gen.prompt_ids[row][gen.prompt_mask[row].bool()].cpu()
        if not torch.equal(sampled, ids[0].cpu()):
            raise RuntimeError(f"prompt {i}: the processor encodes it alone into {ids.shape[1]} tokens that differ from the "
                               f"{sampled.numel()} the sampler used; the image inputs cannot be aligned with prompt_ids")
        found: dict[str, np.ndarray] = {}
        for key, value in enc.items():
            if value is None:
                continue
            if not isinstance(value, torch.Tensor):
                raise ValueError(f"processor input {key!r} is a {type(value).__name__}, not a tensor; it cannot go into a learner batch")
            if value.dim() == 2 and value.shape == ids.shape:
                tokens.add(key)
                found[key] = value[0].cpu().numpy()
            else:
                found[key] = value.cpu().numpy()
        per_prompt.append(found)
    keys = sorted({k for found in per_prompt for k in found})
    n = len(prompt_index)
    out: dict[str, np.ndarray] = {}
    for key in keys:
        present = [found[key] for found in per_prompt if key in found]
        if key in tokens:
            column = np.zeros((n, width), dtype=present[0].dtype)
            for row, i in enumerate(prompt_index):
                value = per_prompt[i].get(key)
                if value is not None:
                    column[row, width - len(value):] = value
            out[TOKEN + key] = column
            continue
        tail = {v.shape[1:] for v in present}
        if len(tail) > 1 or any(v.ndim == 0 for v in present):
            raise ValueError(f"image input {key!r} has shapes {sorted(v.shape for v in present)} across prompts; only "
                             "inputs that differ in their first dimension (images or patches) can be split per row")
        (shape,) = tail
        longest = max(len(v) for v in present)
        column = np.zeros((n, longest, *shape), dtype=present[0].dtype)
        lengths = np.zeros(n, dtype=np.int64)
        for row, i in enumerate(prompt_index):
            value = per_prompt[i].get(key)
            if value is not None:
                column[row, :len(value)] = value
                lengths[row] = len(value)
        out[IMAGE + key] = column
        out[LENGTH + key] = lengths
    return out


def _pad_axis(array: np.ndarray, width: int, axis: int, left: bool) -> np.ndarray:
    pad = [(0, 0)] * array.ndim
    pad[axis] = (width - array.shape[axis], 0) if left else (0, width - array.shape[axis])
    return np.pad(array, pad)


def join_columns(shards: Sequence[dict[str, Any]], rows: Sequence[int]) -> dict[str, np.ndarray]:
    """The multimodal columns of several actors' sample arrays, concatenated (padded to the widest) and put in
    the order ``rows`` (indices into the concatenation)."""
    keys = sorted({k for shard in shards for k in shard if is_multimodal_column(k)})
    out: dict[str, np.ndarray] = {}
    for key in keys:
        if any(key not in shard for shard in shards):
            raise ValueError(f"column {key!r} is missing from some policy actors' samples; every replica must run the same model")
        parts = [np.asarray(shard[key]) for shard in shards]
        if not key.startswith(LENGTH):
            width = max(p.shape[1] for p in parts)
            parts = [_pad_axis(p, width, 1, left=key.startswith(TOKEN)) for p in parts]
        out[key] = np.concatenate(parts)[list(rows)]
    return out


def select_columns(arrays: dict[str, Any], rows: np.ndarray, first: int) -> dict[str, np.ndarray]:
    """The multimodal columns for ``rows`` of a learner batch: per-token inputs from column ``first`` on (where the
    trimmed ``prompt_ids`` start), per-prompt inputs cut to the longest of these rows."""
    out: dict[str, np.ndarray] = {}
    for key, value in arrays.items():
        if key.startswith(TOKEN):
            out[key] = np.asarray(value)[rows, first:]
        elif key.startswith(IMAGE):
            lengths = np.asarray(arrays[LENGTH + key[len(IMAGE):]])[rows]
            out[key] = np.asarray(value)[rows, :max(1, int(lengths.max(initial=0)))]
            out[LENGTH + key[len(IMAGE):]] = lengths
    return out


def prompt_inputs(batch: dict[str, Any]) -> dict[str, torch.Tensor]:
    """The processor's output for a minibatch's prompts, rebuilt from its columns: ``input_ids``,
    ``attention_mask`` and the image inputs, ready for :func:`agents.vlm.generation.teacher_forced_logits`."""
    out = {"input_ids": torch.as_tensor(batch["prompt_ids"]).long(), "attention_mask": torch.as_tensor(batch["prompt_mask"]).long()}
    for key, value in batch.items():
        if key.startswith(TOKEN):
            out[key[len(TOKEN):]] = torch.as_tensor(value)
        elif key.startswith(IMAGE):
            name = key[len(IMAGE):]
            value = torch.as_tensor(value)
            lengths = torch.as_tensor(batch[LENGTH + name]).tolist()
            out[name] = torch.cat([value[row, :int(n)] for row, n in enumerate(lengths)])
    return out
