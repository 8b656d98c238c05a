"""The GRPO learner: an RLlib ``TorchLearner`` that holds only the loss (the math is in :mod:`.core`).

Per module (one per trainable agent) and minibatch:

    loss = policy_loss(logp, old_logp, A, mask; clip_low, clip_high, loss_agg)      # clipped surrogate
         + kl_coef * aggregate(kl_penalty(logp, ref_logp, kl_estimator), mask)     # only when kl_coef > 0

Batch columns (numpy, converted to tensors by RLlib): ``prompt_ids``/``prompt_mask`` [N, P] (left-padded),
``completion_ids``/``completion_mask`` [N, T] (right-padded), ``old_logp`` [N, T] (the sampler's log-probs),
``advantages`` [N]. Logged per module: clip fraction, ratio mean, entropy, KL to the sampling policy (``kl_old``,
always) and to the reference (``kl_ref``, with a reference), the policy loss and the KL term.
"""

from __future__ import annotations

from typing import Any

import torch
from ray.rllib.core.learner.torch.torch_learner import TorchLearner

from orchestration.grpo.core import aggregate, kl_penalty, policy_loss


class GRPOTorchLearner(TorchLearner):
    """Clipped-surrogate GRPO loss with an optional KL penalty; AdamW per module."""

    def configure_optimizers_for_module(self, module_id: str, config: Any = None) -> None:
        # AdamW (TRL's and verl's choice) instead of RLlib's default Adam, so `weight_decay` means what it says.
        module = self._module[module_id]
        params = self.get_parameters(module)
        optimizer = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
        self.register_optimizer(module_id=module_id, optimizer=optimizer, params=params, lr_or_lr_schedule=config.lr)

    def compute_loss_for_module(self, *, module_id: str, config: Any, batch: dict[str, Any], fwd_out: dict[str, Any]) -> torch.Tensor:
        logp = fwd_out["logp"]
        mask = batch["completion_mask"].to(logp.dtype)
        old_logp = batch["old_logp"].to(logp.dtype)
        advantages = batch["advantages"].to(logp.dtype)
        norm = config.max_new_tokens if config.loss_agg == "seq-mean-token-sum-norm" else None
        loss, metrics = policy_loss(logp, old_logp, advantages, mask, config.clip_low, config.clip_high, config.loss_agg, norm)
        with torch.no_grad():
            metrics["policy_loss"] = float(loss)
            metrics["entropy"] = float(aggregate(fwd_out["entropy"], mask, "token-mean"))
            metrics["kl_old"] = float(aggregate(kl_penalty(logp.detach(), old_logp, "k3"), mask, "token-mean"))
        if config.kl_coef > 0:
            if "ref_logp" not in fwd_out:
                raise RuntimeError(f"module {module_id!r} has no reference model but kl_coef={config.kl_coef}; "
                                   "build it with model_config['reference']=True")
            kl = aggregate(kl_penalty(logp, fwd_out["ref_logp"], config.kl_estimator), mask, config.loss_agg, norm)
            loss = loss + config.kl_coef * kl
            metrics["kl_ref"] = float(kl.detach())
        for name, value in metrics.items():
            self.metrics.log_value((module_id, name), value, reduce="mean")
        return loss
