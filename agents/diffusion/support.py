"""Which pipelines and schedulers can be trained, and the one entry point that builds their policy.

===========================================  ==========================  ===============================================
pipeline class                               step with a log-prob        schedulers accepted in the pipeline
===========================================  ==========================  ===============================================
``StableDiffusionInstructPix2PixPipeline``   DDIM, ``eta > 0`` (DDPO)     the DDPM family (``UNET_SCHEDULERS``): their
                                                                         beta schedule is sampled with a DDIM copy
``FluxKontextPipeline``                      Flow-GRPO SDE step          ``FlowMatchEulerDiscreteScheduler``
===========================================  ==========================  ===============================================

Anything else is refused with a message listing these, never sampled with a step whose density is unknown.
"""

from __future__ import annotations

from typing import Any

import torch

from agents.diffusion.policy import DenoisingPolicy

__all__ = ["SUPPORTED_PIPELINES", "UNET_SCHEDULERS", "FLOW_SCHEDULERS", "policy_for", "supported_text"]

#: Schedulers that share the DDPM beta schedule, so a DDIM copy samples the same trained model.
UNET_SCHEDULERS = ("DDIMScheduler", "DDPMScheduler", "EulerAncestralDiscreteScheduler", "EulerDiscreteScheduler",
                   "PNDMScheduler", "LMSDiscreteScheduler", "DPMSolverMultistepScheduler", "UniPCMultistepScheduler")
FLOW_SCHEDULERS = ("FlowMatchEulerDiscreteScheduler",)

#: pipeline class name -> (step kind, accepted scheduler class names)
SUPPORTED_PIPELINES: dict[str, tuple[str, tuple[str, ...]]] = {
    "StableDiffusionInstructPix2PixPipeline": ("ddim", UNET_SCHEDULERS),
    "FluxKontextPipeline": ("flow_sde", FLOW_SCHEDULERS),
}


def supported_text() -> str:
    """The supported pipelines and schedulers, in words (for error messages)."""
    return "; ".join(f"{name} with {', '.join(schedulers)} ({kind} steps)"
                     for name, (kind, schedulers) in SUPPORTED_PIPELINES.items())


def policy_for(pipeline: Any, *, device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32,
               **options: Any) -> DenoisingPolicy:
    """The trainable policy of a loaded pipeline.

    Args:
        pipeline: a loaded diffusers pipeline of a supported class.
        device, dtype: where the pipeline already is.
        options: the policy's sampling options (``eta``, ``guidance_scale``, ... for InstructPix2Pix;
            ``noise_level``, ``guidance_scale``, ``true_cfg_scale``, ... for Kontext).

    Raises:
        ValueError: for an unsupported pipeline or scheduler, naming what is supported.
    """
    name = type(pipeline).__name__
    if name not in SUPPORTED_PIPELINES:
        raise ValueError(f"{name} cannot be trained: no stochastic sampler with a known log-prob is implemented for it. "
                         f"Supported: {supported_text()}")
    scheduler = type(getattr(pipeline, "scheduler", None)).__name__
    if scheduler not in SUPPORTED_PIPELINES[name][1]:
        raise ValueError(f"{name} with scheduler {scheduler} cannot be trained; use one of "
                         f"{', '.join(SUPPORTED_PIPELINES[name][1])}. Supported: {supported_text()}")
    if name == "StableDiffusionInstructPix2PixPipeline":
        from agents.diffusion.pix2pix import Pix2PixPolicy

        return Pix2PixPolicy(pipeline, device=device, dtype=dtype, **options)
    from agents.diffusion.kontext import KontextPolicy

    return KontextPolicy(pipeline, device=device, dtype=dtype, **options)
