"""GRPO on a diffusers editing pipeline (LoRA on its denoiser): :mod:`~.config` (the run's fields), :mod:`~.loss`
(the clipped per-step objective and step selection, pure), :mod:`~.rewards` (tasks and image scoring through the
reward registry), :mod:`~.policy` (the pipeline with adapters), :mod:`~.module` and :mod:`~.learner` (RLlib's
RLModule and Learner that update it), :mod:`~.actors` (sampler actors), :mod:`~.trainer` (the loop). Sampling and
log-prob math live in :mod:`agents.diffusion`.
"""
