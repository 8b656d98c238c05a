"""The GRPO learner: an RLlib ``TorchLearner`` that holds only the loss (the math is in :mod:`.core`).

Per module (one per trainable agent) and minibatch:

    loss = policy_loss(logp, old_logp, A, mask; clip_low, clip_high, loss_agg)      # the loss named `policy_loss`
         + kl_coef * aggregate(kl_penalty(logp, ref_logp, kl_estimator), mask)     # only when kl_coef > 0

``policy_loss`` is looked up in the registry of :mod:`.core` (``clip``, the clipped surrogate, by default;
:func:`.core.register_policy_loss` adds others); the metrics it returns are logged under their names.

Batch columns (numpy, converted to tensors by RLlib; named as the :class:`~.samples.SampledGroups` fields they come
from): ``prompt_ids``/``prompt_mask`` [N, P] (left-padded), ``completion_ids``/``completion_mask`` [N, T]
(right-padded), ``old_logp`` [N, T] (the sampler's log-probs), and ``advantages`` [N] or [N, T]. Logged per
module: the loss's own metrics (clip fraction and ratio mean for ``clip``), entropy, KL to the sampling policy
(``kl_old``, always) and to the reference (``kl_ref``, with a reference), the policy loss and the KL term.

The optimizer holds only the parameters that require gradients: all of them, or the adapter's with LoRA. With
``train.learner.micro_batch_size`` each update accumulates the gradients of micro-batches, each loss weighted by
its share of the minibatch (:mod:`.accumulate`), before one optimizer step: the same step as the whole minibatch
in one pass. The logged metrics are then means over the micro-batches. With ``num_learners >= 2`` (RLlib's
LearnerGroup, its DDP averaging the learners' gradients) each learner weighs its shard's loss by its share of the
minibatch (:func:`.accumulate.shard_scale`), so K learners take the step one learner takes on the whole minibatch.
"""

from __future__ import annotations

import contextlib
from typing import Any

import torch
from ray.rllib.core.learner.torch.torch_learner import TorchLearner

from orchestration.grpo.accumulate import LOSS_TOTAL, micro_slices, micro_weights, shard_scale
from orchestration.grpo.core import aggregate, get_policy_loss, kl_penalty


class GRPOTorchLearner(TorchLearner):
    """Clipped-surrogate GRPO loss with an optional KL penalty; AdamW per module."""

    def configure_optimizers_for_module(self, module_id: str, config: Any = None) -> None:
        # AdamW (TRL's and verl's choice) instead of RLlib's default Adam, so `weight_decay` means what it says.
        module = self._module[module_id]
        params = [p for p in self.get_parameters(module) if p.requires_grad]  # a frozen base (LoRA) has no state
        optimizer = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
        self.register_optimizer(module_id=module_id, optimizer=optimizer, params=params, lr_or_lr_schedule=config.lr)

    def compute_loss_for_module(self, *, module_id: str, config: Any, batch: dict[str, Any], fwd_out: dict[str, Any]) -> torch.Tensor:
        logp = fwd_out["logp"]
        mask = batch["completion_mask"].to(logp.dtype)
        old_logp = batch["old_logp"].to(logp.dtype)
        advantages = batch["advantages"].to(logp.dtype)
        norm = config.max_new_tokens if config.loss_agg == "seq-mean-token-sum-norm" else None
        loss_fn = get_policy_loss(config.policy_loss)
        loss, metrics = loss_fn(logp, old_logp, advantages, mask, clip_low=config.clip_low, clip_high=config.clip_high,
                                agg=config.loss_agg, norm_length=norm)
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

    def _uncompiled_update(self, batch: dict[str, Any], **kwargs: Any):
        """One gradient step on ``batch`` ({module_id: columns}); with ``learner.micro_batch_size``, accumulated over
        micro-batches whose losses are weighted to sum to the whole batch's loss."""
        size = (self.config.learner or {}).get("micro_batch_size")
        learners = int(self.config.num_learners or 0)
        rows = {mid: len(cols["advantages"]) for mid, cols in batch.items()}
        if (not size or all(n <= size for n in rows.values())) and learners <= 1:
            return super()._uncompiled_update(batch, **kwargs)
        self._compute_off_policyness(batch)
        agg = self.config.loss_agg
        slices = {mid: micro_slices(n, size) for mid, n in rows.items()}
        weights = {}
        for mid, cols in batch.items():
            scale = 1.0
            if learners > 1:  # this learner's share of the minibatch, times the K that DDP's average divides by
                if LOSS_TOTAL not in cols:
                    raise ValueError(f"num_learners={learners}: the batch of {mid!r} needs the {LOSS_TOTAL!r} column "
                                     "(orchestration.grpo.accumulate.with_loss_total) to weigh each learner's shard")
                scale = shard_scale(cols["completion_mask"], float(cols[LOSS_TOTAL][0]), agg, learners)
            weights[mid] = [scale * w for w in micro_weights(cols["completion_mask"], slices[mid], agg)]
        for optim in self._optimizer_parameters:
            optim.zero_grad(set_to_none=True)
        totals: dict[str, torch.Tensor] = {}
        fwd_out: dict[str, Any] = {}
        for step in range(max(len(s) for s in slices.values())):
            micro = {mid: {k: v[slices[mid][step]] for k, v in cols.items()}
                     for mid, cols in batch.items() if step < len(slices[mid])}
            with contextlib.ExitStack() as stack:
                for mid in micro:  # DDP all-reduces once per module: at its last micro-batch
                    if learners > 1 and step < len(slices[mid]) - 1:
                        stack.enter_context(self.module[mid].no_sync())
                fwd_out = self.module.forward_train(micro)
                losses = self.compute_losses(fwd_out=fwd_out, batch=micro)
                total = sum(weights[mid][step] * loss for mid, loss in losses.items())
                if isinstance(total, torch.Tensor) and total.grad_fn is not None:
                    total.backward()  # gradients add up in .grad across micro-batches
            for mid, loss in losses.items():
                totals[mid] = totals.get(mid, 0.0) + weights[mid][step] * loss.detach()
        gradients = {pid: p.grad for pid, p in self._params.items() if p.grad is not None}
        postprocessed = self.postprocess_gradients(gradients)
        self.apply_gradients(postprocessed)
        return fwd_out, totals, {}
