"""The RLModule that holds an editing pipeline's adapted denoiser for RLlib's learner.

``DenoiserModule`` loads the pipeline as a sampler does (:func:`orchestration.editor_grpo.policy.load_adapted_policy`:
frozen weights, LoRA adapters on the denoiser) and registers only the denoiser as a submodule, so RLlib's optimizer,
device placement and DDP see the denoiser (and train its adapters, the only parameters that require gradients);
the text encoders and the VAE stay where the pipeline was loaded and are never trained.

A learner batch row is one denoising step of one group: ``group`` (which of the iteration's trajectories),
``step``, and the group's ``advantages`` and sampler ``old_logp`` (``G`` each). The trajectories themselves - latents
per step and the conditioning tensors, whose shapes differ between pipeline families - reach the module once per
iteration through :meth:`DenoiserModule.set_trajectories` (RLlib's ``foreach_learner``), so the batch RLlib slices
and shards between learners holds only numbers.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import torch
from ray.rllib.core.rl_module.torch.torch_rl_module import TorchRLModule

__all__ = ["DenoiserModule", "EDITOR_MODULE", "PLACEHOLDER_SPACE"]

#: The module id of the editor in the learner group.
EDITOR_MODULE = "editor"

#: Observation and action space of the module: it reads trajectories and step indices, not observations.
PLACEHOLDER_SPACE = gym.spaces.Discrete(1)


class DenoiserModule(TorchRLModule):
    """An editing pipeline's denoiser with LoRA adapters, as an RLlib ``TorchRLModule``.

    ``model_config``: ``editor`` (an :class:`~orchestration.editor_grpo.config.EditorGRPOConfig` as a dict: which
    pipeline, device, dtype, sampler options, adapters and seed).
    """

    def setup(self) -> None:
        from orchestration.editor_grpo.config import EditorGRPOConfig
        from orchestration.editor_grpo.policy import load_adapted_policy

        settings = (self.model_config or {}).get("editor")
        if settings is None:
            raise ValueError("DenoiserModule needs model_config['editor'] (an EditorGRPOConfig as a dict)")
        self.settings = EditorGRPOConfig.model_validate(settings)
        self.pipeline, self.policy = load_adapted_policy(self.settings)
        self.denoiser = self.policy.denoiser  # the one registered submodule: what RLlib optimises and moves
        self._trajectories: list[Any] = []

    def set_trajectories(self, trajectories: Sequence[Any]) -> int:
        """Hold this iteration's trajectories (moved to the denoiser's device) for the batch rows to point into."""
        device = next(self.denoiser.parameters()).device
        self._trajectories = [t.to(device) for t in trajectories]
        return len(self._trajectories)

    def _forward(self, batch: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        raise NotImplementedError("DenoiserModule does not act through RLlib; sample with the editor policy")

    def _forward_train(self, batch: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        """``logp`` [R, G]: each row's step log-probs under the current weights, with gradients; with ``kl_coef``
        also ``kl`` [R, G], each step's KL to the frozen model's (the adapters switched off)."""
        from agents.diffusion.logprob import gaussian_kl_same_std, gaussian_log_prob
        from agents.diffusion.sampling import step_mean_std

        if not self._trajectories:
            raise RuntimeError("no trajectories: call set_trajectories before an update")
        self.denoiser.train(False)  # no dropout: the ratio must compare like with like (gradients still flow)
        logps, kls = [], []
        for g, s in zip(batch["group"].tolist(), batch["step"].tolist()):
            trajectory = self._trajectories[int(g)]
            mean, std = step_mean_std(self.policy, trajectory, int(s))
            logps.append(gaussian_log_prob(trajectory.latents[int(s) + 1], mean, std))
            if self.settings.kl_coef > 0:
                kls.append(gaussian_kl_same_std(mean, self._reference_mean(trajectory, int(s)), std))
        out = {"logp": torch.stack(logps)}
        if kls:
            out["kl"] = torch.stack(kls)
        return out

    def _reference_mean(self, trajectory: Any, step: int) -> torch.Tensor:
        """The step's mean under the frozen model: the same denoiser with its adapters switched off."""
        from agents.diffusion.sampling import step_mean_std

        self.denoiser.disable_adapters()
        try:
            with torch.no_grad():
                return step_mean_std(self.policy, trajectory, step)[0]
        finally:
            self.denoiser.enable_adapters()

    # -- state: the adapter only ---------------------------------------------------------------------------------

    def adapter_state(self) -> dict[str, torch.Tensor]:
        """The LoRA weights (what changes in training), CPU copies in PEFT's naming."""
        from orchestration.editor_grpo.policy import adapter_state

        return adapter_state(self.denoiser)

    def set_adapter(self, state: dict[str, Any]) -> None:
        """Load adapter weights (PEFT's naming); every one must land."""
        from orchestration.editor_grpo.policy import load_adapter_state

        load_adapter_state(self.denoiser, state)

    def save_adapter(self, path: str) -> str:
        """diffusers' ``save_lora_adapter`` (safetensors), loadable by ``load_lora_adapter``."""
        self.denoiser.save_lora_adapter(str(path))
        return str(path)

    def get_state(self, *args: Any, inference_only: bool = False, **kwargs: Any) -> dict[str, Any]:
        """RLlib's state: the adapter's weights only (numpy); the frozen pipeline is reloaded from its path."""
        return {k: v.float().numpy() for k, v in self.adapter_state().items()}

    def set_state(self, state: dict[str, Any]) -> None:
        self.set_adapter(state)
