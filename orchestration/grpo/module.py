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

With ``model_config["lora"]`` (``train.agents.<name>.lora``) the model is a PEFT ``PeftModel`` whose base is frozen
(:mod:`.lora`): the reference is the same model with the adapter switched off (no second copy), the module's state
(RLlib's checkpoint) holds only the adapter, and :meth:`CausalLMModule.sync_payload` gives the actors only the
adapter. ``model_config["dtype"]`` and ``["gradient_checkpointing"]`` come from ``train.learner`` (:mod:`.precision`);
RLlib moves the module to the learner's device, and the reference (not a submodule) follows it on first use.

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
from orchestration.grpo.lora import AdapterWeights, adapter_state, merged_state, wrap_for_training
from orchestration.grpo.precision import enable_gradient_checkpointing, torch_dtype

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
                      prompt_mask: torch.Tensor, completion_mask: torch.Tensor, temperature: float,
                      share_prompts: bool = True) -> torch.Tensor:
    """Logits ``[N, T, V]`` (float32, divided by ``temperature``) that predict each completion token. A GRPO group's
    rows share one prompt forward (:func:`agents.lm.generation.completion_logits`; same numbers as one pass) unless
    ``share_prompts`` is off (gradient checkpointing recomputes layers without their cache)."""
    return shared_prompt_logits(model, prompt_ids, completion_ids, prompt_mask, completion_mask, temperature=temperature,
                                share_prompts=share_prompts)


