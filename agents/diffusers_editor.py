"""An editor backed by a diffusers instruction-editing pipeline: InstructPix2Pix, FLUX.1-Kontext, Qwen-Image-Edit and
the like, loaded with ``DiffusionPipeline.from_pretrained(model)``.

Config (backend ``diffusers``)::

    agents:
      editor:
        backend: diffusers
        model: Qwen/Qwen-Image-Edit          # or a local directory written by save_pretrained
        options: {mode: single_pass, num_inference_steps: 50, true_cfg_scale: 4.0, negative_prompt: " ",
                  device: cuda, dtype: bfloat16, seed: 0}

or, on the command line, ``--set editor.backend=diffusers --set editor.model=PATH``.

What it does with a request (the input precedence of the Canvas editor): ``state.subrequests.items`` if present,
else ``state.plan.text``, else ``state.instruction``. ``single_pass`` joins them into one prompt (``joiner``) and
makes one pipeline call; ``multi_turn`` makes one call per request, each on the previous call's output. Every call
gets ``prompt``, ``image``, ``num_inference_steps`` and ``generator=torch.Generator(device).manual_seed(seed)``, plus
each sampling option that is set (``guidance_scale``, ``image_guidance_scale``, ``true_cfg_scale``,
``negative_prompt``, ``call_kwargs``); an option the pipeline's ``__call__`` does not take is an error naming the
option and the pipeline class, never silently dropped. The output is resized back to the input size (pipelines
round sizes to multiples of 8 or 16) and PNG-encoded; ``applied`` lists the requests sent to the pipeline (a
diffusion model does not report what it carried out: the verifier judges that). The seed is fixed per call, so a
retried call (Ray restarts actors and retries idempotent calls) gives the same image.

Heavy imports (diffusers) happen when the editor is built, never when this module is imported.
"""

from __future__ import annotations

import inspect
import threading
from pathlib import Path
from typing import Any, Literal, Mapping

from agents.base import Agent, EditResult, EpisodeState

__all__ = ["DiffusersEditor", "MODES", "save_tiny_instruct_pix2pix"]

MODES = ("single_pass", "multi_turn")

#: Sampling options passed to the pipeline only when set (None means "the pipeline's own default").
_OPTIONAL_CALL_ARGS = ("guidance_scale", "image_guidance_scale", "true_cfg_scale", "negative_prompt")


