"""Where and in what precision the learner holds a policy: the ``train.learner`` setting and what applies it.

The default (CPU, float32, no checkpointing, whole minibatches) is what the embedded tiny policies train with and
is unchanged. For a large policy on a GPU: ``device: cuda`` (RLlib's own ``num_gpus_per_learner=1``, so RLlib
places the module and the batches), ``dtype: bfloat16`` (the weights the learner holds; a LoRA adapter stays in
float32, as PEFT keeps it, so its optimizer updates do not round away), ``gradient_checkpointing`` (activations
recomputed in the backward pass) and ``micro_batch_size`` (gradient accumulation: :mod:`.accumulate`).
"""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import BaseModel, ConfigDict, Field

DTYPES: dict[str, torch.dtype] = {"float32": torch.float32, "bfloat16": torch.bfloat16}


class LearnerSettings(BaseModel):
    """Device, precision and memory settings of the learner that trains the policies."""

    model_config = ConfigDict(extra="forbid")

    device: Literal["cpu", "cuda"] = Field(default="cpu", description=(
        "Where the learner holds and trains the policies. cpu: the embedded tiny policies (2 cores, minutes). cuda: a "
        "GPU per learner (RLlib's num_gpus_per_learner=1); with one local learner the process that runs `editrl "
        "train` needs the GPU. The policy actors' device is each agent's own `options.device`."))
    dtype: Literal["float32", "bfloat16"] = Field(default="float32", description=(
        "dtype of the policy weights the learner holds (and of its reference model). float32: exact log-probs, what "
        "the tiny policies need. bfloat16: half the memory, for a large policy on a GPU; with `lora` the adapter "
        "itself stays float32. Full fine-tuning in bfloat16 updates bfloat16 weights directly (no float32 master "
        "copy), so updates smaller than a weight's rounding step are lost: use it with lora, or at a learning rate "
        "large enough for it. Log-probs are computed in float32 from the logits either way."))
    gradient_checkpointing: bool = Field(default=False, description=(
        "Recompute each layer's activations in the backward pass instead of keeping them (transformers' "
        "gradient_checkpointing_enable, non-reentrant): activation memory of one layer instead of all, for about a "
        "third more compute per update. The rows of a GRPO group then run their prompt separately (the shared-prompt "
        "cache does not survive recomputation). Dropout is switched off in the model, as GRPO's ratio needs."))
    threads: int | None = Field(default=None, ge=1, description=(
        "torch threads of the process the learner runs in: the `editrl train` process with `num_learners: 0` "
        "(where held-out evaluation also runs), each learner actor otherwise. None: torch's default (one per core). "
        "With `max_staleness: 1` the policy actors sample while the learner updates, so on a small machine 1 leaves "
        "the sampler a core instead of the two competing for every one."))
    micro_batch_size: int | None = Field(default=None, ge=1, description=(
        "Completions per forward and backward pass within one gradient step (gradient accumulation): a minibatch "
        "(`minibatch_size`, or the whole batch) is split into micro-batches whose gradients are summed, weighted "
        "so the step equals the one of the whole minibatch under `loss_agg`; one optimizer step follows. Bounds "
        "activation memory by micro_batch_size rows. None: the whole minibatch in one pass."))


def torch_dtype(name: str) -> torch.dtype:
    """The torch dtype named by ``train.learner.dtype``.

    >>> torch_dtype("bfloat16")
    torch.bfloat16
    """
    try:
        return DTYPES[name]
    except KeyError:
        raise ValueError(f"train.learner.dtype={name!r}: use one of {', '.join(DTYPES)}") from None


def device_error(device: str, num_learners: int) -> str | None:
    """Why the learner cannot run on ``device`` here, or None. Only a local learner (``num_learners=0``) runs in this
    process; remote learners find their GPUs on the nodes Ray places them on."""
    if device == "cuda" and num_learners == 0 and not torch.cuda.is_available():
        return ("train.learner.device='cuda' but this process sees no CUDA GPU (torch.cuda.is_available() is False): "
                "run `editrl train` on a GPU machine, or set train.learner.device: cpu")
    return None


def disable_dropout(model: torch.nn.Module) -> None:
    """Switch every dropout of ``model`` off for good: ``nn.Dropout`` modules get p=0 and attention layers'
    ``attention_dropout`` (read as a float in their forward) 0. Gradient checkpointing only acts in train mode, in
    which dropout would make the learner's log-probs differ from the sampler's."""
    for module in model.modules():
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0
        if isinstance(getattr(module, "attention_dropout", None), float):
            module.attention_dropout = 0.0


def enable_gradient_checkpointing(model: torch.nn.Module) -> None:
    """transformers' gradient checkpointing, non-reentrant (so frozen inputs, as under LoRA, still pass gradients
    through), with dropout switched off; the model must then run in train mode for it to act."""
    if not getattr(model, "supports_gradient_checkpointing", False):
        raise ValueError(f"train.learner.gradient_checkpointing: {type(model).__name__} does not support gradient "
                         "checkpointing; set it to false")
    model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    disable_dropout(model)