class CausalLMModule(TorchRLModule, InferenceOnlyAPI):
    """A transformers causal LM as an RLlib ``TorchRLModule``.

    ``model_config``: ``model`` (a directory or hub name for :func:`agents.lm.model.load_policy`), ``temperature``
    (the sampling temperature, so recomputed log-probs match the sampler's), ``reference`` (a frozen reference for
    the KL term), ``agent`` (the node's name, for messages), ``lora`` (a :class:`~.lora.LoraSettings` dict: train an adapter), ``dtype`` ("float32" or
    "bfloat16"), ``gradient_checkpointing`` and ``threads`` (``train.learner``).
    """

    def setup(self) -> None:
        cfg = dict(self.model_config or {})
        self.temperature = float(cfg.get("temperature", 1.0))
        self.lora: dict[str, Any] | None = cfg.get("lora")
        self.checkpointing = bool(cfg.get("gradient_checkpointing", False))
        self._reference: list[torch.nn.Module] = []  # a list, so the reference is not a registered submodule
        self._has_reference = bool(cfg.get("reference"))
        if self.inference_only:
            return  # EnvRunner copy: never samples, holds nothing
        if cfg.get("threads"):  # the learner's process: set before the first op sizes torch's thread pool
            torch.set_num_threads(int(cfg["threads"]))
        if not cfg.get("model"):
            raise ValueError(f"{type(self).__name__} needs model_config['model'] (a policy directory or hub name)")
        dtype = torch_dtype(cfg.get("dtype", "float32"))
        self.model, self.tokenizer = self._load(cfg["model"], dtype)
        if self.checkpointing:
            enable_gradient_checkpointing(self.model)
        if self.lora is not None:
            # The reference is this model with the adapter off (peft's disable_adapter): no second copy to load.
            self.model = wrap_for_training(self.model, self.lora, where=f"train.agents.{cfg.get('agent', '<agent>')}.lora")
        elif cfg.get("reference"):
            reference, _ = self._load(cfg["model"], dtype)
            reference.requires_grad_(False)
            self._reference.append(reference.eval())

    def _load(self, path: str, dtype: torch.dtype = torch.float32) -> tuple[torch.nn.Module, Any]:
        """The model and what saves next to it in a checkpoint (``tokenizer.save_pretrained``)."""
        from agents.lm.model import load_policy

        return load_policy(path, dtype=dtype)

    def _logits(self, model: torch.nn.Module, batch: dict[str, Any]) -> torch.Tensor:
        """Logits ``[N, T, V]`` (float32, divided by the temperature) that predict each completion token."""
        return completion_logits(model, batch["prompt_ids"].long(), batch["completion_ids"].long(),
                                 batch["prompt_mask"].long(), batch["completion_mask"].long(), self.temperature,
                                 share_prompts=not self.checkpointing)

    def get_non_inference_attributes(self) -> list[str]:
        return ["model"]

    def get_state(self, *args: Any, inference_only: bool = False, **kwargs: Any) -> dict[str, Any]:
        """RLlib's state (numpy): every weight, or with LoRA only the adapter's (the frozen base is the starting
        policy, reloaded from its path). bfloat16 weights are written as float32 (numpy has no bfloat16; the values
        are exact and :meth:`set_state` casts them back)."""
        if self.inference_only or inference_only:
            return {}  # nothing to hold, and nothing an EnvRunner needs (see setup)
        if self.lora is not None:
            trainable = {name for name, p in self.named_parameters() if p.requires_grad}
            tensors = {k: v for k, v in self.state_dict().items() if k in trainable}
        else:
            tensors = self.state_dict()
        return {k: (v.float() if v.dtype == torch.bfloat16 else v).detach().cpu().numpy() for k, v in tensors.items()}

    def set_state(self, state: dict[str, Any]) -> None:
        if self.inference_only:
            return  # nothing to hold (see setup)
        own = self.state_dict()
        if self.lora is not None:  # every adapter weight must be restored; the base is already the starting policy
            missing = sorted({name for name, p in self.named_parameters() if p.requires_grad} - set(state))
            if missing:
                raise ValueError(f"the restored state has no adapter weights {missing[:3]}...: was it saved with "
                                 "another train.agents.<agent>.lora?")
        super().set_state({k: v for k, v in state.items() if k in own})

    def sync_payload(self, merged: bool = False) -> Any:
        """What the policy actors load after an update: the model's state dict (CPU tensors, in the learner's dtype),
        or with LoRA an :class:`~.lora.AdapterWeights` holding only the adapter - or, with ``merged``, base + adapter
        as one state dict (:func:`~.lora.merged_state`, for actors that sample with vLLM)."""
        if self.lora is not None and merged:
            return merged_state(self.model)
        if self.lora is not None:
            return AdapterWeights(settings=dict(self.lora), state=adapter_state(self.model))
        return {k: v.detach().to("cpu", copy=True) for k, v in self.model.state_dict().items()}

    @property
    def has_reference(self) -> bool:
        return bool(self._reference) or (self.lora is not None and self._has_reference)

    def _reference_logits(self, batch: dict[str, Any]) -> torch.Tensor:
        """The frozen reference's logits: the adapter switched off, or the separate copy (moved to the model's
        device the first time: RLlib moves only registered submodules)."""
        if self.lora is not None:
            with self.model.disable_adapter():
                return self._logits(self.model, batch)
        reference = self._reference[0]
        device = next(self.model.parameters()).device
        if next(reference.parameters()).device != device:
            reference.to(device)
        return self._logits(reference, batch)

    def learner_logprobs(self, columns: dict[str, Any], chunk: int | None = None) -> Any:
        """Log-probs ``[N, T]`` (numpy float32) of the batch's completion tokens under the current weights, without
        gradients and in the mode :meth:`_forward_train` computes them: what the learner itself assigns to another
        engine's samples, for truncated importance sampling (``train.tis_cap``). ``chunk``: rows per forward pass."""
        import numpy as np

        device = next(self.model.parameters()).device
        rows = len(columns["completion_ids"])
        size = chunk or rows
        self.model.train(self.checkpointing)
        parts = []
        with torch.no_grad():
            for start in range(0, rows, size):
                batch = {k: torch.as_tensor(np.asarray(v)[start:start + size]).to(device) for k, v in columns.items()}
                logits = self._logits(self.model, batch)
                logp = token_logprobs(logits, batch["completion_ids"].long(), batch["completion_mask"].long())
                parts.append(logp.float().cpu().numpy())
        return np.concatenate(parts)

    def _forward(self, batch: dict[str, Any], **kwargs) -> dict[str, Any]:
        raise NotImplementedError("CausalLMModule does not act through RLlib; sample with the agent actors")

    def _forward_train(self, batch: dict[str, Any], **kwargs) -> dict[str, Any]:
        """``logp`` [N, T] with gradients, ``entropy`` [N, T] and (with a reference) ``ref_logp`` [N, T], no gradients."""
        # No dropout: the ratio must compare like with like (gradients still flow). Gradient checkpointing acts only
        # in train mode, so with it the model trains in train mode with its dropout switched off at setup.
        self.model.train(self.checkpointing)
        completion_ids, completion_mask = batch["completion_ids"].long(), batch["completion_mask"].long()
        logits = self._logits(self.model, batch)
        out = {"logp": token_logprobs(logits, completion_ids, completion_mask)}
        with torch.no_grad():
            out["entropy"] = entropy_from_logits(logits.detach())
            if self.has_reference:
                out["ref_logp"] = token_logprobs(self._reference_logits(batch), completion_ids, completion_mask)
        return out


class VLMModule(CausalLMModule):
    """A chat VLM (``AutoModelForImageTextToText`` + processor) or chat LM, as loaded by the ``vlm`` backend.

    Loaded on the CPU in ``train.learner.dtype`` (float32 by default; RLlib's learner moves it to its device), whatever
    dtype the sampling actors use. Batches carry the prompts' image inputs (:mod:`.multimodal`);
    image placeholder tokens get a logit of float32's minimum, as the sampler gives them -inf (the same log-probs for
    every other token, and a finite entropy). The processor is kept as ``tokenizer``, so a checkpoint saves it
    next to the model and the folder loads back through :func:`agents.vlm.model.load_chat_model`.
    """

    def _load(self, path: str, dtype: torch.dtype = torch.float32) -> tuple[torch.nn.Module, Any]:
        from agents.vlm.generation import placeholder_ids
        from agents.vlm.model import load_chat_model

        chat = load_chat_model(path, device="cpu", dtype=str(dtype).removeprefix("torch."))
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
