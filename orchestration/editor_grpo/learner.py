"""The editor-GRPO learner: an RLlib ``TorchLearner`` holding the per-step clipped objective
(:func:`orchestration.editor_grpo.loss.clipped_step_loss`).

One update is one optimiser step on one group's chosen denoising steps (one batch row each, see
:mod:`.module`): the loss is the mean over the rows of each row's clipped objective (itself a mean over the
group's ``G`` edits). Rows are run forward and backward one at a time, so only one denoiser graph is in memory at
once, whatever the number of steps trained. With ``num_learners >= 2`` RLlib shards the rows between learners and its
DDP averages their gradients; each learner weighs its rows by ``K / rows_total`` so the average is the gradient of
the mean over all rows, the step one learner takes on the whole group.

With ``kl_coef > 0`` each row's loss adds ``kl_coef`` times the mean KL of its step to the frozen model's
(Flow-GRPO's; the module computes it with the adapters switched off).

Logged per update (means over rows): ``loss``, ``clip_frac``, ``approx_kl``, ``ratio``, ``kl_ref`` (with
``kl_coef``); and ``grad_norm`` (before clipping to ``grad_clip``).
"""

from __future__ import annotations

import contextlib
from typing import Any

import torch
from ray.rllib.core.learner.torch.torch_learner import TorchLearner

from orchestration.editor_grpo.loss import clipped_step_loss

__all__ = ["EditorGRPOLearner", "ROWS_TOTAL"]

#: Batch column: the rows of the whole update (every learner's shard), so each learner can weigh its own.
ROWS_TOTAL = "rows_total"

_STATS = ("clip_frac", "approx_kl", "ratio")


class EditorGRPOLearner(TorchLearner):
    """Clipped per-step GRPO on a :class:`~orchestration.editor_grpo.module.DenoiserModule`; AdamW on its adapters."""

    def configure_optimizers_for_module(self, module_id: str, config: Any = None) -> None:
        module = self._module[module_id]
        params = [p for p in self.get_parameters(module) if p.requires_grad]  # the adapters; the base is frozen
        optimizer = torch.optim.AdamW(params, lr=config.lr)
        self.register_optimizer(module_id=module_id, optimizer=optimizer, params=params, lr_or_lr_schedule=config.lr)

    def compute_loss_for_module(self, *, module_id: str, config: Any, batch: dict[str, Any],
                                fwd_out: dict[str, Any]) -> torch.Tensor:
        """The batch's rows' clipped objectives, summed (the caller weighs the sum)."""
        clip_range = float(self.config.learner_config_dict["clip_range"])
        kl_coef = float(self.config.learner_config_dict.get("kl_coef", 0.0))
        logp = fwd_out["logp"]
        total = logp.new_zeros(())
        for row in range(logp.shape[0]):
            loss, stats = clipped_step_loss(logp[row], batch["old_logp"][row].to(logp.dtype),
                                            batch["advantages"][row].to(logp.dtype), clip_range)
            if kl_coef > 0:
                kl = fwd_out["kl"][row].mean()
                loss = loss + kl_coef * kl
                self.metrics.log_value((module_id, "kl_ref"), float(kl.detach()), reduce="mean")
            total = total + loss
            self.metrics.log_value((module_id, "loss"), float(loss.detach()), reduce="mean")
            for name in _STATS:
                self.metrics.log_value((module_id, name), stats[name], reduce="mean")
        return total

    def _uncompiled_update(self, batch: dict[str, Any], **kwargs: Any):
        """One optimiser step: each row forward and backward on its own, weighted to the mean over the update's
        rows (all learners' together), then the gradient clipped to ``grad_clip`` and applied."""
        learners = max(1, int(self.config.num_learners or 0))
        grad_clip = float(self.config.learner_config_dict["grad_clip"])
        for optim in self._optimizer_parameters:
            optim.zero_grad(set_to_none=True)
        totals: dict[str, torch.Tensor] = {}
        fwd_out: dict[str, Any] = {}
        for module_id, cols in batch.items():
            rows = len(cols["step"])
            scale = learners / float(cols[ROWS_TOTAL][0])
            module = self.module[module_id]
            for row in range(rows):
                micro = {module_id: {k: v[row:row + 1] for k, v in cols.items()}}
                with contextlib.ExitStack() as stack:
                    if learners > 1 and row < rows - 1:  # DDP all-reduces once: at the last row's backward
                        stack.enter_context(module.no_sync())
                    fwd_out = self.module.forward_train(micro)
                    loss = self.compute_losses(fwd_out=fwd_out, batch=micro)[module_id]
                    (scale * loss).backward()
                totals[module_id] = totals.get(module_id, 0.0) + scale * loss.detach()
            params = [p for p in self.get_parameters(module) if p.requires_grad]
            norm = torch.nn.utils.clip_grad_norm_(params, grad_clip)
            self.metrics.log_value((module_id, "grad_norm"), float(norm), reduce="mean")
            # this learner's rows: RLlib's shards can be uneven, so the trainer weighs each learner's means by them
            self.metrics.log_value((module_id, "rows"), rows, reduce="sum")
        gradients = {pid: p.grad for pid, p in self._params.items() if p.grad is not None}
        self.apply_gradients(gradients)
        return fwd_out, totals, {}
