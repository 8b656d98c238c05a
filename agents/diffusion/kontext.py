"""FLUX.1-Kontext-style flow-matching editing pipelines as a policy with Flow-GRPO's SDE steps.

The sampled schedule is the pipeline's own: sigmas ``linspace(1, 1/N, N)`` shifted by the scheduler (dynamic shift
``mu`` from the image's token count when the scheduler's config asks for it), via a copy of its
``FlowMatchEulerDiscreteScheduler``. Each step is Flow-GRPO's SDE step (:func:`agents.diffusion.logprob.
flow_sde_step_mean_std`) instead of the Euler ODE step.

The transformer sees the noisy tokens followed by the source image's tokens (Kontext's in-context conditioning) and
only the first part of its output is the velocity. Guidance: the distilled guidance embedding when the transformer
has one (``guidance_scale``), and true classifier-free guidance when ``true_cfg_scale > 1`` and a
``negative_prompt`` is given, as the pipeline's ``__call__``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor

from agents.diffusion.logprob import flow_sde_step_mean_std
from agents.diffusion.policy import DenoisingPolicy, Schedule

__all__ = ["KontextPolicy"]


class KontextPolicy(DenoisingPolicy):
    """``FluxKontextPipeline`` with SDE steps of ``noise_level``.

    Args:
        pipeline: the loaded pipeline.
        noise_level: Flow-GRPO's ``a`` in ``std_t = a sqrt(sigma / (1 - sigma))``, ``> 0`` (0.7 there).
        guidance_scale: the distilled guidance (used when the transformer has guidance embeddings).
        true_cfg_scale, negative_prompt: true classifier-free guidance, off unless both are set.
        max_sequence_length: T5 tokens of the prompt.
    """

    step_kind = "flow_sde"

    def __init__(self, pipeline: Any, *, noise_level: float = 0.7, guidance_scale: float = 2.5,
                 true_cfg_scale: float = 1.0, negative_prompt: str | None = None, max_sequence_length: int = 512,
                 **kwargs: Any) -> None:
        from diffusers import FlowMatchEulerDiscreteScheduler

        super().__init__(pipeline, **kwargs)
        if noise_level <= 0:
            raise ValueError(f"noise_level must be > 0 (0 is the deterministic ODE step, which has no log-prob), got {noise_level}")
        self.noise_level = float(noise_level)
        self.guidance_scale = float(guidance_scale)
        self.true_cfg_scale = float(true_cfg_scale)
        self.negative_prompt = negative_prompt
        self.max_sequence_length = int(max_sequence_length)
        self.scheduler = FlowMatchEulerDiscreteScheduler.from_config(pipeline.scheduler.config)

    @property
    def denoiser(self) -> torch.nn.Module:
        return self.pipeline.transformer

    @property
    def true_cfg(self) -> bool:
        return self.true_cfg_scale > 1.0 and self.negative_prompt is not None

    def schedule(self, num_steps: int, image_seq_len: int) -> Schedule:
        from diffusers.pipelines.flux.pipeline_flux_kontext import calculate_shift

        cfg = self.scheduler.config
        mu = calculate_shift(image_seq_len, cfg.get("base_image_seq_len", 256), cfg.get("max_image_seq_len", 4096),
                             cfg.get("base_shift", 0.5), cfg.get("max_shift", 1.15))
        sigmas = np.linspace(1.0, 1 / num_steps, num_steps)
        self.scheduler.set_timesteps(sigmas=sigmas, mu=mu, device="cpu")
        all_sigmas = self.scheduler.sigmas.to(torch.float32)
        values = torch.stack([all_sigmas[:-1], all_sigmas[1:]], dim=1)
        sigma_max = float(all_sigmas[1]) if len(all_sigmas) > 2 else float(all_sigmas[0])
        return Schedule(timesteps=self.scheduler.timesteps.clone().to(self.device), values=values.to(self.device),
                        sigma_max=sigma_max)

    def prepare(self, prompt: str, image: Any, group_size: int, num_steps: int,
                generator: torch.Generator) -> tuple[dict[str, Any], Tensor, Schedule]:
        pipe = self.pipeline
        multiple = pipe.vae_scale_factor * 2
        width, height = image.size
        width, height = max(multiple, width // multiple * multiple), max(multiple, height // multiple * multiple)
        with torch.no_grad():
            embeds, pooled, text_ids = pipe.encode_prompt(prompt=prompt, prompt_2=None, device=self.device,
                                                          num_images_per_prompt=group_size,
                                                          max_sequence_length=self.max_sequence_length)
            negative = None
            if self.true_cfg:
                negative = pipe.encode_prompt(prompt=self.negative_prompt, prompt_2=None, device=self.device,
                                              num_images_per_prompt=group_size,
                                              max_sequence_length=self.max_sequence_length)
            pixels = pipe.image_processor.preprocess(pipe.image_processor.resize(image, height, width), height, width)
            latents, image_latents, latent_ids, image_ids = pipe.prepare_latents(
                pixels, group_size, pipe.transformer.config.in_channels // 4, height, width, embeds.dtype, self.device,
                generator)
        guidance = None
        if pipe.transformer.config.guidance_embeds:
            guidance = torch.full((group_size,), self.guidance_scale, device=self.device, dtype=torch.float32)
        conditioning = {"prompt_embeds": embeds, "pooled": pooled, "text_ids": text_ids, "negative": negative,
                        "image_latents": image_latents, "img_ids": torch.cat([latent_ids, image_ids], dim=0),
                        "guidance": guidance, "height": height, "width": width}
        return conditioning, latents.float(), self.schedule(num_steps, latents.shape[1])

    def _velocity(self, latents: Tensor, t: Tensor, cond: dict[str, Any], embeds: Tensor, pooled: Tensor,
                  text_ids: Tensor) -> Tensor:
        model_in = torch.cat([latents.to(self.dtype), cond["image_latents"]], dim=1)
        out = self.denoiser(hidden_states=model_in, timestep=(t / 1000).expand(latents.shape[0]).to(self.dtype),
                            guidance=cond["guidance"], pooled_projections=pooled, encoder_hidden_states=embeds,
                            txt_ids=text_ids, img_ids=cond["img_ids"], return_dict=False)[0]
        return out[:, : latents.shape[1]].float()

    def model_output(self, latents: Tensor, step: int, conditioning: dict[str, Any], schedule: Schedule) -> Tensor:
        t = schedule.timesteps[step]
        velocity = self._velocity(latents, t, conditioning, conditioning["prompt_embeds"], conditioning["pooled"],
                                  conditioning["text_ids"])
        if conditioning["negative"] is None:
            return velocity
        neg = self._velocity(latents, t, conditioning, *conditioning["negative"])
        return neg + self.true_cfg_scale * (velocity - neg)

    def step_mean_std(self, model_output: Tensor, latents: Tensor, step: int, schedule: Schedule) -> tuple[Tensor, Tensor]:
        sigma, sigma_next = schedule.values[step]
        return flow_sde_step_mean_std(model_output, latents.float(), sigma, sigma_next, schedule.sigma_max,
                                      self.noise_level)

    def decode(self, latents: Tensor, conditioning: dict[str, Any]) -> list[Any]:
        pipe = self.pipeline
        vae = pipe.vae
        with torch.no_grad():
            spatial = pipe._unpack_latents(latents.to(self.dtype), conditioning["height"], conditioning["width"],
                                           pipe.vae_scale_factor)
            spatial = spatial / vae.config.scaling_factor + vae.config.shift_factor
            pixels = vae.decode(spatial, return_dict=False)[0]
        return pipe.image_processor.postprocess(pixels.float(), output_type="pil")
