"""The editing pipeline as editor GRPO trains it: frozen weights with fresh LoRA adapters on the denoiser, loaded the
same way by the learner's module, the trainer (when it samples in its own process) and the sampler actors."""

from __future__ import annotations

from typing import Any

import torch

from agents.diffusion.support import policy_for
from orchestration.editor_grpo.config import EditorGRPOConfig

__all__ = ["adapter_state", "load_adapted_policy", "load_adapter_state"]

_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def load_adapted_policy(config: EditorGRPOConfig) -> tuple[Any, Any]:
    """The pipeline of ``config.model`` with everything frozen, its denoising policy, and fresh LoRA adapters on the
    denoiser (seeded by ``config.seed``, trained in float32): what the trainer trains and a sampler actor samples
    with."""
    from diffusers import DiffusionPipeline
    from diffusers.training_utils import cast_training_params
    from peft import LoraConfig

    from agents.diffusers_editor import _dtype_kwarg
    from agents.weights import require_safetensors

    dtype = _DTYPES[config.dtype]
    require_safetensors(config.model)
    pipeline = DiffusionPipeline.from_pretrained(config.model, use_safetensors=True, **{_dtype_kwarg(): dtype})
    pipeline.set_progress_bar_config(disable=True)
    pipeline.to(config.device)
    for component in pipeline.components.values():
        if isinstance(component, torch.nn.Module):
            component.requires_grad_(False)
    policy = policy_for(pipeline, device=config.device, dtype=dtype, **config.sampler)
    denoiser = policy.denoiser
    missing = [t for t in config.lora_targets if not any(n == t or n.endswith("." + t) for n, _ in denoiser.named_modules())]
    if missing:
        raise ValueError(f"lora_targets {missing} match no module of {type(denoiser).__name__}; pick names from its "
                         "named_modules() (e.g. to_q, to_k, to_v, to_out.0)")
    # peft draws the adapters' initial A matrices from torch's global generator: seed it so runs repeat.
    # torch.manual_seed also seeds CUDA: fork that too, so the caller's CUDA generator is left as it was.
    with torch.random.fork_rng(devices=[torch.cuda.current_device()] if torch.cuda.is_available() else []):
        torch.manual_seed(config.seed)
        denoiser.add_adapter(LoraConfig(r=config.lora_rank, lora_alpha=config.lora_alpha,
                                        target_modules=list(config.lora_targets), init_lora_weights="gaussian"))
    # Adapters train in float32 even on a bf16 model: bf16 Adam updates of small LoRA weights round to nothing.
    cast_training_params(denoiser, dtype=torch.float32)
    if config.gradient_checkpointing:
        denoiser.enable_gradient_checkpointing()
    return pipeline, policy


def adapter_state(denoiser: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The denoiser's LoRA weights (what training changes): detached copies on the CPU, in PEFT's naming."""
    from peft.utils import get_peft_model_state_dict

    return {k: v.detach().cpu().clone() for k, v in get_peft_model_state_dict(denoiser).items()}


def load_adapter_state(denoiser: torch.nn.Module, state: dict[str, Any]) -> None:
    """Load LoRA weights in PEFT's naming (tensors or arrays) into the denoiser; every one must land (a partial sync
    is a bug, so a name the denoiser does not have is an error)."""
    from peft.utils import set_peft_model_state_dict

    result = set_peft_model_state_dict(denoiser, {k: torch.as_tensor(v) for k, v in state.items()})
    unexpected = list(getattr(result, "unexpected_keys", []) or [])
    if unexpected:
        raise ValueError(f"adapter weights do not match the denoiser: {unexpected[:3]} ...")