class DiffusersEditor(Agent):
    """Instruction-editing diffusion pipeline as the editor (module docstring).

    Args:
        model: a local directory (``save_pretrained``) or a hub name of an image-editing pipeline.
        mode: ``"single_pass"`` (one call with all requests joined) or ``"multi_turn"`` (one call per request).
        num_inference_steps: denoising steps per call.
        guidance_scale: text guidance (InstructPix2Pix 7.5, FLUX.1-Kontext 2.5-3.5); None keeps the pipeline's.
        image_guidance_scale: image guidance (InstructPix2Pix-style pipelines); None keeps the pipeline's.
        true_cfg_scale: Qwen-Image-Edit's classifier-free guidance (needs ``negative_prompt``); None keeps the
            pipeline's.
        negative_prompt: what to steer away from; None for none.
        seed: the generator seed of every call.
        device: ``"auto"`` (a GPU when there is one), ``"cpu"``, ``"cuda"``, ``"cuda:1"``.
        dtype: ``"auto"`` (bfloat16 on a GPU, float32 on a CPU), ``"float32"``, ``"float16"``, ``"bfloat16"``.
        joiner: how single-pass joins several requests into one prompt.
        max_side: if set, downscale inputs whose longer side exceeds it before editing (the output is still the input
            size); large photos otherwise cost memory quadratically.
        cpu_offload: ``enable_model_cpu_offload()`` instead of moving the whole pipeline to the GPU (needs
            ``accelerate``): lets a 20B-parameter editor run on one smaller GPU, slower.
        call_kwargs: any further ``__call__`` arguments (e.g. ``{"max_sequence_length": 512}``).
        lora: a folder written by editor GRPO's ``save_adapter`` (``orchestration.editor_grpo``): LoRA adapters
            loaded into the denoiser; :meth:`load_adapter` replaces them later (how trained adapters reach actors).
    """

    role = "editor"
    backend = "diffusers"

    def __init__(
        self,
        model: str,
        mode: Literal["single_pass", "multi_turn"] = "single_pass",
        num_inference_steps: int = 30,
        guidance_scale: float | None = None,
        image_guidance_scale: float | None = None,
        true_cfg_scale: float | None = None,
        negative_prompt: str | None = None,
        seed: int = 0,
        device: str = "auto",
        dtype: str = "auto",
        joiner: str = ". Then ",
        max_side: int | None = None,
        cpu_offload: bool = False,
        call_kwargs: Mapping[str, Any] | None = None,
        lora: str | None = None,
    ) -> None:
        import torch
        from diffusers import DiffusionPipeline

        from agents.vlm.model import resolve_device, resolve_dtype

        if mode not in MODES:
            raise ValueError(f"DiffusersEditor mode must be one of {', '.join(MODES)}, got {mode!r}")
        if int(num_inference_steps) < 1:
            raise ValueError(f"num_inference_steps must be at least 1, got {num_inference_steps}")
        if max_side is not None and int(max_side) < 16:
            raise ValueError(f"max_side must be at least 16 pixels, got {max_side}")
        self.mode = mode
        self.num_inference_steps = int(num_inference_steps)
        self.seed = int(seed)
        self.joiner = joiner
        self.max_side = int(max_side) if max_side is not None else None
        self.model_name = str(model)
        self.device = resolve_device(device)
        self.dtype = resolve_dtype(dtype, self.device)
        from agents.weights import require_safetensors

        require_safetensors(model)  # never unpickle a .bin (agents/weights.py)
        self.pipeline = DiffusionPipeline.from_pretrained(str(model), use_safetensors=True, **{_dtype_kwarg(): self.dtype})
        if cpu_offload:
            self.pipeline.enable_model_cpu_offload(device=self.device)
        else:
            self.pipeline.to(self.device)
        self.pipeline.set_progress_bar_config(disable=True)
        self._torch = torch
        # One call at a time: schedulers keep per-call state (timesteps, step index), and `editrl eval --no-ray`
        # calls an in-process agent from several threads.
        self._lock = threading.Lock()
        self.lora: str | None = None
        if lora is not None:
            self.load_adapter(lora)

        accepted = set(inspect.signature(self.pipeline.__call__).parameters)
        for name in ("prompt", "image", "num_inference_steps", "generator"):
            if name not in accepted:
                raise ValueError(f"{type(self.pipeline).__name__} ({model}) has no {name!r} argument: it is not an "
                                 "instruction-editing pipeline (expected prompt, image, num_inference_steps, generator)")
        options = {"guidance_scale": guidance_scale, "image_guidance_scale": image_guidance_scale,
                   "true_cfg_scale": true_cfg_scale, "negative_prompt": negative_prompt}
        self.call_options: dict[str, Any] = {k: v for k, v in options.items() if v is not None}
        self.call_options.update(dict(call_kwargs or {}))
        for name in self.call_options:
            if name not in accepted:
                raise ValueError(f"option {name!r} is not an argument of {type(self.pipeline).__name__}.__call__ "
                                 f"({model}); remove it from the editor's options")

    def load_adapter(self, path: str) -> None:
        """Load (or replace) the denoiser's LoRA adapters from ``path`` (``save_adapter``'s folder, safetensors)."""
        from agents.weights import require_safetensors

        if not Path(path).is_dir():
            raise ValueError(f"LoRA adapter folder {path!r} does not exist; pass the folder save_adapter wrote")
        require_safetensors(path)
        denoiser = getattr(self.pipeline, "unet", None) or getattr(self.pipeline, "transformer", None)
        if denoiser is None:
            raise ValueError(f"{type(self.pipeline).__name__} has no unet or transformer to load LoRA adapters into")
        with self._lock:
            if getattr(denoiser, "peft_config", None) and "grpo" in denoiser.peft_config:
                denoiser.delete_adapters("grpo")
            denoiser.load_lora_adapter(str(path), prefix=None, adapter_name="grpo", use_safetensors=True)
            denoiser.to(self.device)
        self.lora = str(path)

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "model": self.model_name, "lora": self.lora, "pipeline": type(self.pipeline).__name__,
                "mode": self.mode, "device": self.device, "dtype": str(self.dtype).replace("torch.", ""),
                "num_inference_steps": self.num_inference_steps, "seed": self.seed, **self.call_options}

    # -- requests ----------------------------------------------------------------------------------------------

    @staticmethod
    def requests(state: EpisodeState) -> list[str]:
        """Sub-requests if present, else the plan, else the instruction (blank ones dropped)."""
        if state.subrequests is not None and any(s.strip() for s in state.subrequests.items):
            return [s.strip() for s in state.subrequests.items if s.strip()]
        if state.plan is not None and state.plan.text.strip():
            return [state.plan.text.strip()]
        return [state.instruction.strip()]

    def join(self, requests: list[str]) -> str:
        """Requests as one prompt: 'make the car blue. Then remove the tree'."""
        return self.joiner.join(r.rstrip(". ") for r in requests)

    # -- one pipeline call -------------------------------------------------------------------------------------

    def _call(self, image: Any, prompt: str) -> Any:
        torch = self._torch
        generator_device = "cpu" if self.device == "mps" else self.device
        generator = torch.Generator(device=generator_device).manual_seed(self.seed)
        with self._lock, torch.inference_mode():
            result = self.pipeline(prompt=prompt, image=image, num_inference_steps=self.num_inference_steps,
                                   generator=generator, **self.call_options)
        images = getattr(result, "images", None)
        if not images:
            raise RuntimeError(f"{type(self.pipeline).__name__} returned no image for prompt {prompt!r}")
        return images[0].convert("RGB")

    def act(self, state: EpisodeState) -> EditResult:
        from PIL import Image

        from envs.image_io import encode_png, load_image

        source = load_image(state.source_png)
        size = source.size
        image = source
        if self.max_side is not None and max(size) > self.max_side:
            scale = self.max_side / max(size)
            image = source.resize((max(16, round(size[0] * scale)), max(16, round(size[1] * scale))), Image.Resampling.LANCZOS)
        requests = self.requests(state)
        if self.mode == "single_pass":
            image = self._call(image, self.join(requests))
            calls = 1
        else:
            for request in requests:
                image = self._call(image, request)
            calls = len(requests)
        if image.size != size:
            image = image.resize(size, Image.Resampling.LANCZOS)
        return EditResult(image_png=encode_png(image), applied=list(requests), skipped=[], calls=calls)


