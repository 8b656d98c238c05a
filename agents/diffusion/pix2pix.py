"""InstructPix2Pix-style UNet editing pipelines as a policy with stochastic DDIM steps (DDPO's sampler).

The pipeline's own scheduler (often Euler ancestral) is replaced, for sampling and scoring only, by a
``DDIMScheduler`` built from its config: the same trained noise schedule (betas), but a step whose Gaussian
transition has a closed form for any ``eta > 0``. Its timesteps are spaced "trailing" (see ``__init__``).

Guidance is InstructPix2Pix's three-way classifier-free guidance, as its ``__call__`` applies it:
``uncond + g (text - image) + ig (image - uncond)`` over a batch of (text+image, image only, nothing); with
``guidance_scale <= 1`` or ``image_guidance_scale < 1`` one conditional pass, as the pipeline does.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from agents.diffusion.logprob import PREDICTION_TYPES, ddim_step_mean_std
from agents.diffusion.policy import DenoisingPolicy, Schedule

__all__ = ["Pix2PixPolicy"]


class Pix2PixPolicy(DenoisingPolicy):
    """``StableDiffusionInstructPix2PixPipeline`` with DDIM steps of noise scale ``eta``.

    Args:
        pipeline: the loaded pipeline.
        eta: DDIM noise scale, ``> 0`` (1.0 is DDPM's posterior variance, DDPO's choice).
        guidance_scale, image_guidance_scale: as the pipeline's ``__call__`` takes them.
        negative_prompt: the unconditional text ("" by default, as the pipeline).
    """

    step_kind = "ddim"

    def __init__(self, pipeline: Any, *, eta: float = 1.0, guidance_scale: float = 7.5,
                 image_guidance_scale: float = 1.5, negative_prompt: str | None = None, **kwargs: Any) -> None:
        from diffusers import DDIMScheduler

        super().__init__(pipeline, **kwargs)
        if eta <= 0:
            raise ValueError(f"eta must be > 0 (a DDIM step with eta = 0 is deterministic and has no log-prob), got {eta}")
        self.eta = float(eta)
        self.guidance_scale = float(guidance_scale)
        self.image_guidance_scale = float(image_guidance_scale)
        self.negative_prompt = negative_prompt
        # "trailing" spacing starts at the last training timestep (pure noise, where sampling starts) and ends at
        # t = T/N - 1, not 0; with set_alpha_to_one=False (Stable Diffusion's own setting) every step, the last
        # included, then has a positive variance. "linspace" or "leading" spacing with steps_offset 0 ends at t = 0,
        # whose step to the final alpha has variance 0 and no density.
        self.scheduler = DDIMScheduler.from_config(pipeline.scheduler.config, set_alpha_to_one=False,
                                                   timestep_spacing="trailing")
        self.prediction_type = self.scheduler.config.prediction_type
        if self.prediction_type not in PREDICTION_TYPES:
            raise ValueError(f"the scheduler's prediction_type is {self.prediction_type!r}; supported: {', '.join(PREDICTION_TYPES)}")

    @property
    def denoiser(self) -> torch.nn.Module:
        return self.pipeline.unet

    @property
    def guided(self) -> bool:
        return self.guidance_scale > 1.0 and self.image_guidance_scale >= 1.0

    def schedule(self, num_steps: int) -> Schedule:
        sched = self.scheduler
        sched.set_timesteps(num_steps, device="cpu")
        timesteps = sched.timesteps.clone()
        alphas = sched.alphas_cumprod.to(torch.float32)
        prev = timesteps - sched.config.num_train_timesteps // num_steps
        a_t = alphas[timesteps]
        a_prev = torch.where(prev >= 0, alphas[prev.clamp(min=0)], torch.as_tensor(float(sched.final_alpha_cumprod)))
        return Schedule(timesteps=timesteps.to(self.device), values=torch.stack([a_t, a_prev], dim=1).to(self.device))

    def prepare(self, prompt: str, image: Any, group_size: int, num_steps: int,
                generator: torch.Generator) -> tuple[dict[str, Any], Tensor, Schedule]:
        from diffusers.utils.torch_utils import randn_tensor

        pipe = self.pipeline
        with torch.no_grad():
            embeds = pipe._encode_prompt(prompt, self.device, group_size, self.guided, self.negative_prompt)
            pixels = pipe.image_processor.preprocess(image)
            pixels = pixels.to(device=self.device, dtype=embeds.dtype)
            # The mode of the VAE posterior, as the pipeline's prepare_image_latents; encoded once for the group.
            image_latents = pipe.vae.encode(pixels).latent_dist.mode().repeat(group_size, 1, 1, 1)
            if self.guided:
                image_latents = torch.cat([image_latents, image_latents, torch.zeros_like(image_latents)])
        channels = pipe.vae.config.latent_channels
        shape = (group_size, channels, *image_latents.shape[-2:])
        latents = randn_tensor(shape, generator=generator, device=self.device, dtype=torch.float32)
        conditioning = {"prompt_embeds": embeds, "image_latents": image_latents}
        return conditioning, latents, self.schedule(num_steps)

    def model_output(self, latents: Tensor, step: int, conditioning: dict[str, Any], schedule: Schedule) -> Tensor:
        copies = 3 if self.guided else 1
        image_latents = conditioning["image_latents"]
        embeds = conditioning["prompt_embeds"]
        if image_latents.shape[0] != copies * latents.shape[0]:
            raise ValueError(f"conditioning holds {image_latents.shape[0] // copies} rows but latents {latents.shape[0]}; "
                             "score a whole group at once")
        model_in = torch.cat([latents.to(self.dtype)] * copies)
        model_in = torch.cat([model_in, image_latents], dim=1)
        t = schedule.timesteps[step]
        out = self.denoiser(model_in, t, encoder_hidden_states=embeds, return_dict=False)[0].float()
        if not self.guided:
            return out
        text, image, uncond = out.chunk(3)
        return uncond + self.guidance_scale * (text - image) + self.image_guidance_scale * (image - uncond)

    def step_mean_std(self, model_output: Tensor, latents: Tensor, step: int, schedule: Schedule) -> tuple[Tensor, Tensor]:
        a_t, a_prev = schedule.values[step]
        return ddim_step_mean_std(model_output, latents.float(), a_t, a_prev, self.eta, self.prediction_type)

    def decode(self, latents: Tensor, conditioning: dict[str, Any]) -> list[Any]:
        vae = self.pipeline.vae
        with torch.no_grad():
            pixels = vae.decode(latents.to(self.dtype) / vae.config.scaling_factor, return_dict=False)[0]
        return self.pipeline.image_processor.postprocess(pixels.float(), output_type="pil")
