"""The editor-GRPO run's config: every field documented, unknown keys rejected."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = ["EditorGRPOConfig", "RewardTerm"]


class RewardTerm(BaseModel):
    """One registered reward (``rewards.available_rewards()``) and its weight in the sum."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="A registered reward: colour_share, verified_edit, preservation, checklist, ...")
    weight: float = Field(default=1.0, description="Weight of this reward in the weighted sum.")

    @field_validator("name")
    @classmethod
    def _known(cls, name: str) -> str:
        from rewards import available_rewards

        if name not in available_rewards():
            raise ValueError(f"unknown reward {name!r}; known rewards: {', '.join(available_rewards())}")
        return name


class EditorGRPOConfig(BaseModel):
    """GRPO on a diffusers editing pipeline with LoRA adapters on its denoiser."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field(description="A local directory written by save_pretrained (safetensors only) or a hub name.")
    device: str = Field(default="cpu", description="cpu, cuda or cuda:N.")
    dtype: Literal["float32", "bfloat16", "float16"] = Field(default="float32", description=(
        "The frozen pipeline's dtype; LoRA weights and the step math stay float32 (bf16 overflows in the SDE "
        "mean, as Flow-GRPO notes)."))
    sampler: dict[str, Any] = Field(default_factory=dict, description=(
        "Options of the policy: eta, guidance_scale, image_guidance_scale, negative_prompt (InstructPix2Pix); "
        "noise_level, guidance_scale, true_cfg_scale, negative_prompt, max_sequence_length (Kontext)."))
    num_steps: int = Field(default=10, ge=1, le=100, description="Denoising steps per edit (Flow-GRPO trains on 10).")
    group_size: int = Field(default=4, ge=2, le=64, description="Edits per prompt and image (GRPO's G).")
    groups_per_iteration: int = Field(default=2, ge=1, description="Prompts (groups) sampled per iteration.")
    iterations: int = Field(default=10, ge=1, description="Sample-then-train rounds.")
    epochs_per_iteration: int = Field(default=1, ge=1, le=8, description=(
        "Passes over each iteration's groups; past the first the ratio leaves 1 and clipping matters."))
    train_steps: list[int] | None = Field(default=None, description=(
        "Denoising step indices to train (0 = the noisiest); None trains a random train_step_fraction of them."))
    train_step_fraction: float = Field(default=1.0, gt=0, le=1, description=(
        "Share of steps trained per group when train_steps is None, drawn anew each time: compute falls with it "
        "(DanceGRPO, Flow-GRPO's timestep_fraction)."))
    clip_range: float = Field(default=1e-4, gt=0, description=(
        "PPO clip on the ratio of per-element mean log-probs; 1e-4 as DDPO and Flow-GRPO."))
    adv_clip_max: float = Field(default=5.0, gt=0, description="Advantages are clipped to [-max, max] (DDPO).")
    kl_coef: float = Field(default=0.0, ge=0, description=(
        "Weight of the KL of each trained step to the frozen model's step (the adapters switched off: no second "
        "copy), Flow-GRPO's ||mean - mean_ref||^2 / (2 std^2) per element; 0 leaves it out (DDPO; Flow-GRPO uses "
        "0.04 on some tasks)."))
    scale_by_std: bool = Field(default=True, description="Divide advantages by the group std (False: Dr.GRPO).")
    lr: float = Field(default=3e-4, gt=0, description="AdamW learning rate of the LoRA weights (Flow-GRPO: 3e-4).")
    grad_clip: float = Field(default=1.0, gt=0, description="Max gradient norm per optimiser step.")
    gradient_checkpointing: bool = Field(default=False, description=(
        "Recompute the denoiser's activations in the backward pass (diffusers' enable_gradient_checkpointing): "
        "memory for one block instead of all of them, for about one more forward per trained step; the values "
        "are the same. Sampling runs without gradients and is not affected."))
    lora_rank: int = Field(default=8, ge=1, description="LoRA rank on the denoiser.")
    lora_alpha: float = Field(default=16.0, gt=0, description="LoRA alpha (scale alpha / rank).")
    lora_targets: list[str] = Field(default_factory=lambda: ["to_q", "to_k", "to_v", "to_out.0"], description=(
        "Module names in the denoiser that get adapters: the attention projections of UNets and Flux alike."))
    rewards: list[RewardTerm] = Field(default_factory=lambda: [RewardTerm(name="verified_edit")], description=(
        "Registered rewards summed with weights per edited image."))
    target_colour: tuple[int, int, int] | None = Field(default=None, description="RGB for colour_share.")
    colour_tolerance: float = Field(default=0.25, gt=0, description="Distance in unit RGB for colour_share.")
    soft_colour: bool = Field(default=False, description="colour_share scores closeness instead of counting pixels.")
    preservation_weight: float = Field(default=0.3, ge=0, le=1, description="w of verified_edit.")
    seed: int = Field(default=0, description="Seeds the adapters' initialisation, sampling noise and step subsets.")
    sampler_actors: int = Field(default=0, ge=0, description=(
        "Ray actors that sample the groups, each with its own copy of the pipeline, the adapter pushed to them after "
        "every update (`orchestration.editor_grpo.actors`). 0: sample in the trainer's process, which on one small "
        "machine avoids a second copy of the pipeline."))
    sampler_num_gpus: float = Field(default=0.0, ge=0, description=(
        "GPUs Ray gives each sampler actor (e.g. 1, or 0.5 to share one); its `device` is this config's `device`."))
    num_learners: int = Field(default=0, ge=0, description=(
        "RLlib learners that update the adapter: 0 is one learner in the trainer's process (which then samples with "
        "the learner's own pipeline); K >= 1 starts K Ray learner actors, one GPU each when `device` is cuda, RLlib's "
        "DDP averaging their gradients. Every group's trained steps are split between them, so K >= 2 needs at "
        "least K steps trained per group."))

    @model_validator(mode="after")
    def _consistent(self) -> "EditorGRPOConfig":
        if any(term.name == "colour_share" for term in self.rewards) and self.target_colour is None:
            raise ValueError("reward colour_share needs target_colour: set target_colour: [r, g, b]")
        if self.train_steps is not None:
            bad = [s for s in self.train_steps if not 0 <= s < self.num_steps]
            if bad or not self.train_steps:
                raise ValueError(f"train_steps must be a non-empty list of indices below num_steps ({self.num_steps}), "
                                 f"got {self.train_steps}")
        if self.num_learners and self.device.startswith("cuda:"):
            raise ValueError(f"device {self.device!r} with num_learners={self.num_learners}: Ray gives each learner "
                             "actor its own GPU, seen as cuda; set device: cuda")
        if self.num_learners >= 2:
            from orchestration.grpo.accumulate import shards_all_filled

            if not shards_all_filled(self.steps_per_group, self.num_learners):
                raise ValueError(f"num_learners={self.num_learners} cannot share the {self.steps_per_group} steps "
                                 "trained per group (each learner needs one): train more steps per group "
                                 "(train_steps, train_step_fraction) or use fewer learners")
        return self

    @property
    def steps_per_group(self) -> int:
        """Denoising steps trained per group and update (what :func:`~.loss.select_steps` picks)."""
        import math

        if self.train_steps is not None:
            return len(set(self.train_steps))
        return max(1, min(self.num_steps, math.ceil(self.train_step_fraction * self.num_steps - 1e-9)))