def _dtype_kwarg() -> str:
    """Recent diffusers renamed ``torch_dtype`` to ``dtype`` (the old name warns); older releases know only the old."""
    try:
        from diffusers.utils.deprecation_utils import _TORCH_DTYPE_DEPRECATION_MESSAGE  # noqa: F401
    except ImportError:
        return "torch_dtype"
    return "dtype"


def save_tiny_instruct_pix2pix(path: str | Path, *, seed: int = 0) -> Path:
    """Build and save a tiny ``StableDiffusionInstructPix2PixPipeline`` from configs (for tests and smoke scripts).

    Components as in diffusers' own fast tests, smaller: a two-block UNet with 8 input channels (4 noise + 4 image
    latents), a two-block VAE (latents at half resolution), a 2-layer CLIP text encoder and a CLIP tokenizer whose
    vocabulary is the letters a-z (built in memory; nothing is downloaded). Untrained: it edits nothing sensible,
    but every tensor takes the path a real checkpoint's takes.
    """
    import torch
    from diffusers import AutoencoderKL, EulerAncestralDiscreteScheduler, StableDiffusionInstructPix2PixPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    letters = "abcdefghijklmnopqrstuvwxyz"
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for suffix in ("", "</w>"):
        for ch in letters:
            vocab[ch + suffix] = len(vocab)
    tokenizer = CLIPTokenizer(vocab=vocab, merges=[], model_max_length=16)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        unet = UNet2DConditionModel(
            block_out_channels=(16, 32), layers_per_block=1, sample_size=16, in_channels=8, out_channels=4,
            down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"), up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
            cross_attention_dim=16, norm_num_groups=8, attention_head_dim=4)
        vae = AutoencoderKL(
            block_out_channels=(8, 16), in_channels=3, out_channels=3, latent_channels=4, norm_num_groups=8,
            layers_per_block=1, sample_size=32, down_block_types=("DownEncoderBlock2D",) * 2,
            up_block_types=("UpDecoderBlock2D",) * 2)
        text_encoder = CLIPTextModel(CLIPTextConfig(
            bos_token_id=0, eos_token_id=1, pad_token_id=1, hidden_size=16, intermediate_size=32, num_attention_heads=2,
            num_hidden_layers=2, vocab_size=len(vocab), max_position_embeddings=16, projection_dim=16))
    pipeline = StableDiffusionInstructPix2PixPipeline(
        vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet, scheduler=EulerAncestralDiscreteScheduler(),
        safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    path = Path(path)
    pipeline.save_pretrained(path)
    return path
