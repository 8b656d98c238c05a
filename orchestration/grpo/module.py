"""The RLModule that wraps a transformers causal LM for the learner, and the placeholder environment RLlib needs.

``CausalLMModule.forward_train`` takes a batch of prompt and completion token ids (the layout of
:class:`agents.lm.generation.GenerationOutput`: prompts left-padded, completions right-padded) and returns, per
completion token, the log-prob under the current policy (with gradients), the entropy of the policy there, and -
only when the KL coefficient is above zero - the log-prob under the frozen reference policy. It computes them
exactly as :func:`agents.lm.generation.sequence_logprobs` does (same positions, same temperature), with the logits
kept once for the entropy.

The reference model is loaded only when the spec asks for it (``model_config["reference"]``), and it is kept out
of the module's parameters and state dict: it is never trained, never checkpointed (it is the starting policy,
reloaded from the same path), and never synced.

:class:`VLMModule` does the same for a chat VLM (backend ``vlm``): the batch also carries the prompts' image inputs
(:mod:`.multimodal`), the forward pass puts the image tokens in the prompt, and the log-probs mask the image
placeholder tokens as the sampler does (:mod:`agents.vlm.generation`); the loss still sees completion tokens only.

RLlib builds one local EnvRunner even with ``num_env_runners=0``; it gets :class:`PlaceholderEnv` and an
inference-only copy of this module with no model at all (rollouts go through the project's agent actors).
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import torch
from ray.rllib.core.rl_module.apis import InferenceOnlyAPI
from ray.rllib.core.rl_module.torch.torch_rl_module import TorchRLModule

from agents.lm.generation import completion_logits as shared_prompt_logits
from agents.lm.generation import token_logprobs
from orchestration.grpo.core import entropy_from_logits

#: Observation and action space of every module: the modules read token ids from the batch, not observations.
PLACEHOLDER_SPACE = gym.spaces.Discrete(1)


class PlaceholderEnv(gym.Env):
    """A one-step environment that only exists because RLlib builds a local EnvRunner; it is never stepped."""

    observation_space = PLACEHOLDER_SPACE
    action_space = PLACEHOLDER_SPACE

    def __init__(self, config: Any = None) -> None:
        super().__init__()

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        return 0, {}

    def step(self, action):
        return 0, 0.0, True, False, {}


def completion_logits(model: torch.nn.Module, prompt_ids: torch.Tensor, completion_ids: torch.Tensor,
                      prompt_mask: torch.Tensor, completion_mask: torch.Tensor, temperature: float) -> torch.Tensor:
    """Logits ``[N, T, V]`` (float32, divided by ``temperature``) that predict each completion token. A GRPO group's
    rows share one prompt forward (:func:`agents.lm.generation.completion_logits`; same numbers as one pass)."""
    return shared_prompt_logits(model, prompt_ids, completion_ids, prompt_mask, completion_mask, temperature=temperature)


class CausalLMModule(TorchRLModule, InferenceOnlyAPI):
    """A transformers causal LM as an RLlib ``TorchRLModule``.

    ``model_config``: ``model`` (a directory or hub name for :func:`agents.lm.model.load_policy`), ``temperature``
    (the sampling temperature, so recomputed log-probs match the sampler's), ``reference`` (load a frozen copy for
    the KL term).
    """

    def setup(self) -> None:
        cfg = dict(self.model_config or {})
        self.temperature = float(cfg.get("temperature", 1.0))
        self._reference: list[torch.nn.Module] = []  # a list, so the reference is not a registered submodule
        if self.inference_only:
            return  # EnvRunner copy: never samples, holds nothing
        if not cfg.get("model"):
            raise ValueError(f"{type(self).__name__} needs model_config['model'] (a policy directory or hub name)")
        self.model, self.tokenizer = self._load(cfg["model"])
        if cfg.get("reference"):
            reference, _ = self._load(cfg["model"])
            reference.requires_grad_(False)
            self._reference.append(reference.eval())

    def _load(self, path: str) -> tuple[torch.nn.Module, Any]:
        """The model and what saves next to it in a checkpoint (``tokenizer.save_pretrained``)."""
        from agents.lm.model import load_policy

        return load_policy(path)

    def _logits(self, model: torch.nn.Module, batch: dict[str, Any]) -> torch.Tensor:
        """Logits ``[N, T, V]`` (float32, divided by the temperature) that predict each completion token."""
        return completion_logits(model, batch["prompt_ids"].long(), batch["completion_ids"].long(),
                                 batch["prompt_mask"].long(), batch["completion_mask"].long(), self.temperature)

    def get_non_inference_attributes(self) -> list[str]:
        return ["model"]

    def set_state(self, state: dict[str, Any]) -> None:
        if self.inference_only:
            return  # nothing to hold (see setup)
        super().set_state(state)

    @property
    def has_reference(self) -> bool:
        return bool(self._reference)

    def _forward(self, batch: dict[str, Any], **kwargs) -> dict[str, Any]:
        raise NotImplementedError("CausalLMModule does not act through RLlib; sample with the agent actors")

    def _forward_train(self, batch: dict[str, Any], **kwargs) -> dict[str, Any]:
        """``logp`` [N, T] with gradients, ``entropy`` [N, T] and (with a reference) ``ref_logp`` [N, T], no gradients."""
        self.model.eval()  # no dropout: the ratio must compare like with like (gradients still flow)
        completion_ids, completion_mask = batch["completion_ids"].long(), batch["completion_mask"].long()
        logits = self._logits(self.model, batch)
        out = {"logp": token_logprobs(logits, completion_ids, completion_mask)}
        with torch.no_grad():
            out["entropy"] = entropy_from_logits(logits.detach())
            if self._reference:
                ref_logits = self._logits(self._reference[0], batch)
                out["ref_logp"] = token_logprobs(ref_logits, completion_ids, completion_mask)
        return out


class VLMModule(CausalLMModule):
    """A chat VLM (``AutoModelForImageTextToText`` + processor) or chat LM, as loaded by the ``vlm`` backend.

    Loaded in float32 on the CPU (RLlib's learner moves it to its device): the optimizer keeps full-precision
    weights whatever dtype the sampling actors use. Batches carry the prompts' image inputs (:mod:`.multimodal`);
    image placeholder tokens get a logit of float32's minimum, as the sampler gives them -inf (the same log-probs for
    every other token, and a finite entropy). The processor is kept as ``tokenizer``, so a checkpoint saves it
    next to the model and the folder loads back through :func:`agents.vlm.model.load_chat_model`.
    """

    def _load(self, path: str) -> tuple[torch.nn.Module, Any]:
        from agents.vlm.generation import placeholder_ids
        from agents.vlm.model import load_chat_model

        chat = load_chat_model(path, device="cpu", dtype="float32")
        self.placeholder_ids = placeholder_ids(chat.model, chat.processor)
        return chat.model, chat.processor

    def _logits(self, model: torch.nn.Module, batch: dict[str, Any]) -> torch.Tensor:
        from agents.vlm.generation import teacher_forced_logits
        from orchestration.grpo.multimodal import prompt_inputs

        device = next(model.parameters()).device
        inputs = {k: v.to(device) for k, v in prompt_inputs(batch).items()}
        logits = teacher_forced_logits(model, inputs, batch["completion_ids"].long().to(device), batch["completion_mask"].long().to(device))
        logits = logits.float() / self.temperature
        if self.placeholder_ids:
            banned = torch.zeros(logits.shape[-1], dtype=torch.bool, device=logits.device)
            banned[self.placeholder_ids] = True
            logits = logits.masked_fill(banned, torch.finfo(logits.dtype).min)
        return logits
